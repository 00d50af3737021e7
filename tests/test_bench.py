from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from clicksynth import ConfigError
from clicksynth.bench import expand, load_config, run_grid
from clicksynth.bench.config import from_dict

FAST = {"metrics": ["tv_complement", "detection_logistic", "tstr_pr_auc", "dcr_share", "exact_match_train"], "max_rows": 800}


def grid(generators: dict, **extra) -> dict:
    return {"seed": 3, "datasets": [{"name": "digix2020", "rows": 3000}], "generators": generators, "evaluation": FAST, **extra}


def test_config_from_toml(tmp_path):
    path = tmp_path / "bench.toml"
    path.write_text(
        'seed = 1\nratios = [0.25, 0.5]\nrepeats = 2\n[[datasets]]\nname = "digix2020"\nrows = 5000\n'
        "[generators.smote]\nk_neighbors = 3\n[generators.ctgan]\nepochs = 2\ngenerator_dim = [32, 32]\n"
        "[evaluation]\nmax_rows = 1000\n"
    )
    config = load_config(path)
    assert config.ratios == (0.25, 0.5) and config.repeats == 2
    assert config.generators[0].kwargs() == {"k_neighbors": 3}
    assert config.generators[1].kwargs()["generator_dim"] == (32, 32)
    # 1 dataset x 2 repeats x 2 ratios x (holdout + 2 generators)
    assert len(expand(config)) == 12


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"generatorz": {}}, "unknown key 'generatorz'"),
        ({"generators": {"smoot": {}}}, "did you mean 'smote'"),
        ({"generators": {"smote": {"k": 3}}}, "has no parameter 'k'"),
        ({"ratios": [1.5]}, "ratios"),
        ({"evaluation": {"metrics": ["tv"]}}, "unknown metric"),
        ({"datasets": [{"path": "x.csv"}]}, "target"),
        ({"datasets": [{"name": "digix2020", "train_clicks": 1}]}, "train_clicks"),
        ({"datasets": [{"name": "digix2020", "train_clicks": 50}, {"name": "digix2020", "train_clicks": 50}]}, "appears twice"),
        ({"evaluation": {"margin": -0.1}}, "margin"),
    ],
)
def test_config_errors(patch, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({**grid({"smote": {}}), **patch})


def test_cell_spec_round_trips_through_json():
    """A cell crosses the process boundary as JSON: every field, and so its id, survives."""
    from clicksynth.bench.config import Cell

    config = from_dict(grid({"ctgan": {"epochs": 2, "generator_dim": [32, 32]}}, ratios=[0.5], fractions=[0.5, 0.25, 0.25]))
    for cell in expand(config):
        back = Cell.from_json(cell.to_json())
        assert back.id == cell.id and back.keys() == cell.keys()
        assert back.evaluation == config.evaluation and back.fractions == (0.5, 0.25, 0.25)
        assert back.generator.kwargs() == cell.generator.kwargs()
    assert expand(config)[1].generator.kwargs() == {"epochs": 2, "generator_dim": (32, 32)}


def test_run_layout_names_every_path_once(tmp_path):
    from clicksynth.bench.layout import RunLayout

    layout = RunLayout(tmp_path)
    assert layout.cell("smote-ab12").scores == tmp_path / "cells" / "smote-ab12" / "scores.parquet"
    assert layout.split("digix2020", 2).holdout == tmp_path / "data" / "digix2020-r2" / "holdout.parquet"
    assert not layout.cell("smote-ab12").finished and layout.finished_scores() == []
    layout.cell("smote-ab12").root.mkdir(parents=True)
    layout.cell("smote-ab12").scores.write_bytes(b"")
    assert layout.cell("smote-ab12").finished and layout.finished_scores() == [layout.cell("smote-ab12").scores]


def test_cell_seeds_do_not_shift_when_a_generator_is_added():
    a = {c.generator.name: c.seed for c in expand(from_dict(grid({"smote": {}})))}
    b = {c.generator.name: c.seed for c in expand(from_dict(grid({"bootstrap": {}, "smote": {}})))}
    assert a["smote"] == b["smote"] and a["holdout"] == b["holdout"]
    assert len(set(b.values())) == 3


def test_local_grid_records_failures_and_goes_on(tmp_path):
    config = from_dict(grid({"bootstrap": {}, "ctgan": {"epochs": 0}, "smote": {"k_neighbors": 3}}))
    results = run_grid(config, tmp_path, local=True)
    status = results.drop_duplicates("cell").set_index("generator")["status"].to_dict()
    assert status == {"holdout": "ok", "bootstrap": "ok", "ctgan": "failed", "smote": "ok"}
    err = results[results.generator == "ctgan"]["error"].iloc[0]
    assert "epochs must be at least 1" in err
    ok = results[(results.status == "ok") & (results.column == "")]
    assert set(ok.metric) == set(FAST["metrics"])
    assert (tmp_path / "results.parquet").exists() and (tmp_path / "config.json").exists()
    for cell in results[results.status == "ok"].cell.unique():
        assert (tmp_path / "cells" / cell / "synthetic.parquet").exists()
    # Bootstrap copies training rows: the memorisation reference is flagged.
    boot = ok[(ok.generator == "bootstrap") & (ok.metric == "exact_match_train")]["value"].iloc[0]
    assert boot == 1.0


def test_timeout_is_recorded(tmp_path):
    config = from_dict(grid({"ctgan": {"epochs": 500}}, timeout=8, references=False))
    results = run_grid(config, tmp_path, local=True)
    row = results.iloc[0]
    assert row.status == "timeout" and "timeout" in row.error


def test_killed_run_resumes(tmp_path):
    cfg = tmp_path / "bench.toml"
    cfg.write_text(
        'seed = 3\nreferences = false\n[[datasets]]\nname = "digix2020"\nrows = 3000\n'
        "[generators.bootstrap]\n[generators.smote]\n[generators.random_oversample]\n"
        '[evaluation]\nmax_rows = 800\nmetrics = ["tv_complement", "dcr_share"]\n'
    )
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "clicksynth.cli", "benchmark", "--config", str(cfg), "--out", str(out), "--local", "--no-report"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while time.time() < deadline and not list(out.glob("cells/*/scores.parquet")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("cells/*/scores.parquet")}
    assert 1 <= len(finished) < 3
    ran = []
    results = run_grid(load_config(cfg), out, local=True, on_cell=lambda cell, rows: ran.append(cell.id))
    assert results.cell.nunique() == 3 and (results.status == "ok").all()
    assert not set(ran) & set(finished)  # finished cells were skipped, not recomputed
    for cell, mtime in finished.items():
        assert (out / "cells" / cell / "scores.parquet").stat().st_mtime_ns == mtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_grid_on_a_dask_scheduler_with_two_worker_processes(tmp_path):
    pytest.importorskip("distributed")
    port = _free_port()
    bindir = Path(sys.executable).parent
    dask = str(bindir / "dask")
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    try:
        time.sleep(3)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            assert len(client.scheduler_info()["workers"]) == 2
        config = from_dict(grid({"bootstrap": {}, "smote": {"k_neighbors": 3}}))
        results = run_grid(config, tmp_path, scheduler=f"tcp://127.0.0.1:{port}")
        assert results.cell.nunique() == 3 and (results.status == "ok").all()
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)


