"""The privacy metrics at their three reference points: fresh real rows of unseen
users, a half-copied set, and copies of training rows, on the embedded DIGIX 2020.

    .venv/bin/python -u benchmarks/privacy_points.py --rows 30000 --seed 7

Copies are a test-sized sample of the training rows (so a membership attacker finds
only that share of members); half-copied is half of them plus half fresh rows.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from clicksynth.bench.cell import load_split
from clicksynth.metrics import EvalContext, privacy

METRICS = ("dcr_share", "dcr_median_ratio", "nndr", "exact_match_train", "mia_auc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    train, hold, test, schema = load_split("digix2020", None, None, args.rows, (0.6, 0.2, 0.2), args.seed)
    n = len(test)
    copies = train.sample(n=min(n, len(train)), random_state=1).reset_index(drop=True)
    half = pd.concat([copies.iloc[: n // 2], test.iloc[n // 2 :]], ignore_index=True)
    print(f"{len(train)} training rows, {len(hold)} holdout (control), {n} fresh rows")
    print(f"{'metric':20s} {'fresh':>8s} {'half':>8s} {'copies':>8s}")
    for name in METRICS:
        metric = getattr(privacy, name)
        results = [metric(train, synth, EvalContext(schema, np.random.default_rng(0), holdout=hold)) for synth in (test, half, copies)]
        extra = f"   holdout's own: {results[0].details['holdout']:.3f}" if name == "nndr" else ""
        print(f"{name:20s} " + " ".join(f"{r.value:8.3f}" for r in results) + extra, flush=True)


if __name__ == "__main__":
    main()
