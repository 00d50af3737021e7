"""The full study (issue #14): `clicksynth run` on all 669,274 rows of the shared DIGIX 2020 sample,
in parts, then its leaderboard and frontier figure exported to ``docs/full-study/``.

    .venv/bin/python -u benchmarks/full_study.py --runs runs/full --generators identity,smotenc   # a part
    .venv/bin/python -u benchmarks/full_study.py --runs runs/full --generators ctgan,tvae         # another part
    .venv/bin/python -u benchmarks/full_study.py --runs runs/full --export-only                   # docs only

The first part starts a run folder under ``--runs`` (``runs/full/latest`` points to it); each later
part resumes it (finished cells are kept: a cell's name does not depend on the
other generators of the grid), so the study can be run a few generators at a time, or on Dask
(``--workers N``/``--scheduler ADDR``). A part prints its wall time and the peak memory of its
processes; the export writes ``leaderboard.md`` (the headline columns), ``leaderboard.csv`` (all of
them) and ``frontier.png`` (the report's first figure) from every cell finished so far, and renders
the run's report over all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DOCS = Path(__file__).resolve().parents[1] / "docs" / "full-study"

#: Headline columns of the exported table: (leaderboard column, header, digits); paired differences
#: carry their interval and verdict.
COLUMNS = (
    ("detection_xgboost", "detection AUC", 3),
    ("detection_vs_fresh", "detection − fresh", 3),
    ("dcr_share", "DCR share", 3),
    ("privacy_loss", "privacy loss", 3),
    ("mia_auc", "MIA AUC", 3),
    ("tstr_pr_auc", "TSTR PR-AUC", 4),
    ("augment_delta_pr_auc", "augmentation Δ PR-AUC (paired)", 4),
    ("tstr_delta_pr_auc", "synthetic-only Δ PR-AUC (paired)", 4),
    ("fit_s", "fit s", 0),
)
VERDICTS = {"augment_delta_pr_auc": "augment_verdict", "tstr_delta_pr_auc": "tstr_verdict"}


def run_part(runs: Path, generators: str, extra: list[str]) -> None:
    """One `clicksynth run` over ``generators``: resumes ``runs/latest``, or starts a run under ``runs``."""
    cmd = [sys.executable, "-u", "-m", "clicksynth.cli", "run", "--data", "digix2020-full", "--rows", "0", "--generators", generators]
    cmd += ["--resume", str((runs / "latest").resolve())] if (runs / "latest" / "config.json").exists() else ["--out", str(runs)]
    start = time.perf_counter()
    subprocess.run([*cmd, *extra], check=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"part {generators}: {wall / 60:.1f} min wall, peak memory of one process {peak:.0f} MB")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")


def _fmt(row: pd.Series, col: str, digits: int) -> str:
    v = row[col]
    if not np.isfinite(v):
        return "–"
    if col in VERDICTS:
        return f"{v:+.{digits}f} [{row[col + '_ci_low']:+.{digits}f}, {row[col + '_ci_high']:+.{digits}f}] {row[VERDICTS[col]]}"
    lo, hi = row.get(col + "_ci_low"), row.get(col + "_ci_high")
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi) and col in ("detection_xgboost", "tstr_pr_auc"):
        return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
    return f"{v:.{digits}f}" if digits else f"{v:.0f}"


#: How far the two runs' holdout rows may differ to be merged: the nearest-neighbour candidates
#: of the privacy metrics come from float32 searches, whose ties may break otherwise on another
#: machine (the same code gave a membership-attack AUC 1.3e-4 apart on two); a split or scorecard
#: change moves the headline figures by far more.
MERGE_TOLERANCE = 1e-3


def merge_boards(board: pd.DataFrame, earlier: pd.DataFrame, headline: list[str]) -> tuple[pd.DataFrame, dict[str, tuple[float, float]]]:
    """``board`` plus the rows of ``earlier`` (a leaderboard exported from another run folder of the
    same study) for generators ``board`` lacks, and the holdout figures that differ at all. The two
    runs must share the split and scorecard: their holdout rows must agree on every ``headline``
    column within :data:`MERGE_TOLERANCE`, or nothing is merged."""
    mine, theirs = board[board["generator"] == "holdout"], earlier[earlier["generator"] == "holdout"]
    if len(mine) != 1 or len(theirs) != 1:
        raise SystemExit("--merge: both runs need their holdout reference to be compared")
    a, b = mine[headline].iloc[0].to_numpy(float), theirs[headline].iloc[0].to_numpy(float)
    differ = {c: (float(x), float(y)) for c, x, y in zip(headline, a, b) if not np.isclose(x, y, rtol=0, atol=1e-9, equal_nan=True)}
    if not np.allclose(a, b, rtol=0, atol=MERGE_TOLERANCE, equal_nan=True):
        raise SystemExit(f"--merge: the holdout references differ (another split or scorecard): {differ}")
    kept = earlier[~earlier["generator"].isin(board["generator"])]
    return pd.concat([kept, board], ignore_index=True)[board.columns], differ


def export(run_dir: Path, out: Path = DOCS, merge: Path | None = None) -> pd.DataFrame:
    """Write the leaderboard and the frontier figure of every finished cell to ``out``; ``merge``:
    an earlier export's leaderboard.csv whose other generators join the table (:func:`merge_boards`)."""
    import matplotlib

    matplotlib.use("Agg")
    from clicksynth.bench.runner import collect
    from clicksynth.report import plots
    from clicksynth.report.verdicts import frontier_table, leaderboard

    # Every finished cell of the folder: a part's own run lists only its grid's cells.
    results = collect(run_dir)
    board = leaderboard(results)
    source = f"Run `{run_dir.name}`: {results['cell'].nunique()} cells"
    if merge is not None:
        own = len(board)
        board, differ = merge_boards(board, pd.read_csv(merge), [c for c, _, _ in COLUMNS if c in board.columns and c != "fit_s"])
        agree = "identical" if not differ else "equal but " + ", ".join(f"{c} {x:.5f} here, {y:.5f} there" for c, (x, y) in differ.items())
        source += f", and {len(board) - own} rows of an earlier run of the same split (its holdout row {agree})"
    board = board.sort_values("detection_xgboost")
    out.mkdir(parents=True, exist_ok=True)
    board.to_csv(out / "leaderboard.csv", index=False)
    lines = ["| generator | " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for _, row in board.iterrows():
        lines.append(f"| {row['generator']} | " + " | ".join(_fmt(row, c, d) for c, _, d in COLUMNS) + " |")
    front = frontier_table(board)
    on = ", ".join(front.loc[front["on_frontier"], "generator"]) or "none"
    trtr = board["trtr_pr_auc"].dropna()
    header = [
        f"{source}, {board['repeats'].max()} repeat(s).",
        f"Real rows only: PR-AUC {trtr.iloc[0]:.4f}." if len(trtr) else "",
        f"On the fidelity-privacy frontier: {on}.",
        "",
    ]
    (out / "leaderboard.md").write_text("\n".join([*header, *lines, ""]), encoding="utf-8")
    fig = plots.frontier(front)
    fig.savefig(out / "frontier.png", dpi=110)
    print("\n".join([*header, *lines]))
    from clicksynth.report import render

    print(f"wrote {out / 'leaderboard.md'}, {out / 'leaderboard.csv'}, {out / 'frontier.png'}; report {render(run_dir, results)}")
    return board


def rescore(run_dir: Path, family: str, *, write: bool = True) -> pd.DataFrame:
    """Score every finished cell's saved synthetic rows again with this code's ``family`` metrics
    (fidelity or privacy: what needs no augmentation rows) and replace those rows of its scorecard.

    Each metric draws from its own stream (seed, subject, metric) and the privacy metrics' shared
    distances are computed by the first of them, so the numbers are those a fresh run of the cell
    would give with this code. Returns the old and new headline values side by side.
    """
    from clicksynth.bench.cell import HOLDOUT, load_split, split_seed
    from clicksynth.bench.config import Cell
    from clicksynth.bench.layout import RunLayout
    from clicksynth.bench.runner import collect
    from clicksynth.io import write_table
    from clicksynth.metrics import evaluate
    from clicksynth.metrics.engine import holdout_halves
    from clicksynth.metrics.registry import METRICS

    layout = RunLayout(run_dir)
    changes = []
    splits: dict[tuple[str, int], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, object]] = {}
    for scores_path in layout.finished_scores():
        paths = layout.cell(scores_path.parent.name)
        meta = json.loads(paths.meta.read_text(encoding="utf-8"))
        cell = Cell.from_json(json.dumps({k: v for k, v in meta["cell"].items() if k != "id"}))
        ds = cell.dataset
        key = (ds.label, cell.repeat)
        if key not in splits:
            seed = split_seed(cell.base_seed, ds.name, cell.repeat)
            splits[key] = load_split(ds.name, ds.path, ds.target, ds.rows, tuple(cell.fractions), seed)
        train, holdout, test, schema = splits[key]
        if ds.train_clicks is not None:
            raise SystemExit("rescore: rare-click regimes are not supported (their training rows are drawn per cell)")
        synthetic = pd.read_parquet(paths.synthetic)
        eval_holdout = holdout if cell.generator.name != HOLDOUT else holdout_halves(holdout, schema, cell.seed % (2**31))[1]
        ev = cell.evaluation
        chosen = [m for m in (ev.metrics or METRICS) if METRICS[m].family == family]
        fresh = evaluate(
            train,
            synthetic,
            holdout=eval_holdout,
            test=test,
            schema=schema,
            metrics=chosen,
            references=False,
            model=ev.model,
            max_rows=ev.max_rows,
            margin=ev.margin,
            random_state=cell.seed % (2**31),
        )
        old = pd.read_parquet(scores_path)
        keys = old[~old["metric"].isin(chosen)].iloc[0][[c for c in old.columns if c not in fresh.columns]]
        for k, v in keys.items():
            fresh[k] = v
        new = pd.concat([old[~old["metric"].isin(chosen)], fresh[old.columns]], ignore_index=True)
        for m in chosen:
            before = old[(old["metric"] == m) & (old["column"] == "")]["value"]
            after = fresh[(fresh["metric"] == m) & (fresh["column"] == "")]["value"]
            changes.append({"generator": cell.generator.name, "metric": m, "old": before.iloc[0], "new": after.iloc[0]})
        if write:
            write_table(new, scores_path)
        print(f"rescored {cell.generator.name}: {', '.join(chosen)}", flush=True)
    if write:
        collect(run_dir)
    return pd.DataFrame(changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="folder of the study's run (its latest run is resumed)")
    parser.add_argument("--generators", default="", help="comma-separated generators of this part")
    parser.add_argument("--export-only", action="store_true", help="write the docs from the finished cells, run nothing")
    parser.add_argument("--out", type=Path, default=DOCS, help="where the leaderboard and figure go")
    parser.add_argument("--merge", type=Path, help="an earlier export's leaderboard.csv (same split): its other generators join the table")
    parser.add_argument("--rescore", choices=("fidelity", "privacy"), help="score the finished cells' metrics of this family again")
    parser.add_argument("--dry-run", action="store_true", help="with --rescore: print old and new values, write nothing")
    args, extra = parser.parse_known_args()  # the rest goes to `clicksynth run` (--workers, --repeats, ...)
    if args.rescore:
        changes = rescore((args.runs / "latest").resolve(), args.rescore, write=not args.dry_run)
        print(changes.to_string(index=False))
        if args.dry_run:
            return
    elif not args.export_only:
        if not args.generators:
            parser.error("--generators names this part's generators (or --export-only)")
        run_part(args.runs, args.generators, extra)
    export((args.runs / "latest").resolve(), args.out, args.merge)


if __name__ == "__main__":
    main()