def test_grid_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    config = from_dict(grid({"bootstrap": {}}, references=False))
    results = run_grid(config, tmp_path, workers=1)
    assert (results.status == "ok").all()
    again = run_grid(config, tmp_path, workers=1)
    pd.testing.assert_frame_equal(results, again)


def test_main_job_budgets_are_epochs_not_seconds():
    """A wall-clock budget makes a seed's rows depend on the machine: the main job's
    trainable generators stop after a number of epochs only."""
    from clicksynth.generators import GENERATORS, generator_class
    from clicksynth.pipeline import default_config

    config = default_config(generators=["all"])
    assert {g.name for g in config.generators} == set(GENERATORS) and config.generators[0].name == "autoregressive"
    for g in config.generators:
        assert "max_time" not in g.kwargs(), g.name
        assert generator_class(g.name)().get_params().get("max_time") is None, g.name
    assert len(default_config().generators) < len(GENERATORS)  # the default run: a chosen subset


def test_rare_click_regime_keeps_n_training_clicks_and_the_same_holdout_and_test(tmp_path):
    """A regime is the same split with fewer training clicks: its generators see that many clicks,
    every training non-click, and are scored on the very holdout and test rows of the full data."""
    datasets = [{"name": "digix2020", "rows": 3000}, {"name": "digix2020", "rows": 3000, "train_clicks": 20}]
    config = from_dict(grid({"random_oversample": {}}, datasets=datasets, references=False))
    results = run_grid(config, tmp_path, local=True)
    assert set(results["dataset"]) == {"digix2020", "digix2020-20clicks"} and (results["status"] == "ok").all()
    from clicksynth.bench.layout import RunLayout

    layout = RunLayout(tmp_path)
    full, few = layout.split("digix2020", 0), layout.split("digix2020-20clicks", 0)
    a, b = pd.read_parquet(full.train), pd.read_parquet(few.train)
    assert int(b["label"].sum()) == 20 and int((b["label"] == 0).sum()) == int((a["label"] == 0).sum())
    assert set(map(tuple, b.astype(str).to_numpy())) <= set(map(tuple, a.astype(str).to_numpy()))
    for part in ("holdout", "test"):
        assert pd.read_parquet(full.part(part)).equals(pd.read_parquet(few.part(part)))


