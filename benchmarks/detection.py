"""Detection AUC of the reference subjects: fresh real rows of unseen users (the
holdout), exact copies of the training rows and a bootstrap of them, against the
training rows, with both detectors. Fresh rows and copies should score 0.5.

    .venv/bin/python -u benchmarks/detection.py --rows 4000 12000 30000           # embedded DIGIX 2020, split seed 7
    .venv/bin/python -u benchmarks/detection.py --rows 4000 --seeds 100 101 102 103 104
    .venv/bin/python -u benchmarks/detection.py --heavy --seeds 0 1 2               # users with >= 3 rows, shared sample

``--heavy`` takes 4,500 users with at least three rows each from the shared 669k-row
sample and splits them by user in thirds (users with many rows are where folds that
split a user's rows fail most).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from clicksynth.bench.cell import load_split
from clicksynth.metrics import EvalContext, fidelity
from clicksynth.schema import Schema
from clicksynth.split import split_frame

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "digix2020" / "digix2020_ctr_sample.csv.gz"


def heavy_split(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, Schema]:
    full = pl.read_csv(SOURCE)
    counts = full.group_by("uid").len().filter(pl.col("len") >= 3)
    users = np.random.default_rng(seed).choice(counts["uid"].to_numpy(), 4500, replace=False)
    sub = full.filter(pl.col("uid").is_in(users.tolist()))
    schema = Schema.infer(sub, target="label", user_column="uid")
    train, hold, _ = (
        p.to_pandas() for p in split_frame(sub, target="label", fractions=(1 / 3, 1 / 3, 1 / 3), user_column="uid", random_state=seed)
    )
    return train, hold, schema


def scores(train: pd.DataFrame, hold: pd.DataFrame, schema: Schema, seed: int) -> dict[str, float]:
    assert schema.user_column is not None
    boot = train.iloc[np.random.default_rng(seed).integers(0, len(train), len(train))].reset_index(drop=True)
    subjects = {"fresh": hold, "copies": train.drop(columns=[schema.user_column]), "bootstrap": boot}
    out = {}
    for name, synth in subjects.items():
        for kind in ("xgboost", "logistic"):
            metric = getattr(fidelity, f"detection_{kind}")
            out[f"{name} {kind}"] = metric(train, synth, EvalContext(schema, np.random.default_rng(seed), params={"max_rows": 5000})).value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[4000, 12000, 30000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--heavy", action="store_true")
    args = parser.parse_args()
    for rows in [0] if args.heavy else args.rows:
        table = []
        for seed in args.seeds:
            if args.heavy:
                train, hold, schema = heavy_split(seed)
            else:
                train, hold, _, schema = load_split("digix2020", None, None, rows, (0.6, 0.2, 0.2), seed)
            row = scores(train, hold, schema, seed)
            users = train[schema.user_column].nunique() if schema.user_column else len(train)
            print(
                f"{'heavy' if args.heavy else rows} seed {seed}: {len(train)} training rows, {len(train) / users:.1f} a user: "
                + ", ".join(f"{k} {v:.3f}" for k, v in row.items()),
                flush=True,
            )
            table.append(row)
        df = pd.DataFrame(table)
        print("  mean " + ", ".join(f"{k} {v:.3f}" for k, v in df.mean().items()))
        print("  range " + ", ".join(f"{k} {df[k].min():.3f}-{df[k].max():.3f}" for k in df.columns))


if __name__ == "__main__":
    main()
