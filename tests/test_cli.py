from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from clicksynth.cli import app
from tests.conftest import shared_path

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result


def test_datasets_lists_embedded():
    r = run("datasets")
    assert r.exit_code == 0, r.output
    assert "digix2020" in r.output and "3.46%" in r.output and "license not stated" in r.output


def test_schema_on_shared_2022_tables():
    for name in ("train_data_ads_head2999.csv", "train_data_feeds_head2999.csv"):
        r = run("schema", str(shared_path("digix2022", name)), "--target", "label", "--json")
        assert r.exit_code == 0, r.output
        data = json.loads(r.output)
        kinds = {c["name"]: c["kind"] for c in data["columns"]}
        assert kinds["label"] == "target"
        assert "list" in kinds.values()


def test_prepare_2022_with_feeds(tmp_path):
    out = tmp_path / "prep.parquet"
    r = run(
        "prepare",
        str(shared_path("digix2022", "train_data_ads_head2999.csv")),
        "--target",
        "label",
        "--feeds",
        str(shared_path("digix2022", "train_data_feeds_head2999.csv")),
        "--out",
        str(out),
        "--min-frequency",
        "2",
    )
    assert r.exit_code == 0, r.output
    frame = pl.read_parquet(out)
    assert frame.height == 2999 and "feed_ctr" in frame.columns and "pt_d_hour" in frame.columns


def test_errors_are_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,label\n1,0\n2,1\n3,4,5\n")
    r = run("schema", str(bad), "--target", "label")
    assert r.exit_code == 2
    assert "row 3 has 3 fields" in r.output
    r = run("schema", "digix2020", "--target", "lable")
    assert r.exit_code == 2 and "did you mean 'label'" in r.output


def test_interrupted_prepare_leaves_no_output(tmp_path, monkeypatch):
    out = tmp_path / "prep.parquet"

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl.DataFrame, "write_parquet", interrupted)
    r = run("prepare", "digix2022", "--out", str(out))
    assert r.exit_code != 0
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_split_then_evaluate(tmp_path):
    r = run("split", "digix2022", "--target", "label", "--out", str(tmp_path / "sp"), "--fractions", "0.5,0.25,0.25")
    assert r.exit_code == 0, r.output
    sp = tmp_path / "sp"
    r = run(
        "evaluate",
        "--train",
        str(sp / "train.parquet"),
        "--synthetic",
        str(sp / "holdout.parquet"),
        "--holdout",
        str(sp / "holdout.parquet"),
        "--test",
        str(sp / "test.parquet"),
        "--target",
        "label",
        "--out",
        str(tmp_path / "ev"),
        "--metric",
        "tv_complement",
        "--metric",
        "exact_match_holdout",
        "--metric",
        "tstr_roc_auc",
        "--max-rows",
        "500",
    )
    assert r.exit_code == 0, r.output
    scores = pd.read_csv(tmp_path / "ev" / "scores.csv")
    assert set(scores.subject) == {"synthetic", "holdout", "bootstrap"}
    row = scores[(scores.metric == "exact_match_holdout") & (scores.subject == "synthetic") & scores.column.isna()]
    assert row.value.iloc[0] == 1.0  # the "synthetic" rows are the holdout itself
    assert (tmp_path / "ev" / "summary.txt").read_text().count("\n") >= 3
    assert json.loads((tmp_path / "ev" / "scores.json").read_text())


@pytest.mark.slow
def test_schema_and_prepare_on_digix2020_full(tmp_path):
    src = shared_path("digix2020", "digix2020_ctr_sample.csv.gz")
    r = run("schema", str(src), "--target", "label", "--json")
    assert r.exit_code == 0, r.output
    kinds = {c["name"]: c["kind"] for c in json.loads(r.output)["columns"]}
    assert kinds["uid"] == "id" and kinds["adv_id"] == "categorical" and kinds["communication_onlinerate"] == "list"
    out = tmp_path / "p.parquet"
    r = run("prepare", str(src), "--target", "label", "--out", str(out), "--min-frequency", "5")
    assert r.exit_code == 0, r.output
    assert pl.scan_parquet(out).select(pl.len()).collect().item() == 669_274


