"""The ``clicksynth`` command line. Wiring only: every command calls library code.

Errors from clicksynth print as one red line and exit with status 2; anything
else is a bug and shows its traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from clicksynth._heartbeat import Heartbeat
from clicksynth.bench.config import DEFAULT_RATIO, STUDY_MAX_ROWS
from clicksynth.bench.layout import RunLayout
from clicksynth.exceptions import ClicksynthError, ConfigError

if TYPE_CHECKING:  # annotations only: the commands import what they use when they run
    import pandas as pd
    import polars as pl
    from rich.progress import Progress

    from clicksynth.datasets import Dataset
    from clicksynth.generators import Generator
    from clicksynth.schema import Schema

app = typer.Typer(
    name="clicksynth",
    help="Synthetic data for CTR modelling on imbalanced ad logs, with an honest scorecard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])


def _handles_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClicksynthError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except OSError as exc:  # a full disk, a lost mount: outputs are atomic, nothing half-written
            console.print(f"[bold red]error:[/] could not read or write a file: {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return cast(F, wrapper)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("matplotlib", "distributed", "numba", "PIL", "fsspec", "faiss", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _table(rows: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    if not rows:
        return table
    for i, key in enumerate(rows[0]):
        # The first column names the row: never abbreviate it.
        table.add_column(str(key), no_wrap=i == 0, overflow="fold" if i else "ignore")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    return table


def _load(data: str, target: str | None, overrides: Path | None = None) -> tuple[pl.DataFrame, Schema, pl.DataFrame | None, Dataset | None]:
    """A file path or an embedded dataset name -> (frame, schema, feeds, dataset-or-None)."""
    from clicksynth.datasets import DATASETS, load_dataset
    from clicksynth.io import read_table
    from clicksynth.schema import Schema

    path = Path(data)
    if not path.exists() and data in DATASETS:
        ds = load_dataset(data)
        schema = Schema.infer(ds.frame, target=target or ds.target, overrides=overrides, user_column=ds.user_column, source=data)
        return ds.frame, schema, ds.feeds, ds
    if not path.exists():
        raise ConfigError(f"{data}: no such file or embedded dataset (datasets: {', '.join(DATASETS)})")
    frame = read_table(path)
    schema = Schema.infer(frame, target=target, overrides=overrides, source=str(path))
    return frame, schema, None, None


# ----------------------------------------------------------------------------------------
@app.command()
@_handles_errors
def datasets() -> None:
    """List the embedded and local datasets."""
    from clicksynth.datasets import list_datasets

    rows = []
    for d in list_datasets():
        rate = f"{100 * d['click_rate']:.2f}%" if d["click_rate"] is not None else "?"
        rows.append(
            {
                "name": d["name"],
                "kind": d["kind"],
                "available": "yes" if d["available"] else "no",
                "rows": d["rows"],
                "columns": d["columns"],
                "click rate": rate,
                "tables": d["tables"],
                "description": d["description"],
            }
        )
    out.print(_table(rows, title="clicksynth datasets"))
    for source in dict.fromkeys(d["source"] for d in list_datasets()):
        out.print(f"source: {source}", highlight=False)
    out.print("provenance and column meanings: DATASETS.md", highlight=False)


@app.command()
@_handles_errors
def schema(
    data: Annotated[str, typer.Argument(help="CSV / CSV.gz / Parquet file, or an embedded dataset name.")],
    target: Annotated[str | None, typer.Option(help="Binary label column.")] = None,
    overrides: Annotated[Path | None, typer.Option(help="TOML file of column kinds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the schema as JSON.")] = False,
) -> None:
    """Infer and print each column's kind."""
    _, sch, _, _ = _load(data, target, overrides)
    if as_json:
        out.print_json(json.dumps(sch.to_dict()))
        return
    out.print(_table(sch.summary_rows(), title=f"schema of {data}"))


