"""Embedded and local datasets. Nothing is ever downloaded.

Embedded datasets ship inside the package as Parquet (built from real data by
``scripts/build_datasets.py``; provenance in ``DATASETS.md``). Local datasets
are full files found on disk: under ``$CLICKSYNTH_DATA_DIR`` or a
``shared/data`` folder beside or above the working directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from clicksynth.exceptions import DataError
from clicksynth.schema import suggest

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "find_local", "list_datasets", "load_dataset"]


@dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset lives and how to read it."""

    name: str
    description: str
    target: str
    user_column: str | None
    tables: dict[str, str]  # table name -> embedded file name or local relative path
    embedded: bool = True
    feeds_user: str | None = None
    source: str = ""


@dataclass
class Dataset:
    """A loaded dataset: the main table, any side tables, and what they mean."""

    name: str
    frame: pl.DataFrame
    target: str
    user_column: str | None
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    feeds_user: str | None = None
    description: str = ""
    source: str = ""

    @property
    def feeds(self) -> pl.DataFrame | None:
        return self.tables.get("feeds")


_SOURCE_2020 = "Huawei DIGIX 2020 advertisement CTR prediction (public competition data mirrored on GitHub; upstream license not stated)"
_SOURCE_2022 = (
    "Huawei DIGIX 2022 global AI challenge, ads + news-feeds CTR (public competition data mirrored on GitHub; upstream license not stated)"
)

DATASETS: dict[str, DatasetInfo] = {
    "digix2020": DatasetInfo(
        name="digix2020",
        description="40k-row user-grouped, click-stratified subsample of the DIGIX 2020 ad CTR sample",
        target="label",
        user_column="uid",
        tables={"ads": "digix2020.parquet"},
        source=_SOURCE_2020,
    ),
    "digix2022": DatasetInfo(
        name="digix2022",
        description="First 2,999 rows of the DIGIX 2022 ads table and of its news-feeds table",
        target="label",
        user_column="user_id",
        tables={"ads": "digix2022_ads.parquet", "feeds": "digix2022_feeds.parquet"},
        feeds_user="u_userId",
        source=_SOURCE_2022,
    ),
    "digix2020-full": DatasetInfo(
        name="digix2020-full",
        description="All 669,274 rows of the DIGIX 2020 sample (local file, not embedded)",
        target="label",
        user_column="uid",
        tables={"ads": "digix2020/digix2020_ctr_sample.csv.gz"},
        embedded=False,
        source=_SOURCE_2020,
    ),
}


def _embedded_path(file: str) -> Path:
    return Path(str(resources.files("clicksynth.datasets") / "data" / file))


def find_local(relative: str) -> Path | None:
    """Locate a local data file under ``$CLICKSYNTH_DATA_DIR`` or a ``shared/data`` folder nearby."""
    roots: list[Path] = []
    env = os.environ.get("CLICKSYNTH_DATA_DIR")
    if env:
        roots.append(Path(env))
    here = Path.cwd().resolve()
    for base in [here, *here.parents][:4]:
        roots += [base / "shared" / "data", base / "data"]
    pkg = Path(__file__).resolve().parents[2]
    roots += [pkg.parent / "shared" / "data", pkg / "shared" / "data"]
    for root in roots:
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


def _card() -> dict[str, Any]:
    path = _embedded_path("card.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_dataset(name: str) -> Dataset:
    """Load an embedded or local dataset by name (see :func:`list_datasets`)."""
    from clicksynth.io import read_table

    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}{suggest(name, DATASETS)}. Available: {', '.join(DATASETS)}")
    info = DATASETS[name]
    tables: dict[str, pl.DataFrame] = {}
    for table, file in info.tables.items():
        if info.embedded:
            path = _embedded_path(file)
            if not path.is_file():
                raise DataError(f"embedded file {path} is missing; reinstall clicksynth")
        else:
            found = find_local(file)
            if found is None:
                raise DataError(
                    f"dataset {name!r} is local and {file} was not found; set CLICKSYNTH_DATA_DIR to the folder "
                    "holding it (clicksynth never downloads data)"
                )
            path = found
        tables[table] = read_table(path)
    return Dataset(
        name=name,
        frame=tables["ads"],
        target=info.target,
        user_column=info.user_column,
        tables={k: v for k, v in tables.items() if k != "ads"},
        feeds_user=info.feeds_user,
        description=info.description,
        source=info.source,
    )


def list_datasets() -> list[dict[str, Any]]:
    """One summary dict per dataset: rows, columns, click rate, source, availability."""
    card = _card()
    out = []
    for name, info in DATASETS.items():
        meta = card.get(name, {})
        if info.embedded:
            available = all(_embedded_path(f).is_file() for f in info.tables.values())
        else:
            available = find_local(info.tables["ads"]) is not None
        out.append(
            {
                "name": name,
                "kind": "embedded" if info.embedded else "local",
                "available": available,
                "rows": meta.get("rows"),
                "columns": meta.get("columns"),
                "click_rate": meta.get("click_rate"),
                "tables": ", ".join(info.tables),
                "description": info.description,
                "source": info.source,
            }
        )
    return out
