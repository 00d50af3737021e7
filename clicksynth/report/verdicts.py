"""The report's numbers and words: the leaderboard, the fidelity-privacy frontier and the
plain-language verdicts, every figure taken from ``results.parquet`` (nothing here computes a
metric). ``render`` lays them out with the figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.bench.config import CONVERGED_EPOCHS, CONVERGED_ON_ROWS
from clicksynth.bench.layout import RunLayout
from clicksynth.metrics._stats import MARGIN, VERDICTS, pool_deltas, verdict

__all__ = ["DISTANCE", "LEADERBOARD", "PAIRED", "frontier_table", "leaderboard"]

REFERENCE_ROWS = ("holdout", "bootstrap", "identity")

#: Leaderboard columns: (metric, label). Accuracy is never among them.
LEADERBOARD: tuple[tuple[str, str], ...] = (
    ("tv_complement", "column shapes (1 - TV)"),
    ("contingency_similarity", "column pairs"),
    ("detection_xgboost", "detection AUC"),
    ("tstr_pr_auc", "TSTR PR-AUC"),
    ("tstr_roc_auc", "TSTR ROC-AUC"),
    ("augment_pr_auc", "augmented PR-AUC"),
    ("augment_delta_pr_auc", "augmentation Δ PR-AUC (paired)"),
    ("tstr_delta_pr_auc", "synthetic-only Δ PR-AUC (paired)"),
    ("augment_delta_pr_auc_logistic", "augmentation Δ, L1-logistic"),
    ("tstr_delta_pr_auc_logistic", "synthetic-only Δ, L1-logistic"),
    ("utility_curve", "PR-AUC gain at +100%"),
    ("dcr_share", "DCR share"),
    ("mia_auc", "MIA AUC"),
    ("privacy_loss", "privacy loss (Yale)"),
    ("exact_match_train", "exact-match rate"),
)
#: Below this many test clicks, utility intervals overlap for nearly every generator: no ranking.
MIN_TEST_CLICKS = 100
#: Above this detection AUC, fresh real rows are themselves separable from the training rows: no ranking.
MAX_FRESH_DETECTION = 0.9
#: Reference cells that copy training rows (drawn as "copies" in the frontier figure).
COPIES = ("identity", "bootstrap")
#: Paired differences: their repeats are pooled into one estimate and a verdict (``<prefix>_verdict``).
PAIRED = {
    "augment_delta_pr_auc": "augment",
    "tstr_delta_pr_auc": "tstr",
    "augment_delta_pr_auc_logistic": "augment_logistic",
    "tstr_delta_pr_auc_logistic": "tstr_logistic",
}
#: How far from fresh real data: (column, label), derived from the holdout reference of the same grid row.
DISTANCE = (("detection_vs_fresh", "detection AUC − fresh"), ("dcr_vs_fresh", "DCR share − 0.5"))


def _headline(results: pd.DataFrame) -> pd.DataFrame:
    ok = results[(results["column"].fillna("") == "") & (results["metric"].fillna("") != "")]
    return ok


def _epochs(cells: pd.DataFrame) -> int | None:
    """The epochs a generator's cells were given (None: not a trainable generator, or its default)."""
    if "params" not in cells:
        return None
    given = [json.loads(p).get("epochs") for p in cells["params"].dropna().unique() if p]
    return int(given[0]) if given and given[0] is not None else None


def _needed_epochs(generator: str, cells: pd.DataFrame) -> int | None:
    """Epochs a trainable generator needs on its cells' table: as many rows seen as its convergence
    curve needed on the main job's split (45 epochs there are 2 on a 400k-row table)."""
    converged = CONVERGED_EPOCHS.get(generator)
    if converged is None or "train_rows" not in cells:
        return converged
    rows = cells["train_rows"].dropna()
    return max(1, math.ceil(converged * CONVERGED_ON_ROWS / float(rows.min()))) if len(rows) else converged


def _pooled(m: pd.DataFrame) -> tuple[float, float, float, str]:
    """Repeats of a paired difference as one estimate, its interval and verdict."""
    value, (lo, hi) = pool_deltas(m["value"].to_numpy(), m["ci_low"].to_numpy(), m["ci_high"].to_numpy())
    margins = [json.loads(d).get("margin", MARGIN) for d in m["details"] if d]
    return value, lo, hi, verdict(lo, hi, float(margins[0]) if margins else MARGIN) if np.isfinite(value) else ""