@app.command()
@_handles_errors
def prepare(
    data: Annotated[str, typer.Argument(help="Ads table (file) or an embedded dataset name.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output .parquet / .csv / .csv.gz file.")],
    target: Annotated[str | None, typer.Option(help="Binary label column.")] = None,
    feeds: Annotated[Path | None, typer.Option(help="DIGIX 2022 news-feeds table to aggregate per user and merge.")] = None,
    feeds_user: Annotated[str, typer.Option(help="User column of the feeds table.")] = "u_userId",
    overrides: Annotated[Path | None, typer.Option(help="TOML file of column kinds.")] = None,
    clickers_only: Annotated[bool, typer.Option(help="Keep only users with at least one click.")] = False,
    task: Annotated[list[str] | None, typer.Option(help="Keep only these task_id values (repeatable).")] = None,
    min_frequency: Annotated[int | None, typer.Option(help="Bucket categories seen fewer times.")] = None,
    top_k: Annotated[int, typer.Option(help="Top items per list column turned into 0/1 features.")] = 10,
    list_features: Annotated[bool, typer.Option(help="Derive features from list columns.")] = True,
    keep_raw_lists: Annotated[bool, typer.Option(help="Keep the raw caret-joined lists.")] = True,
) -> None:
    """Prepare an ad log: dates, list features, feeds merge, pruning, bucketing."""
    from clicksynth.io import check_writable, read_table, write_table
    from clicksynth.prep import prepare as run_prepare

    check_writable(out_path)

    frame, sch, ds_feeds, _ = _load(data, target, overrides)
    feeds_frame = read_table(feeds) if feeds is not None else ds_feeds
    tasks = [int(t) if t.lstrip("-").isdigit() else t for t in task] if task else None
    with console.status("preparing..."):
        result, new_schema, report = run_prepare(
            frame,
            sch,
            feeds=feeds_frame,
            feeds_user=feeds_user,
            clickers_only=clickers_only,
            tasks=tasks,
            min_frequency=min_frequency,
            top_k=top_k,
            list_features=list_features,
            keep_raw_lists=keep_raw_lists,
        )
        write_table(result, out_path)
    for step in report.steps:
        console.print(f"  - {step}")
    console.print(f"wrote {out_path}: {result.height} rows x {result.width} columns (from {report.rows_in} rows)")
    _ = new_schema