def test_fewer_clicks_than_the_regime_asks_is_a_clear_error():
    from clicksynth import DataError
    from clicksynth.bench.cell import fewer_clicks
    from clicksynth.schema import Schema

    frame = pd.DataFrame({"x": range(10), "label": [1, 1] + [0] * 8})
    schema = Schema.infer(frame, target="label")
    assert fewer_clicks(frame, schema, 1, seed=0)["label"].sum() == 1
    with pytest.raises(DataError, match="only 2 clicks"):
        fewer_clicks(frame, schema, 5, seed=0)


def test_thorough_profile_trains_every_generator_to_its_converged_epochs():
    from clicksynth.bench.config import CONVERGED_EPOCHS
    from clicksynth.generators import GENERATORS
    from clicksynth.pipeline import default_config

    config = default_config(profile="thorough")
    assert {g.name for g in config.generators} == set(GENERATORS)
    for g in config.generators:
        assert g.kwargs().get("epochs") == CONVERGED_EPOCHS.get(g.name, g.kwargs().get("epochs"))
    assert {g.name for g in config.generators if "epochs" in g.kwargs()} >= set(CONVERGED_EPOCHS)
    # Named generators keep their names; the profile sets their epochs.
    only = default_config(profile="thorough", generators=["tvae"])
    assert [(g.name, g.kwargs()["epochs"]) for g in only.generators] == [("tvae", CONVERGED_EPOCHS["tvae"])]
    with pytest.raises(ConfigError, match=r"unknown profile 'thorogh'.*thorough"):
        default_config(profile="thorogh")


def test_run_parameters_override_the_budgets_and_name_their_own_cells():
    """`run --param autoregressive.epochs=3`: the override wins over the budget (and the profile),
    the other generators keep theirs, and the cell is another cell (its name hashes the parameters)."""
    from clicksynth.bench.runner import expand
    from clicksynth.pipeline import BUDGETS, default_config

    base = default_config(generators=["autoregressive", "smotenc"])
    config = default_config(generators=["autoregressive", "smotenc"], params={"autoregressive": {"epochs": 3, "width": 32}})
    kwargs = {g.name: g.kwargs() for g in config.generators}
    assert kwargs == {"autoregressive": {**BUDGETS["autoregressive"], "epochs": 3, "width": 32}, "smotenc": BUDGETS["smotenc"]}
    thorough = default_config(generators=["autoregressive"], params={"autoregressive": {"epochs": 3}}, profile="thorough")
    assert thorough.generators[0].kwargs()["epochs"] == 3
    ids = {c.generator.name: c.id for c in expand(config)}
    old = {c.generator.name: c.id for c in expand(base)}
    assert ids["autoregressive"] != old["autoregressive"] and ids["smotenc"] == old["smotenc"] and ids["holdout"] == old["holdout"]
    with pytest.raises(ConfigError, match=r"parameters for 'ctgan', which this run does not include"):
        default_config(generators=["smotenc"], params={"ctgan": {"epochs": 1}})
    with pytest.raises(ConfigError, match=r"autoregressive has no parameter 'epoch'.*epochs"):
        default_config(generators=["autoregressive"], params={"autoregressive": {"epoch": 1}})


def test_rerunning_a_changed_grid_into_a_folder_shows_exactly_the_new_grid(tmp_path):
    """Cells of an earlier grid stay on disk (a rerun of that grid resumes them) but out of the
    results: a dropped generator leaves the table, a changed parameter's old cell is not averaged
    in, and an earlier failure does not outlive its cell."""
    from clicksynth.report.verdicts import leaderboard

    first = from_dict(grid({"bootstrap": {}, "smote": {"k_neighbors": 3}, "random_oversample": {}}, references=False))
    run_grid(first, tmp_path, local=True)
    bad = from_dict(grid({"smote": {"k_neighbors": 4}}, references=False, timeout=0.01))  # fails: out of time
    assert (run_grid(bad, tmp_path, local=True)["status"] != "ok").all()
    second = from_dict(grid({"bootstrap": {}, "smote": {"k_neighbors": 5}}, references=False))
    results = run_grid(second, tmp_path, local=True)
    assert set(results["cell"]) == {c.id for c in expand(second)} and (results["status"] == "ok").all()
    assert set(leaderboard(results)["generator"]) == {"bootstrap", "smote"}
    stored = pd.read_parquet(tmp_path / "results.parquet")
    assert set(stored["cell"]) == set(results["cell"])
    assert len(list(tmp_path.glob("cells/*/scores.parquet"))) == 4  # the first grid's cells are kept on disk


