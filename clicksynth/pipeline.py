"""The main job: the study of the source documents as one call.

``run_study`` builds a one-dataset grid (the embedded ``digix2020`` by default),
runs every cell (fit, sample, augment, evaluate), computes the 2-D embedding
used by the report, renders ``report.html`` and ``leaderboard.csv`` and points
``runs/latest`` at the new run. The default generators and budgets keep the
whole job under ten minutes on two cores.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.bench.cell import HOLDOUT
from clicksynth.bench.config import CONVERGED_EPOCHS, DEFAULT_RATIO, STUDY_MAX_ROWS, BenchConfig, Cell
from clicksynth.bench.layout import RunLayout
from clicksynth.bench.runner import run_grid
from clicksynth.exceptions import ConfigError
from clicksynth.io import write_table

__all__ = [
    "BUDGETS",
    "DEFAULT_GENERATORS",
    "DEFAULT_ROWS",
    "PROFILES",
    "THOROUGH_ONLY_METRICS",
    "compute_embedding",
    "default_config",
    "run_study",
]

log = logging.getLogger(__name__)

#: Each generator's budget in the main job: the neural ones train for a number of epochs,
#: never a wall-clock budget (a seed must give the same rows on any machine); the SMOTE
#: variants that look at both classes see at most ``max_rows_per_class`` rows per class
#: (SMOTE-N builds an n x n value-difference matrix, SVM-SMOTE fits a kernel SVM, hence
#: their smaller caps). Generators not named here run with their defaults.
BUDGETS: dict[str, dict[str, Any]] = {
    # First, so the longest cell starts first; at most 30 epochs (early stopping kept
    # 31-34 on this split with the transformer, 32-36 with NADE, benchmarks/RESULTS.md;
    # 15 left it far from converged).
    "autoregressive": {"epochs": 30},
    "identity": {},
    "bootstrap": {},
    "random_oversample": {},
    "smote": {},
    "smotenc": {},
    "smoten": {"max_rows_per_class": 2000},
    "borderline_smote": {"max_rows_per_class": 5000},
    "svm_smote": {"max_rows_per_class": 2000},
    "adasyn": {"max_rows_per_class": 5000},
    "smote_tomek": {"max_rows_per_class": 5000},
    "smote_enn": {"max_rows_per_class": 5000},
    "gmm_smote": {},
    "gaussian_copula": {},
    "sequential": {},
    "arf": {},
    "rowgpt": {"epochs": 30},
    "forestflow": {},  # six to ten minutes on the default split (benchmarks/RESULTS.md "Tree generators")
    # Half its default 400 (early stopping kept 278 on the default split): a study's cells share
    # the cores, and 200 epochs stay under the timeout (benchmarks/RESULTS.md "Diffusion").
    "diffusion": {"epochs": 200},
    # Its sampling walks 100 full-vocabulary steps per row (minutes for the study's rows): 100
    # epochs (about 10 minutes on 2 cores) keep the cell under the timeout.
    "tabddpm": {"epochs": 100},
    "ctgan": {"epochs": 30},
    "tvae": {"epochs": 100},  # cheap, and its detection AUC still falls at 100 epochs (RESULTS "Convergence")
}

#: The default run's generators, chosen to keep ``make run`` near ten minutes on two cores:
#: the SMOTE family by four of its members (the others near-copy training rows the same way);
#: ``--generators all`` runs every registered generator.
DEFAULT_GENERATORS: tuple[str, ...] = (
    "autoregressive",  # first: the longest cell starts first
    "identity",
    "bootstrap",
    "random_oversample",
    "smote",
    "smotenc",
    "gmm_smote",
    "gaussian_copula",
    "sequential",
    "ctgan",
    "tvae",
)

#: ``clicksynth run --profile``: the ten-minute default, or every generator at converged epochs.
PROFILES = ("default", "thorough")
#: Metrics only the thorough profile computes: the L1-logistic paired differences cost more than
#: every other utility metric together.
THOROUGH_ONLY_METRICS = ("augment_delta_pr_auc_logistic", "tstr_delta_pr_auc_logistic")

#: Rows (whole users) the default run takes from the embedded data set.
DEFAULT_ROWS = 30_000


def default_config(
    *,
    dataset: str = "digix2020",
    path: str | None = None,
    target: str | None = None,
    rows: int | None = None,
    train_clicks: Sequence[int] = (),
    generators: Mapping[str, Mapping[str, Any]] | list[str] | None = None,
    ratio: float = DEFAULT_RATIO,
    seed: int = 0,
    max_rows: int = STUDY_MAX_ROWS,
    model: str = "xgboost",
    timeout: float = 1200.0,  # per cell: four times the longest default fit, so a busy machine does not fail it
    margin: float | None = None,
    profile: str = "default",
    repeats: int = 1,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> BenchConfig:
    """The configuration of ``clicksynth run``; each of ``train_clicks`` adds the data set again in
    a rare-click regime (that many training clicks; same holdout and test rows); ``repeats`` runs
    every cell again on another split and seed (the report pools them); ``params`` overrides
    generators' parameters ({generator: {parameter: value}}, after the budgets). ``profile``
    ``"thorough"`` runs every generator (unless ``generators`` names them) with the epochs where
    their convergence curves level off (``CONVERGED_EPOCHS``) instead of the ten-minute budgets."""
    from clicksynth.generators import GENERATORS, generator_class

    if profile not in PROFILES:
        from clicksynth.schema import suggest

        raise ConfigError(f"unknown profile {profile!r}{suggest(profile, PROFILES)}; choose {' or '.join(PROFILES)}")
    if generators is None and profile == "thorough":
        generators = ["all"]
    if generators is None or generators == ["all"]:
        names = (
            list(DEFAULT_GENERATORS)
            if generators is None
            else [*DEFAULT_GENERATORS, *(g for g in GENERATORS if g not in DEFAULT_GENERATORS)]
        )
        gens = {g: dict(BUDGETS.get(g, {})) for g in names}
    elif isinstance(generators, list):
        unknown = [g for g in generators if g not in GENERATORS]
        if unknown:
            from clicksynth.schema import suggest

            raise ConfigError(f"unknown generator {unknown[0]!r}{suggest(unknown[0], GENERATORS)}")
        gens = {g: dict(BUDGETS.get(g, {})) for g in generators}
    else:
        gens = {k: dict(v) for k, v in generators.items()}
    if profile == "thorough":
        gens = {g: {**params, "epochs": CONVERGED_EPOCHS[g]} if g in CONVERGED_EPOCHS else params for g, params in gens.items()}
    for g, overrides in (params or {}).items():
        if g not in gens:
            raise ConfigError(f"parameters for {g!r}, which this run does not include ({', '.join(gens)})")
        known = generator_class(g)().get_params()
        unknown = [k for k in overrides if k not in known]
        if unknown:
            from clicksynth.schema import suggest

            raise ConfigError(f"{g} has no parameter {unknown[0]!r}{suggest(unknown[0], list(known))}")
        gens[g] = {**gens[g], **overrides}
    if path is not None and target is None:
        raise ConfigError("a data file needs --target")
    name = Path(path).stem.split(".")[0] if path else dataset
    from clicksynth.bench.config import from_dict

    return from_dict(
        {
            "seed": seed,
            "repeats": repeats,
            "ratios": [ratio],
            "timeout": timeout,
            "references": True,
            "datasets": [
                {
                    k: v
                    for k, v in {"name": name, "path": path, "target": target, "rows": rows, "train_clicks": clicks}.items()
                    if v is not None
                }
                for clicks in (None, *train_clicks)
            ],
            "generators": gens,
            "evaluation": {
                "model": model,
                "max_rows": max_rows,
                **({"margin": margin} if margin is not None else {}),
                **({"metrics": _default_metrics()} if profile == "default" else {}),
            },
        },
        where="run options",
    )


def _default_metrics() -> list[str]:
    from clicksynth.metrics import DEFAULT_METRICS

    return [m for m in DEFAULT_METRICS if m not in THOROUGH_ONLY_METRICS]


def compute_embedding(run_dir: str | Path, *, real_rows: int = 400, rows_per_generator: int = 200, seed: int = 0) -> Path | None:
    """t-SNE coordinates of real training rows and each generator's rows (first dataset, repeat 0).

    Stored as ``embedding.parquet`` for the report; rows are embedded with the
    same mixed-type space the privacy metrics use.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    from clicksynth.schema import Schema
    from clicksynth.space import MixedSpace

    layout = RunLayout(run_dir)
    if not layout.results.exists():
        return None
    results = pd.read_parquet(layout.results, columns=["cell", "dataset", "generator", "repeat", "status"])
    results = results.drop_duplicates("cell")
    ok = results[(results["status"] == "ok") & (results["repeat"] == 0) & (results["generator"] != "holdout")]
    if ok.empty:
        return None
    ds = ok["dataset"].iloc[0]
    ok = ok[ok["dataset"] == ds]
    train_path = layout.split(ds, 0).train
    if not train_path.exists():
        return None
    rng = np.random.default_rng(seed)
    train = pd.read_parquet(train_path)
    frames = {"real": train.sample(min(real_rows, len(train)), random_state=seed)}
    for cell, gen in zip(ok["cell"], ok["generator"]):
        p = layout.cell(cell).synthetic
        if p.exists():
            syn = pd.read_parquet(p)
            frames[gen] = syn.sample(min(rows_per_generator, len(syn)), random_state=seed)
    cols = [c for c in frames["real"].columns if all(c in f.columns for f in frames.values())]
    schema = Schema.infer(train[cols])
    space = MixedSpace(schema, [c for c in cols if schema[c].kind != "id"], random_state=seed).fit(train)
    emb = np.vstack([space.prepare(f[cols]).embedding for f in frames.values()])
    reduced = PCA(n_components=min(30, emb.shape[1], len(emb) - 1), random_state=seed).fit_transform(emb)
    xy = TSNE(n_components=2, perplexity=30, init="pca", random_state=int(rng.integers(0, 2**31 - 1))).fit_transform(reduced)
    labels = np.concatenate([[name] * len(f) for name, f in frames.items()])
    out = layout.embedding
    write_table(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "source": labels}), out)
    return out