def leaderboard(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, ratio, generator): headline values (mean over repeats) with the
    first repeat's 95% interval (paired differences: pooled over repeats, with their verdict),
    the distance to fresh real data, timings and status; sorted by TSTR PR-AUC."""
    head = _headline(results)
    keys = ["dataset", "ratio", "generator"]
    rows = []
    if "stopped_by_time" not in results:  # results written before the column existed
        results = results.assign(stopped_by_time=False)
    status = results.groupby(keys, dropna=False).agg(
        status=("status", "first"),
        error=("error", lambda e: next((x for x in e if x), "")),
        fit_s=("fit_s", "mean"),
        sample_s=("sample_s", "mean"),
        repeats=("repeat", "nunique"),
        stopped_by_time=("stopped_by_time", lambda s: bool(s.fillna(False).astype(bool).any())),
    )
    for key, st in status.iterrows():
        row: dict[str, Any] = dict(zip(keys, key))
        row.update(
            status=st["status"],
            repeats=int(st["repeats"]),
            fit_s=st["fit_s"],
            sample_s=st["sample_s"],
            error=st["error"] if st["status"] != "ok" else "",
        )
        # A cell whose training stopped at a wall-clock budget gives other rows on another machine.
        row["reproducible"] = not bool(st["stopped_by_time"])
        cells = results[(results["dataset"] == key[0]) & (results["ratio"] == key[1]) & (results["generator"] == key[2])]
        row["epochs"], row["converged_epochs"] = _epochs(cells), _needed_epochs(str(key[2]), cells)
        sub = head[(head["dataset"] == key[0]) & (head["ratio"] == key[1]) & (head["generator"] == key[2])]
        for metric, _ in LEADERBOARD:
            m = sub[(sub["metric"] == metric) & (sub["subject"] == "synthetic")]
            if metric in PAIRED:
                v, lo, hi, word = _pooled(m) if len(m) else (float("nan"), float("nan"), float("nan"), "")
                row.update({metric: v, f"{metric}_ci_low": lo, f"{metric}_ci_high": hi, f"{PAIRED[metric]}_verdict": word})
                continue
            row[metric] = float(m["value"].mean()) if len(m) else float("nan")
            first = m.sort_values("repeat").head(1)
            row[f"{metric}_ci_low"] = float(first["ci_low"].iloc[0]) if len(first) else float("nan")
            row[f"{metric}_ci_high"] = float(first["ci_high"].iloc[0]) if len(first) else float("nan")
        trtr = sub[sub["metric"] == "trtr_pr_auc"]
        row["trtr_pr_auc"] = float(trtr["value"].mean()) if len(trtr) else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["reference"] = table["generator"].isin(REFERENCE_ROWS)
        fresh = table[table["generator"] == "holdout"].set_index(["dataset", "ratio"])["detection_xgboost"]
        at = pd.MultiIndex.from_frame(table[["dataset", "ratio"]])
        table["detection_vs_fresh"] = table["detection_xgboost"].to_numpy() - fresh.reindex(at).to_numpy()
        table["dcr_vs_fresh"] = table["dcr_share"] - 0.5
        table = table.sort_values(["dataset", "ratio", "tstr_pr_auc"], ascending=[True, True, False], na_position="last")
    return table.reset_index(drop=True)


def frontier_table(board: pd.DataFrame) -> pd.DataFrame:
    """Detection AUC, DCR share and TSTR PR-AUC of the first grid row's cells, each marked as a
    generator, fresh real data or a copy, and whether it is on the fidelity-privacy frontier:
    no other generator is at least as hard to detect and at least as far from its training rows,
    and better on one (values below 0.5, the fresh-data ideal, count as 0.5: noise, not merit)."""
    ok = board[board["status"] == "ok"]
    if not len(ok):
        return pd.DataFrame(columns=["generator", "kind", "detection", "dcr_share", "tstr_pr_auc", "on_frontier"])
    ok = ok[(ok["dataset"] == ok["dataset"].iloc[0]) & (ok["ratio"] == ok["ratio"].iloc[0])]
    kind = np.where(ok["generator"] == "holdout", "fresh", np.where(ok["generator"].isin(COPIES), "copy", "generator"))
    t = pd.DataFrame(
        {
            "generator": ok["generator"].to_numpy(),
            "kind": kind,
            "detection": ok["detection_xgboost"].to_numpy(dtype=float),
            "dcr_share": ok["dcr_share"].to_numpy(dtype=float),
            "tstr_pr_auc": ok["tstr_pr_auc"].to_numpy(dtype=float),
        }
    )
    t = t[np.isfinite(t["detection"]) & np.isfinite(t["dcr_share"])].reset_index(drop=True)
    cost = np.maximum(t[["detection", "dcr_share"]].to_numpy(), 0.5)
    gen = (t["kind"] == "generator").to_numpy()
    dominated = [bool(((cost <= c).all(axis=1) & (cost < c).any(axis=1) & gen).any()) for c in cost]
    t["on_frontier"] = gen & ~np.array(dominated, dtype=bool)
    return t


def _adequacy(run_dir: Path, results: pd.DataFrame, board: pd.DataFrame) -> dict[str, Any] | None:
    """Rows, users and clicks per split of the first dataset's first repeat and the holdout
    reference's own detection and DCR; ``problems`` names why no ranking is possible, if so."""
    first = results[(results["dataset"] == board["dataset"].iloc[0]) & (results["repeat"] == 0)]
    layout = RunLayout(run_dir)
    split = None
    for cell in dict.fromkeys(first.sort_values("generator", key=lambda g: g != "holdout")["cell"]):
        meta = layout.cell(str(cell)).meta
        if meta.exists() and (split := json.loads(meta.read_text(encoding="utf-8")).get("split")):
            break
    if not split:
        return None
    fresh = board[(board["generator"] == "holdout") & (board["dataset"] == board["dataset"].iloc[0])]
    det = float(fresh["detection_xgboost"].iloc[0]) if len(fresh) else float("nan")
    dcr = float(fresh["dcr_share"].iloc[0]) if len(fresh) else float("nan")
    problems = []
    clicks = int(split["test"]["clicks"])
    if clicks < MIN_TEST_CLICKS:
        problems.append(
            f"the test rows hold {clicks} clicks (fewer than {MIN_TEST_CLICKS}): the PR-AUC intervals of the click models span one another"
        )
    if np.isfinite(det) and det > MAX_FRESH_DETECTION:
        problems.append(
            f"fresh real rows are themselves separable from the training rows (detection AUC {det:.3f}, DCR share {_fmt(dcr)}): "
            "train and holdout do not look like one population (too few rows or users), so fidelity and privacy scores cannot "
            "tell a good generator from a bad one"
        )
    parts = [{"part": name, **{k: ("–" if v is None else f"{v:,}") for k, v in counts.items()}} for name, counts in split.items()]
    return {"parts": parts, "fresh_detection": _fmt(det), "fresh_dcr": _fmt(dcr), "problems": problems}


