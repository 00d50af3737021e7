"""Diffusion (masked and TabDDPM's multinomial) on the main job's default split, beside the
autoregressive column model, SMOTE-NC and CTGAN, with fresh real rows as the reference (issue #17).

    .venv/bin/python -u benchmarks/diffusion.py                                # three seeds
    .venv/bin/python -u benchmarks/diffusion.py --seeds 0 --generators diffusion \\
        --set diffusion.layers='[512, 512]'                                    # one sweep point
    .venv/bin/python -u benchmarks/diffusion.py --steps 5 10 25 50 100 \\
        --figure benchmarks/figures/diffusion_steps.png                        # the steps curve
    .venv/bin/python -u benchmarks/diffusion.py --rows 100000                   # sampling speed
    .venv/bin/python -u benchmarks/diffusion.py --rows 5000 --generators tabddpm \\
        --set tabddpm.epochs=1                                                 # TabDDPM's sampling speed

Per generator and seed, the figures of ``benchmarks/autoregressive.py`` (same split and
evaluation: fit seconds, sampling rows/s, seconds for 10,000 click rows, detection AUC,
DCR share, exact copies, TSTR PR-AUC, augmentation change); ``epochs`` is the epoch early
stopping kept. ``--steps`` fits the model (masked, or tabddpm if named) once per seed and scores its samples at
each number of sampling steps. ``--rows N`` times sampling N rows at the default steps
(of the first of ``--generators``, masked diffusion unless named).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from autoregressive import COMPARE_FIGURES, default_split, parse_overrides, print_table, run_all, sampling_sweep

from clicksynth.generators import get_generator
from clicksynth.pipeline import BUDGETS

GENERATORS = ["diffusion", "tabddpm", "autoregressive", "smotenc", "ctgan"]
FIGURES = [*COMPARE_FIGURES, "epochs"]


def sampling_speed(name: str, rows: int, params: dict, split: tuple) -> None:
    train, _, _, schema = split
    target, ids = schema.target, schema.of_kind("id")
    gen = get_generator(name, random_state=0, **params)
    t0 = time.perf_counter()
    gen.fit(train.drop(columns=[target, *ids]), train[target].to_numpy(), schema=schema.drop([target, *ids]))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = gen.sample(rows)
    sample_s = time.perf_counter() - t0
    print(
        f"{name} {params}: fit {fit_s:.0f} s; {len(out)} rows sampled in {sample_s:.1f} s ({len(out) / sample_s:,.0f} rows/s) at {gen.steps} steps"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generators", nargs="+", default=["holdout", *GENERATORS])
    parser.add_argument("--set", action="append", default=[], help="generator.param=value (JSON value)")
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="sweep the masked model's sampling steps instead")
    parser.add_argument("--figure", type=Path, default=None, help="where the sweep's figure goes (PNG)")
    parser.add_argument("--rows", type=int, default=None, help="time sampling this many rows instead")
    args = parser.parse_args()
    import torch

    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}", flush=True)
    overrides = parse_overrides(args.set)
    speed_of = next((g for g in args.generators if g in ("diffusion", "tabddpm")), "diffusion")
    params = {**BUDGETS.get(speed_of, {}), **overrides.get(speed_of, {})}
    split = default_split()
    print(f"# split: {len(split[0])} train / {len(split[1])} holdout / {len(split[2])} test rows", flush=True)
    if args.rows:
        sampling_speed(speed_of, args.rows, params, split)
    elif args.steps:
        sampling_sweep(speed_of, "steps", args.steps, args.seeds, params, split, args.figure)
    else:
        print_table(run_all(args.generators, args.seeds, overrides, split), FIGURES)


if __name__ == "__main__":
    main()