def new_run_dir(root: str | Path = "runs") -> Path:
    """``runs/<timestamp>`` (a suffix keeps two runs in one second apart)."""
    root = Path(root)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / stamp
    i = 1
    while path.exists():
        path = root / f"{stamp}-{i}"
        i += 1
    path.mkdir(parents=True)
    return path


def point_latest(run_dir: Path) -> None:
    """Make ``<root>/latest`` a relative symlink to ``run_dir`` (replaced atomically)."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def preflight(config: BenchConfig, root: str | Path) -> None:
    """Check what a study needs before its first cell: every data set loads and splits with both
    classes in its training rows, each ratio is above the data's own, and ``root`` is writable.
    Raises the first problem as a :class:`DataError` or :class:`ConfigError` naming the data set."""
    from clicksynth.bench.cell import fewer_clicks, load_split, split_seed
    from clicksynth.exceptions import ClicksynthError, DataError
    from clicksynth.rebalance import synthetic_count

    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write the run folder under {root}: {exc.strerror or exc}") from None
    for ds in config.datasets:
        try:
            train, _, _, schema = load_split(
                ds.name, ds.path, ds.target, ds.rows, tuple(config.fractions), split_seed(config.seed, ds.name, 0)
            )
            if ds.train_clicks is not None:
                train = fewer_clicks(train, schema, ds.train_clicks, 0)
            assert schema.target is not None
            y = (train[schema.target] == schema.positive_label).to_numpy()
            if y.all() or not y.any():
                raise DataError(f"the training rows hold a single class ({int(y.sum())} clicks in {len(y)} rows)")
            for ratio in config.ratios:
                synthetic_count(int(y.sum()), int((~y).sum()), ratio=ratio)
        except ClicksynthError as exc:
            raise type(exc)(f"data set {ds.label!r}: {exc}") from None
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"data set {ds.label!r} cannot be read and split: {type(exc).__name__}: {exc}") from None


def run_study(
    config: BenchConfig,
    *,
    run_dir: str | Path | None = None,
    root: str | Path = "runs",
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    on_cell: Callable[[Cell, pd.DataFrame], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Path:
    """Check the inputs (:func:`preflight`), run the study and write its report; returns the run
    folder. Cells run one after another in this process, or on Dask when ``scheduler`` (an
    address) or ``workers`` (a local cluster's size) is given; ``on_event`` then sees nothing.
    Raises :class:`StudyError` (and writes no report) when every generator cell failed."""
    from clicksynth.exceptions import StudyError
    from clicksynth.report import render

    preflight(config, Path(run_dir).parent if run_dir is not None else root)
    out = Path(run_dir) if run_dir is not None else new_run_dir(root)
    out.mkdir(parents=True, exist_ok=True)
    local = scheduler is None and workers is None
    results = run_grid(config, out, local=local, scheduler=scheduler, workers=workers, on_event=on_event, on_cell=on_cell)
    made = results[results["generator"] != HOLDOUT] if len(results) else results
    if not len(made) or (made["status"] != "ok").all():
        reasons = made.drop_duplicates("cell")[["generator", "status", "error"]] if len(made) else None
        listed = "; ".join(f"{r.generator}: {r.status}: {r.error}" for r in reasons.itertuples()) if reasons is not None else "no cells"
        raise StudyError(f"every generator cell failed, so there is no report ({listed}); details: {RunLayout(out).failures}")
    if on_stage:
        on_stage("embedding rows for the report")
    compute_embedding(out, seed=config.seed)
    if on_stage:
        on_stage("rendering the report")
    render(out, results)
    point_latest(out)
    return out