def test_the_default_profile_leaves_the_costly_logistic_differences_to_thorough():
    from clicksynth.metrics import DEFAULT_METRICS
    from clicksynth.pipeline import THOROUGH_ONLY_METRICS, default_config

    quick = default_config().evaluation.metrics
    assert quick is not None and not set(THOROUGH_ONLY_METRICS) & set(quick)
    assert set(quick) | set(THOROUGH_ONLY_METRICS) == set(DEFAULT_METRICS)
    assert default_config(profile="thorough").evaluation.metrics is None  # every default metric


@pytest.mark.parametrize(("shared", "preset", "policy"), [(True, None, "PASSIVE"), (False, None, None), (True, "ACTIVE", "ACTIVE")])
def test_cells_sharing_the_cores_make_openmp_threads_sleep_while_they_wait(tmp_path, monkeypatch, shared, preset, policy):
    """On Dask (cells side by side) a cell's OpenMP threads sleep while they wait: spinning, two
    cells made each other's XGBoost and torch fits 2-20x slower. Alone they keep the spin; a
    policy the user set wins."""
    from clicksynth.bench import runner

    seen = {}

    class Child:  # stands in for the cell's process: records its environment, prints nothing
        returncode = 1

        def __init__(self, args, env, **kwargs):
            self.stdout: list[str] = []
            seen.update(env)

        def wait(self):
            return 1

        def poll(self):
            return 1

        def kill(self):
            pass

    monkeypatch.setattr(runner.subprocess, "Popen", Child)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    if preset:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)
    cell = expand(from_dict(grid({"bootstrap": {}})))[0]
    rows = runner.run_cell(cell, str(tmp_path), timeout=30, shared_cores=shared)
    assert (rows["status"] == "failed").all() and seen["PYTHONUNBUFFERED"] == "1"
    assert seen.get("OMP_WAIT_POLICY") == policy


# -- resuming, without cell processes: a stand-in run_cell writes what a finished cell leaves ------------


def _scores(cell_id: str, status: str = "ok", error: str = "") -> pd.DataFrame:
    return pd.DataFrame(
        {"cell": [cell_id], "generator": [cell_id.rsplit("-", 1)[0]], "metric": ["m"], "value": [1.0], "status": [status], "error": [error]}
    )


class _FakeCells:
    """run_cell's stand-in: cells named in ``fail`` fail (a failure row, no scores file); the others finish."""

    def __init__(self, fail=()):
        self.fail, self.ran = set(fail), []

    def __call__(self, cell, run_dir, timeout, on_event=None, **kw):
        from clicksynth.bench.layout import RunLayout

        self.ran.append(cell.generator.name)
        self.timeout, self.on_event = timeout, on_event
        if cell.generator.name in self.fail:
            return _scores(cell.id, "failed", f"{cell.generator.name} broke")
        paths = RunLayout(run_dir).cell(cell.id)
        paths.root.mkdir(parents=True, exist_ok=True)
        rows = _scores(cell.id)
        rows.to_parquet(paths.scores)
        return rows


