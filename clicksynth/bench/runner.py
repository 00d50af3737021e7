"""Expand a grid into cells and run them: sequentially here, or on a Dask cluster (``bench/distributed.py``).

* Each cell's seed derives from (seed, dataset, generator, ratio, repeat), so
  adding a generator shifts no other cell's numbers.
* Each cell runs in its own Python process (``clicksynth.bench.cell``), killed
  at the cell timeout; a failure or timeout is recorded as a row with its
  status and the grid goes on.
* A finished cell leaves ``cells/<id>/scores.parquet``; a re-run of the same
  configuration into the same folder skips finished cells (resume after a kill).
* ``results.parquet`` is the concatenation of every cell's rows, rewritten
  atomically whenever a cell finishes.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from clicksynth.bench.cell import HOLDOUT
from clicksynth.bench.config import BenchConfig, Cell, GeneratorSpec
from clicksynth.bench.layout import RunLayout
from clicksynth.io import atomic_path, write_table
from clicksynth.seeding import derive_seed

__all__ = ["Cell", "collect", "expand", "run_cell", "run_grid"]

log = logging.getLogger(__name__)

Event = Callable[[str, dict[str, Any]], None]


def expand(config: BenchConfig) -> list[Cell]:
    """All cells of the grid, the holdout reference first in each (dataset, ratio, repeat)."""
    gens = list(config.generators)
    if config.references:
        gens = [GeneratorSpec(HOLDOUT), *gens]
    cells = []
    for ds in config.datasets:
        for repeat in range(config.repeats):
            for ratio in config.ratios:
                for g in gens:
                    seed = derive_seed(config.seed, ds.name, g.name, ratio, repeat)
                    cells.append(Cell(ds, g, ratio, repeat, seed, config.seed, config.digest(), config.fractions, config.evaluation))
    return cells


def _failure(cell: Cell, status: str, error: str, seconds: float) -> pd.DataFrame:
    row = {
        **cell.keys(),
        "subject": "synthetic",
        "metric": "",
        "family": "",
        "column": "",
        "value": float("nan"),
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "higher_is_better": None,
        "ideal": float("nan"),
        "seconds": seconds,
        "error": error,
        "details": "",
        "status": status,
        "fit_s": float("nan"),
        "sample_s": float("nan"),
    }
    return pd.DataFrame([row])


def run_cell(cell: Cell, run_dir: str, timeout: float, on_event: Event | None = None, *, shared_cores: bool = False) -> pd.DataFrame:
    """Run one cell in a child process; return its rows (or one failure row). Never raises.

    ``shared_cores``: other cells may run beside it on the same machine (Dask workers). Its
    OpenMP threads then sleep while they wait instead of spinning (``OMP_WAIT_POLICY=PASSIVE``
    unless set): spinning beside another busy process made XGBoost and torch fits 2-20x slower,
    while alone the spin saves wake-ups (RESULTS, "Busy machines")."""
    paths = RunLayout(run_dir).cell(cell.id)
    if paths.finished:
        return pd.read_parquet(paths.scores)
    paths.root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    error, status = "", "failed"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=paths.root) as f:
        f.write(cell.to_json())
        spec_path = f.name
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if shared_cores:
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # stderr goes to a file: a pipe nobody drains would block a chatty child.
    err_file = open(paths.stderr, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "clicksynth.bench.cell", spec_path, str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=err_file,
        text=True,
        env=env,
        # Its own session: Ctrl-C reaches the runner, which stops the child below, and never the child
        # alone (which would die and be recorded as a failed cell while the run went on).
        start_new_session=True,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    # A watchdog kills the child at the deadline; events are read until it exits.
    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("stage") == "failed":
                error = event.get("error", "")
                log.debug("cell %s failed:\n%s", cell.id, event.get("traceback", ""))
            if on_event is not None:
                on_event(cell.id, event)
        proc.wait()
        err_file.close()
        stderr = paths.stderr.read_text(encoding="utf-8", errors="replace")
        if timed_out.is_set():
            status, error = "timeout", f"exceeded the cell timeout of {timeout:.0f} s"
        elif not error and proc.returncode != 0:
            error = (stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    finally:
        timer.cancel()
        err_file.close()
        Path(spec_path).unlink(missing_ok=True)
        if proc.poll() is None:  # interrupted parent: do not leave the child behind
            proc.kill()
    if paths.finished:
        return pd.read_parquet(paths.scores)
    return _failure(cell, status, error or "unknown failure", time.perf_counter() - t0)


def collect(run_dir: str | Path, cells: Iterable[str] | None = None) -> pd.DataFrame:
    """The finished cells' rows plus recorded failures, as one table (also written to results.parquet).

    ``cells``: the ids of the current grid; cells of an earlier grid in the same folder (another
    config, changed parameters) stay on disk but out of the table, so results never mix grids.
    """
    layout = RunLayout(run_dir)
    keep = set(cells) if cells is not None else None
    frames = [pd.read_parquet(p) for p in layout.finished_scores() if keep is None or p.parent.name in keep]
    if layout.failures.exists():
        fail = pd.read_parquet(layout.failures)
        finished = {f["cell"].iloc[0] for f in frames if len(f)}
        fail = fail[~fail["cell"].isin(finished) & (fail["cell"].isin(keep) if keep is not None else True)]
        if len(fail):
            frames.append(fail)
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(results):
        write_table(results, layout.results)
    return results


def _record_failure(run_dir: Path, rows: pd.DataFrame) -> None:
    path = RunLayout(run_dir).failures
    old = pd.read_parquet(path) if path.exists() else None
    both = pd.concat([old, rows], ignore_index=True) if old is not None else rows
    both = both.drop_duplicates(subset=["cell"], keep="last")
    write_table(both, path)


def run_grid(
    config: BenchConfig,
    run_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    local: bool = False,
    on_event: Event | None = None,
    on_cell: Callable[[Cell, pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Run every unfinished cell of ``config`` and return the results table.

    Parameters
    ----------
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``).
    workers
        Size of the local Dask cluster started when no scheduler is given.
    local
        Run cells one after another in this process's children, without Dask.
    on_event
        Called with (cell id, event) for progress (local mode only).
    on_cell
        Called with each finished cell and its rows.
    """
    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(layout.config) as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2, default=str), encoding="utf-8")
    cells = expand(config)
    todo = [c for c in cells if not layout.cell(c.id).finished]
    log.info("%d cells, %d to run, %d already finished", len(cells), len(todo), len(cells) - len(todo))
    by_id = {c.id: c for c in cells}

    ids = [c.id for c in cells]

    def finish(cell_id: str, rows: pd.DataFrame) -> None:
        if (rows["status"] != "ok").any():
            _record_failure(run_dir, rows)
        collect(run_dir, ids)
        if on_cell is not None:
            on_cell(by_id[cell_id], rows)

    if local:
        for cell in todo:
            finish(cell.id, run_cell(cell, str(run_dir), config.timeout, on_event))
        return collect(run_dir, ids)
    from clicksynth.bench.distributed import run_on_dask

    for cell_id, rows in run_on_dask(todo, run_dir, config.timeout, scheduler=scheduler, workers=workers):
        finish(cell_id, rows)
    return collect(run_dir, ids)
