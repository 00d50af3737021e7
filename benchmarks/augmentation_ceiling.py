"""What augmentation to 1:4 can gain at best: fresh real clicks instead of synthetic ones (issue #15).

    .venv/bin/python -u benchmarks/augmentation_ceiling.py                 # seeds 0 1 2, the main job's ratio
    .venv/bin/python -u benchmarks/augmentation_ceiling.py --seeds 0 --shares 1 3 6

The autoregressive issue asks that augmenting the training clicks to 1:4 lower the click model's
PR-AUC by no more than 0.005. That is a property of the generator only if a perfect generator would
meet it. A perfect generator draws fresh clicks from the population: here, real click rows of users
outside the embedded data (the shared 669,274-row DIGIX 2020 sample), prepared as the main job
prepares its rows. The same protocol as ``benchmarks/autoregressive.py`` (the main job's default
split, the XGBoost click model with and without the added clicks, a paired bootstrap over the same
test rows), beside copies of the training clicks (drawn with replacement: what a memorising
generator adds). Needs ``../shared/data`` (or ``CLICKSYNTH_DATA_DIR``); prints one line per run and
the mean and range per source.
"""

from __future__ import annotations

import argparse
import platform
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from autoregressive import augment_delta, default_split

from clicksynth.bench.config import DEFAULT_RATIO
from clicksynth.datasets import load_dataset
from clicksynth.prep import prepare
from clicksynth.rebalance import synthetic_count
from clicksynth.schema import Schema

#: Fresh users' rows read from the shared sample: enough clicks for any share asked (3.45% clicks).
FRESH_ROWS = 300_000


def fresh_clicks(split: tuple[Any, ...], seed: int = 0) -> pd.DataFrame:
    """Click rows of users absent from the embedded data, prepared like the split's rows."""
    train, schema = split[0], split[3]
    embedded = load_dataset("digix2020").frame
    full = load_dataset("digix2020-full")
    frame = full.frame.filter(~pl.col(full.user_column).is_in(embedded[full.user_column].unique().implode()))
    frame = frame.sample(min(FRESH_ROWS, len(frame)), seed=seed)
    prepared, _, _ = prepare(frame, Schema.infer(frame, target=full.target, user_column=full.user_column), list_features=False)
    clicks = prepared.filter(pl.col(schema.target) == 1).to_pandas()
    missing = [c for c in train.columns if c not in clicks.columns]
    if missing:
        raise SystemExit(f"the fresh rows lack {missing}")
    clicks = clicks[list(train.columns)]
    for c in train.columns:  # the split's dtypes (categories, integer widths) so the featuriser sees one table
        clicks[c] = clicks[c].astype(train[c].dtype)
    return clicks.reset_index(drop=True)


def one_run(extra: pd.DataFrame, seed: int, split: tuple[Any, ...]) -> dict[str, float]:
    delta, lo, hi = augment_delta(split, extra, seed)
    return {"added": float(len(extra)), "delta": delta, "lo": lo, "hi": hi}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--shares", type=float, nargs="*", default=[], help="added clicks as multiples of the training clicks (default: to 1:4)"
    )
    args = ap.parse_args()
    split = default_split()
    train, _, test, schema = split
    y = train[schema.target].to_numpy()
    n_pos, n_neg = int(y.sum()), int((y == 0).sum())
    counts = [round(s * n_pos) for s in args.shares] or [synthetic_count(n_pos, n_neg, ratio=DEFAULT_RATIO)]
    print(
        f"# {platform.machine()}, {platform.python_version()}; train {len(train):,} rows / {n_pos} clicks, test {len(test):,} rows / {int(test[schema.target].sum())} clicks"
    )
    pool = fresh_clicks(split)
    print(f"# fresh clicks available: {len(pool):,} (users outside the embedded data)")
    real_clicks = train[train[schema.target] == 1].reset_index(drop=True)
    table: dict[str, list[dict[str, float]]] = {}
    for k in counts:
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            for source, extra in (
                ("fresh", pool.iloc[rng.choice(len(pool), k, replace=False)].reset_index(drop=True)),
                ("copies", real_clicks.iloc[rng.choice(len(real_clicks), k, replace=True)].reset_index(drop=True)),
            ):
                r = one_run(extra, seed, split)
                table.setdefault(f"{source} +{k}", []).append(r)
                print(f"{source:7s} +{k:5d} seed {seed}: Δ PR-AUC {r['delta']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}]", flush=True)
    print("\n| added clicks | Δ PR-AUC mean (range) | per seed [95% paired interval] |\n|---|---|---|")
    for name, runs in table.items():
        d = np.array([r["delta"] for r in runs])
        per = "; ".join(f"{r['delta']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}]" for r in runs)
        print(f"| {name} | {d.mean():+.4f} ({d.min():+.4f} to {d.max():+.4f}) | {per} |")


if __name__ == "__main__":
    main()
