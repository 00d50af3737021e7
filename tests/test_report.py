from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from clicksynth.bench.layout import RunLayout
from clicksynth.cli import app
from clicksynth.metrics._stats import verdict
from clicksynth.report.verdicts import DISTANCE, LEADERBOARD, frontier_table, leaderboard

# The report tests share one study (a module fixture): keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    r = CliRunner().invoke(
        app,
        ["run", "--generators", "bootstrap,smotenc,gaussian_copula", "--rows", "4000", "--out", str(root), "--max-rows", "1000"],
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 0, r.output
    return root / "latest"


def test_run_writes_everything(run_dir):
    assert run_dir.is_symlink()
    for name in ("report.html", "leaderboard.csv", "results.parquet", "config.json", "embedding.parquet"):
        assert (run_dir / name).exists(), name
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert set(board.generator) == {"holdout", "bootstrap", "smotenc", "gaussian_copula"}
    assert "accuracy" not in " ".join(board.columns)
    # Every cell stores the table it was scored on; the holdout reference stores its real half.
    stored = {p.parent.name.rsplit("-", 1)[0] for p in (run_dir / "cells").glob("*/synthetic.parquet")}
    assert stored == {"holdout", "bootstrap", "smotenc", "gaussian_copula"}


def test_every_cell_of_a_split_shares_one_real_rows_reference(run_dir):
    """The verdicts quote one real-rows model: every generator cell trained it with the same seed,
    on the same rows, so its scores agree exactly (the holdout reference validates on its other half)."""
    results = pd.read_parquet(run_dir / "results.parquet")
    trtr = results[(results["metric"].str.startswith("trtr_")) & (results["column"] == "") & (results["generator"] != "holdout")]
    assert trtr["cell"].nunique() == 3
    assert (trtr.groupby("metric")["value"].nunique() == 1).all()


def _rendered_with_test_clicks(run_dir, tmp_path, clicks: int, results: pd.DataFrame | None = None) -> str:
    """The run re-rendered in a copy whose cells say the test rows hold ``clicks`` clicks."""
    import json

    from clicksynth.report.render import render

    copy = tmp_path / "run"
    shutil.copytree(run_dir.resolve(), copy)
    for meta in copy.glob("cells/*/meta.json"):
        m = json.loads(meta.read_text())
        m["split"]["test"]["clicks"] = clicks
        meta.write_text(json.dumps(m))
    render(copy, results)
    return (copy / "report.html").read_text()


def test_too_few_test_clicks_means_no_ranking(run_dir):
    html = (run_dir / "report.html").read_text()
    results = pd.read_parquet(run_dir / "results.parquet")
    test_clicks = json.loads(results[results["metric"] == "augment_delta_pr_auc"]["details"].iloc[0])["test_clicks"]
    assert test_clicks < 100  # the fixture's small study: the panel must say it cannot rank
    assert "No ranking or verdict is possible on this data" in html and f"the test rows hold {test_clicks} clicks" in html
    assert "Hardest to tell from real" not in html and "On the fidelity-privacy frontier" not in html
    # The panel's counts are the split's.
    train = pd.read_parquet(next((run_dir / "data").glob("*/train.parquet")))
    assert f"<td>train</td><td>{len(train):,}</td><td>{train['uid'].nunique():,}</td><td>{int(train['label'].sum()):,}</td>" in html


def test_separable_fresh_rows_mean_no_ranking(run_dir, tmp_path):
    results = pd.read_parquet(run_dir / "results.parquet")
    fresh = (results["generator"] == "holdout") & (results["metric"] == "detection_xgboost") & (results["column"] == "")
    html = _rendered_with_test_clicks(run_dir, tmp_path, 500, results.assign(value=results["value"].where(~fresh, 0.97)))
    assert "No ranking or verdict is possible" in html and "separable from the training rows (detection AUC 0.970" in html
    assert "test rows hold" not in html