def test_a_rerun_skips_finished_cells_and_shows_only_this_grids_cells(tmp_path, monkeypatch):
    import json

    from clicksynth.bench import runner
    from clicksynth.bench.layout import RunLayout

    config = from_dict(grid({"bootstrap": {}, "smote": {}}))
    cells = expand(config)
    assert [c.generator.name for c in cells] == ["holdout", "bootstrap", "smote"]  # the reference first
    layout = RunLayout(tmp_path)
    for cell_id in (cells[1].id, "ctgan-000000000000"):  # one of this grid's cells, one of an earlier grid's
        layout.cell(cell_id).root.mkdir(parents=True)
        _scores(cell_id).to_parquet(layout.cell(cell_id).scores)
    half = layout.cell(cells[2].id)  # a cell killed half-way: its rows and meta written, no scores yet
    half.root.mkdir(parents=True)
    half.synthetic.write_bytes(b"truncated")
    half.meta.write_text("{")
    fake = _FakeCells()
    monkeypatch.setattr(runner, "run_cell", fake)
    seen = []
    results = run_grid(config, tmp_path, local=True, on_cell=lambda cell, rows: seen.append((cell.id, rows["cell"].iloc[0])))
    assert fake.ran == ["holdout", "smote"]  # the finished cell is not run again; the half-written one is
    assert seen == [(cells[0].id, cells[0].id), (cells[2].id, cells[2].id)]
    assert sorted(results["cell"]) == sorted(c.id for c in cells)  # the earlier grid's cell stays out
    assert (
        pd.read_parquet(layout.results)
        .sort_values("cell")
        .reset_index(drop=True)
        .equals(results.sort_values("cell").reset_index(drop=True))
    )
    assert json.loads(layout.config.read_text()) == json.loads(json.dumps(config.to_dict(), default=str))
    assert not layout.failures.exists()
    fake.ran.clear()
    assert len(run_grid(config, tmp_path, local=True)) == 3 and fake.ran == []  # everything finished: nothing runs


def test_a_failed_cell_is_recorded_once_and_a_later_success_replaces_it(tmp_path, monkeypatch):
    from clicksynth.bench import runner
    from clicksynth.bench.layout import RunLayout

    config = from_dict(grid({"bootstrap": {}, "smote": {}}, references=False))
    layout = RunLayout(tmp_path)
    monkeypatch.setattr(runner, "run_cell", _FakeCells(fail={"smote"}))
    first = run_grid(config, tmp_path, local=True)
    assert first.set_index("generator")["status"].to_dict() == {"bootstrap": "ok", "smote": "failed"}
    run_grid(config, tmp_path, local=True)  # fails again: still one failure row for the cell
    failures = pd.read_parquet(layout.failures)
    assert len(failures) == 1 and failures["error"].iloc[0] == "smote broke"
    monkeypatch.setattr(runner, "run_cell", _FakeCells())
    again = run_grid(config, tmp_path, local=True)
    assert (again["status"] == "ok").all() and len(again) == 2  # the finished cell supersedes its old failure


def test_record_failure_keeps_the_latest_row_of_each_cell(tmp_path):
    from clicksynth.bench.layout import RunLayout
    from clicksynth.bench.runner import _record_failure

    _record_failure(tmp_path, pd.concat([_scores("a-1", "failed", "first"), _scores("b-1", "timeout", "slow")]))
    _record_failure(tmp_path, _scores("a-1", "failed", "second"))
    failures = pd.read_parquet(RunLayout(tmp_path).failures)
    assert len(failures) == 2 and failures.set_index("cell")["error"].to_dict() == {"a-1": "second", "b-1": "slow"}


def test_collect_of_nothing_writes_no_results(tmp_path):
    from clicksynth.bench.layout import RunLayout
    from clicksynth.bench.runner import collect

    assert collect(tmp_path).empty and not RunLayout(tmp_path).results.exists()
    layout = RunLayout(tmp_path)
    layout.cell("a-1").root.mkdir(parents=True)
    _scores("a-1").to_parquet(layout.cell("a-1").scores)
    assert list(collect(tmp_path)["cell"]) == ["a-1"] and layout.results.exists()  # no grid named: every cell
    assert collect(tmp_path, []).empty


def test_run_cell_returns_a_finished_cells_scores_without_running_it(tmp_path):
    from clicksynth.bench.layout import RunLayout
    from clicksynth.bench.runner import run_cell

    cell = expand(from_dict(grid({"bootstrap": {}}, references=False)))[0]
    paths = RunLayout(tmp_path).cell(cell.id)
    paths.root.mkdir(parents=True)
    _scores(cell.id).to_parquet(paths.scores)
    rows = run_cell(cell, str(tmp_path), timeout=0.001)  # a child process would have been killed at once
    assert rows.equals(_scores(cell.id)) and not paths.stderr.exists()


