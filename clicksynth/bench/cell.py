"""One cell of a benchmark grid: fit, sample, augment, evaluate, store.

Run as ``python -m clicksynth.bench.cell CELL_JSON RUN_DIR`` by the runner, so
a cell can be killed at its timeout and its memory is returned when it ends.
It prints one JSON event per line (``{"stage": ...}``) for progress bars and
writes its cell's files (:class:`~clicksynth.bench.layout.CellPaths`): the
synthetic rows, ``meta.json`` and, last, the scorecard whose presence marks the
cell as finished (a re-run skips it).

The cell named ``holdout`` is the reference: half the holdout plays the
synthetic rows, the other half the holdout.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.bench.config import Cell
from clicksynth.bench.layout import RunLayout
from clicksynth.io import atomic_path, write_table
from clicksynth.schema import Schema

__all__ = ["HOLDOUT", "execute", "fewer_clicks", "load_split", "split_summary"]

HOLDOUT = "holdout"


def _emit(stage: str, **extra: Any) -> None:
    print(json.dumps({"stage": stage, **extra}), flush=True)


@functools.lru_cache(maxsize=4)
def load_split(
    name: str, path: str | None, target: str | None, rows: int | None, fractions: tuple[float, ...], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Schema]:
    """Prepared train / holdout / test (pandas) and schemas of one dataset and repeat.

    Preparation as in the studies, minus list features: generators model the raw
    caret lists, and the click models derive their list features themselves.
    """
    from clicksynth.datasets import DATASETS, load_dataset
    from clicksynth.io import read_table
    from clicksynth.prep import prepare
    from clicksynth.schema import Schema
    from clicksynth.split import split_frame, subsample

    if path is None:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}")
        ds = load_dataset(name)
        frame, feeds, target, user = ds.frame, ds.feeds, target or ds.target, ds.user_column
        schema = Schema.infer(frame, target=target, user_column=user)
    else:
        frame, feeds = read_table(path), None
        schema = Schema.infer(frame, target=target)
        user = schema.user_column
    if rows is not None:
        assert schema.target is not None  # a study always has its click label
        frame = subsample(frame, rows, target=schema.target, user_column=user, random_state=seed)
    prepared, schema, _ = prepare(frame, schema, feeds=feeds, list_features=False)
    # Columns with a single value (or none) carry nothing to learn and trip up models.
    dead = [c.name for c in schema if c.kind not in ("target", "id") and prepared[c.name].drop_nulls().n_unique() <= 1]
    if dead:
        prepared, schema = prepared.drop(dead), schema.drop(dead)
    assert schema.target is not None
    parts = split_frame(prepared, target=schema.target, fractions=fractions, user_column=schema.user_column, random_state=seed)
    train, holdout, test = (p.to_pandas() for p in parts)
    return train, holdout, test, schema


def split_seed(base_seed: int, dataset: str, repeat: int) -> int:
    """The seed of a study's split: it depends on the dataset and repeat only, so
    every generator of a repeat sees the same rows."""
    from clicksynth.seeding import derive_seed

    return derive_seed(base_seed, dataset, repeat) % (2**31)


def fewer_clicks(train: pd.DataFrame, schema: Schema, clicks: int, seed: int) -> pd.DataFrame:
    """The rare-click regime: ``clicks`` training click rows drawn at random, every non-click kept
    (holdout and test stay whole, so the regimes of a split are scored on the same rows)."""
    from clicksynth.exceptions import DataError

    is_click = (train[schema.target] == schema.positive_label).to_numpy()
    if clicks > is_click.sum():
        raise DataError(f"train_clicks={clicks} but the training rows hold only {int(is_click.sum())} clicks")
    keep = np.random.default_rng(seed).choice(np.flatnonzero(is_click), size=clicks, replace=False)
    mask = ~is_click
    mask[keep] = True
    return train.loc[mask].reset_index(drop=True)


def split_summary(parts: dict[str, pd.DataFrame], schema: Schema) -> dict[str, dict[str, int | None]]:
    """Rows, users and clicks of each part of a split: what the report's data-adequacy panel reads."""
    user = schema.user_column
    return {
        name: {
            "rows": len(frame),
            "users": int(frame[user].nunique()) if user and user in frame.columns else None,
            "clicks": int((frame[schema.target] == schema.positive_label).sum()),
        }
        for name, frame in parts.items()
    }