@app.command()
@_handles_errors
def split(
    data: Annotated[str, typer.Argument(help="File or embedded dataset name.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for train / holdout / test Parquet files.")],
    target: Annotated[str | None, typer.Option(help="Binary label column.")] = None,
    fractions: Annotated[str, typer.Option(help="Shares of train,holdout,test.")] = "0.6,0.2,0.2",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Split by user (when a user column exists) and stratify on the label."""
    from clicksynth.io import check_writable

    check_writable(out_dir, folder=True)
    from clicksynth.io import atomic_folder, write_table
    from clicksynth.split import split_frame

    frame, sch, _, _ = _load(data, target)
    if sch.target is None:
        raise ConfigError("split needs --target")
    try:
        fr = [float(x) for x in fractions.split(",")]
    except ValueError:
        raise ConfigError(f"--fractions must be comma-separated numbers, got {fractions!r}") from None
    parts = split_frame(frame, target=sch.target, fractions=fr, user_column=sch.user_column, random_state=seed)
    names = ["train", "holdout", "test"] if len(parts) == 3 else [f"part{i}" for i in range(len(parts))]
    with atomic_folder(out_dir) as staging:  # all parts or none
        for name, part in zip(names, parts):
            write_table(part, staging / f"{name}.parquet")
    for name, part in zip(names, parts):
        rate = cast(float, (part[sch.target] == 1).mean())
        console.print(f"{name}: {len(part)} rows, click rate {100 * rate:.2f}%")


def _counts(text: str | None) -> list[int]:
    """``"100,300"`` -> [100, 300]; a clear error for anything else."""
    if not text:
        return []
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--train-clicks takes comma-separated whole numbers, got {text!r}") from None
    return counts


@app.command()
@_handles_errors
def run(
    data: Annotated[str, typer.Option(help="Embedded dataset name or a CSV / Parquet file.")] = "digix2020",
    target: Annotated[str | None, typer.Option(help="Binary label column (files only).")] = None,
    generators: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated generators, or all (default: baselines, five of the SMOTE family, GMM-SMOTE, copula, sequential trees, CTGAN, TVAE, autoregressive)."
        ),
    ] = None,
    ratio: Annotated[float, typer.Option(help="Minority / majority ratio to augment the clicks to.")] = DEFAULT_RATIO,
    rows: Annotated[
        int | None,
        typer.Option(
            help="Subsample to about this many rows (whole users); default 30,000 of an embedded data set, every row of a file; 0 = every row."
        ),
    ] = None,
    out_root: Annotated[Path, typer.Option("--out", help="Folder holding the runs.")] = Path("runs"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    max_rows: Annotated[int, typer.Option(help="Row cap of the distance-based metrics.")] = STUDY_MAX_ROWS,
    margin: Annotated[float | None, typer.Option(help="Non-inferiority margin of the paired PR-AUC differences (default 0.005).")] = None,
    profile: Annotated[
        str, typer.Option(help="default (about ten minutes on two cores) or thorough (every generator, epochs from its convergence curve).")
    ] = "default",
    resume: Annotated[
        Path | None, typer.Option(help="Continue an interrupted run in this folder: its finished cells are kept, the rest run.")
    ] = None,
    train_clicks: Annotated[
        str | None,
        typer.Option(help="Also run rare-click regimes: comma-separated training click counts, e.g. 100,300 (same holdout and test)."),
    ] = None,
    repeats: Annotated[
        int, typer.Option(min=1, help="Run every cell on this many splits and seeds; the report pools their paired differences.")
    ] = 1,
    scheduler: Annotated[str | None, typer.Option(help="Run the cells on this Dask scheduler (tcp://host:8786).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Run the cells on a local Dask cluster of this many workers.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="A generator's parameter, generator.key=value (repeatable), e.g. autoregressive.epochs=3 on a large table."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds a cell (fit, sample and score) may take before it is stopped and marked timed out.")
    ] = 1200.0,
) -> None:
    """The whole study: prepare, split by user, fit every generator, augment, evaluate, report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from clicksynth.bench.runner import expand
    from clicksynth.pipeline import default_config, new_run_dir, preflight, run_study

    is_file = Path(data).exists()
    if rows is None and not is_file:
        from clicksynth.pipeline import DEFAULT_ROWS

        rows = DEFAULT_ROWS
    rows = rows or None
    config = default_config(
        dataset=data if not is_file else "data",
        path=data if is_file else None,
        target=target,
        rows=rows,
        generators=[g.strip() for g in generators.split(",")] if generators else None,
        ratio=ratio,
        seed=seed,
        max_rows=max_rows,
        margin=margin,
        train_clicks=_counts(train_clicks),
        profile=profile,
        repeats=repeats,
        params=_generator_params(param),
        timeout=timeout,
    )
    preflight(config, out_root)  # bad data, ratio or folder: a clear error before any work
    if resume is not None and not RunLayout(resume).config.exists():
        raise ConfigError(f"--resume {resume}: not a run folder (no config.json)")
    run_dir = resume if resume is not None else new_run_dir(out_root)
    cells = expand(config)
    n_sets = len(config.datasets)
    console.print(
        f"[bold]clicksynth run[/]: {len(cells)} cells ({len(config.generators)} generators + the holdout reference"
        + (f", on {n_sets} regimes" if n_sets > 1 else "")
        + (f", {repeats} repeats" if repeats > 1 else "")
        + f") on {data}"
        + (f", on Dask ({scheduler or f'{workers} local workers'})" if scheduler or workers else "")
    )
    if not console.is_terminal:  # CI, nohup, a log file: plain lines, one at least every 30 s
        with Heartbeat(len(cells), _plain) as beat:

            def on_event(cell_id: str, event: dict[str, Any]) -> None:
                beat.stage(cell_id.rsplit("-", 1)[0], event.get("stage", ""), event.get("metric") or "")

            def on_cell(cell: Any, rows: Any) -> None:
                beat.done(cell.generator.name, str(rows["status"].iloc[0]))

            run_dir = _interruptible(
                lambda: run_study(
                    config,
                    run_dir=run_dir,
                    on_event=on_event,
                    on_cell=on_cell,
                    on_stage=lambda s: beat.stage("study", s),
                    scheduler=scheduler,
                    workers=workers,
                ),
                run_dir,
            )
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[stage]}"),
            console=console,
        ) as progress:
            overall = progress.add_task("generators", total=len(cells), stage="")
            current: dict[str, Any] = {}

            def on_event(cell_id: str, event: dict[str, Any]) -> None:
                task = current.get(cell_id)
                if task is None:
                    name = cell_id.rsplit("-", 1)[0]
                    task = current[cell_id] = progress.add_task(f"  {name}", total=None, stage="")
                stage = event.get("stage", "")
                detail = event.get("metric") or (f"{event['rows']} rows" if "rows" in event else "")
                progress.update(task, stage=f"{stage} {detail}".strip())

            def on_cell(cell: Any, rows: Any) -> None:
                status = rows["status"].iloc[0]
                task = current.pop(cell.id, None)
                if task is not None:
                    progress.update(task, total=1, completed=1, stage="ok" if status == "ok" else f"[red]{status}[/]")
                progress.update(overall, advance=1)

            run_dir = run_study(
                config,
                run_dir=run_dir,
                on_event=on_event,
                on_cell=on_cell,
                on_stage=lambda s: progress.update(overall, stage=s),
                scheduler=scheduler,
                workers=workers,
            )
    import pandas as pd

    from clicksynth.report.verdicts import leaderboard

    layout = RunLayout(run_dir)
    board = leaderboard(pd.read_parquet(layout.results))
    several = board["dataset"].nunique() > 1
    rows_out = [
        {
            **({"data": r.dataset} if several else {}),
            "generator": r.generator,
            "status": r.status,
            "detection AUC": f"{r.detection_xgboost:.3f}",
            "TSTR PR-AUC": f"{r.tstr_pr_auc:.4f}",
            "augmented PR-AUC": f"{r.augment_pr_auc:.4f}",
            "augmentation Δ": f"{r.augment_delta_pr_auc:+.4f} {r.augment_verdict}",
            "DCR share": f"{r.dcr_share:.3f}",
            "MIA AUC": f"{r.mia_auc:.3f}",
            "fit s": f"{r.fit_s:.1f}",
        }
        for r in board.itertuples()
    ]
    out.print(
        _table(
            rows_out,
            title=f"leaderboard (trained on real rows: PR-AUC {board['trtr_pr_auc'].dropna().iloc[0]:.4f})"
            if board["trtr_pr_auc"].notna().any()
            else "leaderboard",
        )
    )
    console.print(f"report: {layout.report}  (also {out_root / 'latest'})")


