"""Pure plotting functions: data in, matplotlib Figure out. No metric is computed here.

Every function takes values already in the results table or the run's stored
artifacts (samples, loss history, embedding coordinates) and draws them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

__all__ = [
    "class_balance",
    "dcr_distributions",
    "embedding_grid",
    "frontier",
    "headline_bars",
    "importance_pairs",
    "loss_curves",
    "marginals",
    "pair_matrices",
    "pr_curves",
    "utility_curves",
]

REAL = "#555555"
_TAB20 = plt.get_cmap("tab20")
assert isinstance(_TAB20, ListedColormap)  # a qualitative map: a list of colours
COLORS = cast(Sequence[Any], _TAB20.colors)
plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False})


def _grid(n: int, cols: int = 4, size: tuple[float, float] = (3.0, 2.4)) -> tuple[Figure, np.ndarray]:
    rows = max(1, math.ceil(n / cols))
    cols = min(cols, max(n, 1))
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def headline_bars(
    table: pd.DataFrame,
    metric: str,
    *,
    title: str,
    ideal: float | None = None,
    reference: float | None = None,
    reference_label: str = "",
    higher_is_better: bool | None = True,
) -> Figure:
    """One bar per generator with its CI; a dashed line at the ideal / reference value.

    ``table`` has columns generator, value, ci_low, ci_high.
    """
    t = table.sort_values("value", ascending=not higher_is_better if higher_is_better is not None else True)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(t) + 1.2))
    y = np.arange(len(t))
    err = np.vstack([t["value"] - t["ci_low"], t["ci_high"] - t["value"]]).clip(0)
    err = np.where(np.isfinite(err), err, 0)
    ax.barh(y, t["value"], xerr=err, color=[REAL if g == "holdout" else COLORS[i % 20] for i, g in enumerate(t["generator"])], alpha=0.85)
    ax.set_yticks(y, t["generator"])
    ax.invert_yaxis()
    if ideal is not None:
        ax.axvline(ideal, color="k", ls="--", lw=1, label=f"ideal {ideal:g}")
    if reference is not None and np.isfinite(reference):
        ax.axvline(reference, color="#d62728", ls=":", lw=1.5, label=reference_label)
    if ideal is not None or reference is not None:
        ax.legend(loc="lower right", fontsize=7)
    ax.set_title(title)
    ax.set_xlabel(metric)
    fig.tight_layout()
    return fig


def _span(values: pd.Series) -> float:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.max() - finite.min()) if len(finite) > 1 and finite.max() > finite.min() else 1.0


def _near_groups(points: pd.DataFrame, span: tuple[float, float], near: float = 0.05) -> list[list[int]]:
    """Positions of points whose labels would overlap, grouped: chains of points within ``near``
    of the axes' spans of each other (the SMOTE family sits in one corner), sorted by detection."""
    from scipy.sparse.csgraph import connected_components

    x = points["detection"].to_numpy(dtype=float) / span[0]
    y = points["dcr_share"].to_numpy(dtype=float) / span[1]
    near_pairs = (np.abs(x[:, None] - x[None, :]) < near) & (np.abs(y[:, None] - y[None, :]) < near)  # NaN: near nothing
    _, component = connected_components(near_pairs, directed=False)
    groups: dict[int, list[int]] = {}
    for i in np.argsort(x, kind="stable"):
        groups.setdefault(int(component[i]), []).append(int(i))
    return list(groups.values())


def _group_label(names: list[str], per_line: int = 3) -> str:
    """One label for points drawn on top of each other: their names, a few per line."""
    return "\n".join(", ".join(names[i : i + per_line]) for i in range(0, len(names), per_line))


