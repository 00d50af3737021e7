"""Scorecard benchmark: the full evaluation at the size of the issue.

    .venv/bin/python benchmarks/evaluate.py [--train 100000 --synthetic 100000 --holdout 30000 --test 30000]
        [--peer-python /path/to/venv-with-sdmetrics/bin/python]

Rows come from the 669k-row DIGIX 2020 sample, split by user. The synthetic
rows are real rows of *other* users with every column permuted independently
(an "independent marginals" generator): cheap to make, and realistic for
timing, since every metric's cost depends on row counts and columns, not on
the generator. Prints wall time per family, the total, peak RSS, and - when
``--peer-python`` points at an interpreter with SDMetrics or SynthEval
installed (they are never dependencies of clicksynth) - the same DCR
computation timed in that peer, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from clicksynth import Schema, read_table, split_frame
from clicksynth.metrics import evaluate, scores_summary
from clicksynth.space import MixedSpace

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "digix2020" / "digix2020_ctr_sample.csv.gz"

PEER = r"""
import json, sys, time, warnings
import pandas as pd
warnings.filterwarnings("ignore")
train = pd.read_parquet(sys.argv[1]); synth = pd.read_parquet(sys.argv[2])
out = {}
try:
    from sdmetrics.single_table import DCRBaselineProtection
    cols = {c: {"sdtype": "numerical" if train[c].dtype.kind == "f" else "categorical"} for c in train.columns}
    meta = {"tables": {"t": {"columns": cols}}}
    t = time.perf_counter()
    score = DCRBaselineProtection.compute(real_data=train, synthetic_data=synth, metadata=meta, table_name="t")
    out["sdmetrics DCRBaselineProtection"] = {"seconds": time.perf_counter() - t, "score": float(score)}
except ImportError as exc:
    out["sdmetrics"] = {"error": str(exc)}
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--holdout", type=int, default=30_000)
    parser.add_argument("--test", type=int, default=30_000)
    parser.add_argument("--peer-python", type=Path, default=None)
    parser.add_argument("--peer-rows", type=int, default=5000, help="rows per table in the peer comparison (SDMetrics is quadratic)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"hardware: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    full = read_table(SOURCE)
    schema = Schema.infer(full, target="label", user_column="uid")
    n = len(full)
    sizes = [args.train, args.synthetic, args.holdout, args.test]
    fr = [s / n for s in sizes]
    parts = split_frame(full, target="label", user_column="uid", fractions=[*fr, 1 - sum(fr)], random_state=args.seed)
    train, other, holdout, test = (p.to_pandas() for p in parts[:4])
    rng = np.random.default_rng(args.seed)
    synth = other.copy()
    for c in synth.columns:
        if c != "label":
            synth[c] = rng.permutation(synth[c].to_numpy())
    print(f"rows: train {len(train)}, synthetic {len(synth)}, holdout {len(holdout)}, test {len(test)}; {train.shape[1]} columns")

    t0 = time.perf_counter()
    scores = evaluate(train, synth, holdout=holdout, test=test, schema=schema, random_state=args.seed)
    total = time.perf_counter() - t0
    head = scores[scores["column"] == ""]
    print(scores_summary(scores))
    print("\nseconds by family (all subjects):")
    print(head.groupby("family")["seconds"].sum().round(1).to_string())
    print("slowest metrics:")
    print(head.groupby("metric")["seconds"].sum().sort_values(ascending=False).head(8).round(1).to_string())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\nfull scorecard (3 subjects, {head['metric'].nunique()} metrics): {total:.1f} s, peak RSS {peak:.2f} GiB")

    # DCR alone on the same rows, for the peer comparison. SDMetrics' DCRBaselineProtection
    # computes the DCR of the synthetic rows and of as many uniformly random rows to the
    # real rows; ours below does the same two searches on the same rows.
    cols = [c for c in train.columns if c != "uid"]
    k = args.peer_rows
    pr, ps = train[cols].iloc[:k].reset_index(drop=True), synth[cols].iloc[:k].reset_index(drop=True)
    rnd = _uniform_like(pr, rng)
    t0 = time.perf_counter()
    space = MixedSpace(schema, cols).fit(pr)
    base = space.prepare(pr)
    space.knn(space.prepare(ps), base, 1)
    space.knn(space.prepare(rnd), base, 1)
    ours = time.perf_counter() - t0
    print(f"clicksynth DCR (synthetic and random rows -> real rows), {k} rows each: {ours:.2f} s")
    t0 = time.perf_counter()
    space = MixedSpace(schema, cols).fit(train)
    base = space.prepare(train)
    space.knn(space.prepare(synth), base, 1)
    space.knn(space.prepare(holdout), base, 1)
    print(
        f"clicksynth DCR of all {len(synth)} synthetic and {len(holdout)} holdout rows to all {len(train)} training rows: {time.perf_counter() - t0:.1f} s"
    )
    if args.peer_python:
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for name, frame in (("train", pr), ("synth", ps)):
                p = Path(tmp) / f"{name}.parquet"
                frame.to_parquet(p)
                paths.append(str(p))
            res = subprocess.run([str(args.peer_python), "-c", PEER, *paths], capture_output=True, text=True)
            try:
                peer = json.loads(res.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                print("peer failed:", res.stderr.strip()[-2000:])
                return
            for name, r in peer.items():
                if "seconds" in r:
                    print(f"{name}, {k} rows each: {r['seconds']:.1f} s -> clicksynth is {r['seconds'] / ours:.0f}x faster")
                else:
                    print(f"{name}: {r}")


def _uniform_like(frame, rng):  # type: ignore[no-untyped-def]
    """Rows drawn uniformly from each column's observed values (SDMetrics' random baseline)."""
    import pandas as pd

    return pd.DataFrame({c: rng.choice(pd.unique(frame[c]), size=len(frame)) for c in frame.columns})


if __name__ == "__main__":
    sys.exit(main())
