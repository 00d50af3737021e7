"""Peak memory and speed of `clicksynth sample` by chunk size (issue #19): memory must be bounded by
the chunk, not the total.

    .venv/bin/python -u benchmarks/sampling.py                          # bootstrap, smotenc, gaussian_copula
    .venv/bin/python -u benchmarks/sampling.py --rows 2000000 --generators smotenc

Each generator is fitted once on the embedded DIGIX 2020 sample (all rows); then for each chunk size
`clicksynth sample` runs in its own process (peak resident memory: the process's VmHWM) writing a CSV.
Prints one line per run and a table: peak MB, seconds, rows/s, and the peak's ratio to the smallest.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEAK = """
import json, sys
from clicksynth.cli import app
app(sys.argv[1:], standalone_mode=False)
# VmHWM: this process's own peak (getrusage's maxrss would carry the parent's over fork and exec).
print(json.dumps(int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--generators", nargs="+", default=["bootstrap", "smotenc", "gaussian_copula"])
    parser.add_argument("--chunks", type=int, nargs="+", default=[50_000, 200_000, 0], help="chunk rows; 0: all rows at once")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}, {args.rows:,} rows", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.generators:
            model = Path(tmp) / f"{name}.csm"
            cli = [sys.executable, "-m", "clicksynth.cli"]
            subprocess.run([*cli, "fit", "--data", "digix2020", "--generator", name, "--out", str(model)], check=True, capture_output=True)
            for chunk in args.chunks:
                size = chunk or args.rows
                t0 = time.perf_counter()
                cmd = ["sample", str(model), "--rows", str(args.rows), "--chunk-rows", str(size), "--out", str(Path(tmp) / "out.csv")]
                out = subprocess.run([sys.executable, "-c", PEAK, *cmd], check=True, capture_output=True, text=True)
                seconds = time.perf_counter() - t0
                peak_mb = json.loads(out.stdout.strip().splitlines()[-1]) / 1024
                row = {"generator": name, "chunk": chunk or "all", "peak_mb": peak_mb, "s": seconds, "rows_per_s": args.rows / seconds}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| generator | chunk rows | peak MB | seconds | rows/s | peak / smallest chunk's |")
    print("|---|---|---|---|---|---|")
    for name in args.generators:
        mine = [r for r in rows if r["generator"] == name]
        base = mine[0]["peak_mb"]
        for r in mine:
            chunk = f"{r['chunk']:,}" if isinstance(r["chunk"], int) else r["chunk"]
            print(f"| {name} | {chunk} | {r['peak_mb']:.0f} | {r['s']:.1f} | {r['rows_per_s']:,.0f} | {r['peak_mb'] / base:.2f} |")


if __name__ == "__main__":
    main()
