"""Cells of a grid run on a Dask cluster: a local one started here, or a scheduler's workers.

The runner (``bench/runner.py``) decides which cells to run and records what they return; this
module only carries each cell to a worker, where ``run_cell`` starts its process, and hands the
rows back as cells finish.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from clicksynth.bench.config import Cell
from clicksynth.bench.runner import _failure, run_cell
from clicksynth.exceptions import ConfigError

__all__ = ["run_on_dask"]


def run_on_dask(
    cells: list[Cell], run_dir: Path, timeout: float, *, scheduler: str | None = None, workers: int | None = None
) -> Iterator[tuple[str, pd.DataFrame]]:
    """(cell id, rows) of each cell as it finishes; a worker's error becomes a failure row.

    ``scheduler``: address of a running Dask scheduler (``tcp://host:8786``); without one a local
    cluster of ``workers`` processes (default: half the cores) is started and closed here.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("running on Dask needs dask[distributed]: pip install 'clicksynth[dask]', or use local mode") from exc
    by_id = {c.id: c for c in cells}
    cluster = None
    if scheduler is None:
        n = workers or max(1, (os.cpu_count() or 2) // 2)
        # Each cell's child process uses the cores itself: one thread per worker.
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout=30)
    try:
        futures = {
            client.submit(run_cell, c, str(run_dir.resolve()), timeout, shared_cores=True, key=f"cell-{c.id}", pure=False): c.id
            for c in cells
        }
        for future in as_completed(futures):
            cell_id = futures[future]
            try:
                rows = future.result()
            except Exception as exc:
                rows = _failure(by_id[cell_id], "failed", f"{type(exc).__name__}: {exc}", 0.0)
            yield cell_id, rows
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
