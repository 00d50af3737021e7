"""Denormal floats on CPU: what flushing them to zero (``clicksynth.generators.neural`` does it on
import) saves, in a matrix product and in TabDDPM's training epochs.

    .venv/bin/python -u benchmarks/denormals.py                   # both parts
    .venv/bin/python -u benchmarks/denormals.py --epochs 0        # the matrix product only

Each measurement runs in a fresh process, the flag set before torch's thread pool starts (threads
inherit it): *kept* turns it off again right after the import, *flushed* is the package's default.
The matrix product is the size of a TabDDPM head's (512 rows x 7,000 categories x width 512); its
left operand is either normal (N(0, 1)) or denormal (the same x 1e-39, as the gradients of a
confident softmax are). The training part fits TabDDPM on the main job's default split for
``--epochs`` epochs (no early stop) and prints each epoch's seconds (the slowdown appears where a
head grows confident: the full study's 7,062-category vocabulary after one epoch of 400k rows).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

GEMM = """
import json, time, torch
import clicksynth.generators.neural
torch.set_flush_denormal({flush})
g = torch.Generator().manual_seed(0)
a, w = torch.randn(512, 7000, generator=g), torch.randn(7000, 512, generator=g)
out = {{}}
for name, x in (("normal", a), ("denormal", a * 1e-39)):
    x @ w
    t0 = time.perf_counter()
    for _ in range(3):
        x @ w
    out[name] = (time.perf_counter() - t0) / 3
print(json.dumps(out))
"""

FIT = """
import json, sys, torch
sys.path.insert(0, {bench!r})
import clicksynth.generators.neural
torch.set_flush_denormal({flush})
from autoregressive import default_split
from clicksynth.generators import get_generator
train, _, _, schema = default_split()
ids = schema.of_kind("id")
X, y = train.drop(columns=[schema.target, *ids]), train[schema.target].to_numpy()
gen = get_generator("tabddpm", random_state=0, epochs={epochs}, patience={epochs})
gen.fit(X, y, schema=schema.drop([schema.target, *ids]))
print(json.dumps([h["seconds"] for h in gen.history_]))  # cumulative
"""


def run(code: str) -> object:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="TabDDPM epochs per fit (0: skip the fits)")
    args = parser.parse_args()
    import torch

    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", flush=True)
    for flush in (False, True):
        times = run(GEMM.format(flush=flush))
        label = "flushed" if flush else "kept"
        print(
            f"matmul 512x7000 @ 7000x512, denormals {label}: normal {times['normal']:.3f} s, denormal {times['denormal']:.3f} s", flush=True
        )
    if args.epochs:
        bench = os.path.dirname(os.path.abspath(__file__))
        for flush in (False, True):
            cumulative = run(FIT.format(bench=bench, flush=flush, epochs=args.epochs))
            per_epoch = [round(b - a, 1) for a, b in zip([0.0, *cumulative], cumulative)]
            label = "flushed" if flush else "kept"
            print(f"tabddpm epochs on the default split, denormals {label}: {per_epoch} s (total {cumulative[-1]:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