def _frontier_verdicts(table: pd.DataFrame) -> list[str]:
    front = table[table["on_frontier"]].sort_values("detection")
    if not len(front):
        return []
    fresh = table[table["kind"] == "fresh"]
    parts = [f"{r.generator} (detection AUC {_fmt(r.detection)}, DCR share {_fmt(r.dcr_share)})" for r in front.itertuples()]
    out = [
        "On the fidelity-privacy frontier (no other generator is both harder to detect and no closer to its training rows): "
        + "; ".join(parts)
        + "."
    ]
    if len(fresh):
        f = fresh.iloc[0]
        best = front.iloc[0]
        out.append(
            f"Fresh real data sits at detection AUC {_fmt(f.detection)} and DCR share {_fmt(f.dcr_share)}; the hardest-to-detect "
            f"frontier generator, {best.generator}, is {best.detection - f.detection:+.3f} from it on detection and "
            f"{best.dcr_share - f.dcr_share:+.3f} on DCR share."
        )
    return out


def _details(head: pd.DataFrame, metric: str, generator: str, subject: str = "synthetic") -> dict[str, Any]:
    m = head[(head["metric"] == metric) & (head["generator"] == generator) & (head["subject"] == subject)]
    if not len(m) or not m["details"].iloc[0]:
        return {}
    return json.loads(m["details"].iloc[0])