def test_a_failure_row_has_the_scorecards_columns_and_says_what_failed():
    import math

    from clicksynth.bench.runner import _failure

    cell = expand(from_dict(grid({"bootstrap": {}}, references=False)))[0]
    row = _failure(cell, "timeout", "too slow", 2.5).iloc[0].to_dict()
    identity = cell.keys()  # the cell's grid coordinates (a dict)
    assert {k: row[k] for k in identity} == identity
    fixed = {k: row[k] for k in ("subject", "metric", "family", "column", "error", "details", "status", "seconds", "higher_is_better")}
    assert fixed == {
        "subject": "synthetic",
        "metric": "",
        "family": "",
        "column": "",
        "error": "too slow",
        "details": "",
        "status": "timeout",
        "seconds": 2.5,
        "higher_is_better": None,
    }
    assert all(math.isnan(row[k]) for k in ("value", "ci_low", "ci_high", "ideal", "fit_s", "sample_s"))


class _Child:
    """A cell process's stand-in: prints ``lines``, writes ``stderr`` and exits with ``code``; with
    ``hang`` it prints nothing until killed (the watchdog's case). ``finish`` writes the cell's scores."""

    def __init__(self, lines=(), stderr="", code=0, hang=False, finish=None):
        self.lines, self.stderr, self.code, self.hang, self.finish = list(lines), stderr, code, hang, finish
        self.killed = threading.Event()

    def __call__(self, args, stderr, **kwargs):
        if isinstance(self.stderr, bytes):
            stderr.buffer.write(self.stderr)
        else:
            stderr.write(self.stderr)
        stderr.flush()
        self.args, self.kwargs, self.returncode = args, kwargs, None
        self.spec = Path(args[3]).read_text()  # the cell's spec, as the child reads it
        if self.finish is not None:
            self.finish()
        return self

    @property
    def stdout(self):
        if self.hang:
            self.killed.wait(10)
        yield from self.lines

    def wait(self):
        self.returncode = -9 if self.killed.is_set() else self.code
        return self.returncode

    def poll(self):
        return self.returncode

    def kill(self):
        self.killed.set()


def _run_with(monkeypatch, tmp_path, child, timeout=30.0):
    from clicksynth.bench import runner

    monkeypatch.setattr(runner.subprocess, "Popen", child)
    cell = expand(from_dict(grid({"bootstrap": {}}, references=False)))[0]
    events = []
    rows = runner.run_cell(cell, str(tmp_path), timeout=timeout, on_event=lambda cid, e: events.append((cid, e)))
    return cell, rows, events


def test_run_cell_passes_on_the_childs_events_and_records_the_error_it_reports(tmp_path, monkeypatch):
    from clicksynth.bench.layout import RunLayout

    lines = ['{"stage": "fit"}\n', "a stray print\n", '{"stage": "failed", "error": "boom", "traceback": "..."}\n']
    cell, rows, events = _run_with(monkeypatch, tmp_path, _Child(lines, stderr="warning\n", code=1))
    assert [e for _, e in events] == [{"stage": "fit"}, {"stage": "failed", "error": "boom", "traceback": "..."}]
    assert all(cid == cell.id for cid, _ in events)
    assert rows.iloc[0]["status"] == "failed" and rows.iloc[0]["error"] == "boom" and rows.iloc[0]["cell"] == cell.id
    paths = RunLayout(tmp_path).cell(cell.id)
    assert paths.stderr.read_text() == "warning\n"
    assert sorted(p.name for p in paths.root.iterdir()) == ["stderr.log"]  # the cell's spec file is removed


def test_run_cell_names_a_silent_childs_last_stderr_line_or_its_exit_status(tmp_path, monkeypatch):
    _, rows, _ = _run_with(monkeypatch, tmp_path, _Child(stderr="Traceback\nMemoryError: out of memory\n", code=137))
    assert rows.iloc[0]["status"] == "failed" and rows.iloc[0]["error"] == "MemoryError: out of memory"
    _, rows, _ = _run_with(monkeypatch, tmp_path / "b", _Child(code=3))
    assert rows.iloc[0]["error"] == "exit status 3"


def test_run_cell_kills_a_child_at_the_timeout(tmp_path, monkeypatch):
    child = _Child(hang=True)
    _, rows, _ = _run_with(monkeypatch, tmp_path, child, timeout=0.3)
    assert child.killed.is_set()
    assert rows.iloc[0]["status"] == "timeout" and rows.iloc[0]["error"] == "exceeded the cell timeout of 0 s"
    assert rows.iloc[0]["seconds"] >= 0.3


def test_run_cell_returns_the_scores_its_child_wrote_and_runs_the_cell_module(tmp_path, monkeypatch):
    from clicksynth.bench.layout import RunLayout

    cell = expand(from_dict(grid({"bootstrap": {}}, references=False)))[0]
    paths = RunLayout(tmp_path).cell(cell.id)
    child = _Child(finish=lambda: _scores(cell.id).to_parquet(paths.scores))
    _, rows, _ = _run_with(monkeypatch, tmp_path, child)
    assert rows.equals(_scores(cell.id))
    assert child.args[:3] == [sys.executable, "-m", "clicksynth.bench.cell"] and child.args[4] == str(tmp_path)