def frontier(table: pd.DataFrame) -> Figure:
    """Fidelity against privacy, one point per generator: detection AUC (x) and DCR share (y),
    point area proportional to train-on-synthetic PR-AUC; fresh real data (star) and copies of the
    training rows (crosses) as reference points; the generators on the frontier joined by a line.

    ``table`` has columns generator, kind (generator | fresh | copy), detection, dcr_share,
    tstr_pr_auc, on_frontier.
    """
    fig, ax = plt.subplots(figsize=(9, 4.8))
    top = float(np.nanmax(table["tstr_pr_auc"])) if table["tstr_pr_auc"].notna().any() else 1.0

    def area(v: pd.Series) -> np.ndarray:
        return 15 + 400 * np.nan_to_num(v.to_numpy(dtype=float)) / max(top, 1e-9)

    gens = table[table["kind"] == "generator"]
    colors = [COLORS[i % 20] for i in range(len(gens))]
    ax.scatter(gens["detection"], gens["dcr_share"], s=area(gens["tstr_pr_auc"]), c=colors, alpha=0.8, edgecolors="k", linewidths=0.4)
    span = (_span(table["detection"]), _span(table["dcr_share"]))
    right = float(np.nanmin(table["detection"])) + 0.75 * span[0]  # labels past it go left, clear of the legend
    for group in _near_groups(gens, span):
        left = bool(gens.iloc[group[-1]]["detection"] > right)
        at = gens.iloc[group[0] if left else group[-1]]  # the label starts beside the group, on its side
        low = bool(at["dcr_share"] < 0.5)  # a stack of names goes towards the middle: below a high point, above a low one
        stacked = left and len(group) > 1
        ax.annotate(
            _group_label(gens.iloc[group]["generator"].tolist()),
            (at["detection"], at["dcr_share"]),
            xytext=((-6, 8) if low else (-6, -9)) if stacked else ((-6, 3) if left else (4, 3)),
            textcoords="offset points",
            ha="right" if left else "left",
            va=("bottom" if low else "top") if stacked else "baseline",
            fontsize=7,
            color="k",
            fontweight="bold" if gens.iloc[group]["on_frontier"].all() else "normal",
        )
    front = gens[gens["on_frontier"]].sort_values("detection")
    if len(front) > 1:
        ax.plot(front["detection"], front["dcr_share"], ls="--", lw=1, color="#3b78b5", label="frontier")
    for kind, marker, color, label in (
        ("fresh", "*", REAL, "fresh real data (holdout)"),
        ("copy", "X", "#d62728", "copies of training rows"),
    ):
        ref = table[table["kind"] == kind]
        if len(ref):
            ax.scatter(ref["detection"], ref["dcr_share"], s=area(ref["tstr_pr_auc"]), marker=marker, c=color, label=label, zorder=3)
            for group in _near_groups(ref, span):
                r = ref.iloc[group[-1]]
                label = _group_label(ref.iloc[group]["generator"].tolist())
                ax.annotate(label, (r["detection"], r["dcr_share"]), xytext=(4, -9), textcoords="offset points", fontsize=7, color=color)
    ax.axvline(0.5, color="k", lw=0.6, ls=":")
    ax.axhline(0.5, color="k", lw=0.6, ls=":")
    ax.set_xlabel("detection AUC (fidelity; 0.5: indistinguishable from real)")
    ax.set_ylabel("DCR share (privacy; 0.5: like fresh data, 1: copies)")
    ax.set_title("Fidelity vs privacy (point area: train-on-synthetic PR-AUC)")
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    for handle in legend.legend_handles:
        if isinstance(handle, PathCollection):
            handle.set_sizes([40])  # legend markers at one size, whatever the points' areas
    fig.tight_layout()
    return fig


def marginals(real: pd.DataFrame, synthetic: Mapping[str, pd.DataFrame], columns: Sequence[str], *, top: int = 8) -> Figure:
    """Frequencies of the ``top`` most common real values per column, real vs each generator."""
    fig, axes = _grid(len(columns), cols=3, size=(4.2, 2.6))
    names = list(synthetic)
    width = 0.8 / (len(names) + 1)
    for ax, col in zip(axes, columns):
        view = _binned if pd.api.types.is_float_dtype(real[col]) and real[col].nunique() > 20 else _as_text
        edges = np.unique(np.nanquantile(real[col].to_numpy(dtype=float), np.linspace(0, 1, top + 1))) if view is _binned else None
        freq = view(real[col], edges).value_counts(normalize=True)
        cats = list(freq.index[:top]) if edges is None else list(dict.fromkeys(f"{e:.3g}" for e in edges[:-1]))
        x = np.arange(len(cats))
        ax.bar(x - 0.4 + width / 2, freq.reindex(cats).values, width, color=REAL, label="real")
        for i, name in enumerate(names):
            sf = view(synthetic[name][col], edges).value_counts(normalize=True).reindex(cats).fillna(0)
            ax.bar(x - 0.4 + width * (i + 1.5), sf.values, width, color=COLORS[(2 * i) % 20], label=name)
        ax.set_xticks(x, [c[:8] for c in cats], rotation=45, ha="right")
        ax.set_title(col)
    axes[0].legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


def _as_text(s: pd.Series, edges: np.ndarray | None) -> pd.Series:
    return s.astype(str)


def _binned(s: pd.Series, edges: np.ndarray | None) -> pd.Series:
    """Numeric values in the real column's quantile bins, labelled by their lower edge."""
    assert edges is not None
    idx = np.clip(np.searchsorted(edges, s.to_numpy(dtype=float), side="right") - 1, 0, len(edges) - 2)
    return pd.Series([f"{edges[i]:.3g}" for i in idx])


def pair_matrices(deficits: Mapping[str, pd.DataFrame]) -> Figure:
    """Per generator, 1 - contingency similarity for every column pair (darker = worse)."""
    fig, axes = _grid(len(deficits), cols=4, size=(3.2, 3.0))
    im = None
    for ax, (name, m) in zip(axes, deficits.items()):
        im = ax.imshow(m.to_numpy(dtype=float), vmin=0, vmax=0.5, cmap="Reds")
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.6, label="1 - contingency similarity")
    return fig


