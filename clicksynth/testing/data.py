"""Small seeded ad logs for the contract suites and the tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clicksynth.schema import Schema

__all__ = ["make_ad_frame", "metric_fixture", "noise_like"]


def make_ad_frame(n: int = 1200, seed: int = 0, click_rate: float = 0.12) -> pd.DataFrame:
    """A small ad log with every column kind and a learnable click signal.

    Columns: ``uid`` (user id), ``age`` / ``slot_id`` (small categorical codes),
    ``adv_id`` (a 120-value id), ``price`` (numeric with missing values),
    ``dwell`` (numeric), ``hours`` (caret list) and ``label``.
    """
    rng = np.random.default_rng(seed)
    users = rng.integers(10_000, 10_000 + max(n // 3, 4), size=n)
    age = rng.integers(1, 6, size=n)
    slot = rng.choice([11, 12, 13, 14], size=n, p=[0.4, 0.3, 0.2, 0.1])
    adv = rng.choice(np.arange(5000, 5120), size=n)
    price = np.round(rng.gamma(2.0, 20.0, size=n), 2)
    dwell = np.round(rng.normal(14 + 0.4 * price + 5 * (slot == 11), 5, size=n), 1)
    hours = ["^".join(str(h) for h in sorted(rng.choice(24, size=rng.integers(1, 6), replace=False))) for _ in range(n)]
    logit = -2.8 + 1.6 * (slot == 11) + 0.8 * (age >= 4) + 0.02 * (price - 40) + 0.05 * (dwell - 30)
    p = 1 / (1 + np.exp(-logit))
    p = np.clip(p * click_rate / p.mean(), 0, 1)
    label = (rng.random(n) < p).astype(np.int64)
    label[:2] = 1
    label[2:4] = 0
    price_with_missing = price.copy()
    price_with_missing[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "uid": users,
            "age": age,
            "slot_id": slot,
            "adv_id": adv,
            "price": price_with_missing,
            "dwell": dwell,
            "hours": hours,
            "label": label,
        }
    )


def metric_fixture(seed: int = 0, n: int = 1500) -> dict[str, Any]:
    """Train / holdout / test / schema for metric checks, from :func:`make_ad_frame`."""
    from clicksynth.split import split_frame

    frame = make_ad_frame(n=n * 5 // 3, seed=seed)
    schema = Schema.infer(frame, target="label", user_column="uid")
    train, holdout, test = split_frame(frame, target="label", user_column="uid", random_state=seed)
    return {"train": train, "holdout": holdout, "test": test, "schema": schema}


def noise_like(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every column drawn independently and uniformly from its observed range / values."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for c in frame.columns:
        s = frame[c]
        if c == "label":
            out[c] = rng.permutation(s.to_numpy())
        elif pd.api.types.is_float_dtype(s):
            out[c] = np.round(rng.uniform(s.min(), s.max(), size=len(s)), 2)
        else:
            values = pd.unique(s.dropna())
            out[c] = rng.choice(values, size=len(s))
    return out
