"""Fits on a busy machine: OpenMP's wait policy, alone and beside a second busy process.

XGBoost and torch run their parallel steps on OpenMP threads. By default a thread that
waits for the next step spins; when another process holds the cores (a second test
worker, a second cell, any other job) the spinning threads and the working ones take
turns on the CPU and every step waits out a time slice. clicksynth sets
``OMP_WAIT_POLICY=PASSIVE`` on import (unless the user set it); this measures why.

Each workload runs in a fresh process under each policy, alone and while a second
process runs the same workload in a loop under the same policy (as two pytest-xdist
workers or two local cells do). A policy set here overrides clicksynth's.

    .venv/bin/python -u benchmarks/busy.py                 # every workload, both policies
    .venv/bin/python -u benchmarks/busy.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

WORKLOADS = ("detection", "ctgan", "autoregressive")


def _workload(name: str) -> float:
    """Seconds of one run of a workload (imports and data excluded)."""
    from clicksynth import get_generator, load_dataset, subsample

    frame = subsample(load_dataset("digix2020").frame, 3000, target="label", user_column="uid", random_state=0).to_pandas()
    if name == "detection":
        from clicksynth.metrics.engine import evaluate
        from clicksynth.schema import Schema

        schema = Schema.infer(frame, target="label", user_column="uid")
        real, other = frame.iloc[:1500], frame.iloc[1500:].drop(columns=["uid"])
        t0 = time.perf_counter()
        evaluate(real, other, schema=schema, metrics=["detection_xgboost"], references=False, max_rows=300, random_state=0)
        return time.perf_counter() - t0
    X, y = frame.drop(columns=["label", "uid"]), frame["label"]
    params = {"ctgan": {"epochs": 2}, "autoregressive": {"epochs": 2, "validation": 0.0}}[name]
    t0 = time.perf_counter()
    gen = get_generator(name, random_state=0, **params).fit(X, y)
    gen.sample({1: 2000})
    return time.perf_counter() - t0


#: What each column sets. libgomp (torch, XGBoost and scikit-learn wheels on Linux) spins 300,000
#: rounds before it sleeps when nothing is set (GOMP_SPINCOUNT's documented default), forever
#: under ACTIVE, not at all under PASSIVE.
POLICIES: dict[str, dict[str, str]] = {
    "spin 300k (libgomp's default)": {"GOMP_SPINCOUNT": "300000"},
    "spin 10k": {"GOMP_SPINCOUNT": "10000"},
    "sleep (PASSIVE)": {"OMP_WAIT_POLICY": "PASSIVE"},
}


def _env(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    return {**env, **POLICIES[policy]}


def _run(name: str, policy: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", name], env=_env(policy), capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(_workload(args.child))
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; median of {args.repeats}; seconds")
    print("| workload | " + " | ".join(f"{p}, {load}" for load in ("alone", "busy") for p in POLICIES) + " |")
    print("|---|" + "---|" * 2 * len(POLICIES))
    for name in args.workloads:
        seconds: list[float] = []
        for busy in (False, True):
            for policy in POLICIES:
                rival = None
                if busy:  # the same workload, looping in a second process under the same policy
                    loop = f"import subprocess,sys\nwhile True: subprocess.run([sys.executable, {__file__!r}, '--child', {name!r}], capture_output=True)"
                    rival = subprocess.Popen([sys.executable, "-c", loop], env=_env(policy))
                    time.sleep(8)  # past the rival's imports, into its work
                try:
                    seconds.append(statistics.median(_run(name, policy) for _ in range(args.repeats)))
                finally:
                    if rival is not None:
                        rival.kill()
                        rival.wait()
                        subprocess.run(["pkill", "-f", f"{__file__} --child {name}"], check=False)
        print(f"| {name} | " + " | ".join(f"{s:.1f}" for s in seconds) + " |", flush=True)


if __name__ == "__main__":
    main()
