"""Generator benchmark: fit + balance the classes, per generator and data size.

    .venv/bin/python benchmarks/generators.py [--sizes 20000 100000 669274] [--generators smotenc smote ...]
        [--timeout 900] [--peer]

For each (generator, size): fit on a user-grouped, click-stratified sample of
the DIGIX 2020 data (uid dropped, 35 columns), then sample the click rows that
balance the classes (n_synthetic = n_non_clicks - n_clicks, ~620k rows at full
size). Each case runs in a fresh process so its peak RSS is its own, under a
20 GiB address-space limit and a wall-clock timeout. ``--peer`` adds
imbalanced-learn's own SMOTENC on the raw columns (integer codes declared
categorical; its one-hot encoder sees every category), the path that fails on
large data in imbalanced-learn issue #667.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "digix2020" / "digix2020_ctr_sample.csv.gz"
DEFAULT = [
    "bootstrap",
    "random_oversample",
    "smote",
    "smotenc",
    "smoten",
    "borderline_smote",
    "adasyn",
    "svm_smote",
    "smote_tomek",
    "smote_enn",
    "gmm_smote",
    "gaussian_copula",
]

CHILD = r"""
import json, resource, sys, time
limit = 20 * 2**30
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
name, size, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from clicksynth import read_table, subsample
full = read_table(source)
frame = subsample(full, size, target="label", user_column="uid", random_state=0).to_pandas().drop(columns=["uid"])
del full
X, y = frame.drop(columns=["label"]), frame["label"]
n_syn = int((y == 0).sum() - (y == 1).sum())
out = {"generator": name, "rows": len(frame), "synthetic": n_syn}
try:
    if name == "imblearn_smotenc":
        from imblearn.over_sampling import SMOTENC
        cats = [c for c in X.columns if c != "communication_onlinerate"]
        Xs = X.assign(communication_onlinerate=X["communication_onlinerate"].str.count("\\^") + 1)
        t = time.perf_counter()
        Xr, yr = SMOTENC(categorical_features=cats, random_state=0).fit_resample(Xs, y)
        out["fit_s"] = time.perf_counter() - t
        out["sample_s"] = 0.0
    else:
        from clicksynth import get_generator
        gen = get_generator(name, random_state=0)
        t = time.perf_counter(); gen.fit(X, y); out["fit_s"] = time.perf_counter() - t
        t = time.perf_counter(); syn = gen.sample({1: n_syn}); out["sample_s"] = time.perf_counter() - t
        assert (syn["label"] == 1).sum() == n_syn
    out["status"] = "ok"
except MemoryError:
    out["status"] = "MemoryError"
out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 669_274])
    parser.add_argument("--generators", nargs="+", default=DEFAULT)
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--peer", action="store_true")
    args = parser.parse_args()
    print(f"hardware: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    names = list(args.generators) + (["imblearn_smotenc"] if args.peer else [])
    print(f"{'generator':18s} {'rows':>8s} {'synthetic':>9s} {'fit s':>8s} {'sample s':>9s} {'rows/s':>9s} {'peak GiB':>8s}  status")
    for size in args.sizes:
        for name in names:
            try:
                res = subprocess.run(
                    [sys.executable, "-c", CHILD, name, str(size), str(SOURCE)], capture_output=True, text=True, timeout=args.timeout
                )
                line = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
                r = (
                    json.loads(line)
                    if line.startswith("{")
                    else {
                        "generator": name,
                        "rows": size,
                        "status": f"crashed: {res.stderr.strip().splitlines()[-1][:80] if res.stderr.strip() else res.returncode}",
                    }
                )
            except subprocess.TimeoutExpired:
                r = {"generator": name, "rows": size, "status": f"timeout > {args.timeout} s"}
            if r.get("status") == "ok":
                total = r["fit_s"] + r["sample_s"]
                rate = r["synthetic"] / r["sample_s"] if r["sample_s"] > 0 else r["synthetic"] / max(total, 1e-9)
                print(
                    f"{name:18s} {r['rows']:8d} {r['synthetic']:9d} {r['fit_s']:8.1f} {r['sample_s']:9.1f} {rate:9.0f} {r['peak_gib']:8.2f}  ok",
                    flush=True,
                )
            else:
                peak = f"{r['peak_gib']:8.2f}" if "peak_gib" in r else f"{'-':>8s}"
                print(f"{name:18s} {r.get('rows', size):8d} {'':9s} {'':8s} {'':9s} {'':9s} {peak}  {r['status']}", flush=True)


if __name__ == "__main__":
    main()