def test_report_numbers_come_from_the_results(run_dir, tmp_path):
    html = _rendered_with_test_clicks(run_dir, tmp_path, 500)  # enough test clicks: the report ranks
    assert "No ranking or verdict is possible" not in html
    board = leaderboard(pd.read_parquet(run_dir / "results.parquet"))
    trtr = board["trtr_pr_auc"].dropna().iloc[0]
    assert f"reaches PR-AUC {trtr:.3f}" in html
    smo = board[board.generator == "smotenc"].iloc[0]
    assert f"{smo.tstr_pr_auc:.3f} [{smo.tstr_pr_auc_ci_low:.3f}, {smo.tstr_pr_auc_ci_high:.3f}]" in html
    # Augmentation is judged by the paired difference on the same test rows, with its verdict.
    d = (smo.augment_delta_pr_auc, smo.augment_delta_pr_auc_ci_low, smo.augment_delta_pr_auc_ci_high)
    assert f"{d[0]:+.4f} [{d[1]:+.4f}, {d[2]:+.4f}] {smo.augment_verdict}" in html
    assert smo.augment_verdict == verdict(d[1], d[2], 0.005)
    gens = board[~board.generator.isin(["holdout", "bootstrap", "identity"])]
    gains = int((gens["augment_verdict"] == "gain").sum())
    assert f"{gains} gain, " in html and "Verdicts at a margin of 0.005 PR-AUC" in html
    for _, label in (*LEADERBOARD, *DISTANCE):
        assert label in html
    # The frontier: its figure comes first, and the verdict names exactly the undominated generators.
    assert html.index('data-figure="frontier"') < html.index('data-figure="detection_xgboost"')
    front = frontier_table(board)
    named = html.split("On the fidelity-privacy frontier")[1].split("</li>")[0]
    for r in front[front["kind"] == "generator"].itertuples():
        assert (f"{r.generator} (detection AUC" in named) == r.on_frontier
    assert html.count('data-figure="') >= 10
    assert 'src="http' not in html and "<link" not in html  # self-contained


def test_paired_differences_pool_over_repeats_and_distances_are_to_fresh_data(run_dir):
    results = pd.read_parquet(run_dir / "results.parquet")
    one = leaderboard(results).set_index("generator")
    two = leaderboard(pd.concat([results, results.assign(repeat=1)])).set_index("generator")  # a second, identical repeat
    for g in ("smotenc", "gaussian_copula"):
        a, b = one.loc[g], two.loc[g]
        assert b["repeats"] == 2 and b["augment_delta_pr_auc"] == pytest.approx(a["augment_delta_pr_auc"])
        width_one = a["augment_delta_pr_auc_ci_high"] - a["augment_delta_pr_auc_ci_low"]
        width_two = b["augment_delta_pr_auc_ci_high"] - b["augment_delta_pr_auc_ci_low"]
        assert width_two == pytest.approx(width_one / 2**0.5)
        assert b["augment_verdict"] == verdict(b["augment_delta_pr_auc_ci_low"], b["augment_delta_pr_auc_ci_high"], 0.005)
        assert b["tstr_verdict"] in ("gain", "non-inferior", "inconclusive", "loss")
        assert a["detection_vs_fresh"] == pytest.approx(a["detection_xgboost"] - one.loc["holdout", "detection_xgboost"])
        assert a["dcr_vs_fresh"] == pytest.approx(a["dcr_share"] - 0.5)
    assert one.loc["holdout", "detection_vs_fresh"] == 0.0


def test_cells_stopped_by_a_wall_clock_budget_are_marked_not_reproducible(run_dir, tmp_path):
    from clicksynth.report.render import render

    results = pd.read_parquet(run_dir / "results.parquet")
    assert "stopped_by_time" in results and not results["stopped_by_time"].fillna(False).any()  # every cell ran its epochs
    assert leaderboard(results)["reproducible"].all()
    (tmp_path / "config.json").write_text("{}")
    timed = results.assign(stopped_by_time=results["generator"] == "smotenc")
    render(tmp_path, timed)
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert board.set_index("generator")["reproducible"].to_dict() == {
        "holdout": True,
        "bootstrap": True,
        "smotenc": False,
        "gaussian_copula": True,
    }
    html = (tmp_path / "report.html").read_text()
    assert "not reproducible" in html and "<b>smotenc</b>" in html.split("Stopped at a wall-clock budget")[1][:400]