@app.command()
@_handles_errors
def benchmark(
    config_path: Annotated[Path, typer.Option("--config", help="Benchmark TOML file.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run folder (re-running into it resumes).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786.")] = None,
    workers: Annotated[int | None, typer.Option(help="Workers of the local Dask cluster (default: cores / 2).")] = None,
    local: Annotated[bool, typer.Option(help="Run cells one by one without Dask.")] = False,
    report: Annotated[bool, typer.Option(help="Render report.html when done.")] = True,
) -> None:
    """Run a grid of datasets x generators x ratios x seeds (resumable, on Dask)."""
    from clicksynth.bench import load_config, run_grid
    from clicksynth.bench.runner import expand
    from clicksynth.pipeline import new_run_dir

    config = load_config(config_path)
    run_dir = out_dir or new_run_dir("runs")
    cells = expand(config)
    console.print(f"[bold]clicksynth benchmark[/]: {len(cells)} cells -> {run_dir}")
    todo = sum(not RunLayout(run_dir).cell(c.id).finished for c in cells)
    if not console.is_terminal:  # CI, nohup, a log file: plain lines, one at least every 30 s
        with Heartbeat(todo, _plain) as beat:
            results = run_grid(
                config,
                run_dir,
                scheduler=scheduler,
                workers=workers,
                local=local,
                on_cell=lambda cell, rows: beat.done(f"{cell.dataset.label}/{cell.generator.name}", str(rows["status"].iloc[0])),
            )
    else:
        with _progress() as progress:
            task = progress.add_task("cells", total=len(cells))
            progress.update(task, completed=len(cells) - todo)

            def on_cell(cell: Any, rows: Any) -> None:
                status = rows["status"].iloc[0]
                progress.update(task, advance=1, description=f"{cell.generator.name}: {status}")

            results = run_grid(config, run_dir, scheduler=scheduler, workers=workers, local=local, on_cell=on_cell)
    failed = results[results["status"] != "ok"]["cell"].nunique() if len(results) else 0
    console.print(
        f"{results['cell'].nunique() if len(results) else 0} cells in {RunLayout(run_dir).results} ({failed} failed or timed out)"
    )
    if report and len(results):
        from clicksynth.report import render

        console.print(f"report: {render(run_dir, results)}")


def _interruptible(study: Callable[[], Path], run_dir: Path) -> Path:
    """Run the study; on Ctrl-C publish nothing (no report, no ``latest``) and say how to go on."""
    try:
        return study()
    except KeyboardInterrupt:
        done = len(RunLayout(run_dir).finished_scores())
        _plain(
            f"interrupted: {done} cell(s) finished in {run_dir}; continue with: clicksynth run --resume {run_dir} (and the same options)"
        )
        raise typer.Exit(code=130) from None


