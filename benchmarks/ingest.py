"""Ingest benchmark: load + schema inference + Parquet caching vs pandas.read_csv.

    .venv/bin/python benchmarks/ingest.py [--copies 10] [--workdir /tmp/clicksynth-ingest]

Builds a CSV by stacking the DIGIX 2020 sample ``--copies`` times (10 copies =
6.7M rows, about the size of the DIGIX 2022 ads table), then measures, in one
run and each in a fresh process so peak memory is its own:

* pandas   ``pandas.read_csv(file)``
* cold     ``clicksynth.read_table`` (parse + cache write) + ``Schema.infer``, empty cache
* warm     the same call again (content-keyed cache hit)

and prints seconds, peak RSS and the ratios against pandas.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "digix2020" / "digix2020_ctr_sample.csv.gz"

CHILD = r"""
import json, resource, sys, time
mode, path = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if mode == "pandas":
    import pandas as pd
    df = pd.read_csv(path)
    rows, cols = df.shape
else:
    from clicksynth import Schema, read_table
    df = read_table(path)
    schema = Schema.infer(df, target="label")
    rows, cols = df.shape
secs = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"mode": mode, "seconds": secs, "peak_gib": peak, "rows": rows, "cols": cols}))
"""


def build(copies: int, workdir: Path) -> Path:
    out = workdir / f"digix2020_x{copies}.csv"
    if out.exists():
        return out
    with gzip.open(SOURCE, "rb") as f:
        data = f.read()
    header, body = data.split(b"\n", 1)
    if not body.endswith(b"\n"):
        body += b"\n"
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(header + b"\n")
        for _ in range(copies):
            f.write(body)
    tmp.rename(out)
    return out


def measure(mode: str, path: Path, env: dict[str, str]) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "clicksynth-ingest")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = build(args.copies, args.workdir)
    cache = args.workdir / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, CLICKSYNTH_CACHE_DIR=str(cache))
    print(f"hardware: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"file: {path} ({path.stat().st_size / 2**30:.2f} GiB)")
    pandas = measure("pandas", path, env)
    cold = measure("cold", path, env)
    warm = measure("warm", path, env)
    for r in (pandas, cold, warm):
        print(f"{r['mode']:>7}: {r['seconds']:7.2f} s  peak {r['peak_gib']:.2f} GiB  ({r['rows']:,} rows x {r['cols']} cols)")
    print(f"ratio pandas / clicksynth cold: {pandas['seconds'] / cold['seconds']:.2f}x")
    print(f"ratio pandas / clicksynth warm: {pandas['seconds'] / warm['seconds']:.2f}x")
    print(f"peak memory clicksynth cold: {cold['peak_gib']:.2f} GiB (pandas {pandas['peak_gib']:.2f} GiB)")


if __name__ == "__main__":
    main()