def test_generators_given_fewer_epochs_than_their_curve_needs_are_marked_under_trained(run_dir, tmp_path):
    """Under-trained means fewer training rows seen than the convergence curve needed on the main
    job's split: on a table four times as large a quarter of the epochs is enough."""
    from clicksynth.bench.config import CONVERGED_EPOCHS, CONVERGED_ON_ROWS
    from clicksynth.report.render import render

    results = pd.read_parquet(run_dir / "results.parquet")
    assert not leaderboard(results)["epochs"].notna().any()  # no trainable generator in the fixture's run
    assert results["train_rows"].gt(0).all()  # every cell says how many rows it trained on
    is_smo = results["generator"] == "smotenc"
    full = CONVERGED_EPOCHS["ctgan"]

    def as_ctgan(epochs: int, rows: int) -> pd.DataFrame:
        params = results["params"].where(~is_smo, f'{{"epochs": {epochs}}}')
        return results.assign(generator=results["generator"].where(~is_smo, "ctgan"), params=params, train_rows=rows)

    (tmp_path / "config.json").write_text("{}")
    render(tmp_path, as_ctgan(full - 1, CONVERGED_ON_ROWS))
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("generator")
    assert board.loc["ctgan", "epochs"] == full - 1 and board.loc["ctgan", "converged_epochs"] == full
    html = (tmp_path / "report.html").read_text()
    assert f"<b>ctgan</b> ({full - 1} of {full} epochs)" in html and "--profile thorough" in html
    render(tmp_path, as_ctgan(full, CONVERGED_ON_ROWS))
    assert "Under-trained here" not in (tmp_path / "report.html").read_text()
    # Four times the rows: a quarter of the epochs sees as many rows; one fewer does not.
    render(tmp_path, as_ctgan(full // 4 - 1, 4 * CONVERGED_ON_ROWS))
    assert f"<b>ctgan</b> ({full // 4 - 1} of {full // 4} epochs)" in (tmp_path / "report.html").read_text()
    render(tmp_path, as_ctgan(full // 4, 4 * CONVERGED_ON_ROWS))
    assert "Under-trained here" not in (tmp_path / "report.html").read_text()


def test_cells_scored_before_results_carried_training_rows_take_them_from_their_meta(run_dir):
    from clicksynth.report.render import _with_train_rows

    results = pd.read_parquet(run_dir / "results.parquet")
    old = _with_train_rows(RunLayout(run_dir), results.drop(columns=["train_rows"]))
    assert old["train_rows"].tolist() == results["train_rows"].tolist()


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def test_report_renders_in_headless_chromium(run_dir):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    report = (run_dir / "report.html").resolve()
    res = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={run_dir.resolve().parent / 'chrome-profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", res.stdout)
    assert body, res.stdout[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    assert attrs["data-errors"] == "0"
    assert int(attrs["data-figures-loaded"]) == int(attrs["data-expected-figures"]) >= 10


def test_same_seed_gives_the_same_scores_and_leaderboard(tmp_path):
    """Two runs of a small study with one seed agree exactly on every score, interval
    and leaderboard cell (neural generators train for epochs, not to a clock)."""
    from clicksynth.bench.compare import run_differences, run_scores
    from clicksynth.pipeline import default_config, run_study

    gens = {
        "identity": {},
        "smotenc": {},
        "ctgan": {"epochs": 1, "generator_dim": [16, 16], "discriminator_dim": [16, 16], "batch_size": 100},
    }
    config = default_config(rows=1500, max_rows=500, seed=5, generators=gens)
    a = run_study(config, run_dir=tmp_path / "a")
    b = run_study(config, run_dir=tmp_path / "b")
    assert run_differences(a, b) == []
    assert len(run_scores(a)) > 100
    # The comparison itself sees a changed score.
    results = pd.read_parquet(b / "results.parquet")
    results.loc[results["metric"] == "dcr_share", "value"] += 1e-12
    results.to_parquet(b / "results.parquet")
    assert any("dcr_share" in d for d in run_differences(a, b))


def test_frontier_labels_points_drawn_on_top_of_each_other_once():
    """Generators within 5% of the axes' spans of each other (a chain of them) share one label,
    their names in detection order; points apart keep their own."""
    from clicksynth.report.plots import _group_label, _near_groups

    points = pd.DataFrame(
        {
            "generator": ["smote", "far", "gmm_smote", "adasyn", "smotenc"],
            "detection": [0.92, 0.50, 0.91, 0.935, 0.85],
            "dcr_share": [0.93, 0.40, 0.925, 0.93, 0.64],
        }
    )
    groups = _near_groups(points, (0.5, 1.0))  # 0.02 of 0.5 apart in detection: near; 0.07: not
    assert sorted(map(tuple, groups)) == [(1,), (2, 0, 3), (4,)]
    assert _group_label(["a", "b", "c", "d"], per_line=3) == "a, b, c\nd"
