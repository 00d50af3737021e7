"""The autoregressive generator (NADE or column transformer) on the main job's default split, beside
CTGAN, TVAE, SMOTE-NC, sequential trees and fresh real rows (issue #15).

    .venv/bin/python -u benchmarks/autoregressive.py                       # three seeds, every generator
    .venv/bin/python -u benchmarks/autoregressive.py --seeds 0 --generators autoregressive \\
        --set autoregressive.width=32 --set autoregressive.layers=1        # one sweep point
    .venv/bin/python -u benchmarks/autoregressive.py --seeds 0 --generators autoregressive \\
        --set 'autoregressive.network="transformer"'                      # the column transformer
    .venv/bin/python -u benchmarks/autoregressive.py --train-clicks 100   # the rare-click regime
    .venv/bin/python -u benchmarks/autoregressive.py --fresh-test --generators holdout autoregressive
        # augmentation also scored on other users' rows (about 11,000 test clicks), the holdout row adding fresh clicks
    .venv/bin/python -u benchmarks/autoregressive.py --decode-rows 4096 512 --set autoregressive.epochs=1
        # sampling speed only: 10,000 click rows, rows decoded together (speed does not depend on training)
    .venv/bin/python -u benchmarks/autoregressive.py --generators holdout autoregressive tabularargn \\
        --peer-python /tmp/peers/bin/python                                # beside the reference TabularARGN

The split is the main job's (embedded DIGIX 2020, 30,000 rows, split by user with
the main job's seed). Per generator and seed: fit seconds, seconds for 10,000
click rows, sampling rows/s, detection AUC (XGBoost; all rows, and click rows
alone against the training clicks), DCR share, exact copies of training rows,
TSTR PR-AUC, and the change in PR-AUC when the training clicks are augmented to
the main job's ratio (1:4), with a paired bootstrap interval over the test rows
(``--fresh-test``: also over the rows of other users of the shared sample, see ``fresh_users.py``).
``holdout`` is fresh real rows of unseen users, the reference every figure is read
against; ``tabularargn`` is MOSTLY AI's any-order model, run by ``peer_tabularargn.py``
from the virtual environment given with ``--peer-python`` (never a dependency).
Prints one line per run and a table of means and ranges over the seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fresh_users import FreshUsers, fresh_users
from sklearn.metrics import average_precision_score

from clicksynth.bench.cell import fewer_clicks, load_split, split_seed
from clicksynth.bench.config import DEFAULT_FRACTIONS, DEFAULT_RATIO, STUDY_MAX_ROWS
from clicksynth.generators import get_generator
from clicksynth.metrics import EvalContext, evaluate, holdout_halves
from clicksynth.metrics.fidelity import detection_xgboost
from clicksynth.metrics.privacy import dcr_share
from clicksynth.metrics.utility import fitted_model
from clicksynth.pipeline import BUDGETS, DEFAULT_ROWS
from clicksynth.rebalance import synthetic_count

METRICS = ["detection_xgboost", "dcr_share", "exact_match_train", "tstr_pr_auc"]
GENERATORS = ["autoregressive", "sequential", "smotenc", "ctgan", "tvae"]
PEER_SCRIPT = Path(__file__).with_name("peer_tabularargn.py")
FIGURES = [
    "fit_s",
    "clicks_10k_s",
    "rows_per_s",
    "detection",
    "click_detection",
    "dcr_share",
    "click_dcr_share",
    "exact_copies",
    "tstr_pr_auc",
    "augment_delta",
]
#: The figures the tree and row-GPT benchmarks print (the click rows' DCR share left out).
COMPARE_FIGURES = [f for f in FIGURES if f != "click_dcr_share"]


def default_split() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Any]:
    """The main job's split of its default data (the seed a cell of repeat 0 derives)."""
    return load_split("digix2020", None, None, DEFAULT_ROWS, DEFAULT_FRACTIONS, split_seed(0, "digix2020", 0))


class _SortedAP:
    """Average precision of one score vector under any row weights (a bootstrap resample's
    counts): the rows sorted once, so a resample costs a cumulative sum, not a sort (the fresh
    users' test holds 315,000 rows). Matches ``average_precision_score`` on the resampled rows."""

    def __init__(self, y: np.ndarray, score: np.ndarray) -> None:
        self.order = np.argsort(-score, kind="stable")
        s = score[self.order]
        self.y = y[self.order].astype(np.float64)
        self.last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # the end of each run of tied scores

    def __call__(self, weight: np.ndarray) -> float:
        w = weight[self.order]
        tp, seen = np.cumsum(w * self.y)[self.last], np.cumsum(w)[self.last]
        precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
        return float(np.sum(np.diff(tp, prepend=0.0) / tp[-1] * precision))


def paired_delta(y: np.ndarray, base: np.ndarray, other: np.ndarray, seed: int, n_boot: int = 1000) -> tuple[float, float, float]:
    """PR-AUC(other) - PR-AUC(base) on the same test rows, and its 95% paired bootstrap
    interval (clicks and non-clicks resampled separately, so every resample has clicks)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    ap_base, ap_other = _SortedAP(y, base), _SortedAP(y, other)
    deltas = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        weight = np.bincount(idx, minlength=len(y)).astype(np.float64)
        deltas[b] = ap_other(weight) - ap_base(weight)
    point = average_precision_score(y, other) - average_precision_score(y, base)
    return float(point), float(np.quantile(deltas, 0.025)), float(np.quantile(deltas, 0.975))


def one_run(
    name: str,
    params: dict[str, Any],
    seed: int,
    split: tuple[Any, ...],
    fitted: Any = None,
    save: Path | None = None,
    fresh: FreshUsers | None = None,
) -> dict[str, float]:
    """The figures of one generator and seed; ``fitted``: a generator already fitted on
    this split (only sampled and scored, e.g. at another temperature); ``save``: a folder
    the fitted model is saved to (``{name}{seed}.csm``), to be sampled again later;
    ``fresh``: other users' rows, whose test half also scores the augmentation (and whose
    clicks are what the holdout row adds: a perfect generator's clicks)."""
    train, holdout, test, schema = split
    target, ids = schema.target, schema.of_kind("id")
    y = train[target].to_numpy()
    n_pos, n_neg = int(y.sum()), int((y == 0).sum())
    n_aug = synthetic_count(n_pos, n_neg, ratio=DEFAULT_RATIO)
    out: dict[str, float] = {}
    eval_holdout = holdout
    if name == "holdout":
        synth, eval_holdout = holdout_halves(holdout, schema, seed)
        clicks = synth[synth[target] == 1]
        extra = clicks
        if fresh is not None:
            rng = np.random.default_rng(seed)
            extra = fresh.clicks.iloc[rng.choice(len(fresh.clicks), n_aug, replace=False)].reset_index(drop=True)
    elif name == "tabularargn":
        synth, clicks, times = peer_rows(params["python"], split, seed, n_neg, n_pos, params.get("minutes"))
        out.update(fit_s=times["fit_s"], rows_per_s=len(synth) / times["rows_s"], clicks_10k_s=times["clicks_s"])
        extra = clicks.iloc[:n_aug]
    else:
        gen = fitted or get_generator(name, random_state=seed, **params)
        if fitted is None:
            t0 = time.perf_counter()
            gen.fit(train.drop(columns=[target, *ids]), y, schema=schema.drop([target, *ids]))
            out["fit_s"] = time.perf_counter() - t0
            if save is not None:
                gen.save(save / f"{name}{seed}.csm")
        t0 = time.perf_counter()
        synth = gen.sample({0: n_neg, 1: n_pos})
        out["rows_per_s"] = len(synth) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        clicks = gen.sample({1: 10_000})
        out["clicks_10k_s"] = time.perf_counter() - t0
        extra = clicks.iloc[:n_aug]
        if hasattr(gen, "best_epoch_"):
            out["epochs"] = float(gen.best_epoch_)
    res = evaluate(
        train,
        synth,
        holdout=eval_holdout,
        test=test,
        schema=schema,
        metrics=METRICS,
        references=False,
        max_rows=STUDY_MAX_ROWS,
        random_state=seed,
    )
    head = {r.metric: r.value for r in res[res["column"] == ""].itertuples()}
    out.update(
        detection=head["detection_xgboost"],
        dcr_share=head["dcr_share"],
        exact_copies=head["exact_match_train"],
        tstr_pr_auc=head["tstr_pr_auc"],
    )
    real_clicks = train[train[target] == 1].reset_index(drop=True)
    ctx = EvalContext(schema, np.random.default_rng(seed), params={"max_rows": STUDY_MAX_ROWS})
    out["click_detection"] = detection_xgboost(real_clicks, clicks.reset_index(drop=True), ctx).value
    # The click rows' own privacy: the rows augmentation adds, against the training clicks and fresh clicks.
    hold_clicks = eval_holdout[eval_holdout[target] == 1].reset_index(drop=True)
    pctx = EvalContext(schema, np.random.default_rng(seed), holdout=hold_clicks, params={"max_rows": STUDY_MAX_ROWS})
    out["click_dcr_share"] = dcr_share(real_clicks, clicks.iloc[: len(real_clicks)].reset_index(drop=True), pctx).value
    # Augmentation to the main job's ratio: the same click model, trained with and without the synthetic clicks.
    deltas = augment_delta((train, eval_holdout, test, schema), extra, seed, tests=[] if fresh is None else [fresh.test])
    out["augment_delta"], out["augment_lo"], out["augment_hi"] = deltas[0]
    if fresh is not None:
        out["augment_fresh"], out["augment_fresh_lo"], out["augment_fresh_hi"] = deltas[1]
    return out


