"""Large samples: chunk by chunk with bounded memory, and on Dask workers into a partitioned dataset
holding the same rows one process writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from clicksynth import ConfigError
from clicksynth.bulk import sample_to_dataset, sample_to_file
from clicksynth.generators import get_generator
from tests.conftest import make_ads


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    gen = get_generator("smotenc", random_state=0).fit(make_ads(600), "label")
    return gen, gen.save(tmp_path_factory.mktemp("m") / "smotenc.csm")


def test_chunks_hold_exact_class_counts_fresh_ids_and_are_reproducible(model):
    gen, _ = model
    plan = gen.chunk_plan({0: 1000, 1: 37}, chunk_rows=300, random_state=5)
    assert len(plan["chunks"]) == 4 and all(sum(c.values()) <= 300 for c in plan["chunks"])
    assert sum(c[1] for c in plan["chunks"]) == 37 and sum(c[0] for c in plan["chunks"]) == 1000
    chunks = list(gen.sample_chunks({0: 1000, 1: 37}, chunk_rows=300, random_state=5))
    whole = pd.concat(chunks, ignore_index=True)
    assert whole["label"].value_counts().to_dict() == {0: 1000, 1: 37}
    again = pd.concat(gen.sample_chunks({0: 1000, 1: 37}, chunk_rows=300, random_state=5), ignore_index=True)
    pd.testing.assert_frame_equal(whole, again)
    # Chunk i alone (another process, another order) gives the same rows.
    pd.testing.assert_frame_equal(gen.sample_chunk(plan, 2), chunks[2])
    # Without a seed successive calls differ, and their sequence is reproducible from the model.
    first, second = (pd.concat(gen.sample_chunks(200, chunk_rows=64), ignore_index=True) for _ in range(2))
    assert not first.equals(second)
    with pytest.raises(ConfigError, match="chunk_rows"):
        gen.chunk_plan(10, chunk_rows=0)


def test_chunk_plan_sizes_ids_and_streams(model):
    """The edges of the plan: one chunk when the rows fit (also at the default size), a
    one-row chunk size, whole numbers only; ids running on across chunks; every chunk its own
    stream; unseeded calls reproducible from the model file."""
    gen, path = model
    assert len(gen.chunk_plan(300, chunk_rows=300)["chunks"]) == 1
    assert [len(gen.chunk_plan(n)["chunks"]) for n in (100_000, 100_001)] == [1, 2]
    with pytest.MonkeyPatch.context() as mp:  # sample_chunks plans with the same default: two chunks, not drawn here
        mp.setattr(gen, "sample_chunk", lambda plan, i: (i, sum(plan["chunks"][i].values())))
        assert list(gen.sample_chunks(100_001)) == [(0, 50_001), (1, 50_000)]
    assert gen.chunk_plan(3, chunk_rows=1)["chunks"] == [{0: 1, 1: 0}, {0: 1, 1: 0}, {0: 1, 1: 0}]
    for bad in (True, 2.5, 0):
        with pytest.raises(ConfigError, match="chunk_rows"):
            gen.chunk_plan(10, chunk_rows=bad)
    chunks = list(gen.sample_chunks({0: 200, 1: 100}, chunk_rows=150, random_state=1))  # two chunks of equal counts
    whole = pd.concat(chunks, ignore_index=True)
    start = gen.id_starts_["uid"]
    assert whole["uid"].tolist() == list(range(start, start + 300))  # consecutive, none repeated across chunks
    features = [c for c in whole.columns if c != "uid"]
    assert not chunks[0][features].reset_index(drop=True).equals(chunks[1][features].reset_index(drop=True))  # own streams
    a, b = (type(gen).load(path) for _ in range(2))
    pd.testing.assert_frame_equal(
        pd.concat(a.sample_chunks(150, chunk_rows=64), ignore_index=True), pd.concat(b.sample_chunks(150, chunk_rows=64), ignore_index=True)
    )


def test_sample_to_file_streams_csv_and_parquet(model, tmp_path):
    gen, _ = model
    expected = pd.concat(gen.sample_chunks(2500, chunk_rows=700, random_state=1), ignore_index=True)
    for name in ("s.csv", "s.csv.gz", "s.parquet"):
        seen: list[tuple[int, int]] = []
        counts = sample_to_file(
            gen, 2500, tmp_path / name, chunk_rows=700, random_state=1, progress=lambda d, t, seen=seen: seen.append((d, t))
        )
        got = pd.read_parquet(tmp_path / name) if name.endswith("parquet") else pd.read_csv(tmp_path / name)
        assert len(got) == 2500 and counts == expected["label"].value_counts().sort_index().to_dict()
        assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
        pd.testing.assert_series_equal(got["price"], expected["price"], check_dtype=False)
    assert not list(tmp_path.glob(".*part"))  # no temporary file left behind


def test_an_error_mid_stream_leaves_no_file(model, tmp_path, monkeypatch):
    gen, _ = model
    calls = {"n": 0}
    original = type(gen).sample_chunk

    def failing(self, plan, index):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker died")
        return original(self, plan, index)

    monkeypatch.setattr(type(gen), "sample_chunk", failing)
    with pytest.raises(RuntimeError):
        sample_to_file(gen, 1000, tmp_path / "s.parquet", chunk_rows=300)
    assert list(tmp_path.iterdir()) == []


_PEAK = """
import json, sys
from clicksynth.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    # VmHWM: this process's own peak resident memory (getrusage's maxrss would carry the parent's
    # peak over fork and exec).
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    print(json.dumps(int(status.split()[0])))
"""


def _peak_kb(*args: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True, check=True, timeout=600)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc (Linux)")
def test_memory_is_bounded_by_the_chunk_not_the_total(tmp_path):
    """Twenty times the rows, the same peak memory (before: every row was held at once, and the peak
    grew with the total: about 350 MB more for 1M rows of this table)."""
    model = tmp_path / "b.csm"
    subprocess.run(
        [sys.executable, "-m", "clicksynth.cli", "fit", "--data", "digix2020", "--generator", "bootstrap", "--out", str(model)], check=True
    )
    small = _peak_kb("sample", str(model), "--rows", "40000", "--chunk-rows", "20000", "--out", str(tmp_path / "a.csv"))
    large = _peak_kb("sample", str(model), "--rows", "800000", "--chunk-rows", "20000", "--out", str(tmp_path / "b.csv"))
    held = _peak_kb("sample", str(model), "--rows", "800000", "--chunk-rows", "800000", "--out", str(tmp_path / "c.csv"))
    assert large < small + 40_000, (small, large)  # within 40 MB
    assert held > large + 100_000, (held, large)  # the check can see a total held in memory
    assert len((tmp_path / "b.csv").read_bytes().splitlines()) == 800_001


def test_dask_workers_write_the_rows_one_process_writes(model, tmp_path):
    """Two worker processes, a partitioned Parquet dataset: its parts, in order, are the
    single-process sample (chunk i is drawn from its own stream wherever it runs)."""
    gen, path = model
    counts = sample_to_dataset(path, 3000, tmp_path / "ds", chunk_rows=700, random_state=9, workers=2)
    parts = sorted((tmp_path / "ds").glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(5)]
    got = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    single = pd.concat(gen.sample_chunks(3000, chunk_rows=700, random_state=9), ignore_index=True)
    pd.testing.assert_frame_equal(got, single, check_dtype=False)
    assert counts == single["label"].value_counts().sort_index().to_dict()
    assert pd.read_parquet(tmp_path / "ds").shape[0] == 3000  # readable as one dataset
    with pytest.raises(ConfigError, match="not an empty folder"):
        sample_to_dataset(path, 10, tmp_path / "ds", workers=1)


def test_cli_samples_to_a_dataset_folder_and_checks_it_first(model, tmp_path):
    from typer.testing import CliRunner

    from clicksynth.cli import app

    _, path = model
    (tmp_path / "taken").write_text("x")
    r = CliRunner().invoke(app, ["sample", str(path), "--rows", "500", "--workers", "1", "--out", str(tmp_path / "taken")])
    assert r.exit_code == 2 and "it is a file" in r.output
    r = CliRunner().invoke(
        app, ["sample", str(path), "--rows", "500", "--chunk-rows", "200", "--workers", "1", "--out", str(tmp_path / "ds")]
    )
    assert r.exit_code == 0, r.output
    assert "wrote 500 rows" in r.output and "3/3 chunks" in r.output
    assert len(list((tmp_path / "ds").glob("part-*.parquet"))) == 3
