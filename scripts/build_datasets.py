"""Rebuild the embedded datasets from the real files in ../shared/data.

    python scripts/build_datasets.py [--shared ../shared/data]

Writes clicksynth/datasets/data/*.parquet and card.json. The subsample is
seeded, so rerunning it reproduces the shipped files row for row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import polars as pl

from clicksynth.io import read_table, write_table
from clicksynth.split import subsample

SEED = 2020
ROWS_2020 = 40_000
OUT = Path(__file__).resolve().parents[1] / "clicksynth" / "datasets" / "data"


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def describe(frame: pl.DataFrame, target: str, source: Path, extra: dict) -> dict:
    clicks = int((frame[target] == 1).sum())
    return {
        "rows": frame.height,
        "columns": frame.width,
        "clicks": clicks,
        "click_rate": round(clicks / frame.height, 5),
        "source_file": source.name,
        "source_sha256": sha256(source),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    card: dict[str, dict] = {}

    src = args.shared / "digix2020" / "digix2020_ctr_sample.csv.gz"
    full = read_table(src, cache=False)
    sample = subsample(full, ROWS_2020, target="label", user_column="uid", random_state=SEED)
    write_table(sample, OUT / "digix2020.parquet")
    card["digix2020"] = describe(
        sample,
        "label",
        src,
        {"method": f"user-grouped click-stratified subsample of {full.height} rows, seed {SEED}", "users": sample["uid"].n_unique()},
    )

    ads_src = args.shared / "digix2022" / "train_data_ads_head2999.csv"
    feeds_src = args.shared / "digix2022" / "train_data_feeds_head2999.csv"
    ads = read_table(ads_src, cache=False)
    feeds = read_table(feeds_src, cache=False)
    write_table(ads, OUT / "digix2022_ads.parquet")
    write_table(feeds, OUT / "digix2022_feeds.parquet")
    card["digix2022"] = describe(
        ads,
        "label",
        ads_src,
        {
            "method": "unchanged head of the ads table; feeds head shipped beside it",
            "feeds_rows": feeds.height,
            "feeds_sha256": sha256(feeds_src),
            "users": ads["user_id"].n_unique(),
        },
    )
    card["digix2020-full"] = describe(full, "label", src, {"method": "local file, read in place"})
    (OUT / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    for name, meta in card.items():
        print(f"{name}: {meta['rows']} rows, {meta['columns']} columns, click rate {meta['click_rate']:.4f}")


if __name__ == "__main__":
    main()