def test_fit_sample_augment_round_trip(tmp_path):
    model = tmp_path / "m.csm"
    r = run("fit", "--data", "digix2022", "--generator", "smotenc", "--param", "k_neighbors=3", "--out", str(model))
    assert r.exit_code == 0, r.output
    out = tmp_path / "s.csv"
    r = run("sample", str(model), "--rows-per-class", "1=25,0=5", "--out", str(out), "--seed", "1")
    assert r.exit_code == 0, r.output
    frame = pd.read_csv(out)
    assert (frame.label == 1).sum() == 25 and (frame.label == 0).sum() == 5
    assert "user_id" not in frame.columns and "log_id" not in frame.columns  # ids are not modelled
    aug = tmp_path / "aug.parquet"
    r = run("augment", "--data", "digix2022", "--generator", "bootstrap", "--ratio", "0.1", "--out", str(aug))
    assert r.exit_code == 0, r.output
    a = pd.read_parquet(aug)
    n_maj = (a.label == 0).sum()
    assert (a.label == 1).sum() == round(0.1 * n_maj)
    assert a.synthetic.sum() == len(a) - 2999
    assert a.loc[a.synthetic == 1, "user_id"].isna().all() and a.loc[a.synthetic == 0, "user_id"].notna().all()


def test_generator_cli_errors(tmp_path):
    r = run("fit", "--data", "digix2022", "--generator", "smotex", "--out", str(tmp_path / "m"))
    assert r.exit_code == 2 and "did you mean" in r.output
    r = run("augment", "--data", "digix2022", "--generator", "smote", "--ratio", "2", "--out", str(tmp_path / "a.csv"))
    assert r.exit_code == 2 and "ratio" in r.output
    assert not (tmp_path / "a.csv").exists()
    r = run("sample", str(tmp_path / "missing.csm"), "--rows", "3", "--out", str(tmp_path / "x.csv"))
    assert r.exit_code == 2 and "no such model file" in r.output


@pytest.mark.parametrize(
    ("generator", "params"),
    [
        ("autoregressive", ["epochs=1", "width=16", "layers=1", "heads=2"]),
        ("rowgpt", ["epochs=1", "width=16", "layers=1", "heads=2"]),
        ("arf", ["n_trees=5", "max_iters=2"]),
        ("forestflow", ["n_t=2", "duplicate_K=1", "n_estimators=3", "max_rows_per_class=300"]),
        ("sequential", ["min_samples_leaf=5"]),
        ("diffusion", ["epochs=1", "layers=[16]", "embed=4", "steps=3"]),
        ("tabddpm", ["epochs=1", "layers=[16]", "embed=4", "steps=3", "timesteps=5"]),
    ],
)
def test_conditional_generators_sample_exact_class_counts_through_the_cli(generator, params, tmp_path):
    model = tmp_path / "m.csm"
    r = run("fit", "--data", "digix2022", "--generator", generator, *[a for p in params for a in ("--param", p)], "--out", str(model))
    assert r.exit_code == 0, r.output
    out = tmp_path / "s.parquet"
    r = run("sample", str(model), "--rows-per-class", "1=40,0=7", "--out", str(out), "--seed", "3")
    assert r.exit_code == 0, r.output
    frame = pd.read_parquet(out)
    assert (frame.label == 1).sum() == 40 and (frame.label == 0).sum() == 7


def test_heartbeat_writes_stages_ends_and_periodic_lines():
    """Piped to a file, a long run still says what it is doing: a line per stage change (not per
    metric), one per finished task, and one every `every` seconds naming what still runs."""
    import time

    from clicksynth._heartbeat import Heartbeat

    lines: list[str] = []
    with Heartbeat(2, lines.append, every=0.05) as beat:
        beat.stage("ctgan", "fitting", "17974 rows")
        beat.stage("ctgan", "fitting", "17974 rows")  # same stage: no new line
        time.sleep(0.25)
        beat.stage("ctgan", "evaluating", "dcr_share")
        beat.stage("ctgan", "evaluating", "mia_auc")  # a new metric only: shown in the periodic lines
        time.sleep(0.12)
        beat.done("ctgan", "ok")
    text = "\n".join(lines)
    assert lines[0].endswith("2 cells to run")
    assert text.count("ctgan: fitting") == 1 and text.count("ctgan: evaluating") == 1
    assert "0/2 cells done; running: ctgan fitting 17974 rows for" in text
    assert "running: ctgan evaluating mia_auc for" in text
    assert lines[-1].endswith("ctgan: ok (1/2 cells)") or "ctgan: ok (1/2 cells)" in text


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("a,label\n", [], "has a header but no data rows"),
        ("a,label\n1,0\n2,0\n3,0\n", [], "single class"),
        (None, [], "is a folder"),
        ("a,label\n" + "".join(f"{i},{int(i % 3 == 0)}\n" for i in range(60)), ["--ratio", "0.1"], "beyond the requested ratio"),
    ],
)
def test_run_checks_its_inputs_before_any_work(tmp_path, content, extra, message):
    """Bad data or a ratio the data already exceeds: one clear line, exit 2, and no run folder
    (before, every cell failed and the report renderer raised KeyError: 'value')."""
    data = tmp_path / "data.csv"
    if content is None:
        data.mkdir()
    else:
        data.write_text(content)
    runs = tmp_path / "runs"
    r = CliRunner().invoke(app, ["run", "--data", str(data), "--target", "label", "--generators", "bootstrap", "--out", str(runs), *extra])
    assert r.exit_code == 2 and message in r.output, r.output
    assert "Traceback" not in r.output and not list(runs.glob("*/results.parquet"))