def embedding_grid(coords: pd.DataFrame) -> Figure:
    """t-SNE coordinates: real rows (grey) under each generator's rows (colour)."""
    real = coords[coords["source"] == "real"]
    names = [s for s in coords["source"].unique() if s != "real"]
    fig, axes = _grid(len(names), cols=4, size=(2.8, 2.6))
    for i, (ax, name) in enumerate(zip(axes, names)):
        syn = coords[coords["source"] == name]
        ax.scatter(real["x"], real["y"], s=3, c="#bbbbbb", label="real")
        ax.scatter(syn["x"], syn["y"], s=3, color=COLORS[(2 * i) % 20], label=name)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def importance_pairs(importances: Mapping[str, tuple[Mapping[str, float], Mapping[str, float]]]) -> Figure:
    """Column importance shares of a CTR model trained on real (grey) and synthetic rows."""
    fig, axes = _grid(len(importances), cols=3, size=(4.2, 3.0))
    for i, (ax, (name, (real, syn))) in enumerate(zip(axes, importances.items())):
        cols = list(dict.fromkeys([*real, *syn]))[:10]
        y = np.arange(len(cols))
        ax.barh(y - 0.2, [real.get(c, 0) for c in cols], 0.4, color=REAL, label="trained on real")
        ax.barh(y + 0.2, [syn.get(c, 0) for c in cols], 0.4, color=COLORS[(2 * i) % 20], label="trained on synthetic")
        ax.set_yticks(y, cols)
        ax.invert_yaxis()
        ax.set_title(name)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def pr_curves(curves: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float], float]]], base_rate: float) -> Figure:
    """Per generator: precision-recall of models trained on real, synthetic and augmented rows."""
    styles = {"trtr": (REAL, "-"), "tstr": ("#1f77b4", "-"), "augment": ("#2ca02c", "--")}
    fig, axes = _grid(len(curves), cols=4, size=(3.0, 2.6))
    for ax, (name, by_scheme) in zip(axes, curves.items()):
        for scheme, (prec, rec, ap) in by_scheme.items():
            color, ls = styles.get(scheme, ("k", "-"))
            ax.plot(rec, prec, color=color, ls=ls, lw=1.2, label=f"{scheme} {ap:.3f}")
        ax.axhline(base_rate, color="k", lw=0.6, ls=":")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, min(1, max(0.3, 4 * base_rate)))
        ax.set_title(name)
        ax.legend(fontsize=6)
        ax.set_xlabel("recall")
    fig.tight_layout()
    return fig


def utility_curves(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """PR-AUC against the share of synthetic click rows added to the real ones."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, (name, points) in enumerate(curves.items()):
        pts = [p for p in points if p.get("pr_auc") is not None]
        if not pts:
            continue
        ax.plot([100 * p["share"] for p in pts], [p["pr_auc"] for p in pts], marker="o", lw=1.2, color=COLORS[(2 * i) % 20], label=name)
    ax.set_xlabel("synthetic click rows added (% of real clicks)")
    ax.set_ylabel("PR-AUC on real test rows")
    ax.legend(fontsize=6, ncol=3)
    fig.tight_layout()
    return fig


def class_balance(balance: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Clicks and non-clicks before and after augmentation."""
    names = list(balance)
    fig, ax = plt.subplots(figsize=(7, 3))
    first = next(iter(balance.values()))
    real = first["real"]
    ax.bar([-1], [real["1"] / (real["0"] + real["1"])], color=REAL)
    shares = [b["augmented"]["1"] / (b["augmented"]["0"] + b["augmented"]["1"]) for b in balance.values()]
    ax.bar(range(len(names)), shares, color=[COLORS[(2 * i) % 20] for i in range(len(names))])
    ax.set_xticks([-1, *range(len(names))], ["real", *names], rotation=45, ha="right")
    ax.set_ylabel("click share")
    ax.set_title(f"click share before ({100 * real['1'] / (real['0'] + real['1']):.1f}%) and after augmentation")
    fig.tight_layout()
    return fig


def loss_curves(histories: Mapping[str, Sequence[Mapping[str, float]]]) -> Figure:
    """Training losses per epoch of the neural generators."""
    fig, axes = _grid(len(histories), cols=2, size=(4.5, 2.8))
    for ax, (name, hist) in zip(axes, histories.items()):
        h = pd.DataFrame(hist)
        for col in [c for c in h.columns if c not in ("epoch", "seconds")]:
            ax.plot(h["epoch"], h[col], label=col, lw=1.2)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def dcr_distributions(hists: Mapping[str, Mapping[str, Sequence[float]]]) -> Figure:
    """Distance to the closest training row: synthetic rows vs holdout rows."""
    fig, axes = _grid(len(hists), cols=4, size=(3.0, 2.3))
    for ax, (name, h) in zip(axes, hists.items()):
        edges = np.asarray(h["dcr_edges"])
        mid = (edges[:-1] + edges[1:]) / 2
        w = edges[1] - edges[0] if len(edges) > 1 else 1
        for key, color, label in (("dcr_holdout", REAL, "holdout"), ("dcr_synthetic", "#d62728", "synthetic")):
            counts = np.asarray(h[key], dtype=float)
            ax.step(mid, counts / max(counts.sum() * w, 1e-12), where="mid", color=color, label=label)
        ax.set_title(name)
        ax.set_xlabel("distance to closest training row")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig
