"""CTGAN / TVAE benchmark: clicksynth against SDV on the same rows, same epochs.

    .venv/bin/python benchmarks/neural.py [--epochs 30] [--batch-size 500] [--rows 20000]
        [--peer-python /path/to/venv-with-sdv/bin/python] [--peer-timeout SECONDS] [--peer-first] [--models ctgan tvae]

Installs nothing into the project. Rows: a user-grouped, click-stratified
sample of the DIGIX 2020 data, uid dropped, every other column declared
categorical; holdout and test rows come from other users. For each model the
script prints fit seconds, seconds to sample as many rows as the training set,
sampling throughput over 200,000 rows, seconds to sample 10,000 click rows (``sample({1: 10000})``; SDV: conditional
sampling of ``label = 1``), and the scorecard's column shapes (TV complement),
column pairs (contingency similarity), detection AUC (XGBoost), TSTR PR-AUC
and DCR share, for clicksynth and - when ``--peer-python`` has SDV - for SDV.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clicksynth import Schema, get_generator, read_table, split_frame
from clicksynth.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "digix2020" / "digix2020_ctr_sample.csv.gz"
METRICS = ["tv_complement", "contingency_similarity", "detection_xgboost", "tstr_pr_auc", "tstr_roc_auc", "dcr_share"]

PEER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
import pandas as pd
model, train_path, out_path, epochs, batch, clicks, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
train = pd.read_parquet(train_path).astype(str)
from sdv.metadata import Metadata
from sdv.sampling import Condition
from sdv.single_table import CTGANSynthesizer, TVAESynthesizer
meta = Metadata.detect_from_dataframes({"t": train}, infer_keys=None) if "infer_keys" in __import__("inspect").signature(Metadata.detect_from_dataframes).parameters else Metadata.detect_from_dataframes({"t": train})
for c in train.columns:
    meta.update_column(column_name=c, sdtype="categorical", table_name="t")
cls = CTGANSynthesizer if model == "ctgan" else TVAESynthesizer
synth = cls(meta, epochs=epochs, batch_size=batch, verbose=True)  # per-epoch progress on stderr
out = {}
def one(x):  # SDV 2 returns {table: frame}
    return x["t"] if isinstance(x, dict) else x
t = time.perf_counter()
try:
    synth.fit({"t": train})  # SDV 2: one-table dictionaries
except TypeError:
    synth.fit(train)
out["fit_s"] = time.perf_counter() - t
print(f"PHASE fit_s {out['fit_s']:.1f}", file=sys.stderr, flush=True)  # survives a timeout
t = time.perf_counter(); rows = one(synth.sample(num_rows=len(train))); out["sample_s"] = time.perf_counter() - t
print(f"PHASE sample_s {out['sample_s']:.2f}", file=sys.stderr, flush=True)
rows.to_parquet(out_path)
t = time.perf_counter()
try:
    got = one(synth.sample_from_conditions([Condition(num_rows=clicks, column_values={"label": "1"})], max_tries_per_batch=100))
    out["clicks"] = int(len(got))
except Exception as exc:  # SDV raises when rejection sampling gives up
    out["clicks"] = 0
    out["clicks_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
out["clicks_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def _gemm_rate() -> float:
    """This machine's float32 matrix-product rate now (GFLOP/s, torch, 2048^2): the
    bound on network work, and it drifts between runs on a shared host, so it is
    printed beside the throughputs it limits."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    t = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9


def _rows(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Schema]:
    """(train, holdout, test, schema): a user-grouped, click-stratified split of the
    DIGIX 2020 sample, every column but label and uid declared categorical."""
    full = read_table(SOURCE)
    n = len(full)
    fr = [rows / n, 8000 / n, 8000 / n]
    parts = split_frame(full, target="label", user_column="uid", fractions=[*fr, 1 - sum(fr)], random_state=seed)
    # uid stays in the frames as an id column (never modelled, never compared) so the
    # holdout reference is split by user; the generators are fitted without it.
    train, hold, test = (p.to_pandas() for p in parts[:3])
    schema = Schema.infer(
        train,
        target="label",
        user_column="uid",
        overrides={"columns": {c: "categorical" for c in train.columns if c not in ("label", "uid")}},
    )
    return train, hold, test, schema


def _scores(train, synth, hold, test, schema) -> dict[str, float]:  # type: ignore[no-untyped-def]
    res = evaluate(train, synth, holdout=hold, test=test, schema=schema, metrics=METRICS, references=False)
    head = res[res["column"] == ""]
    return {r.metric: r.value for r in head.itertuples()}