@pytest.mark.parametrize(
    ("param", "message"),
    [("epochs=3", "generator.key=value"), ("smotenc.k_neighbours=3", "smotenc has no parameter"), ("ctgan.epochs=1", "does not include")],
)
def test_run_generator_parameters_are_checked_before_any_work(tmp_path, param, message):
    runs = tmp_path / "runs"
    r = CliRunner().invoke(app, ["run", "--generators", "smotenc", "--param", param, "--out", str(runs)])
    assert r.exit_code == 2 and message in r.output, r.output
    assert not runs.exists() or not list(runs.iterdir())


def test_run_timeout_stops_each_cell(tmp_path):
    r = CliRunner().invoke(app, ["run", "--generators", "bootstrap", "--rows", "2000", "--timeout", "1", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "every generator cell failed" in r.output and "bootstrap: timeout" in r.output, r.output


def test_run_into_an_unwritable_folder_fails_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = CliRunner().invoke(app, ["run", "--rows", "2000", "--generators", "bootstrap", "--out", str(blocker / "runs")])
    assert r.exit_code == 2 and "cannot write the run folder" in r.output


def test_a_study_whose_cells_all_fail_raises_and_writes_no_report(tmp_path):
    from clicksynth.exceptions import StudyError
    from clicksynth.pipeline import default_config, run_study

    config = default_config(rows=2000, generators=["bootstrap", "smote"], timeout=0.01)
    with pytest.raises(StudyError, match=r"every generator cell failed.*bootstrap: timeout"):
        run_study(config, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "report.html").exists() and not (tmp_path / "latest").exists()


def test_interrupted_run_publishes_nothing_and_resumes(tmp_path):
    """Ctrl-C stops `run` (the cell in progress with it), publishes no report and no `latest`, and
    says how to continue; `run --resume DIR` then keeps the finished cells and completes the study."""
    import os
    import signal
    import subprocess
    import sys
    import time

    runs = tmp_path / "runs"
    args = ["run", "--generators", "bootstrap,random_oversample", "--rows", "2000", "--max-rows", "300", "--out", str(runs)]
    log = tmp_path / "log.txt"
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "clicksynth.cli", *args], stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.time() + 240
        while time.time() < deadline and not list(runs.glob("*/cells/*/scores.parquet")):
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    text = log.read_text()
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    assert "interrupted:" in text and f"--resume {run_dir}" in text
    # Piped to a file, the run printed plain progress lines (a live bar would print nothing).
    assert "3 cells to run" in text and "holdout: evaluating" in text
    assert not (run_dir / "report.html").exists() and not (runs / "latest").exists()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in run_dir.glob("cells/*/scores.parquet")}
    assert 1 <= len(finished) < 3
    r = CliRunner().invoke(app, [*args, "--resume", str(run_dir)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert (run_dir / "report.html").exists() and (runs / "latest").resolve() == run_dir.resolve()
    for cell, mtime in finished.items():
        assert (run_dir / "cells" / cell / "scores.parquet").stat().st_mtime_ns == mtime  # kept, not recomputed
    assert pd.read_parquet(run_dir / "results.parquet")["cell"].nunique() == 3


@pytest.mark.parametrize("bad", ["out.xlsx", "blocker/out.csv", "adir"])
def test_a_bad_output_fails_before_any_work(tmp_path, bad):
    """An unknown extension, a path under a file, or a folder where a file is wanted: a clear
    error at once (before, a traceback after fitting or sampling finished)."""
    (tmp_path / "blocker").write_text("")
    (tmp_path / "adir").mkdir()
    model = tmp_path / "m.csm"
    assert run("fit", "--data", "digix2022", "--generator", "bootstrap", "--out", str(model)).exit_code == 0
    out = str(tmp_path / bad)
    commands = [
        ("prepare", "digix2022", "--out", out),
        ("split", "digix2022", "--target", "label", "--out", str(tmp_path / "blocker" / "parts")),
        ("sample", str(model), "--rows", "5", "--out", out),
        ("augment", "--data", "digix2022", "--generator", "bootstrap", "--ratio", "0.1", "--out", out),
    ]
    if bad != "out.xlsx":  # a model file may have any name
        commands.append(("fit", "--data", "digix2022", "--generator", "bootstrap", "--out", out))
    for args in commands:
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "cannot write" in r.output or "unknown file type" in r.output, (args, r.output)
        assert "Traceback" not in r.output


@pytest.mark.parametrize("generator", ["bootstrap", "smotenc"])
def test_keep_ids_gives_every_sampled_row_a_fresh_id(tmp_path, generator):
    """Ids are not modelled: with --keep-ids each output row gets its own id past the training
    maximum (before, each class restarted the numbering and bootstrap copied real ids)."""
    from tests.conftest import make_ads

    data = tmp_path / "ads.csv"
    make_ads(400).to_csv(data, index=False)
    model, out = tmp_path / "m.csm", tmp_path / "s.csv"
    overrides = tmp_path / "kinds.toml"
    overrides.write_text('[columns]\nuid = "id"\n')
    args = ["--data", str(data), "--target", "label", "--generator", generator, "--overrides", str(overrides), "--out", str(model)]
    assert run("fit", *args, "--keep-ids").exit_code == 0
    assert run("sample", str(model), "--rows", "300", "--out", str(out)).exit_code == 0
    rows = pd.read_csv(out)
    assert rows["uid"].is_unique and rows["uid"].min() == make_ads(400)["uid"].max() + 1
    assert set(rows["label"]) == {0, 1}


def test_split_writes_all_parts_or_none(tmp_path, monkeypatch):
    """A failure while writing the third part leaves no part behind (before: two of three)."""
    import clicksynth.io

    real_write = clicksynth.io.write_table

    def failing(frame, path):
        if Path(path).name == "test.parquet":
            raise OSError("disk full")
        return real_write(frame, path)

    monkeypatch.setattr(clicksynth.io, "write_table", failing)
    r = run("split", "digix2022", "--target", "label", "--out", str(tmp_path / "parts"))
    assert r.exit_code != 0 and "disk full" in r.output, r.output
    assert not (tmp_path / "parts").exists() or not any((tmp_path / "parts").iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    monkeypatch.setattr(clicksynth.io, "write_table", real_write)
    assert run("split", "digix2022", "--target", "label", "--out", str(tmp_path / "parts")).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["holdout.parquet", "test.parquet", "train.parquet"]


def test_run_repeats_on_other_splits_on_a_local_dask_cluster(tmp_path):
    """`run --repeats 2 --workers 1`: every cell twice, each repeat on its own split, on Dask; the
    leaderboard pools the two."""
    pytest.importorskip("distributed")
    runs = tmp_path / "runs"
    args = ["run", "--generators", "bootstrap", "--rows", "2000", "--max-rows", "300", "--repeats", "2", "--workers", "1"]
    r = CliRunner().invoke(app, [*args, "--out", str(runs)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "4 cells (1 generators + the holdout reference, 2 repeats)" in r.output and "1 local workers" in r.output
    run_dir = runs / "latest"
    results = pd.read_parquet(run_dir / "results.parquet")
    assert results.groupby("generator")["repeat"].unique().map(sorted).map(list).to_dict() == {"bootstrap": [0, 1], "holdout": [0, 1]}
    assert (results["status"] == "ok").all()
    splits = sorted(p.name for p in (run_dir / "data").iterdir())
    assert splits == ["digix2020-r0", "digix2020-r1"]
    tests = [pd.read_parquet(run_dir / "data" / s / "test.parquet") for s in splits]
    assert not tests[0].equals(tests[1])  # another split, not the same rows again
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert (board["repeats"] == 2).all()
