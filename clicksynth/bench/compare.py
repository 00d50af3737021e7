"""Are two runs the same? Every score of two run folders compared exactly.

Used by ``benchmarks/reproducibility.py`` (same seed, same study, on any
machine or across a refactoring) and by the tests.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clicksynth.bench.layout import RunLayout

__all__ = ["run_differences", "run_scores"]

_KEY = ["cell", "metric", "column", "subject"]
_TIMING = ["seconds", "fit_s", "sample_s"]  # wall-clock figures: never part of what a seed reproduces


def run_scores(run_dir: str | Path) -> pd.DataFrame:
    """Every score row of a run, in a canonical order, without timings."""
    r = pd.read_parquet(RunLayout(run_dir).results)
    return r.drop(columns=[c for c in _TIMING if c in r.columns]).sort_values(_KEY, na_position="first").reset_index(drop=True)


def _leaderboard(run_dir: str | Path) -> pd.DataFrame:
    board = pd.read_csv(RunLayout(run_dir).leaderboard)
    return board.drop(columns=[c for c in _TIMING if c in board.columns])


def run_differences(a: str | Path, b: str | Path, *, limit: int = 10) -> list[str]:
    """What differs between two runs' scores and leaderboards (empty: identical, exactly)."""
    sa, sb = run_scores(a), run_scores(b)
    if len(sa) != len(sb) or not sa[_KEY].equals(sb[_KEY]):
        return [f"different score rows: {len(sa)} vs {len(sb)}"]
    out = []
    for col in ("value", "ci_low", "ci_high", "status", "error", "details"):
        va, vb = sa[col], sb[col]
        same = (va == vb) | (va.isna() & vb.isna())
        for i in (~same).to_numpy().nonzero()[0][:limit]:
            row = sa.iloc[i]
            out.append(
                f"{row['generator']} {row['metric']} {row['column'] or ''} [{row['subject']}] {col}: {va.iloc[i]!r} vs {vb.iloc[i]!r}"
            )
    if not _leaderboard(a).equals(_leaderboard(b)):
        out.append("leaderboards differ")
    return out
