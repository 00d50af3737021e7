"""What augmentation to 1:4 can gain at best: fresh real clicks instead of synthetic ones (issue #15).

    .venv/bin/python -u benchmarks/augmentation_ceiling.py                 # seeds 0 1 2, the main job's ratio
    .venv/bin/python -u benchmarks/augmentation_ceiling.py --seeds 0 --shares 1 3 6

The autoregressive issue asks that augmenting the training clicks to 1:4 lower the click model's
PR-AUC by no more than 0.005. That is a property of the generator only if a perfect generator would
meet it. A perfect generator draws fresh clicks from the population: here, real click rows of users
outside the embedded data (the shared 669,274-row DIGIX 2020 sample, one half of its other users;
see ``fresh_users.py``), prepared as the main job prepares its rows. The same protocol as
``benchmarks/autoregressive.py`` (the main job's default split, the XGBoost click model with and
without the added clicks, a paired bootstrap over the same test rows), beside copies of the training
clicks (drawn with replacement: what a memorising generator adds). Each Δ is scored on the split's
test rows and on the other half of the fresh users' rows (about 11,000 clicks, where an interval is
about ten times narrower). Needs ``../shared/data`` (or ``CLICKSYNTH_DATA_DIR``); prints one line per
run and the mean and range per source.
"""

from __future__ import annotations

import argparse
import platform
from typing import Any

import numpy as np
import pandas as pd
from autoregressive import augment_delta, default_split
from fresh_users import fresh_users

from clicksynth.bench.config import DEFAULT_RATIO
from clicksynth.rebalance import synthetic_count


def one_run(extra: pd.DataFrame, seed: int, split: tuple[Any, ...], fresh_test: pd.DataFrame) -> dict[str, float]:
    (delta, lo, hi), (big, big_lo, big_hi) = augment_delta(split, extra, seed, tests=[fresh_test])
    return {"added": float(len(extra)), "delta": delta, "delta_lo": lo, "delta_hi": hi, "big": big, "big_lo": big_lo, "big_hi": big_hi}


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
    fresh = fresh_users(split)
    pool = fresh.clicks
    n_big = int(fresh.test[schema.target].sum())
    print(f"# fresh users: click pool {len(pool):,}; test {len(fresh.test):,} rows / {n_big:,} clicks (the other users)")
    real_clicks = train[train[schema.target] == 1].reset_index(drop=True)
    table: dict[str, list[dict[str, float]]] = {}
    for k in counts:
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            for source, extra in (
                ("fresh", pool.iloc[rng.choice(len(pool), k, replace=False)].reset_index(drop=True)),
                ("copies", real_clicks.iloc[rng.choice(len(real_clicks), k, replace=True)].reset_index(drop=True)),
            ):
                r = one_run(extra, seed, split, fresh.test)
                table.setdefault(f"{source} +{k}", []).append(r)
                print(
                    f"{source:7s} +{k:5d} seed {seed}: Δ PR-AUC {r['delta']:+.4f} [{r['delta_lo']:+.4f}, {r['delta_hi']:+.4f}], "
                    f"fresh test {r['big']:+.4f} [{r['big_lo']:+.4f}, {r['big_hi']:+.4f}]",
                    flush=True,
                )
    print(
        "\n| added clicks | Δ PR-AUC mean (range) | per seed [95% paired interval] "
        "| on the fresh test: mean (range) | per seed [95%] |\n|---|---|---|---|---|"
    )
    for name, runs in table.items():
        cells = []
        for key in ("delta", "big"):
            d = np.array([r[key] for r in runs])
            per = "; ".join(f"{r[key]:+.4f} [{r[key + '_lo']:+.4f}, {r[key + '_hi']:+.4f}]" for r in runs)
            cells += [f"{d.mean():+.4f} ({d.min():+.4f} to {d.max():+.4f})", per]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