def _fmt(v: float, digits: int = 3) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _ci(v: float, lo: float, hi: float, digits: int = 3) -> str:
    if not np.isfinite(v):
        return "–"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) and np.isfinite(hi) else f"{v:.{digits}f}"


def _delta(row: Any, metric: str) -> str:
    v, lo, hi = getattr(row, metric), getattr(row, f"{metric}_ci_low"), getattr(row, f"{metric}_ci_high")
    return f"{v:+.4f} [{lo:+.4f}, {hi:+.4f}]" if np.isfinite(lo) and np.isfinite(hi) else f"{v:+.4f}"


def _n(rows: pd.DataFrame) -> str:
    return f"95% interval pooled over {int(rows['repeats'].max())} repeats" if (rows["repeats"] > 1).any() else "95% interval"


def _margin(head: pd.DataFrame) -> float:
    d = head[head["metric"].isin(list(PAIRED))]["details"]
    return float(json.loads(d.iloc[0]).get("margin", MARGIN)) if len(d) and d.iloc[0] else MARGIN


def _under_trained(row: Any) -> bool:
    """Given fewer epochs than its convergence curve needs on the main job's split."""
    epochs, enough = row.epochs, row.converged_epochs
    return bool(epochs is not None and enough is not None and np.isfinite(epochs) and np.isfinite(enough) and epochs < enough)


def _cell(row: Any, metric: str) -> str:
    """A leaderboard cell: value [interval]; a paired difference signed, with its verdict."""
    if metric in PAIRED:
        return f"{_delta(row, metric)} {getattr(row, f'{PAIRED[metric]}_verdict')}" if np.isfinite(getattr(row, metric)) else "–"
    return _ci(getattr(row, metric), getattr(row, f"{metric}_ci_low"), getattr(row, f"{metric}_ci_high"))


def _where_it_helps(board: pd.DataFrame) -> list[str]:
    """Per data set (a rare-click regime is one) and click model: which generators' augmentation is
    a gain, and which is non-inferior, by the paired verdicts."""
    lines = []
    gens = board[~board["reference"] & (board["status"] == "ok")]
    models = (("augment_verdict", "XGBoost"), ("augment_logistic_verdict", "L1-logistic"))
    for (dataset, ratio), rows in gens.groupby(["dataset", "ratio"], sort=False):
        parts = []
        for col, model in models:
            if col not in rows or not rows[col].astype(bool).any():
                continue
            named = {v: ", ".join(rows[rows[col] == v]["generator"]) or "none" for v in ("gain", "non-inferior")}
            parts.append(f"{model}: gain {named['gain']}; non-inferior {named['non-inferior']}")
        if parts:
            lines.append(f"Where augmentation helps, {dataset} at ratio {float(ratio):g}: " + " | ".join(parts) + ".")
    return lines


