"""Results table + stored artifacts -> ``report.html`` (self-contained) and ``leaderboard.csv``.

Nothing here computes a metric: numbers come from ``results.parquet``, pictures
from the stored samples, loss histories and embedding coordinates; the tables and
plain-language verdicts from ``report/verdicts.py``.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment

from clicksynth.bench.layout import RunLayout
from clicksynth.io import atomic_path
from clicksynth.report import plots
from clicksynth.report.verdicts import (
    DISTANCE,
    LEADERBOARD,
    _adequacy,
    _cell,
    _details,
    _fmt,
    _frontier_verdicts,
    _headline,
    _under_trained,
    _verdicts,
    frontier_table,
    leaderboard,
)

__all__ = ["LEADERBOARD", "leaderboard", "render"]

SECTIONS = (
    ("overview", "The trade-off at a glance", ("frontier",)),
    ("fidelity", "Fidelity: do the rows look real?", ("detection_xgboost", "marginals", "pairs", "embedding", "importance")),
    ("utility", "Utility: can a click model learn from them?", ("tstr_pr_auc", "augment_pr_auc", "pr", "utility_curve", "balance")),
    ("privacy", "Privacy: are real people exposed?", ("dcr_share", "dcr")),
    ("training", "Training", ("loss",)),
)


# -- figures ------------------------------------------------------------------------------
@dataclass
class Figure:
    id: str
    title: str
    caption: str
    png: str  # base64


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(run_dir: Path, results: pd.DataFrame, board: pd.DataFrame) -> list[Figure]:
    head = _headline(results)
    first_ds, first_ratio = board["dataset"].iloc[0], board["ratio"].iloc[0]
    head = head[(head["dataset"] == first_ds) & (head["ratio"] == first_ratio) & (head["repeat"] == 0)]
    cells = results[(results["dataset"] == first_ds) & (results["ratio"] == first_ratio) & (results["repeat"] == 0)]
    ok_gens = list(board[(board["dataset"] == first_ds) & (board["ratio"] == first_ratio) & (board["status"] == "ok")]["generator"])
    gens = [g for g in ok_gens if g != "holdout"]
    figs: list[Figure] = []

    def add(fid: str, title: str, caption: str, fig: Any) -> None:
        figs.append(Figure(fid, title, caption, _png(fig)))

    front = frontier_table(board)
    if (front["kind"] == "generator").any():
        add(
            "frontier",
            "Fidelity vs privacy: the frontier",
            "Each generator's detection AUC (how easily a classifier tells its rows from real) against its DCR share (how often its rows "
            "sit nearer the training rows than fresh rows do); both are 0.5 for fresh real data (star) and high for copies of the "
            "training rows (crosses). Point area: PR-AUC of a click model trained on the generator's rows only. Bold names, joined by "
            "the dashed line, are on the frontier.",
            plots.frontier(front),
        )

    def bars(metric: str, title: str, caption: str, **kw: Any) -> None:
        t = pd.DataFrame([{"generator": g, **dict(zip(("value", "ci_low", "ci_high"), _value(head, metric, g)))} for g in ok_gens])
        t = t[np.isfinite(t["value"])]
        if len(t):
            add(metric, title, caption, plots.headline_bars(t, metric, title=title, **kw))

    bars(
        "detection_xgboost",
        "Can a classifier tell synthetic from real?",
        "Cross-validated ROC-AUC of XGBoost separating real from synthetic rows (0.5: indistinguishable). Grey: fresh real data.",
        ideal=0.5,
        higher_is_better=False,
    )
    trtr = _value(head, "trtr_pr_auc", gens[0] if gens else "", subject="real")[0] if gens else float("nan")
    bars(
        "tstr_pr_auc",
        "Train on synthetic, test on real",
        "PR-AUC on real test rows of a click model trained on synthetic rows only, with 95% intervals; red: trained on real rows.",
        reference=trtr,
        reference_label="trained on real",
        higher_is_better=True,
    )
    bars(
        "augment_pr_auc",
        "Real rows plus synthetic clicks",
        "PR-AUC when synthetic click rows bring the classes to the run's ratio; red: real rows alone.",
        reference=trtr,
        reference_label="real rows alone",
        higher_is_better=True,
    )
    bars(
        "dcr_share",
        "Closer to training rows than to unseen rows?",
        "Probability that a synthetic row sits nearer the training rows than a fresh (holdout) row does (0.5: like fresh data, 1: copies).",
        ideal=0.5,
        higher_is_better=False,
    )

    layout = RunLayout(run_dir)
    split = layout.split(first_ds, 0)
    samples: dict[str, pd.DataFrame] = {}
    for g in gens:
        cell = cells[cells["generator"] == g]["cell"]
        path = layout.cell(str(cell.iloc[0])).synthetic if len(cell) else None
        if path is not None and path.exists():
            samples[g] = pd.read_parquet(path)
    if split.train.exists() and samples:
        real = pd.read_parquet(split.train)
        imp = {}
        for g in gens:
            d = _details(head, "importance_agreement", g)
            if d:
                imp[g] = (d.get("real", {}), d.get("synthetic", {}))
        top_cols = [c for c in (next(iter(imp.values()))[0] if imp else {}) if c in real.columns][:6] or [
            c for c in real.columns if c in next(iter(samples.values())).columns
        ][:6]
        shown = {g: samples[g] for g in _pick(gens, samples)}
        add(
            "marginals",
            "Marginals of the most important columns",
            "Frequencies of the most common real values (grey) and in a few generators' rows, for the columns a real-trained click model relies on most.",
            plots.marginals(real, shown, top_cols),
        )
        if imp:
            add(
                "importance",
                "What a click model learns: real vs synthetic",
                "Importance shares of the columns of an XGBoost click model trained on real rows (grey) and on each generator's rows.",
                plots.importance_pairs({g: imp[g] for g in list(imp)[:6]}),
            )
    deficits = {}
    for g in gens:
        pairs = results[
            (results["generator"] == g)
            & (results["metric"] == "contingency_similarity")
            & (results["column"].fillna("") != "")
            & (results["dataset"] == first_ds)
            & (results["ratio"] == first_ratio)
            & (results["repeat"] == 0)
        ]
        if len(pairs):
            deficits[g] = _pair_matrix(pairs)
    if deficits:
        add(
            "pairs",
            "Where the joint distribution breaks",
            "1 - contingency similarity for each pair of columns (darker: the pair's joint distribution is further from real).",
            plots.pair_matrices(deficits),
        )
    emb_path = layout.embedding
    if emb_path.exists():
        add(
            "embedding",
            "Real and synthetic rows in two dimensions",
            "t-SNE of real training rows (grey) and each generator's rows, on the mixed-type distance embedding.",
            plots.embedding_grid(pd.read_parquet(emb_path)),
        )
    curves: dict[str, dict[str, tuple[list[float], list[float], float]]] = {}
    base_rate = float("nan")
    for g in gens:
        c = {}
        for scheme, subject in (("trtr", "real"), ("tstr", "synthetic"), ("augment", "synthetic")):
            d = _details(head, f"{scheme}_pr_auc", g, subject=subject)
            if d:
                c[scheme] = (d["precision"], d["recall"], _value(head, f"{scheme}_pr_auc", g, subject)[0])
                base_rate = d.get("base_rate", base_rate)
        if c:
            curves[g] = c
    if curves:
        add(
            "pr",
            "Precision-recall on real test rows",
            "Click models trained on real rows (grey), synthetic rows (blue) and real plus synthetic clicks (green, dashed); dotted: click rate.",
            plots.pr_curves(curves, base_rate if np.isfinite(base_rate) else 0.03),
        )
    ucurves = {g: _details(head, "utility_curve", g).get("curve", []) for g in gens}
    ucurves = {g: c for g, c in ucurves.items() if c}
    if ucurves:
        add(
            "utility_curve",
            "PR-AUC as synthetic clicks are added",
            "Real training rows plus 0-200% extra click rows from each generator.",
            plots.utility_curves(ucurves),
        )
    balance, histories = {}, {}
    for g in gens:
        cell = cells[cells["generator"] == g]["cell"]
        meta_path = layout.cell(str(cell.iloc[0])).meta if len(cell) else None
        if meta_path is not None and meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("class_balance"):
                balance[g] = meta["class_balance"]
            if meta.get("history"):
                histories[g] = meta["history"]
    if balance:
        add(
            "balance",
            "Class balance before and after augmentation",
            "Click share of the real training rows and after adding each generator's synthetic clicks.",
            plots.class_balance(balance),
        )
    if histories:
        add("loss", "Training losses", "Per-epoch losses of the neural generators.", plots.loss_curves(histories))
    dcr = {g: d for g in ok_gens if (d := _details(head, "dcr_share", g)) and "dcr_edges" in d}
    if dcr:
        add(
            "dcr",
            "Distance to the closest training row",
            "Distribution for synthetic rows (red) and for holdout rows (grey), which the generator never saw.",
            plots.dcr_distributions(dcr),
        )
    return figs


def _value(head: pd.DataFrame, metric: str, generator: str, subject: str = "synthetic") -> tuple[float, float, float]:
    m = head[(head["metric"] == metric) & (head["generator"] == generator) & (head["subject"] == subject)]
    if not len(m):
        return (float("nan"), float("nan"), float("nan"))
    r = m.iloc[0]
    return float(r["value"]), float(r["ci_low"]), float(r["ci_high"])


def _pick(gens: list[str], samples: dict[str, pd.DataFrame], k: int = 4) -> list[str]:
    preferred = [g for g in ("ctgan", "tvae", "gaussian_copula", "smotenc") if g in samples]
    rest = [g for g in gens if g in samples and g not in preferred]
    return (preferred + rest)[:k]


def _pair_matrix(pairs: pd.DataFrame) -> pd.DataFrame:
    split = pairs["column"].str.split(" | ", regex=False)
    a, b = split.str[0], split.str[1]
    cols = list(dict.fromkeys([*a, *b]))
    m = pd.DataFrame(np.nan, index=cols, columns=cols)
    for x, y, v in zip(a, b, pairs["value"]):
        m.loc[x, y] = m.loc[y, x] = 1 - v
    values = m.to_numpy(copy=True)
    np.fill_diagonal(values, 0.0)
    return pd.DataFrame(values, index=cols, columns=cols)


def _with_train_rows(layout: RunLayout, results: pd.DataFrame) -> pd.DataFrame:
    """Cells scored before results carried their training rows take them from their meta.json."""
    if "cell" not in results or ("train_rows" in results and results["train_rows"].notna().all()):
        return results
    known = results["train_rows"] if "train_rows" in results else pd.Series(np.nan, index=results.index)
    rows: dict[str, float] = {}
    for cell in results.loc[known.isna(), "cell"].unique():
        meta = layout.cell(str(cell)).meta
        split = json.loads(meta.read_text(encoding="utf-8")).get("split") if meta.exists() else None
        rows[cell] = float(split["train"]["rows"]) if split else np.nan
    return results.assign(train_rows=known.fillna(results["cell"].map(rows)))


def render(run_dir: str | Path, results: pd.DataFrame | None = None, *, title: str = "clicksynth report") -> Path:
    """Write ``leaderboard.csv`` and a self-contained ``report.html`` into ``run_dir``."""
    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    results = _with_train_rows(layout, results if results is not None else pd.read_parquet(layout.results))
    board = leaderboard(results)
    with atomic_path(layout.leaderboard) as tmp:
        board.to_csv(tmp, index=False)
    head = _headline(results)
    figures = _figures(run_dir, results, board) if len(board) else []
    verdicts = _verdicts(board, head) if len(board) else {}
    adequacy = _adequacy(run_dir, results, board) if len(board) else None
    if len(board):
        verdicts["overview"] = _frontier_verdicts(frontier_table(board))
    if adequacy and adequacy["problems"]:
        verdicts = {}  # the data cannot rank generators: say why (the panel) instead of ranking
    config = json.loads(layout.config.read_text(encoding="utf-8")) if layout.config.exists() else {}
    rows = []
    for r in board.itertuples():
        rows.append(
            {
                "generator": r.generator,
                "reference": bool(r.reference),
                "status": r.status,
                "error": html.escape(str(r.error or ""))[:200],
                "dataset": r.dataset,
                "ratio": r.ratio,
                "cells": [_cell(r, m) for m, _ in LEADERBOARD] + [_fmt(getattr(r, c)) for c, _ in DISTANCE],
                "fit_s": _fmt(r.fit_s, 1),
                "sample_s": _fmt(r.sample_s, 2),
                "reproducible": bool(r.reproducible),
                "under_trained": _under_trained(r),
                "epochs": r.epochs,
                "converged_epochs": r.converged_epochs,
            }
        )
    by_id = {f.id: f for f in figures}
    sections = [
        {"name": name, "title": title, "verdicts": verdicts.get(name, []), "figures": [by_id[i] for i in ids if i in by_id]}
        for name, title, ids in SECTIONS
    ]
    template = Environment(autoescape=True).from_string(
        resources.files("clicksynth.report").joinpath("templates/report.html").read_text(encoding="utf-8")
    )
    page = template.render(
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        rows=rows,
        columns=[label for _, label in (*LEADERBOARD, *DISTANCE)],
        sections=sections,
        n_figures=len(figures),
        config=json.dumps(config, indent=1, default=str),
        n_cells=int(results["cell"].nunique()) if "cell" in results else 0,
        failed=[r for r in rows if r["status"] != "ok"],
        adequacy=adequacy,
        timed=[r for r in rows if not r["reproducible"]],
        under_trained=[r for r in rows if r["under_trained"]],
    )
    out = layout.report
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