def test_run_cell_hands_the_child_its_spec_in_the_cells_folder_unbuffered_in_its_own_session(tmp_path, monkeypatch):
    from clicksynth.bench.config import Cell
    from clicksynth.bench.layout import RunLayout

    cell = expand(from_dict(grid({"bootstrap": {}}, references=False)))[0]
    paths = RunLayout(tmp_path).cell(cell.id)
    paths.root.mkdir(parents=True)  # a failed attempt's folder is reused
    (paths.root / "stderr.log").write_text("old")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    child = _Child(finish=lambda: _scores(cell.id).to_parquet(paths.scores))
    _run_with(monkeypatch, tmp_path, child)
    spec = Path(child.args[3])
    assert spec.parent == paths.root and spec.suffix == ".json" and not spec.exists()  # removed after the child
    assert Cell.from_json(child.spec).id == cell.id
    assert child.kwargs["env"]["PYTHONUNBUFFERED"] == "1" and child.kwargs["start_new_session"] is True
    assert child.kwargs["stdout"] == subprocess.PIPE and child.kwargs["text"] is True
    assert not child.killed.is_set()  # a child that exited is not killed again
    assert "OMP_WAIT_POLICY" not in child.kwargs["env"]  # alone on the machine by default: OpenMP keeps its spin


def test_run_cell_failure_messages_without_an_error_in_the_event(tmp_path, monkeypatch, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="clicksynth.bench.runner")
    lines = ['{"stage": "failed", "traceback": "Traceback: here"}\n']
    cell, rows, _ = _run_with(monkeypatch, tmp_path, _Child(lines, stderr="first\nlast words\n", code=1))
    assert rows.iloc[0]["error"] == "last words"  # the event named no error: stderr's last line
    assert caplog.records[-1].getMessage() == f"cell {cell.id} failed:\nTraceback: here"
    caplog.clear()
    _run_with(monkeypatch, tmp_path / "a", _Child(['{"stage": "failed", "error": "x"}\n'], code=1))
    assert caplog.records[-1].getMessage().endswith(" failed:\n")  # no traceback sent: nothing after the colon
    _, rows, _ = _run_with(monkeypatch, tmp_path / "b", _Child(code=1))
    assert rows.iloc[0]["error"] == "exit status 1"
    _, rows, _ = _run_with(monkeypatch, tmp_path / "c", _Child(code=0))  # exited cleanly, wrote no scores
    assert rows.iloc[0]["status"] == "failed" and rows.iloc[0]["error"] == "unknown failure"
    assert 0 <= rows.iloc[0]["seconds"] < 60


def test_run_cell_reads_an_undecodable_stderr(tmp_path, monkeypatch):
    _, rows, _ = _run_with(monkeypatch, tmp_path, _Child(stderr=b"fatal: \xff\xfe\n", code=2))
    assert rows.iloc[0]["error"] == "fatal: \ufffd\ufffd"


def test_run_cell_tolerates_a_child_that_removed_its_spec(tmp_path, monkeypatch):
    class Tidy(_Child):
        def __call__(self, args, stderr, **kwargs):
            out = super().__call__(args, stderr, **kwargs)
            Path(args[3]).unlink()
            return out

    _, rows, _ = _run_with(monkeypatch, tmp_path, Tidy(code=3))
    assert rows.iloc[0]["error"] == "exit status 3"


def test_cell_seeds_derive_from_the_grids_seed_and_coordinates():
    from clicksynth.seeding import derive_seed

    config = from_dict(grid({"smote": {}}, ratios=[0.25, 0.5], repeats=2))
    cells = expand(config)
    assert len(cells) == 8 and len({c.seed for c in cells}) == 8
    for c in cells:
        assert c.seed == derive_seed(config.seed, c.dataset.name, c.generator.name, c.ratio, c.repeat)
        assert c.digest == config.digest() and c.base_seed == config.seed


