"""The tree generators (adversarial random forests, ForestFlow, sequential trees) on the
main job's default split, beside fresh real rows, SMOTE-NC and CTGAN (issue #18).

    .venv/bin/python -u benchmarks/trees.py                                 # three seeds
    .venv/bin/python -u benchmarks/trees.py --seeds 0 --generators arf \\
        --set arf.min_samples_leaf=2                                        # one sweep point
    .venv/bin/python -u benchmarks/trees.py --large 100000                  # forestflow on 100k shared rows

Per generator and seed, the figures of ``benchmarks/autoregressive.py`` (same split,
same evaluation): fit seconds, sampling rows/s and seconds for 10,000 click rows,
detection AUC (XGBoost), DCR share, exact copies of training rows, TSTR PR-AUC and
the augmentation change, with ``holdout`` (fresh real rows) as the reference.
``--large N`` fits forestflow with its defaults on N rows of the shared DIGIX 2020
sample (``../shared/data/digix2020``) and prints fit seconds and the process's peak
memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path
from typing import Any

from autoregressive import COMPARE_FIGURES, default_split, parse_overrides, print_table, run_all

from clicksynth.bench.cell import load_split, split_seed
from clicksynth.bench.config import DEFAULT_FRACTIONS
from clicksynth.generators import get_generator

GENERATORS = ["arf", "sequential", "forestflow", "smotenc", "ctgan"]
FIGURES = COMPARE_FIGURES
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "digix2020" / "digix2020_ctr_sample.csv.gz"


def large(rows: int, params: dict[str, Any]) -> None:
    """forestflow's fit on ``rows`` shared rows (its training part): seconds and peak memory."""
    train, _, _, schema = load_split("digix2020", str(SHARED), "label", rows, DEFAULT_FRACTIONS, split_seed(0, "digix2020", 0))
    ids = schema.of_kind("id")
    X, y = train.drop(columns=[schema.target, *ids]), train[schema.target].to_numpy()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    gen = get_generator("forestflow", random_state=0, **params).fit(X, y, schema=schema.drop([schema.target, *ids]))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen.sample(len(X))
    sample_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"forestflow {json.dumps(params)} on {len(X)} training rows ({int(y.sum())} clicks) of {rows}: fit {fit_s:.0f} s, "
        f"sampling {len(X)} rows {sample_s:.1f} s, peak memory {peak:.0f} MB (after loading {before:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generators", nargs="+", default=["holdout", *GENERATORS])
    parser.add_argument("--set", action="append", default=[], help="generator.param=value (JSON value)")
    parser.add_argument("--large", type=int, default=None, help="fit forestflow on this many shared rows instead")
    args = parser.parse_args()
    import xgboost

    print(f"# {platform.processor() or platform.machine()}, xgboost {xgboost.__version__}", flush=True)
    overrides = parse_overrides(args.set)
    if args.large:
        large(args.large, overrides.get("forestflow", {}))
        return
    split = default_split()
    print(f"# split: {len(split[0])} train / {len(split[1])} holdout / {len(split[2])} test rows", flush=True)
    print_table(run_all(args.generators, args.seeds, overrides, split), FIGURES)


if __name__ == "__main__":
    main()