def peer_rows(
    python: str, split: tuple[Any, ...], seed: int, n_neg: int, n_pos: int, minutes: float | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """(rows of each class, 10,000 click rows, seconds) from TabularARGN fitted on this split's
    training rows in the peer environment; its string columns cast back to the training dtypes."""
    train, _, _, schema = split
    rows = train.drop(columns=schema.of_kind("id"))
    with tempfile.TemporaryDirectory(prefix="clicksynth-peer-") as tmp:
        rows.to_parquet(Path(tmp) / "train.parquet")
        cmd = [python, str(PEER_SCRIPT), str(Path(tmp) / "train.parquet"), tmp, str(seed), str(n_neg), str(n_pos), "10000"]
        # the engine's per-epoch progress passes through to this run's log
        subprocess.run([*cmd, *([str(minutes)] if minutes else [])], check=True)
        times = json.loads((Path(tmp) / "times.json").read_text())
        synth, clicks = (pd.read_parquet(Path(tmp) / f) for f in ("rows.parquet", "clicks.parquet"))
    cast = {c: rows[c].dtype for c in rows.columns}
    return synth[list(rows.columns)].astype(cast), clicks[list(rows.columns)].astype(cast), times


def augment_delta(
    split: tuple[Any, ...], extra: pd.DataFrame, seed: int, tests: list[pd.DataFrame] | None = None
) -> list[tuple[float, float, float]]:
    """PR-AUC change of the click model when ``extra`` click rows join the training rows, with its
    paired bootstrap interval over the test rows (the holdout early-stops and tunes both models):
    on the split's test rows, then on each of ``tests``."""
    train, holdout, test, schema = split
    n_pos = int(train[schema.target].sum())
    ctx = EvalContext(
        schema,
        np.random.default_rng(seed),
        holdout=holdout,
        test=test,
        params={"augment_share": len(extra) / max(n_pos, 1), "model_seed": seed},
    )
    base, aug = fitted_model("real", train, extra, ctx), fitted_model("augment", train, extra, ctx)
    return [paired_delta(t[schema.target].to_numpy(), base.predict_proba(t), aug.predict_proba(t), seed) for t in [test, *(tests or [])]]


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set generator.param=value`` (JSON value) options as {generator: {param: value}}."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, value = item.partition("=")
        gen, _, param = key.partition(".")
        overrides.setdefault(gen, {})[param] = json.loads(value)
    return overrides


def print_table(table: dict[str, list[dict[str, float]]], figures: list[str]) -> None:
    """A markdown table of each figure's mean over the seeds and its range."""
    print("\n| generator | " + " | ".join(figures) + " |")
    print("|---|" + "---|" * len(figures))
    for name, runs in table.items():
        cells = []
        for f in figures:
            v = [r[f] for r in runs if f in r]
            cells.append("—" if not v else f"{np.mean(v):.3f}" + (f" ({min(v):.3f}–{max(v):.3f})" if len(v) > 1 else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")


def sampling_sweep(
    name: str,
    attr: str,
    values: list[float],
    seeds: list[int],
    params: dict[str, Any],
    split: tuple[Any, ...],
    figure: Path | None,
    models: dict[int, Any] | None = None,
) -> None:
    """Fit ``name`` once per seed (or take ``models[seed]``, fitted on this split) and score
    its samples at each value of its sampling parameter ``attr`` (a temperature, a number of
    steps): how fidelity, privacy and utility move, printed as a table and drawn as a figure."""
    train, _, _, schema = split
    target, ids = schema.target, schema.of_kind("id")
    table: dict[str, list[dict[str, float]]] = {}
    for seed in seeds:
        gen = (models or {}).get(seed)
        if gen is None:
            gen = get_generator(name, random_state=seed, **params)
            gen.fit(train.drop(columns=[target, *ids]), train[target].to_numpy(), schema=schema.drop([target, *ids]))
        for v in values:
            setattr(gen, attr, v)
            r = one_run(name, params, seed, split, fitted=gen)
            table.setdefault(f"{name} {attr}={v}", []).append(r)
            print(f"{name} seed {seed} {attr} {v}: " + ", ".join(f"{k} {x:.4g}" for k, x in r.items()), flush=True)
    print_table(table, COMPARE_FIGURES[1:])
    if figure is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("detection", "detection AUC (lower: more real)"),
        ("dcr_share", "DCR share (0.5: as far as fresh rows)"),
        ("tstr_pr_auc", "TSTR PR-AUC"),
        ("rows_per_s", "rows sampled per second"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 3.2))
    for ax, (key, title) in zip(axes, panels):
        means = [np.mean([r[key] for r in table[f"{name} {attr}={v}"]]) for v in values]
        ax.plot(values, means, marker="o")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(attr)
    fig.suptitle(f"{name} on the main job's default split, mean of seeds {seeds}", fontsize=10)
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)
    print(f"# figure: {figure}")


def run_all(
    generators: list[str],
    seeds: list[int],
    overrides: dict[str, dict[str, Any]],
    split: tuple[Any, ...],
    save: Path | None = None,
    fresh: FreshUsers | None = None,
) -> dict[str, list[dict[str, float]]]:
    """:func:`one_run` for every generator (main-job budget plus overrides) and seed, each
    printed as it ends; the runs by generator."""
    table: dict[str, list[dict[str, float]]] = {}
    for name in generators:
        params = {**BUDGETS.get(name, {}), **overrides.get(name, {})}
        params.pop("max_time", None)  # budgets in epochs only: a seed must give the same rows anywhere
        for seed in seeds:
            r = one_run(name, params, seed, split, save=save, fresh=fresh)
            table.setdefault(name, []).append(r)
            print(f"{name} seed {seed} {json.dumps(params)}: " + ", ".join(f"{k} {v:.4g}" for k, v in r.items()), flush=True)
    return table


def decode_speed(split: tuple[Any, ...], sizes: list[int], params: dict[str, Any], repeats: int = 3) -> None:
    """Seconds for 10,000 click rows at each number of rows decoded together (median of
    ``repeats``, interleaved so that a busy moment does not favour one size)."""
    train, _, _, schema = split
    X, y = train.drop(columns=[schema.target, *schema.of_kind("id")]), train[schema.target]
    gen = get_generator("autoregressive", random_state=0, **params).fit(X, y)
    seconds: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(repeats):
        for n in sizes:
            gen.net_.decode_rows = n  # this network's rows decoded together (a class attribute otherwise)
            t0 = time.perf_counter()
            gen.sample({1: 10_000})
            seconds[n].append(time.perf_counter() - t0)
    print("| rows decoded together | 10k click rows s | rows/s |\n|---|---|---|")
    for n in sizes:
        s = float(np.median(seconds[n]))
        print(f"| {n:,} | {s:.2f} | {10_000 / s:,.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generators", nargs="+", default=["holdout", *GENERATORS])
    parser.add_argument("--set", action="append", default=[], help="generator.param=value (JSON value)")
    parser.add_argument("--train-clicks", type=int, default=None, help="rare-click regime: keep this many training clicks")
    parser.add_argument(
        "--decode-rows", type=int, nargs="+", default=None, help="time sampling only, at these numbers of rows decoded together"
    )
    parser.add_argument(
        "--fresh-test",
        action="store_true",
        help="also score augmentation on other users' rows of the shared sample (about 11,000 test clicks; needs ../shared/data)",
    )
    parser.add_argument("--peer-python", default=None, help="Python of a virtual environment with mostlyai-engine (for tabularargn)")
    parser.add_argument("--peer-minutes", type=float, default=None, help="cap TabularARGN's training at this many minutes")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    if "tabularargn" in args.generators:
        if args.peer_python is None:
            parser.error("tabularargn runs from --peer-python (a virtual environment with mostlyai-engine)")
        overrides["tabularargn"] = {"python": args.peer_python, "minutes": args.peer_minutes}
    import torch

    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}", flush=True)
    split = default_split()
    if args.train_clicks is not None:  # the main job's rare-click regime (same holdout and test rows)
        train, holdout, test, schema = split
        split = (
            fewer_clicks(train, schema, args.train_clicks, split_seed(0, f"digix2020-{args.train_clicks}clicks", 0)),
            holdout,
            test,
            schema,
        )
    print(f"# split: {len(split[0])} train / {len(split[1])} holdout / {len(split[2])} test rows", flush=True)
    if args.decode_rows:
        decode_speed(split, args.decode_rows, overrides.get("autoregressive", {}))
        return
    fresh = None
    if args.fresh_test:
        fresh = fresh_users(split)
        n_clicks = int(fresh.test[split[3].target].sum())
        print(f"# fresh users: test {len(fresh.test):,} rows / {n_clicks:,} clicks; click pool {len(fresh.clicks):,}", flush=True)
    table = run_all(args.generators, args.seeds, overrides, split, fresh=fresh)
    print_table(table, FIGURES + (["augment_fresh"] if fresh is not None else []))


if __name__ == "__main__":
    main()
