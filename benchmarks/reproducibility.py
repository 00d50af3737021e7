"""Same seed, same study: run the main job on a small fixed config and compare
every score with another run of it.

    .venv/bin/python -u benchmarks/reproducibility.py --out /tmp/repro-a            # run once
    .venv/bin/python -u benchmarks/reproducibility.py --out /tmp/repro-b --against /tmp/repro-a

Across a refactoring, run the old code first (``git worktree add /tmp/old <commit>``,
then from that folder, so the cell processes import the old code too: ``cd /tmp/old &&
PYTHONPATH=/tmp/old /work/main/.venv/bin/python -u /work/main/benchmarks/reproducibility.py --out
/tmp/repro-old``) and the new one with ``--against /tmp/repro-old``.

The second line runs again and compares: every (cell, metric, column, subject)
value and interval, and the leaderboard without its timing columns, must be
identical (exact float equality), also across two machines. Neural generators train for a fixed number of epochs here, never to a
wall-clock budget, so their rows depend on the seed alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from clicksynth.pipeline import default_config, run_study

#: A study small enough for minutes on two cores that still touches every family of
#: generator and every metric.
GENERATORS = {
    "identity": {},
    "smotenc": {},
    "gaussian_copula": {},
    "gmm_smote": {},
    "ctgan": {"epochs": 2, "generator_dim": [32, 32], "discriminator_dim": [32, 32], "batch_size": 200},
    "tvae": {"epochs": 2, "compress_dims": [32, 32], "decompress_dims": [32, 32], "batch_size": 200},
}


def run(out: Path, *, rows: int, seed: int) -> Path:
    config = default_config(rows=rows, max_rows=800, seed=seed, generators=GENERATORS)
    return run_study(config, run_dir=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--against", type=Path, help="an earlier run folder of this script to compare with")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    run(args.out, rows=args.rows, seed=args.seed)
    n = len(pd.read_parquet(args.out / "results.parquet"))
    print(f"{args.out}: {n} score rows")
    if args.against is None:
        return
    # Imported here: a run without --against works from an older tree too (PYTHONPATH=old checkout).
    from clicksynth.bench.compare import run_differences

    diff = run_differences(args.against, args.out)
    if diff:
        print(f"NOT reproduced: {len(diff)} difference(s)")
        print("\n".join(diff))
        sys.exit(1)
    print(f"reproduced: all {n} scores and the leaderboard identical to {args.against}")


if __name__ == "__main__":
    main()
