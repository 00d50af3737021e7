"""The report: results table -> self-contained HTML and leaderboard.csv."""

from __future__ import annotations

from clicksynth.report.render import leaderboard, render

__all__ = ["leaderboard", "render"]
