"""The run folder, named once: every path a run reads or writes.

```
<run>/
  config.json            the resolved grid (BenchConfig.to_dict)
  results.parquet        every finished cell's scorecard rows, plus failure rows
  failures.parquet       the latest failure row of each failed or timed-out cell
  embedding.parquet      t-SNE coordinates for the report
  leaderboard.csv        one row per (dataset, ratio, generator)
  report.html            the self-contained report
  data/<dataset>-r<repeat>/{train,holdout,test}.parquet     the split every cell of a repeat shares
  cells/<cell id>/
    synthetic.parquet    the rows the scores were computed on
    meta.json            status, seconds per stage, loss history, class balance
    scores.parquet       the scorecard, written last: its presence marks the cell finished
    stderr.log           the cell process's standard error
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CellPaths", "RunLayout", "SplitPaths"]


@dataclass(frozen=True)
class CellPaths:
    """The files of one cell."""

    root: Path

    @property
    def synthetic(self) -> Path:
        return self.root / "synthetic.parquet"

    @property
    def meta(self) -> Path:
        return self.root / "meta.json"

    @property
    def scores(self) -> Path:
        return self.root / "scores.parquet"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.log"

    @property
    def finished(self) -> bool:
        return self.scores.exists()


@dataclass(frozen=True)
class SplitPaths:
    """The train / holdout / test tables of one dataset and repeat."""

    root: Path

    @property
    def train(self) -> Path:
        return self.root / "train.parquet"

    @property
    def holdout(self) -> Path:
        return self.root / "holdout.parquet"

    @property
    def test(self) -> Path:
        return self.root / "test.parquet"

    def part(self, name: str) -> Path:
        return self.root / f"{name}.parquet"


@dataclass(frozen=True)
class RunLayout:
    """Paths of the run in ``root``."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def results(self) -> Path:
        return self.root / "results.parquet"

    @property
    def failures(self) -> Path:
        return self.root / "failures.parquet"

    @property
    def embedding(self) -> Path:
        return self.root / "embedding.parquet"

    @property
    def leaderboard(self) -> Path:
        return self.root / "leaderboard.csv"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def cells(self) -> Path:
        return self.root / "cells"

    def cell(self, cell_id: str) -> CellPaths:
        return CellPaths(self.cells / cell_id)

    def split(self, dataset: str, repeat: int) -> SplitPaths:
        return SplitPaths(self.root / "data" / f"{dataset}-r{repeat}")

    def finished_scores(self) -> list[Path]:
        """Scorecards of the finished cells, in a stable order."""
        return sorted(self.cells.glob("*/scores.parquet"))
