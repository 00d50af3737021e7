"""The report's tables and sentences (``report/verdicts.py``) on results small enough to check by
hand: cells listed out of order, repeats that disagree, values on the verdicts' thresholds."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from clicksynth.bench.config import CONVERGED_EPOCHS, CONVERGED_ON_ROWS
from clicksynth.bench.layout import RunLayout
from clicksynth.metrics._stats import pool_deltas, verdict
from clicksynth.report.verdicts import (
    _adequacy,
    _cell,
    _ci,
    _delta,
    _details,
    _epochs,
    _fmt,
    _frontier_verdicts,
    _margin,
    _n,
    _needed_epochs,
    _under_trained,
    _verdicts,
    _where_it_helps,
    frontier_table,
    leaderboard,
)


def _row(gen: str, rep: int, metric: str, value: float, **kw) -> dict:
    row = {
        "cell": f"{gen}-{kw.get('dataset', 'd')}-{kw.get('ratio', 0.25)}-{rep}",
        "dataset": "d",
        "generator": gen,
        "params": "{}",
        "ratio": 0.25,
        "repeat": rep,
        "status": "ok",
        "error": "",
        "fit_s": 1.0,
        "sample_s": 0.5,
        "subject": "synthetic",
        "metric": metric,
        "column": "",
        "value": value,
        "ci_low": value - 0.1,
        "ci_high": value + 0.1,
        "details": "",
    }
    row.update(kw)
    return row


def _results(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


# -- the leaderboard ------------------------------------------------------------------------


def test_leaderboard_means_repeats_with_the_first_repeats_interval_whatever_the_row_order():
    rows = [
        _row("a", 1, "detection_xgboost", 0.8, ci_low=0.7, ci_high=0.9),  # repeat 1 listed first
        _row("a", 0, "detection_xgboost", 0.6, ci_low=0.55, ci_high=0.65),
        _row("a", 0, "tstr_pr_auc", 0.05),
        _row("a", 0, "detection_xgboost", 0.3, column="age"),  # a per-column row: not a headline
        _row("a", 0, "detection_xgboost", 0.2, subject="real"),  # another subject: not the synthetic rows' value
    ]
    board = leaderboard(_results(rows)).set_index("generator")
    a = board.loc["a"]
    assert a["detection_xgboost"] == pytest.approx(0.7) and a["repeats"] == 2
    assert (a["detection_xgboost_ci_low"], a["detection_xgboost_ci_high"]) == (0.55, 0.65)
    assert math.isnan(a["dcr_share"]) and math.isnan(a["dcr_share_ci_low"]) and math.isnan(a["trtr_pr_auc"])
    assert a["fit_s"] == 1.0 and a["sample_s"] == 0.5 and a["status"] == "ok" and a["error"] == ""
    assert a["reproducible"] and not a["reference"]


def test_leaderboard_status_timings_errors_and_reproducibility():
    rows = [
        _row("a", 0, "tstr_pr_auc", 0.05, fit_s=1.0, sample_s=1.0),
        _row("a", 1, "tstr_pr_auc", 0.07, fit_s=3.0, sample_s=2.0, stopped_by_time=True),
        _row("b", 0, "", float("nan"), status="failed", error=""),
        _row("b", 1, "", float("nan"), status="failed", error="boom"),
        _row("c", 0, "tstr_pr_auc", 0.04, error="a warning"),
    ]
    board = leaderboard(_results(rows)).set_index("generator")
    assert board.loc["a", "fit_s"] == 2.0 and board.loc["a", "sample_s"] == 1.5
    assert not board.loc["a", "reproducible"] and board.loc["c", "reproducible"]
    assert board.loc["b", "status"] == "failed" and board.loc["b", "error"] == "boom"  # the first error given
    assert board.loc["c", "error"] == ""  # an ok cell shows no error
    # Results written before the column existed: every cell reproducible.
    old = leaderboard(_results(rows[:1] + rows[4:]).drop(columns=["stopped_by_time"], errors="ignore"))
    assert old["reproducible"].all()


def test_leaderboard_sorts_by_tstr_pr_auc_within_each_grid_row_and_measures_distance_to_its_own_fresh_rows():
    rows = []
    for ds, fresh in (("d1", 0.55), ("d2", 0.62)):
        rows += [
            _row("holdout", 0, "detection_xgboost", fresh, dataset=ds),
            _row("holdout", 0, "dcr_share", 0.48, dataset=ds),
            _row("g", 0, "detection_xgboost", 0.9, dataset=ds),
            _row("g", 0, "dcr_share", 0.7, dataset=ds),
            _row("g", 0, "tstr_pr_auc", 0.03, dataset=ds),
            _row("h", 0, "tstr_pr_auc", 0.06, dataset=ds),
            _row("bootstrap", 0, "tstr_pr_auc", 0.05, dataset=ds),
        ]
    board = leaderboard(_results(rows[::-1]))
    assert list(board["dataset"]) == ["d1"] * 4 + ["d2"] * 4
    assert list(board["generator"][:4]) == ["h", "bootstrap", "g", "holdout"]  # no TSTR value: last
    by = board.set_index(["dataset", "generator"])
    assert by.loc[("d1", "g"), "detection_vs_fresh"] == pytest.approx(0.35)
    assert by.loc[("d2", "g"), "detection_vs_fresh"] == pytest.approx(0.28)
    assert by.loc[("d1", "g"), "dcr_vs_fresh"] == pytest.approx(0.2)
    assert by.loc[("d1", "holdout"), "reference"] and by.loc[("d1", "bootstrap"), "reference"] and not by.loc[("d1", "h"), "reference"]


def test_leaderboard_pools_paired_differences_over_repeats_with_the_margin_they_were_scored_at():
    details = json.dumps({"margin": 0.02})
    rows = [
        _row("g", 0, "augment_delta_pr_auc", 0.010, ci_low=-0.005, ci_high=0.025, details=details),
        _row("g", 1, "augment_delta_pr_auc", 0.030, ci_low=0.010, ci_high=0.050, details=details),
        _row("g", 0, "trtr_pr_auc", 0.06, subject="real"),
        _row("g", 1, "trtr_pr_auc", 0.08, subject="real"),
    ]
    g = leaderboard(_results(rows)).iloc[0]
    value, (lo, hi) = pool_deltas(np.array([0.01, 0.03]), np.array([-0.005, 0.01]), np.array([0.025, 0.05]))
    assert (g["augment_delta_pr_auc"], g["augment_delta_pr_auc_ci_low"], g["augment_delta_pr_auc_ci_high"]) == pytest.approx(
        (value, lo, hi)
    )
    assert g["augment_verdict"] == verdict(lo, hi, 0.02)
    assert lo > 0 and g["augment_verdict"] == "gain"
    assert g["trtr_pr_auc"] == pytest.approx(0.07)  # the real-rows model, whatever its subject
    # A paired difference never scored: NaN and no verdict.
    assert math.isnan(g["tstr_delta_pr_auc"]) and g["tstr_verdict"] == ""


def test_a_paired_difference_without_a_margin_in_its_details_is_judged_at_the_default_margin():
    rows = [_row("g", 0, "augment_delta_pr_auc", 0.002, ci_low=-0.004, ci_high=0.008)]
    assert leaderboard(_results(rows)).iloc[0]["augment_verdict"] == verdict(-0.004, 0.008, 0.005) == "non-inferior"


def test_epochs_come_from_the_cells_parameters_and_the_needed_epochs_scale_with_the_training_rows():
    cells = pd.DataFrame({"params": ['{"epochs": 7}', '{"epochs": 7}', None]})
    assert _epochs(cells) == 7
    assert _epochs(pd.DataFrame({"params": ['{"k": 3}']})) is None and _epochs(pd.DataFrame({"x": [1]})) is None
    gen, converged = next(iter(CONVERGED_EPOCHS.items()))
    rows = pd.DataFrame({"train_rows": [4 * CONVERGED_ON_ROWS, 8 * CONVERGED_ON_ROWS]})
    assert _needed_epochs(gen, rows) == max(1, math.ceil(converged / 4))  # the smallest table decides
    assert _needed_epochs(gen, pd.DataFrame({"train_rows": [CONVERGED_ON_ROWS / 2]})) == 2 * converged
    assert _needed_epochs(gen, pd.DataFrame({"x": [1]})) == converged
    assert _needed_epochs(gen, pd.DataFrame({"train_rows": [np.nan]})) == converged
    assert _needed_epochs("smote", rows) is None


def test_under_trained_only_below_the_needed_epochs():
    class R:
        def __init__(self, epochs, converged):
            self.epochs, self.converged_epochs = epochs, converged

    assert _under_trained(R(4, 5)) and not _under_trained(R(5, 5)) and not _under_trained(R(6, 5))
    assert not _under_trained(R(None, 5)) and not _under_trained(R(4, None)) and not _under_trained(R(float("nan"), 5))


# -- the frontier -----------------------------------------------------------------------------


def _board(**columns) -> pd.DataFrame:
    n = len(columns["generator"])
    base = {"status": ["ok"] * n, "dataset": ["d"] * n, "ratio": [0.25] * n, "tstr_pr_auc": [0.05] * n}
    return pd.DataFrame({**base, **columns})


def test_frontier_is_the_undominated_generators():
    board = pd.DataFrame(
        {
            "generator": ["holdout", "identity", "a", "b", "c", "d", "e"],
            "detection_xgboost": [0.5, 0.5, 0.6, 0.9, 0.7, 0.45, 0.8],
            "dcr_share": [0.5, 1.0, 0.7, 0.52, 0.8, 0.9, 0.3],
            "tstr_pr_auc": 0.05,
            "status": "ok",
            "dataset": "d",
            "ratio": 0.25,
        }
    )
    t = frontier_table(board).set_index("generator")
    # a, d, e trade detection for DCR; c is beaten by a on both; b by e (e's DCR 0.3 counts as 0.5, still below
    # b's 0.52, and e is harder to detect, 0.8 < 0.9); the references are never on it.
    assert t["on_frontier"].to_dict() == {"holdout": False, "identity": False, "a": True, "b": False, "c": False, "d": True, "e": True}
    assert t.loc["holdout", "kind"] == "fresh" and t.loc["identity", "kind"] == "copy"


def test_frontier_keeps_the_first_grid_row_and_ok_finite_cells_and_ties_share_the_frontier():
    board = _board(
        generator=["holdout", "a", "b", "failed", "nan", "other"],
        detection_xgboost=[0.5, 0.6, 0.6, 0.51, np.nan, 0.51],
        dcr_share=[0.5, 0.7, 0.7, 0.5, 0.5, 0.5],
        status=["ok", "ok", "ok", "failed", "ok", "ok"],
        dataset=["d", "d", "d", "d", "d", "e"],
    )
    t = frontier_table(board).set_index("generator")
    assert list(t.index) == ["holdout", "a", "b"]
    assert t.loc["a", "on_frontier"] and t.loc["b", "on_frontier"]  # equal: neither dominates the other
    assert list(t["kind"]) == ["fresh", "generator", "generator"]
    assert t.loc["a", "tstr_pr_auc"] == 0.05
    empty = frontier_table(_board(generator=["a"], detection_xgboost=[0.6], dcr_share=[0.5], status=["failed"]))
    assert list(empty.columns) == ["generator", "kind", "detection", "dcr_share", "tstr_pr_auc", "on_frontier"] and not len(empty)


def test_frontier_values_below_one_half_count_as_one_half_on_both_axes():
    board = _board(generator=["low_det", "half", "low_dcr"], detection_xgboost=[0.4, 0.5, 0.5], dcr_share=[0.5, 0.5, 0.3])
    assert frontier_table(board)["on_frontier"].all()  # all three cost (0.5, 0.5): none dominates


def test_frontier_verdicts_name_the_frontier_by_detection_and_the_distance_to_fresh_data():
    table = pd.DataFrame(
        {
            "generator": ["holdout", "far", "near", "off"],
            "kind": ["fresh", "generator", "generator", "generator"],
            "detection": [0.52, 0.9, 0.6, 0.95],
            "dcr_share": [0.49, 0.4, 0.7, 0.8],
            "on_frontier": [False, True, True, False],
        }
    )
    first, second = _frontier_verdicts(table)
    assert first.endswith("near (detection AUC 0.600, DCR share 0.700); far (detection AUC 0.900, DCR share 0.400).")
    assert "off" not in first
    assert second == (
        "Fresh real data sits at detection AUC 0.520 and DCR share 0.490; the hardest-to-detect frontier generator, "
        "near, is +0.080 from it on detection and +0.210 on DCR share."
    )
    assert _frontier_verdicts(table[table["kind"] != "fresh"]) == [first]
    assert _frontier_verdicts(table.assign(on_frontier=False)) == []


# -- the sentences ----------------------------------------------------------------------------


def _verdict_board() -> pd.DataFrame:
    """Generators listed out of every order the sentences use; numbers chosen to sit on their thresholds."""
    g = ["y", "holdout", "x", "bootstrap", "z"]
    board = pd.DataFrame(
        {
            "generator": g,
            "dataset": "d",
            "ratio": 0.25,
            "status": "ok",
            "reference": [False, True, False, True, False],
            "repeats": 1,
            "detection_xgboost": [0.75, 0.55, 0.60, 0.9, 0.95],
            "tv_complement": [0.8, 0.99, 0.9, 1.0, 0.7],
            "trtr_pr_auc": [0.07, np.nan, 0.07, 0.07, 0.07],
            "tstr_pr_auc": [0.06, 0.069, 0.04, 0.07, 0.05],
            "tstr_pr_auc_ci_low": [0.05, 0.06, 0.03, 0.06, 0.04],
            "tstr_pr_auc_ci_high": [0.07, 0.08, 0.05, 0.08, 0.06],
            "tstr_verdict": ["non-inferior", "", "loss", "", "gain"],
            "augment_delta_pr_auc": [0.01, np.nan, -0.02, -0.001, np.nan],
            "augment_delta_pr_auc_ci_low": [0.002, np.nan, -0.03, -0.004, np.nan],
            "augment_delta_pr_auc_ci_high": [0.02, np.nan, -0.01, 0.002, np.nan],
            "augment_verdict": ["gain", "", "loss", "non-inferior", ""],
            "dcr_share": [0.55, 0.5, 0.56, 0.99, 0.4],
            "mia_auc": [0.6, 0.5, 0.5, 0.9, 0.61],
            "privacy_loss": [0.1, 0.0, 0.2, 0.9, 0.3],
            "exact_match_train": [0.01, 0.0, 0.0, 1.0, 0.0],
        }
    )
    return board


def _verdict_head() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row("x", 0, "trtr_pr_auc", 0.07, subject="real", details=json.dumps({"base_rate": 0.0345})),
            _row("y", 0, "trtr_pr_auc", 0.07, subject="real", details=json.dumps({"base_rate": 0.5})),
            _row("x", 0, "augment_delta_pr_auc", -0.02, details=json.dumps({"margin": 0.005})),
        ]
    )


def test_fidelity_sentences_rank_by_detection_not_by_row_order():
    out = _verdicts(_verdict_board(), _verdict_head())
    assert out["fidelity"][0] == (
        "Hardest to tell from real: x (detection AUC 0.600, column shapes 0.900); easiest: z, whose rows a classifier "
        "separates from real with AUC 0.950. Fresh real data scores 0.550 on the same test."
    )
    assert out["fidelity"][1] == "1 of 3 generators come within 0.05 of fresh real data on detection AUC: x."
    # Exactly 0.05 above the fresh rows counts as within.
    board = _verdict_board()
    board.loc[board.generator == "y", "detection_xgboost"] = 0.6
    assert (
        _verdicts(board, _verdict_head())["fidelity"][1] == "2 of 3 generators come within 0.05 of fresh real data on detection AUC: y, x."
    )


def test_utility_sentences_quote_the_real_model_the_best_generators_and_the_verdict_counts():
    u = _verdicts(_verdict_board(), _verdict_head())["utility"]
    # The base rate is the first generator's (y's) real-rows details.
    assert u[0] == (
        "A click model trained on the real rows reaches PR-AUC 0.070 on real test rows (click rate 50.00%: a random "
        "ranking scores about that). Trained on synthetic rows only, the best is y with 0.060 [0.050, 0.070]."
    )
    assert u[1] == (
        "2 of 3 generators' synthetic-only models are non-inferior to the real-rows model (paired PR-AUC difference on "
        "the same test rows, margin 0.005): y, z."
    )
    assert u[2] == (
        "Augmenting the clicks to a 0.25 minority/majority ratio: the best generator, y, changes PR-AUC by "
        "+0.0100 [+0.0020, +0.0200] (paired over the same test rows; 95% interval): gain."
    )
    assert u[3] == "Verdicts at a margin of 0.005 PR-AUC: 1 gain, 0 non-inferior, 0 inconclusive, 1 loss. A gain: y."
    assert u[4] == (
        "Duplicating real clicks (bootstrap) changes PR-AUC by -0.0010 [-0.0040, +0.0020] (non-inferior); "
        "1 generator(s) do better than that: y."
    )
    assert u[5] == "Where augmentation helps, d at ratio 0.25: XGBoost: gain y; non-inferior none."


def test_utility_sentences_without_a_gain_and_without_a_real_model():
    board = _verdict_board()
    board["augment_verdict"] = board["augment_verdict"].replace("gain", "inconclusive")
    u = _verdicts(board, _verdict_head())["utility"]
    assert u[3].endswith(
        "0 gain, 0 non-inferior, 1 inconclusive, 1 loss; no generator's augmentation is a gain beyond the noise of this test set."
    )
    board["trtr_pr_auc"] = np.nan
    assert _verdicts(board, _verdict_head())["utility"] == [
        "Where augmentation helps, d at ratio 0.25: XGBoost: gain none; non-inferior none."
    ]


def test_privacy_sentences_flag_only_generators_past_a_threshold():
    p = _verdicts(_verdict_board(), _verdict_head())["privacy"]
    assert p[0].startswith("Fresh real data (half the holdout) has DCR share 0.500, membership-attack AUC 0.500 and privacy loss 0.000")
    # y sits on every threshold (0.55, 0.6, 1%): not flagged; x's DCR share and z's MIA AUC are past theirs.
    assert p[1] == (
        "Closer to the training rows than fresh data would be: x (DCR share 0.560, MIA AUC 0.500, privacy loss 0.200, "
        "exact matches 0.0%); z (DCR share 0.400, MIA AUC 0.610, privacy loss 0.300, exact matches 0.0%)."
    )
    board = _verdict_board()
    board.loc[board.generator == "x", "dcr_share"] = 0.5
    board.loc[board.generator == "z", "mia_auc"] = 0.5
    assert _verdicts(board, _verdict_head())["privacy"][1].startswith("No generator's rows sit closer")
    board.loc[board.generator == "y", "exact_match_train"] = 0.011
    assert "y (DCR share 0.550, MIA AUC 0.600, privacy loss 0.100, exact matches 1.1%)" in _verdicts(board, _verdict_head())["privacy"][1]


def test_sentences_read_only_the_first_grid_row_but_say_where_augmentation_helps_in_every_one():
    board = _verdict_board()
    other = board.assign(dataset="rare", augment_verdict=["non-inferior", "", "gain", "", ""])
    out = _verdicts(pd.concat([board, other], ignore_index=True), _verdict_head())
    assert out["fidelity"][1].startswith("1 of 3 generators")  # not 6
    assert out["utility"][-2:] == [
        "Where augmentation helps, d at ratio 0.25: XGBoost: gain y; non-inferior none.",
        "Where augmentation helps, rare at ratio 0.25: XGBoost: gain x; non-inferior y.",
    ]
    assert _verdicts(board[board["reference"]], _verdict_head()) == {"fidelity": [], "utility": [], "privacy": []}


def test_where_augmentation_helps_per_click_model_skipping_failed_cells_and_references():
    board = _verdict_board()
    board["augment_logistic_verdict"] = ["non-inferior", "gain", "non-inferior", "gain", ""]
    board.loc[board.generator == "x", "status"] = "failed"
    assert _where_it_helps(board) == [
        "Where augmentation helps, d at ratio 0.25: XGBoost: gain y; non-inferior none | L1-logistic: gain none; non-inferior y."
    ]
    assert _where_it_helps(board.assign(augment_verdict="", augment_logistic_verdict="")) == []


# -- formatting ---------------------------------------------------------------------------------


def test_numbers_are_formatted_with_their_intervals_and_missing_ones_as_a_dash():
    assert _fmt(0.12345) == "0.123" and _fmt(1.25, 1) == "1.2" and _fmt(float("nan")) == "–" and _fmt(None) == "–"  # type: ignore[arg-type]
    assert _ci(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]" and _ci(0.5, float("nan"), 0.6) == "0.500" and _ci(float("nan"), 0, 1) == "–"
    assert _ci(0.5, 0.4, float("nan"), digits=1) == "0.5"

    class R:
        m, m_ci_low, m_ci_high = 0.01, -0.002, 0.02

    assert _delta(R, "m") == "+0.0100 [-0.0020, +0.0200]"
    R.m_ci_high = float("nan")
    assert _delta(R, "m") == "+0.0100"
    assert (
        _n(pd.DataFrame({"repeats": [1, 3, 2]})) == "95% interval pooled over 3 repeats"
        and _n(pd.DataFrame({"repeats": [1]})) == "95% interval"
    )


def test_a_leaderboard_cell_shows_a_paired_difference_with_its_verdict():
    class R:
        augment_delta_pr_auc, augment_delta_pr_auc_ci_low, augment_delta_pr_auc_ci_high, augment_verdict = 0.01, 0.002, 0.02, "gain"
        dcr_share, dcr_share_ci_low, dcr_share_ci_high = 0.5, 0.45, 0.55

    assert _cell(R, "augment_delta_pr_auc") == "+0.0100 [+0.0020, +0.0200] gain"
    assert _cell(R, "dcr_share") == "0.500 [0.450, 0.550]"
    R.augment_delta_pr_auc = float("nan")
    assert _cell(R, "augment_delta_pr_auc") == "–"


def test_the_margin_quoted_is_the_one_the_paired_differences_were_scored_at():
    head = pd.DataFrame([_row("x", 0, "tstr_delta_pr_auc", 0.0, details=json.dumps({"margin": 0.01})), _row("x", 0, "dcr_share", 0.5)])
    assert _margin(head) == 0.01
    assert _margin(head.iloc[1:]) == 0.005
    assert _margin(head.assign(details="")) == 0.005
    assert _margin(head.assign(details=json.dumps({"test_clicks": 3}))) == 0.005


# -- data adequacy -----------------------------------------------------------------------------


def _adequacy_run(tmp_path, test_clicks: int, fresh_detection: float, dcr: float = 0.5):
    layout = RunLayout(tmp_path)
    split = {
        "train": {"rows": 1000, "users": 300, "clicks": 40},
        "holdout": {"rows": 500, "users": None, "clicks": 20},
        "test": {"rows": 500, "users": 150, "clicks": test_clicks},
    }
    for cell, s in (("a-1", {**split, "test": {**split["test"], "clicks": 1}}), ("holdout-1", split)):
        layout.cell(cell).root.mkdir(parents=True, exist_ok=True)
        layout.cell(cell).meta.write_text(json.dumps({"split": s}))
    results = pd.DataFrame(
        {"dataset": ["d", "d", "d"], "repeat": [0, 0, 1], "generator": ["a", "holdout", "b"], "cell": ["a-1", "holdout-1", "b-9"]}
    )
    board = pd.DataFrame(
        {"dataset": ["d", "d"], "generator": ["a", "holdout"], "detection_xgboost": [0.7, fresh_detection], "dcr_share": [0.6, dcr]}
    )
    return _adequacy(tmp_path, results, board)


def test_adequacy_reads_the_holdout_cells_split_and_says_why_no_ranking_is_possible(tmp_path):
    ok = _adequacy_run(tmp_path, test_clicks=100, fresh_detection=0.9)  # on both thresholds: fine
    assert ok["problems"] == [] and ok["fresh_detection"] == "0.900" and ok["fresh_dcr"] == "0.500"
    assert ok["parts"][0] == {"part": "train", "rows": "1,000", "users": "300", "clicks": "40"}
    assert ok["parts"][1]["users"] == "–"
    bad = _adequacy_run(tmp_path, test_clicks=99, fresh_detection=0.901, dcr=0.7)
    assert bad["problems"][0] == "the test rows hold 99 clicks (fewer than 100): the PR-AUC intervals of the click models span one another"
    assert bad["problems"][1].startswith(
        "fresh real rows are themselves separable from the training rows (detection AUC 0.901, DCR share 0.700)"
    )
    assert len(bad["problems"]) == 2


def test_adequacy_without_a_recorded_split_is_none(tmp_path):
    results = pd.DataFrame({"dataset": ["d"], "repeat": [0], "generator": ["a"], "cell": ["a-1"]})
    board = pd.DataFrame({"dataset": ["d"], "generator": ["a"], "detection_xgboost": [0.7], "dcr_share": [0.6]})
    assert _adequacy(tmp_path, results, board) is None
    RunLayout(tmp_path).cell("a-1").root.mkdir(parents=True)
    RunLayout(tmp_path).cell("a-1").meta.write_text(json.dumps({"status": "ok"}))
    assert _adequacy(tmp_path, results, board) is None


# -- edges the sentences and tables turn on ---------------------------------------------------------


def test_a_pooled_difference_is_judged_at_the_first_repeats_margin_and_a_missing_one_has_no_verdict():
    rows = [
        _row("g", 0, "augment_delta_pr_auc", 0.005, ci_low=-0.01, ci_high=0.02, details=json.dumps({"margin": 0.02})),
        _row("g", 1, "augment_delta_pr_auc", 0.005, ci_low=-0.01, ci_high=0.02, details=json.dumps({"margin": 0.001})),
    ]
    g = leaderboard(_results(rows)).iloc[0]
    lo, hi = g["augment_delta_pr_auc_ci_low"], g["augment_delta_pr_auc_ci_high"]
    assert -0.02 < lo < -0.001 and hi > 0  # the verdict turns on the margin: non-inferior at 0.02, not at 0.001 or 0.005
    assert g["augment_verdict"] == "non-inferior" == verdict(lo, hi, 0.02)
    nan = leaderboard(_results([_row("g", 0, "augment_delta_pr_auc", float("nan"), ci_low=float("nan"), ci_high=float("nan"))])).iloc[0]
    assert math.isnan(nan["augment_delta_pr_auc"]) and nan["augment_verdict"] == ""


def test_frontier_reads_the_first_rows_dataset_and_ratio_and_missing_values_given_as_none():
    board = _board(
        generator=["a", "b", "c", "d"],
        detection_xgboost=[0.6, 0.55, 0.6, None],
        dcr_share=[0.5, 0.5, 0.5, 0.5],
        dataset=["d", "e", "d", "d"],
        ratio=[0.25, 0.5, 0.5, 0.25],
    ).astype({"detection_xgboost": object, "dcr_share": object, "tstr_pr_auc": object})
    t = frontier_table(board)
    assert list(t["generator"]) == ["a"] and list(t.columns) == [
        "generator",
        "kind",
        "detection",
        "dcr_share",
        "tstr_pr_auc",
        "on_frontier",
    ]
    assert t["detection"].dtype == float and t["dcr_share"].dtype == float and t["tstr_pr_auc"].dtype == float


def test_frontier_verdicts_first_words():
    table = pd.DataFrame({"generator": ["g"], "kind": ["generator"], "detection": [0.6], "dcr_share": [0.5], "on_frontier": [True]})
    assert _frontier_verdicts(table) == [
        "On the fidelity-privacy frontier (no other generator is both harder to detect and no closer to its training rows): "
        "g (detection AUC 0.600, DCR share 0.500)."
    ]


def test_details_of_a_missing_or_detail_less_row_are_empty():
    head = _verdict_head()
    assert _details(head, "augment_delta_pr_auc", "x") == {"margin": 0.005}  # the synthetic rows' by default
    assert _details(head, "trtr_pr_auc", "x", subject="real") == {"base_rate": 0.0345}
    assert _details(head, "augment_delta_pr_auc", "y") == {} and _details(head.assign(details=""), "augment_delta_pr_auc", "x") == {}


def test_sentences_without_fresh_rows_a_base_rate_or_a_generator_near_them():
    board = _verdict_board()
    out = _verdicts(board[board.generator != "holdout"], _verdict_head().iloc[2:])
    assert out["fidelity"] == [
        "Hardest to tell from real: x (detection AUC 0.600, column shapes 0.900); easiest: z, whose rows a classifier "
        "separates from real with AUC 0.950."
    ]
    assert out["utility"][0].startswith("A click model trained on the real rows reaches PR-AUC 0.070 on real test rows. Trained on")
    assert not any(p.startswith("Fresh real data") for p in out["privacy"])
    board.loc[board.generator == "holdout", "detection_xgboost"] = 0.5
    board.loc[board.generator == "x", "detection_xgboost"] = 0.55  # exactly 0.05 above: within
    assert _verdicts(board, _verdict_head())["fidelity"][1] == "1 of 3 generators come within 0.05 of fresh real data on detection AUC: x."
    board.loc[board.generator == "x", "detection_xgboost"] = 0.56
    assert _verdicts(board, _verdict_head())["fidelity"][1] == "0 of 3 generators come within 0.05 of fresh real data on detection AUC."


def test_sentences_quote_the_first_grid_rows_real_model_and_join_several_names():
    board = _verdict_board()
    board["trtr_pr_auc"] = [0.07, np.nan, 0.09, 0.07, 0.09]  # y first among the generators: its model is quoted
    board["tstr_verdict"] = "loss"
    board["augment_verdict"] = ["gain", "", "gain", "non-inferior", ""]
    board.loc[board.generator == "x", "augment_delta_pr_auc"] = -0.001  # equal to bootstrap's: not better
    u = _verdicts(board, _verdict_head())["utility"]
    assert "reaches PR-AUC 0.070" in u[0]
    assert u[1] == (
        "0 of 3 generators' synthetic-only models are non-inferior to the real-rows model (paired PR-AUC difference on "
        "the same test rows, margin 0.005)."
    )
    assert u[3].endswith(". A gain: y, x.")
    assert u[4].endswith("1 generator(s) do better than that: y.")
    board.loc[board.generator == "x", "augment_delta_pr_auc"] = 0.0
    assert _verdicts(board, _verdict_head())["utility"][4].endswith("2 generator(s) do better than that: y, x.")
    board.loc[board.generator.isin(["x", "y"]), "augment_delta_pr_auc"] = -0.01
    assert _verdicts(board, _verdict_head())["utility"][4].endswith("0 generator(s) do better than that: none.")
    board.loc[board.generator == "bootstrap", "augment_delta_pr_auc"] = np.nan
    assert not any(s.startswith("Duplicating") for s in _verdicts(board, _verdict_head())["utility"])


def test_sentences_read_the_first_rows_dataset_and_ratio_however_the_board_is_ordered():
    board = _verdict_board()
    other = board.assign(ratio=0.5, detection_xgboost=0.99)
    mixed = pd.concat([board.iloc[:1], other, board.iloc[1:]], ignore_index=True)  # row 1 is the other ratio's
    assert _verdicts(mixed, _verdict_head())["fidelity"] == _verdicts(board, _verdict_head())["fidelity"]
    other = board.assign(dataset="e", detection_xgboost=0.99)
    mixed = pd.concat([board.iloc[:1], other, board.iloc[1:]], ignore_index=True)
    assert _verdicts(mixed, _verdict_head())["fidelity"] == _verdicts(board, _verdict_head())["fidelity"]


def test_adequacy_reads_the_first_datasets_first_repeat_and_its_own_fresh_rows(tmp_path):
    layout = RunLayout(tmp_path)
    for cell, clicks in (("holdout-other", 5), ("holdout-d", 300)):
        layout.cell(cell).root.mkdir(parents=True)
        split = {"train": {"rows": 10, "users": 5, "clicks": 1}, "test": {"rows": 10, "users": 5, "clicks": clicks}}
        layout.cell(cell).meta.write_text(json.dumps({"split": split}))
    results = pd.DataFrame(
        {"dataset": ["other", "d"], "repeat": [0, 0], "generator": ["holdout", "holdout"], "cell": ["holdout-other", "holdout-d"]}
    )
    board = pd.DataFrame(
        {"dataset": ["d", "other"], "generator": ["holdout", "holdout"], "detection_xgboost": [0.5, 0.95], "dcr_share": [0.5, 0.6]}
    )
    got = _adequacy(tmp_path, results, board)
    assert got["problems"] == [] and got["fresh_detection"] == "0.500" and got["parts"][1]["clicks"] == "300"
    no_fresh = _adequacy(tmp_path, results, board.assign(generator="g"))
    assert no_fresh["fresh_detection"] == "–" and no_fresh["fresh_dcr"] == "–" and no_fresh["problems"] == []


def test_the_separability_problem_says_why_in_full(tmp_path):
    bad = _adequacy_run(tmp_path, test_clicks=500, fresh_detection=0.95, dcr=0.7)
    assert bad["problems"] == [
        "fresh real rows are themselves separable from the training rows (detection AUC 0.950, DCR share 0.700): train and "
        "holdout do not look like one population (too few rows or users), so fidelity and privacy scores cannot tell a good "
        "generator from a bad one"
    ]


def test_where_augmentation_helps_keeps_the_boards_order_and_reads_each_model_alone():
    board = _verdict_board()
    rare = board.assign(dataset="rare", augment_verdict=["gain", "", "gain", "", ""])
    lines = _where_it_helps(pd.concat([rare, board], ignore_index=True))
    assert lines == [
        "Where augmentation helps, rare at ratio 0.25: XGBoost: gain y, x; non-inferior none.",
        "Where augmentation helps, d at ratio 0.25: XGBoost: gain y; non-inferior none.",
    ]
    only_logistic = board.assign(augment_verdict="", augment_logistic_verdict=["gain", "", "non-inferior", "", ""])
    assert _where_it_helps(only_logistic) == ["Where augmentation helps, d at ratio 0.25: L1-logistic: gain y; non-inferior x."]
    assert _n(pd.DataFrame({"repeats": [1, 2]})) == "95% interval pooled over 2 repeats"


def test_headline_rows_are_whole_table_metrics_whatever_spells_their_missing_column():
    from clicksynth.report.verdicts import _headline

    rows = _results(
        [
            _row("a", 0, "dcr_share", 0.5, column=None),  # headline, its column stored as null
            _row("a", 0, "tv_complement", 0.9, column="age"),  # one column's value
            _row("b", 0, None, float("nan"), status="failed"),  # a failure row: no metric
            _row("c", 0, "", float("nan"), status="failed"),
        ]
    )
    assert list(_headline(rows)["metric"]) == ["dcr_share"]
    board = leaderboard(rows).set_index("generator")
    assert board.loc["a", "dcr_share"] == 0.5 and board.loc["b", "status"] == "failed"


def test_a_cell_without_a_ratio_keeps_its_row_on_the_leaderboard():
    board = leaderboard(_results([_row("a", 0, "dcr_share", 0.5), _row("b", 0, "dcr_share", 0.6, ratio=float("nan"))]))
    assert sorted(board["generator"]) == ["a", "b"]


def test_each_grid_row_reads_its_own_cells_epochs_and_training_rows():
    gen, converged = next(iter(CONVERGED_EPOCHS.items()))
    rows = []
    for ds, ratio, epochs, train_rows in (
        ("d", 0.25, 3, CONVERGED_ON_ROWS),
        ("d", 0.5, 5, 2 * CONVERGED_ON_ROWS),
        ("e", 0.25, 7, CONVERGED_ON_ROWS),
    ):
        rows.append(_row(gen, 0, "dcr_share", 0.5, dataset=ds, ratio=ratio, params=json.dumps({"epochs": epochs}), train_rows=train_rows))
    rows.append(_row("smote", 0, "dcr_share", 0.5, params=json.dumps({"epochs": 99}), train_rows=1))
    board = leaderboard(_results(rows)).set_index(["dataset", "ratio", "generator"])
    assert (
        board.loc[("d", 0.25, gen), "epochs"] == 3
        and board.loc[("d", 0.5, gen), "epochs"] == 5
        and board.loc[("e", 0.25, gen), "epochs"] == 7
    )
    assert board.loc[("d", 0.25, gen), "converged_epochs"] == converged
    assert board.loc[("d", 0.5, gen), "converged_epochs"] == max(1, math.ceil(converged / 2))
    assert board.loc[("d", 0.25, "smote"), "epochs"] == 99 and pd.isna(board.loc[("d", 0.25, "smote"), "converged_epochs"])


def test_a_failed_cell_without_an_error_message_shows_an_empty_error():
    board = leaderboard(_results([_row("b", 0, "", float("nan"), status="failed", error="")]))
    assert board.iloc[0]["error"] == ""


def test_a_generator_equal_on_one_axis_and_worse_on_the_other_is_dominated():
    board = _board(generator=["a", "b", "c"], detection_xgboost=[0.6, 0.6, 0.7], dcr_share=[0.6, 0.7, 0.6])
    assert frontier_table(board).set_index("generator")["on_frontier"].to_dict() == {"a": True, "b": False, "c": False}


def test_details_without_a_margin_mean_the_default_margin():
    rows = [_row("g", 0, "augment_delta_pr_auc", 0.002, ci_low=-0.004, ci_high=0.008, details=json.dumps({"test_clicks": 207}))]
    assert leaderboard(_results(rows)).iloc[0]["augment_verdict"] == "non-inferior"


def test_the_privacy_sentences_in_full():
    board = _verdict_board()
    board.loc[board.generator == "z", "exact_match_train"] = 0.5
    p = _verdicts(board, _verdict_head())["privacy"]
    assert p[0] == (
        "Fresh real data (half the holdout) has DCR share 0.500, membership-attack AUC 0.500 and privacy loss 0.000: "
        "that is what a generator that learned the population, not the people, looks like."
    )
    assert "z (DCR share 0.400, MIA AUC 0.610, privacy loss 0.300, exact matches 50.0%)" in p[1]


def test_a_huge_table_needs_at_least_one_epoch():
    gen, converged = next(iter(CONVERGED_EPOCHS.items()))
    assert _needed_epochs(gen, pd.DataFrame({"train_rows": [converged * CONVERGED_ON_ROWS * 10.0]})) == 1


def test_leaderboard_orders_ratios_upwards_within_a_dataset_and_numbers_its_rows():
    rows = [_row("g", 0, "tstr_pr_auc", 0.05, ratio=r) for r in (1.0, 0.25, 0.5)]
    board = leaderboard(_results(rows))
    assert list(board["ratio"]) == [0.25, 0.5, 1.0] and list(board.index) == [0, 1, 2] and "index" not in board.columns