def _run_ours(args, model, X, y, train, hold, test, schema) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Fit, sample, score ours; print; return (fit seconds, 10k-click seconds)."""
    gen = get_generator(model, epochs=args.epochs, batch_size=args.batch_size, random_state=args.seed)
    t0 = time.perf_counter()
    gen.fit(X, y, schema=schema.drop(["label", "uid"]))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    synth = gen.sample(len(train))
    sample_s = time.perf_counter() - t0
    rates = []
    for _ in range(args.throughput_repeats):  # median of repeats: one call is at the mercy of the shared host
        t0 = time.perf_counter()
        gen.sample(args.throughput_rows)
        rates.append(args.throughput_rows / (time.perf_counter() - t0))
    throughput = float(np.median(rates))
    t0 = time.perf_counter()
    clicks = gen.sample({1: args.clicks})
    clicks_s = time.perf_counter() - t0
    assert (clicks["label"] == 1).sum() == args.clicks
    ours = _scores(train, synth, hold, test, schema)
    print(
        f"  clicksynth: fit {fit_s:.1f} s, sample {len(train)} rows {sample_s:.2f} s "
        f"({len(train) / sample_s:,.0f} rows/s; {throughput:,.0f} rows/s over {args.throughput_rows:,} rows, median of {len(rates)}: {min(rates):,.0f}-{max(rates):,.0f}), {args.clicks} click rows {clicks_s:.2f} s",
        flush=True,
    )
    print("  scores: " + ", ".join(f"{k} {v:.4f}" for k, v in ours.items()), flush=True)
    return fit_s, clicks_s


def _run_peer(args, model, train, hold, test, schema) -> dict | None:  # type: ignore[no-untyped-def]
    """SDV in its own environment; print its figures; None when it did not get to sampling."""
    with tempfile.TemporaryDirectory() as tmp:
        tp, op = Path(tmp) / "train.parquet", Path(tmp) / "synth.parquet"
        train.drop(columns=["uid"]).to_parquet(tp)
        try:
            res = subprocess.run(
                [str(args.peer_python), "-c", PEER, model, str(tp), str(op), str(args.epochs), str(args.batch_size), str(args.clicks), "0"],
                capture_output=True,
                text=True,
                timeout=args.peer_timeout,
            )
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            phases = {k: float(v) for k, v in re.findall(r"PHASE (\w+) ([\d.]+)", err)}
            if "sample_s" not in phases:
                done = re.findall(rf"(\d+)/{args.epochs}", err)
                where = (
                    f"fitted in {phases['fit_s']:.1f} s, still sampling"
                    if "fit_s" in phases
                    else f"still fitting ({done[-1] if done else 0} of {args.epochs} epochs done)"
                )
                print(f"  SDV: stopped at {args.peer_timeout:.0f} s, {where}", flush=True)
                return None
            # Fitted and sampled; its conditional sampling of click rows ran out of time.
            spent = args.peer_timeout - phases["fit_s"] - phases["sample_s"]
            peer = {**phases, "clicks": 0, "clicks_s": spent, "clicks_error": f"(stopped after {spent:.0f} s)"}
        else:
            try:
                peer = json.loads(res.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                print(f"  SDV failed: {res.stderr.strip()[-1500:]}", flush=True)
                return None
        sdv_rows = pd.read_parquet(op)
        for c in sdv_rows.columns:  # SDV saw strings: restore the integer codes
            sdv_rows[c] = pd.to_numeric(sdv_rows[c], errors="coerce").astype(train[c].dtype) if train[c].dtype.kind in "iu" else sdv_rows[c]
    theirs = _scores(train, sdv_rows, hold, test, schema)
    print(
        f"  SDV: fit {peer['fit_s']:.1f} s, sample {len(train)} rows {peer['sample_s']:.2f} s, "
        f"{args.clicks} click rows: {peer['clicks']} in {peer['clicks_s']:.1f} s {peer.get('clicks_error', '')}",
        flush=True,
    )
    print("  SDV scores: " + ", ".join(f"{k} {v:.4f}" for k, v in theirs.items()), flush=True)
    return peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--clicks", type=int, default=10_000)
    parser.add_argument("--throughput-rows", type=int, default=200_000)
    parser.add_argument("--throughput-repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["ctgan", "tvae"])
    parser.add_argument("--peer-python", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--peer-timeout", type=float, default=None, help="stop SDV after this many seconds (fit speed-up reported as a lower bound)"
    )
    parser.add_argument(
        "--peer-first", action="store_true", help="run SDV before ours (to see how much the host's drift during a run moves the ratio)"
    )
    args = parser.parse_args()
    # SDV's script imports torch (with SDV) before starting its fit timer; importing it
    # here keeps our fit times free of the import too.
    import torch

    print(
        f"hardware: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, torch {torch.__version__}; "
        f"float32 matrix products {_gemm_rate():.0f} GFLOP/s",
        flush=True,
    )

    train, hold, test, schema = _rows(args.rows, args.seed)
    X, y = train.drop(columns=["label", "uid"]), train["label"]
    print(
        f"rows: train {len(train)} ({int(y.sum())} clicks), holdout {len(hold)}, test {len(test)}; epochs {args.epochs}, batch {args.batch_size}",
        flush=True,
    )
    ref_all = evaluate(train, hold, holdout=hold, test=test, schema=schema, metrics=METRICS)
    ref = {r.metric: r.value for r in ref_all[(ref_all["column"] == "") & (ref_all["subject"] == "holdout")].itertuples()}
    print(
        "reference (half the holdout as if synthetic, vs the other half): " + ", ".join(f"{k} {v:.4f}" for k, v in ref.items()), flush=True
    )

    for model in args.models:
        print(f"\n[{model}]", flush=True)
        peer = _run_peer(args, model, train, hold, test, schema) if args.peer_python and args.peer_first else None
        fit_s, clicks_s = _run_ours(args, model, X, y, train, hold, test, schema)
        if args.peer_python and not args.peer_first:
            peer = _run_peer(args, model, train, hold, test, schema)
        if peer is not None:
            print(
                f"  fit speed-up {peer['fit_s'] / fit_s:.1f}x; {args.clicks:,}-click sampling speed-up "
                f"{peer['clicks_s'] / clicks_s:.0f}x (SDV returned {peer['clicks']} rows)",
                flush=True,
            )
    print(f"\nfloat32 matrix products at the end: {_gemm_rate():.0f} GFLOP/s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
