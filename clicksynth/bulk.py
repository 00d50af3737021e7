"""Large samples with bounded memory: chunk by chunk to one file, or chunk by chunk on Dask workers
into a partitioned Parquet dataset (``DIR/part-00000.parquet``, ...).

Both follow one :meth:`Generator.chunk_plan`: chunk ``i`` draws from a stream spawned from the call's
seed and ``i``, so the rows are the same whichever process computes a chunk, and a dataset written
by any number of workers holds the rows one process would write to a single file.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from clicksynth.exceptions import ConfigError
from clicksynth.generators.base import Generator
from clicksynth.io import TableWriter, write_table

__all__ = ["sample_to_dataset", "sample_to_file"]

Progress = Callable[[int, int], None]  # (chunks done, chunks in all)


def sample_to_file(
    gen: Generator,
    n: int | Mapping[Any, int],
    out: str | Path,
    *,
    chunk_rows: int = 100_000,
    random_state: int | None = None,
    progress: Progress | None = None,
) -> dict[int, int]:
    """Write ``n`` sampled rows to ``out`` (.csv, .csv.gz, .parquet), one chunk in memory at a time.
    Returns the rows written per class."""
    plan = gen.chunk_plan(n, chunk_rows=chunk_rows, random_state=random_state)
    counts: Counter[int] = Counter()
    with TableWriter(out) as writer:
        for i in range(len(plan["chunks"])):
            chunk = gen.sample_chunk(plan, i)
            writer.write(chunk)
            counts.update(chunk[gen.target_name_].value_counts().to_dict())
            if progress:
                progress(i + 1, len(plan["chunks"]))
    return {int(k): int(v) for k, v in sorted(counts.items())}


@functools.lru_cache(maxsize=4)
def _load(model: str, mtime_ns: int) -> Generator:
    return Generator.load(model)


def _write_part(model: str, mtime_ns: int, plan: dict[str, Any], index: int, folder: str) -> dict[int, int]:
    """One chunk, computed and written where this runs (a Dask worker): its class counts."""
    gen = _load(model, mtime_ns)
    chunk = gen.sample_chunk(plan, index)
    write_table(chunk, Path(folder) / f"part-{index:05d}.parquet")
    return {int(k): int(v) for k, v in chunk[gen.target_name_].value_counts().items()}


def sample_to_dataset(
    model: str | Path,
    n: int | Mapping[Any, int],
    out_dir: str | Path,
    *,
    chunk_rows: int = 100_000,
    random_state: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[int, int]:
    """Sample on a Dask cluster (``scheduler`` address, or a local cluster of ``workers`` processes)
    into a partitioned Parquet dataset ``out_dir``: one ``part-NNNNN.parquet`` per chunk. The folder
    appears whole or not at all (parts are written beside it, then renamed). Workers read the model
    file and write the parts themselves, so both paths must be reachable from every worker."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("sampling on Dask needs dask[distributed]: pip install 'clicksynth[dask]'") from exc

    model = Path(model).resolve()
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder; give a new folder for the dataset")
    gen = Generator.load(model)
    plan = gen.chunk_plan(n, chunk_rows=chunk_rows, random_state=random_state)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=workers or min(4, os.cpu_count() or 1), threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=30)
        counts: Counter[int] = Counter()
        with client:
            mtime = model.stat().st_mtime_ns
            futures = [client.submit(_write_part, str(model), mtime, plan, i, str(staging), pure=False) for i in range(len(plan["chunks"]))]
            for done, future in enumerate(as_completed(futures), start=1):
                counts.update(future.result())
                if progress:
                    progress(done, len(futures))
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(staging, ignore_errors=True)
    return {int(k): int(v) for k, v in sorted(counts.items())}