def execute(cell: Cell, run_dir: Path) -> None:
    """Run one cell; raises on failure (the runner records it)."""
    from clicksynth.generators import get_generator
    from clicksynth.metrics import evaluate, holdout_halves
    from clicksynth.rebalance import synthetic_count

    layout = RunLayout(run_dir)
    paths = layout.cell(cell.id)
    paths.root.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"cell": {"id": cell.id, **json.loads(cell.to_json())}, "status": "running"}
    ds = cell.dataset
    _emit("loading data")
    train, holdout, test, schema = load_split(
        ds.name, ds.path, ds.target, ds.rows, tuple(cell.fractions), split_seed(cell.base_seed, ds.name, cell.repeat)
    )
    if ds.train_clicks is not None:
        train = fewer_clicks(train, schema, ds.train_clicks, split_seed(cell.base_seed, ds.label, cell.repeat))
    split = layout.split(ds.label, cell.repeat)
    if not split.train.exists():
        for name, frame in (("train", train), ("holdout", holdout), ("test", test)):
            write_table(frame, split.part(name))
    target = schema.target
    assert target is not None  # load_split keeps the label
    ids = schema.of_kind("id")
    features = schema.drop([target, *ids])
    X, y = train.drop(columns=[target, *ids]), train[target]
    n_pos, n_neg = int((y == schema.positive_label).sum()), int((y != schema.positive_label).sum())
    meta["split"] = split_summary({"train": train, "holdout": holdout, "test": test}, schema)
    n_aug = synthetic_count(n_pos, n_neg, ratio=cell.ratio)
    eval_holdout = holdout
    if cell.generator.name == HOLDOUT:
        synthetic, eval_holdout = holdout_halves(holdout, schema, cell.seed % (2**31))
        augment_rows = synthetic
        meta["fit_s"] = meta["sample_s"] = 0.0
    else:
        gen = get_generator(cell.generator.name, random_state=cell.seed % (2**31), **cell.generator.kwargs())
        _emit("fitting", rows=len(X))
        t0 = time.perf_counter()
        gen.fit(X, y, schema=features)
        meta["fit_s"] = time.perf_counter() - t0
        meta["history"] = getattr(gen, "history_", None)
        meta["stopped_by_time"] = getattr(gen, "stopped_by_time_", None)
        _emit("sampling")
        t0 = time.perf_counter()
        synthetic = gen.sample({0: n_neg, 1: n_pos})  # a synthetic table of the training set's size and balance
        # Click rows for augmentation: enough for the requested ratio and for the
        # utility curve up to +200% of the real clicks.
        augment_rows = gen.sample({1: max(n_aug, 2 * n_pos)})
        meta["sample_s"] = time.perf_counter() - t0
        meta["sample_rows_per_s"] = (len(synthetic) + len(augment_rows)) / max(meta["sample_s"], 1e-9)
    meta["class_balance"] = {
        "real": {"0": n_neg, "1": n_pos},
        "augmented": {"0": n_neg, "1": n_pos + min(n_aug, int((augment_rows[target] == schema.positive_label).sum()))},
        "ratio": cell.ratio,
        "synthetic_clicks": n_aug,
    }
    write_table(synthetic, paths.synthetic)
    _emit("evaluating")
    t0 = time.perf_counter()
    ev = cell.evaluation

    def progress(subject: str, metric: str) -> None:
        _emit("evaluating", metric=metric)

    scores = evaluate(
        train,
        synthetic,
        holdout=eval_holdout,
        test=test,
        schema=schema,
        metrics=list(ev.metrics) if ev.metrics else None,
        references=False,
        model=ev.model,
        augment_rows=augment_rows,
        augment_share=n_aug / max(n_pos, 1),
        max_rows=ev.max_rows,
        margin=ev.margin,
        random_state=cell.seed % (2**31),
        # One real-rows reference model per split: every cell's click models share its seed.
        model_seed=split_seed(cell.base_seed, f"{ds.label}/click models", cell.repeat),
        on_progress=progress,
    )
    meta["evaluate_s"] = time.perf_counter() - t0
    meta["status"] = "ok"
    with atomic_path(paths.meta) as tmp:
        tmp.write_text(json.dumps(meta, default=_jsonable), encoding="utf-8")
    for k, v in cell.keys().items():
        scores[k] = v
    scores["status"] = "ok"
    scores["fit_s"], scores["sample_s"] = meta["fit_s"], meta["sample_s"]
    scores["train_rows"] = len(train)  # what the report's under-trained rule scales epochs by
    # A wall-clock budget makes the rows depend on the machine's speed: the report marks such cells.
    scores["stopped_by_time"] = bool(meta.get("stopped_by_time") or False)
    write_table(scores, paths.scores)
    _emit("done")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (pd.Timestamp,)):
        return str(obj)
    return str(obj)


def main() -> None:
    text = Path(sys.argv[1]).read_text(encoding="utf-8") if sys.argv[1].endswith(".json") else sys.argv[1]
    cell = Cell.from_json(text)
    try:
        execute(cell, Path(sys.argv[2]))
    except Exception as exc:
        _emit("failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-4000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