def _plain(line: str) -> None:
    console.print(line, highlight=False, markup=False, soft_wrap=True)


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False
    )


@contextlib.contextmanager
def _chunk_progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """``advance(done, total)`` for chunked work: a live bar on a terminal, otherwise a plain line
    at least every 30 s and at the end (a log file gets progress too)."""
    from clicksynth._heartbeat import HEARTBEAT_S

    if console.is_terminal:
        with _progress() as progress:
            task = progress.add_task(what, total=None)

            def bar(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            yield bar
        return
    start = last = time.monotonic()

    def line(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= HEARTBEAT_S or done == total:
            last = now
            _plain(f"[{int(now - start) // 60:02d}:{int(now - start) % 60:02d}] {what}: {done}/{total} chunks")

    yield line


@app.command()
@_handles_errors
def evaluate(
    train: Annotated[Path, typer.Option(help="Real rows the generator was fitted on.")],
    synthetic: Annotated[Path, typer.Option(help="Synthetic rows.")],
    target: Annotated[str, typer.Option(help="Binary label column.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for scores.json, scores.csv and summary.txt.")],
    holdout: Annotated[Path | None, typer.Option(help="Real rows the generator never saw (privacy control).")] = None,
    test: Annotated[Path | None, typer.Option(help="Real rows for scoring click models.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Metric to compute (repeatable; default: all).")] = None,
    family: Annotated[list[str] | None, typer.Option(help="fidelity, utility or privacy (repeatable).")] = None,
    model: Annotated[str, typer.Option(help="Click model: xgboost, lightgbm, catboost or logistic.")] = "xgboost",
    references: Annotated[bool, typer.Option(help="Also score the holdout and bootstrap references.")] = True,
    max_rows: Annotated[int, typer.Option(help="Row cap of the distance-based metrics.")] = 10_000,
    margin: Annotated[float | None, typer.Option(help="Non-inferiority margin of the paired PR-AUC differences (default 0.005).")] = None,
    overrides: Annotated[Path | None, typer.Option(help="TOML file of column kinds.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Score synthetic rows for fidelity, utility and privacy, with reference points."""
    from clicksynth.io import check_writable, read_table

    check_writable(out_dir, folder=True)  # before any work
    from clicksynth.metrics import evaluate as run_evaluate
    from clicksynth.metrics import headline, scores_summary, select
    from clicksynth.schema import Schema

    frames = {"train": read_table(train), "synthetic": read_table(synthetic)}
    if holdout is not None:
        frames["holdout"] = read_table(holdout)
    if test is not None:
        frames["test"] = read_table(test)
    sch = Schema.infer(frames["train"], target=target, overrides=overrides, source=str(train))
    n_metrics = len(select(metric, family))
    subjects = 1 + (2 if references else 0)
    with _progress() as progress:
        task = progress.add_task("evaluating", total=n_metrics * subjects)

        def tick(subject: str, name: str) -> None:
            progress.update(task, advance=1, description=f"{subject}: {name}")

        scores = run_evaluate(
            frames["train"],
            frames["synthetic"],
            holdout=frames.get("holdout"),
            test=frames.get("test"),
            schema=sch,
            metrics=metric,
            families=family,
            references=references,
            model=model,
            max_rows=max_rows,
            margin=margin,
            random_state=seed,
            on_progress=tick,
        )
        progress.update(task, completed=n_metrics * subjects, description="done")
    from clicksynth.io import atomic_folder

    summary = scores_summary(scores)
    with atomic_folder(out_dir) as staging:  # the three files together or none
        scores.to_csv(staging / "scores.csv", index=False)
        (staging / "scores.json").write_text(scores.to_json(orient="records", indent=1), encoding="utf-8")
        (staging / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    table = headline(scores)
    rows = []
    for (fam, name), row in table.iterrows():
        rows.append({"family": fam, "metric": name, **{k: ("-" if v != v else f"{v:.4f}") for k, v in row.items()}})
    out.print(_table(rows, title="scorecard (holdout: fresh real data; bootstrap: memorised train)"))
    console.print(f"wrote {out_dir}/scores.csv, scores.json and summary.txt")


@app.command("metrics")
@_handles_errors
def metrics_cmd() -> None:
    """List the registered metrics."""
    from clicksynth.metrics import list_metrics

    table = list_metrics()
    rows = [
        {
            "metric": r.metric,
            "family": r.family,
            "better": {True: "higher", False: "lower", None: "near ideal"}[r.higher_is_better],
            "ideal": r.ideal,
            "needs": ", ".join(n for n, f in (("holdout", r.needs_holdout), ("test", r.needs_test)) if f),
        }
        for r in table.itertuples()
    ]
    out.print(_table(rows, title="metrics"))


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    """``k=v`` pairs; values read as JSON when they parse (numbers, true, null, [..]),
    ``a,b`` as a list, otherwise as text."""
    params: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--param takes key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = (
                [json.loads(v) if v.strip().lstrip("-").replace(".", "", 1).isdigit() else v for v in raw.split(",")] if "," in raw else raw
            )
        params[key.strip()] = value
    return params


def _generator_params(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``generator.key=value`` items as {generator: {key: value}} (values as :func:`_parse_params` reads them)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        name, dot, rest = item.partition(".")
        if not dot or "=" not in rest or not name.strip():
            raise ConfigError(f"--param takes generator.key=value, got {item!r}")
        out.setdefault(name.strip(), {}).update(_parse_params([rest]))
    return out


def _features(frame: pl.DataFrame, sch: Schema, keep_ids: bool) -> tuple[pd.DataFrame, pd.Series, Schema, pd.DataFrame]:
    from clicksynth._frame import to_pandas

    if sch.target is None:
        raise ConfigError("give the click label column with --target")
    df = to_pandas(frame)
    ids = [] if keep_ids else sch.of_kind("id")
    X = df.drop(columns=[sch.target, *ids])
    return X, df[sch.target], sch.drop([sch.target, *ids]), df[ids]


def _generator(name: str, params: dict[str, Any], seed: int) -> Generator:
    from clicksynth.generators import generator_class, get_generator

    params = dict(params)
    params.setdefault("random_state", seed)
    defaults = generator_class(name)().get_params()
    if "verbose" in defaults and "epochs" in defaults:
        params.setdefault("verbose", True)  # neural generators: epoch progress bar
    return get_generator(name, **params)


@app.command()
@_handles_errors
def fit(
    data: Annotated[str, typer.Option(help="Training rows: file or embedded dataset name.")],
    generator: Annotated[str, typer.Option(help="Registered generator (see `clicksynth generators`).")],
    out_path: Annotated[Path, typer.Option("--out", help="Model file to write.")],
    target: Annotated[str | None, typer.Option(help="Binary label column.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Generator parameter key=value (repeatable).")] = None,
    overrides: Annotated[Path | None, typer.Option(help="TOML file of column kinds.")] = None,
    keep_ids: Annotated[bool, typer.Option(help="Model id columns too (default: drop them; synthetic ids would be fresh anyway).")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Fit a generator and save it (weights and config; loading never runs code from the file)."""
    from clicksynth.io import check_writable

    check_writable(out_path, table=False)  # before any work: a bad --out fails now, not after fitting
    import time

    frame, sch, _, _ = _load(data, target, overrides)
    if sch.target is None:
        raise ConfigError("fit needs --target for a file")
    X, y, feat_schema, _ = _features(frame, sch, keep_ids)
    gen = _generator(generator, _parse_params(param), seed)
    t0 = time.perf_counter()
    with console.status(f"fitting {generator} on {len(X)} rows..."):
        gen.fit(X, y, schema=feat_schema)
    gen.save(out_path)
    console.print(f"fitted {generator} in {time.perf_counter() - t0:.1f} s; wrote {out_path}")


def _parse_counts(text: str) -> dict[int, int]:
    counts = {}
    for part in text.split(","):
        if "=" not in part:
            raise ConfigError(f"--rows-per-class takes label=count pairs like 1=5000,0=0, got {text!r}")
        k, v = part.split("=", 1)
        try:
            counts[int(k)] = int(v)
        except ValueError:
            raise ConfigError(f"--rows-per-class: {part!r} is not label=count with integers") from None
    return counts


@app.command()
@_handles_errors
def sample(
    model: Annotated[Path, typer.Argument(help="Model file written by `clicksynth fit`.")],
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output .parquet / .csv / .csv.gz file, or a new folder for a partitioned Parquet dataset (with --scheduler / --workers).",
        ),
    ],
    rows: Annotated[int | None, typer.Option(help="Total rows, split by the training class shares.")] = None,
    rows_per_class: Annotated[str | None, typer.Option(help="Exact rows per class, e.g. 1=5000,0=0.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the model's).")] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows generated and written at a time: memory is bounded by one chunk.")] = 100_000,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://host:8786): sample chunks on its workers into the folder --out.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Sample on a local Dask cluster of this many processes into the folder --out.")
    ] = None,
) -> None:
    """Generate rows from a saved generator, chunk by chunk (to one file, or on Dask workers to a dataset)."""
    from clicksynth.io import check_writable

    dataset = scheduler is not None or workers is not None
    check_writable(out_path, table=not dataset, folder=dataset)  # before any work: a bad --out fails now
    from clicksynth.bulk import sample_to_dataset, sample_to_file
    from clicksynth.generators import Generator

    if (rows is None) == (rows_per_class is None):
        raise ConfigError("give exactly one of --rows and --rows-per-class")
    n: Any = rows if rows is not None else _parse_counts(rows_per_class or "")
    with _chunk_progress("sampling") as advance:
        if dataset:
            counts = sample_to_dataset(
                model, n, out_path, chunk_rows=chunk_rows, random_state=seed, scheduler=scheduler, workers=workers, progress=advance
            )
        else:
            gen = Generator.load(model)
            counts = sample_to_file(gen, n, out_path, chunk_rows=chunk_rows, random_state=seed, progress=advance)
    console.print(f"wrote {sum(counts.values())} rows to {out_path} (per class: {counts})")


@app.command()
@_handles_errors
def augment(
    data: Annotated[str, typer.Option(help="Real rows: file or embedded dataset name.")],
    generator: Annotated[str, typer.Option(help="Registered generator.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output file: real + synthetic rows with a `synthetic` 0/1 column.")],
    target: Annotated[str | None, typer.Option(help="Binary label column.")] = None,
    ratio: Annotated[float | None, typer.Option(help="Minority / majority after augmentation (e.g. 0.25).")] = None,
    majority_share: Annotated[float | None, typer.Option(help="Majority share after augmentation (e.g. 0.8).")] = None,
    clean: Annotated[str | None, typer.Option(help="Cleaning after augmentation: tomek or enn.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Generator parameter key=value (repeatable).")] = None,
    overrides: Annotated[Path | None, typer.Option(help="TOML file of column kinds.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Add synthetic minority rows until the classes reach a ratio (imbalanced-learn semantics)."""
    from clicksynth.io import check_writable

    check_writable(out_path)  # before any work: a bad --out fails now, not after fitting
    import pandas as pd

    from clicksynth.io import write_table
    from clicksynth.rebalance import Rebalancer

    frame, sch, _, _ = _load(data, target, overrides)
    if sch.target is None:
        raise ConfigError("augment needs --target for a file")
    X, y, feat_schema, ids = _features(frame, sch, keep_ids=False)
    rb = Rebalancer(
        _generator(generator, _parse_params(param), seed),
        ratio=ratio,
        majority_share=majority_share,
        clean=clean,
        mark="synthetic",
        random_state=seed,
    )
    with console.status(f"augmenting with {generator}..."):
        X_res, y_res = rb.fit_resample(X, y, schema=feat_schema)
        out_frame = X_res.copy()
        out_frame[sch.target] = y_res.to_numpy()
        if not clean and len(ids.columns):
            # Real rows keep their ids; synthetic rows have none.
            for c in ids.columns:
                out_frame[c] = pd.concat([ids[c], pd.Series([None] * (len(out_frame) - len(ids)), dtype=object)], ignore_index=True)
        write_table(out_frame, out_path)
    counts = y_res.value_counts().sort_index().to_dict()
    console.print(
        f"added {int(out_frame['synthetic'].sum())} synthetic rows; wrote {len(out_frame)} rows to {out_path} (per class: {counts})"
    )


@app.command("generators")
@_handles_errors
def generators_cmd() -> None:
    """List the registered generators."""
    from clicksynth.generators import GENERATORS

    rows = [{"name": k, "class": v.split(":")[1], "module": v.split(":")[0]} for k, v in GENERATORS.items()]
    out.print(_table(rows, title="generators"))


def main() -> None:
    """Entry point of the ``clicksynth`` script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