def _verdicts(board: pd.DataFrame, head: pd.DataFrame) -> dict[str, list[str]]:
    """Plain-language findings, every number taken from the tables."""
    out: dict[str, list[str]] = {"fidelity": [], "utility": [], "privacy": []}
    regimes = _where_it_helps(board)
    board = board[(board["dataset"] == board["dataset"].iloc[0]) & (board["ratio"] == board["ratio"].iloc[0])]
    gens = board[~board["reference"] & (board["status"] == "ok")]
    ref = board[board["generator"] == "holdout"]
    if len(gens) == 0:
        return out
    fresh_det = float(ref["detection_xgboost"].iloc[0]) if len(ref) else float("nan")
    by_det = gens.sort_values("detection_xgboost")
    best, worst = by_det.iloc[0], by_det.iloc[-1]
    out["fidelity"].append(
        f"Hardest to tell from real: {best.generator} (detection AUC {_fmt(best.detection_xgboost)}, column shapes "
        f"{_fmt(best.tv_complement)}); easiest: {worst.generator}, whose rows a classifier separates from real with AUC "
        f"{_fmt(worst.detection_xgboost)}."
        + (f" Fresh real data scores {_fmt(fresh_det)} on the same test." if np.isfinite(fresh_det) else "")
    )
    near = gens[gens["detection_xgboost"] <= fresh_det + 0.05] if np.isfinite(fresh_det) else gens.iloc[:0]
    if np.isfinite(fresh_det):
        out["fidelity"].append(
            f"{len(near)} of {len(gens)} generators come within 0.05 of fresh real data on detection AUC"
            + (f": {', '.join(near.generator)}." if len(near) else ".")
        )
    trtr = float(gens["trtr_pr_auc"].dropna().iloc[0]) if gens["trtr_pr_auc"].notna().any() else float("nan")
    if np.isfinite(trtr):
        base = _details(head, "trtr_pr_auc", str(gens.iloc[0].generator), subject="real").get("base_rate", float("nan"))
        by_tstr = gens.sort_values("tstr_pr_auc", ascending=False)
        top = by_tstr.iloc[0]
        out["utility"].append(
            f"A click model trained on the real rows reaches PR-AUC {_fmt(trtr)} on real test rows"
            + (f" (click rate {100 * base:.2f}%: a random ranking scores about that)." if np.isfinite(base) else ".")
            + f" Trained on synthetic rows only, the best is {top.generator} with "
            f"{_ci(top.tstr_pr_auc, top.tstr_pr_auc_ci_low, top.tstr_pr_auc_ci_high)}."
        )
        stand_in = gens[gens["tstr_verdict"].isin(["gain", "non-inferior"])]
        out["utility"].append(
            f"{len(stand_in)} of {len(gens)} generators' synthetic-only models are non-inferior to the real-rows model "
            f"(paired PR-AUC difference on the same test rows, margin {_margin(head):g})"
            + (f": {', '.join(stand_in.generator)}." if len(stand_in) else ".")
        )
        paired = gens[np.isfinite(gens["augment_delta_pr_auc"])]
        if len(paired):
            g = paired.sort_values("augment_delta_pr_auc", ascending=False).iloc[0]
            out["utility"].append(
                f"Augmenting the clicks to a {float(g.ratio):g} minority/majority ratio: the best generator, {g.generator}, "
                f"changes PR-AUC by {_delta(g, 'augment_delta_pr_auc')} (paired over the same test rows; "
                f"{_n(paired)}): {g.augment_verdict}."
            )
            counts = paired["augment_verdict"].value_counts()
            out["utility"].append(
                "Verdicts at a margin of "
                f"{_margin(head):g} PR-AUC: "
                + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
                + (
                    f". A gain: {', '.join(paired[paired['augment_verdict'] == 'gain'].generator)}."
                    if (paired["augment_verdict"] == "gain").any()
                    else "; no generator's augmentation is a gain beyond the noise of this test set."
                )
            )
        boot = board[board["generator"] == "bootstrap"]
        if len(boot) and np.isfinite(boot["augment_delta_pr_auc"].iloc[0]):
            b = boot.iloc[0]
            beat = gens[gens["augment_delta_pr_auc"] > float(b.augment_delta_pr_auc)]
            out["utility"].append(
                f"Duplicating real clicks (bootstrap) changes PR-AUC by {_delta(b, 'augment_delta_pr_auc')} ({b.augment_verdict}); "
                f"{len(beat)} generator(s) do better than that: {', '.join(beat.generator) or 'none'}."
            )
    out["utility"].extend(regimes)
    if len(ref):
        r = ref.iloc[0]
        out["privacy"].append(
            f"Fresh real data (half the holdout) has DCR share {_fmt(r.dcr_share)}, membership-attack AUC {_fmt(r.mia_auc)} and "
            f"privacy loss {_fmt(r.privacy_loss)}: "
            "that is what a generator that learned the population, not the people, looks like."
        )
    risky = gens[(gens["dcr_share"] > 0.55) | (gens["mia_auc"] > 0.6) | (gens["exact_match_train"] > 0.01)]
    if len(risky):
        parts = [
            f"{r.generator} (DCR share {_fmt(r.dcr_share)}, MIA AUC {_fmt(r.mia_auc)}, privacy loss {_fmt(r.privacy_loss)}, "
            f"exact matches {100 * r.exact_match_train:.1f}%)"
            for r in risky.itertuples()
        ]
        out["privacy"].append("Closer to the training rows than fresh data would be: " + "; ".join(parts) + ".")
    else:
        out["privacy"].append(
            "No generator's rows sit closer to the training rows than fresh real data would (DCR share <= 0.55, MIA AUC <= 0.6, no exact copies)."
        )
    return out