def test_collect_keeps_this_grids_failures_only_and_numbers_its_rows(tmp_path):
    from clicksynth.bench.layout import RunLayout
    from clicksynth.bench.runner import _record_failure, collect

    layout = RunLayout(tmp_path)
    for cell_id in ("a-1", "b-1"):
        layout.cell(cell_id).root.mkdir(parents=True)
        _scores(cell_id).to_parquet(layout.cell(cell_id).scores)
    _record_failure(tmp_path, pd.concat([_scores("c-1", "failed", "mine"), _scores("old-1", "failed", "an earlier grid's")]))
    got = collect(tmp_path, ["a-1", "b-1", "c-1"])
    assert sorted(got["cell"]) == ["a-1", "b-1", "c-1"] and list(got.index) == [0, 1, 2]
    assert sorted(collect(tmp_path)["cell"]) == ["a-1", "b-1", "c-1", "old-1"]  # no grid named: everything


def test_split_paths_name_any_part():
    from clicksynth.bench.layout import RunLayout

    assert RunLayout("/r").split("d", 0).part("train_full") == Path("/r/data/d-r0/train_full.parquet")


def test_a_grid_logs_what_it_resumes_writes_its_config_and_hands_each_cell_its_timeout(tmp_path, monkeypatch, caplog):
    import json
    import logging

    from clicksynth.bench import runner
    from clicksynth.bench.layout import RunLayout

    caplog.set_level(logging.INFO, logger="clicksynth.bench.runner")
    config = from_dict(grid({"bootstrap": {}, "smote": {}}, timeout=123))
    out = tmp_path / "nested" / "run"  # its parents do not exist yet
    layout = RunLayout(out)
    first = expand(config)[0]
    layout.cell(first.id).root.mkdir(parents=True)
    _scores(first.id).to_parquet(layout.cell(first.id).scores)
    layout.cell("old-1").root.mkdir(parents=True)
    _scores("old-1").to_parquet(layout.cell("old-1").scores)
    fake = _FakeCells()
    monkeypatch.setattr(runner, "run_cell", fake)
    events = lambda cell_id, event: None
    midway = []
    run_grid(
        config, out, local=True, on_event=events, on_cell=lambda cell, rows: midway.append(sorted(pd.read_parquet(layout.results)["cell"]))
    )
    assert [r.getMessage() for r in caplog.records if r.name == "clicksynth.bench.runner"] == ["3 cells, 2 to run, 1 already finished"]
    assert fake.timeout == 123 and fake.on_event is events
    assert all("old-1" not in cells for cells in midway)  # the results file holds this grid's cells at every step
    assert layout.config.read_text() == json.dumps(config.to_dict(), indent=2, default=str)


def test_a_distributed_grid_hands_over_the_unfinished_cells_and_records_what_comes_back(tmp_path, monkeypatch):
    from clicksynth.bench import distributed
    from clicksynth.bench.layout import RunLayout

    config = from_dict(grid({"bootstrap": {}, "smote": {}}, timeout=77))
    cells = expand(config)
    layout = RunLayout(tmp_path)
    for cell_id in (cells[0].id, "old-1"):
        layout.cell(cell_id).root.mkdir(parents=True)
        _scores(cell_id).to_parquet(layout.cell(cell_id).scores)
    seen = {}

    def fake_dask(todo, run_dir, timeout, *, scheduler=None, workers=None):
        seen.update(todo=[c.id for c in todo], run_dir=run_dir, timeout=timeout, scheduler=scheduler, workers=workers)
        for c in todo:
            rows = _scores(c.id, "failed", "worker lost") if c.generator.name == "smote" else _scores(c.id)
            if c.generator.name != "smote":
                layout.cell(c.id).root.mkdir(parents=True)
                rows.to_parquet(layout.cell(c.id).scores)
            yield c.id, rows

    monkeypatch.setattr(distributed, "run_on_dask", fake_dask)
    got = []
    results = run_grid(config, tmp_path, scheduler="tcp://10.0.0.1:8786", workers=3, on_cell=lambda cell, rows: got.append(cell.id))
    assert seen == {"todo": [c.id for c in cells[1:]], "run_dir": tmp_path, "timeout": 77, "scheduler": "tcp://10.0.0.1:8786", "workers": 3}
    assert got == [c.id for c in cells[1:]]
    assert sorted(results["cell"]) == sorted(c.id for c in cells)
    assert pd.read_parquet(layout.failures)["error"].tolist() == ["worker lost"]


def test_a_grid_creates_its_folder_with_missing_parents(tmp_path, monkeypatch):
    from clicksynth.bench import runner

    monkeypatch.setattr(runner, "run_cell", _FakeCells())
    out = tmp_path / "a" / "b" / "run"
    assert len(run_grid(from_dict(grid({"smote": {}}, references=False)), out, local=True)) == 1 and (out / "config.json").exists()
