"""Benchmark grids: configuration, cells, and the runner (local or Dask)."""

from __future__ import annotations

from clicksynth.bench.config import BenchConfig, Cell, DatasetSpec, EvalSpec, GeneratorSpec, load_config
from clicksynth.bench.runner import collect, expand, run_grid

__all__ = ["BenchConfig", "Cell", "DatasetSpec", "EvalSpec", "GeneratorSpec", "collect", "expand", "load_config", "run_grid"]
