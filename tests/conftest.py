"""Shared seeded fixtures. Every test gets its own Parquet cache folder."""

from __future__ import annotations

import os
from pathlib import Path

# Two test workers share the cores: OpenMP threads that spin while they wait made each other's
# XGBoost and torch fits 2-20x slower (benchmarks/busy.py). Set before either library loads;
# the cells the tests start inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKSYNTH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data; skips the test when the checkout has none."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def make_ads(n: int = 600, seed: int = 0, click_rate: float = 0.1) -> pd.DataFrame:
    """A small ad log with every column kind and a learnable click signal."""
    rng = np.random.default_rng(seed)
    users = rng.integers(1000, 1000 + n // 3, size=n)
    age = rng.integers(1, 6, size=n)
    slot = rng.choice([11, 12, 13, 14], size=n, p=[0.4, 0.3, 0.2, 0.1])
    adv = rng.choice(np.arange(5000, 5120), size=n)
    price = np.round(rng.gamma(2.0, 20.0, size=n), 2)
    hours = ["^".join(str(h) for h in sorted(rng.choice(24, size=rng.integers(1, 6), replace=False))) for _ in range(n)]
    logit = -2.6 + 0.9 * (slot == 11) + 0.5 * (age >= 4) + 0.01 * (price - 40)
    p = 1 / (1 + np.exp(-logit))
    p = p * click_rate / p.mean()
    label = (rng.random(n) < np.clip(p, 0, 1)).astype(np.int64)
    label[:2] = 1  # both classes always present
    return pd.DataFrame(
        {
            "uid": users,
            "age": age,
            "slot_id": slot,
            "adv_id": adv,
            "price": price,
            "onlinerate": hours,
            "label": label,
        }
    )


@pytest.fixture
def ads() -> pd.DataFrame:
    return make_ads()


@pytest.fixture
def ads_xy(ads: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return ads.drop(columns=["label", "uid"]), ads["label"]


@pytest.fixture
def write_csv(tmp_path: Path):
    def _write(text: str, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


os.environ.setdefault("MPLBACKEND", "Agg")
