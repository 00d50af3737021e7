"""The row GPT on the main job's default split, beside the autoregressive column model,
sequential trees, SMOTE-NC and CTGAN, with fresh real rows as the reference (issue #16).

    .venv/bin/python -u benchmarks/rowgpt.py                                   # three seeds
    .venv/bin/python -u benchmarks/rowgpt.py --seeds 0 --generators rowgpt \\
        --set rowgpt.width=128                                                 # one sweep point
    .venv/bin/python -u benchmarks/rowgpt.py --temperatures 0.6 0.8 1.0 \\
        --figure benchmarks/figures/rowgpt_temperature.png                     # the sweep
    .venv/bin/python -u benchmarks/rowgpt.py --seeds 0 --generators rowgpt --save-models models
    .venv/bin/python -u benchmarks/rowgpt.py --temperatures 0.6 0.8 1.0 \\
        --models models/rowgpt0.csm                                            # the sweep of a saved model
    .venv/bin/python -u benchmarks/rowgpt.py --models models/rowgpt0.csm --timings 8   # sampling speed

Per generator and seed, the figures of ``benchmarks/autoregressive.py`` (same split and
evaluation: fit seconds, sampling rows/s, seconds for 10,000 click rows, detection AUC,
DCR share, exact copies, TSTR PR-AUC, augmentation change). ``--temperatures`` fits
rowgpt once per seed and scores its samples at each temperature: how fidelity,
privacy and utility move, drawn as a figure. ``--timings N`` times 10,000 rows of each
class from each saved model, the classes alternately, N times: medians and rows/s.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from autoregressive import COMPARE_FIGURES, default_split, parse_overrides, print_table, run_all, sampling_sweep

from clicksynth.generators import Generator
from clicksynth.pipeline import BUDGETS

GENERATORS = ["rowgpt", "autoregressive", "sequential", "smotenc", "ctgan"]
FIGURES = COMPARE_FIGURES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generators", nargs="+", default=["holdout", *GENERATORS])
    parser.add_argument("--set", action="append", default=[], help="generator.param=value (JSON value)")
    parser.add_argument("--temperatures", type=float, nargs="+", default=None, help="sweep rowgpt's sampling temperature instead")
    parser.add_argument("--figure", type=Path, default=None, help="where the sweep's figure goes (PNG)")
    parser.add_argument(
        "--models", type=Path, nargs="+", default=[], help="saved rowgpt models of this split to sweep (seed: their random_state)"
    )
    parser.add_argument("--save-models", type=Path, default=None, help="folder the fitted models are saved to ({name}{seed}.csm)")
    parser.add_argument("--timings", type=int, default=None, help="time 10,000 rows of each class from each --models, N times")
    args = parser.parse_args()
    import torch

    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}", flush=True)
    if args.timings:
        for path in args.models:
            time_sampling(path, args.timings)
        return
    overrides = parse_overrides(args.set)
    split = default_split()
    print(f"# split: {len(split[0])} train / {len(split[1])} holdout / {len(split[2])} test rows", flush=True)
    if args.temperatures:
        params = {**BUDGETS.get("rowgpt", {}), **overrides.get("rowgpt", {})}
        models = {m.random_state: m for m in map(Generator.load, args.models)}
        seeds = sorted(models) if models else args.seeds
        sampling_sweep("rowgpt", "temperature", args.temperatures, seeds, params, split, args.figure, models)
        return
    if args.save_models:
        args.save_models.mkdir(parents=True, exist_ok=True)
    print_table(run_all(args.generators, args.seeds, overrides, split, args.save_models), FIGURES)


def time_sampling(path: Path, repeats: int, rows: int = 10_000) -> None:
    """Seconds for ``rows`` rows of each class from a saved model, the classes alternately
    (so both see the same machine), ``repeats`` times: every timing, the median and rows/s."""
    gen = Generator.load(path)
    gen.sample({1: 1000})  # warm-up: the first pass pays for allocations
    seconds: dict[int, list[float]] = {1: [], 0: []}
    for _ in range(repeats):
        for cls, times in seconds.items():
            t0 = time.perf_counter()
            gen.sample({cls: rows})
            times.append(time.perf_counter() - t0)
    for cls, times in seconds.items():
        median = float(np.median(times))
        shown = " ".join(f"{t:.2f}" for t in times)
        print(f"{path} class {cls}: {rows} rows in {shown} s; median {median:.2f} s, {rows / median:,.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
