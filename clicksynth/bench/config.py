"""Benchmark configuration: a TOML file becomes frozen dataclasses, validated once.

```toml
seed = 0
repeats = 1
ratios = [0.25]                 # minority / majority after augmentation
timeout = 900                   # seconds per cell
references = true               # add the "holdout" (fresh real data) cell

[[datasets]]
name = "digix2020"              # embedded or local dataset ...
# path = "data/log.csv.gz"      # ... or a file, with
# target = "label"
rows = 20000                    # optional user-grouped subsample
# train_clicks = 100            # optional rare-click regime: keep this many training clicks

[generators.smotenc]            # one table per generator, its parameters inside
[generators.ctgan]
epochs = 10
max_time = 120

[evaluation]
model = "xgboost"
max_rows = 5000
margin = 0.005                  # non-inferiority margin of paired PR-AUC differences
# metrics = ["tv_complement", "tstr_pr_auc", "dcr_share"]
```
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clicksynth.exceptions import ConfigError
from clicksynth.schema import suggest

__all__ = [
    "CONVERGED_EPOCHS",
    "CONVERGED_ON_ROWS",
    "DEFAULT_FRACTIONS",
    "DEFAULT_RATIO",
    "STUDY_MAX_ROWS",
    "BenchConfig",
    "Cell",
    "DatasetSpec",
    "EvalSpec",
    "GeneratorSpec",
    "load_config",
]

#: Minority / majority share the clicks are augmented to, unless a grid says otherwise.
DEFAULT_RATIO = 0.25
#: Row cap of the distance-based metrics in a study (half the library default: a grid scores many cells).
STUDY_MAX_ROWS = 5_000
#: Train / holdout / test shares of a study's split (whole users).
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.6, 0.2, 0.2)
#: Epochs where each trainable generator's detection AUC levels off on the main job's split
#: (``benchmarks/convergence.py``; RESULTS "Convergence"; CTGAN and TVAE never leave the ceiling
#: there, so the largest measured; the autoregressive model's and diffusion's are caps, their early
#: stopping decides; diffusion's from benchmarks/diffusion.py, RESULTS "Diffusion"):
#: the budgets of ``--profile thorough``, and a cell trained for fewer is marked under-trained.
CONVERGED_EPOCHS: dict[str, int] = {"ctgan": 100, "tvae": 100, "autoregressive": 45, "diffusion": 400}
#: Training rows of the main job's split, where those epochs were measured: on another table a
#: generator needs as many rows seen (epochs x training rows), not as many epochs.
CONVERGED_ON_ROWS = 17_974

_TOP = {"seed", "repeats", "ratios", "timeout", "references", "datasets", "generators", "evaluation", "fractions"}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the grid: an embedded/local name or a file with its target."""

    name: str
    path: str | None = None
    target: str | None = None
    rows: int | None = None
    train_clicks: int | None = None  # the rare-click regime: this many training clicks (holdout, test untouched)

    @property
    def label(self) -> str:
        """The name in results and leaderboards: a rare-click regime is a data set of its own."""
        return self.name if self.train_clicks is None else f"{self.name}-{self.train_clicks}clicks"


@dataclass(frozen=True)
class GeneratorSpec:
    """A registered generator and its parameters."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def kwargs(self) -> dict[str, Any]:
        return {k: (tuple(v) if isinstance(v, list) else v) for k, v in self.params}


@dataclass(frozen=True)
class EvalSpec:
    """How every cell is scored."""

    model: str = "xgboost"
    max_rows: int = STUDY_MAX_ROWS
    metrics: tuple[str, ...] | None = None
    margin: float | None = None  # non-inferiority margin of the paired PR-AUC differences (None: the scorecard's)


@dataclass(frozen=True)
class BenchConfig:
    """The whole grid: datasets x generators x ratios x repeats."""

    datasets: tuple[DatasetSpec, ...]
    generators: tuple[GeneratorSpec, ...]
    ratios: tuple[float, ...] = (DEFAULT_RATIO,)
    repeats: int = 1
    seed: int = 0
    timeout: float = 900.0
    references: bool = True
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    evaluation: EvalSpec = field(default_factory=EvalSpec)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["generators"] = {g.name: dict(g.params) for g in self.generators}
        return d

    def digest(self) -> str:
        """Hash of everything that changes a cell's numbers except the cell keys."""
        keyed = {"evaluation": asdict(self.evaluation), "fractions": self.fractions, "seed": self.seed}
        return hashlib.blake2b(json.dumps(keyed, sort_keys=True, default=str).encode(), digest_size=6).hexdigest()


@dataclass(frozen=True)
class Cell:
    """One (dataset, generator, ratio, repeat) of a grid, with everything its worker
    needs: it crosses the process boundary as JSON (:meth:`to_json` / :meth:`from_json`)."""

    dataset: DatasetSpec
    generator: GeneratorSpec
    ratio: float
    repeat: int
    seed: int
    base_seed: int
    digest: str
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    evaluation: EvalSpec = field(default_factory=EvalSpec)

    @property
    def id(self) -> str:
        """Stable name of the cell: the generator and a hash of what changes its numbers
        (``digest`` covers the grid-wide settings: evaluation, fractions, seed)."""
        key = json.dumps(
            [asdict(self.dataset), self.generator.name, list(self.generator.params), self.ratio, self.repeat, self.seed, self.digest],
            sort_keys=True,
            default=str,
        )
        return f"{self.generator.name}-{hashlib.blake2b(key.encode(), digest_size=6).hexdigest()}"

    @property
    def label(self) -> str:
        return f"{self.dataset.label} / {self.generator.name} / ratio {self.ratio} / repeat {self.repeat}"

    def keys(self) -> dict[str, Any]:
        """The columns that name this cell in every results row."""
        return {
            "cell": self.id,
            "dataset": self.dataset.label,
            "generator": self.generator.name,
            "params": json.dumps(dict(self.generator.params), sort_keys=True),
            "ratio": self.ratio,
            "repeat": self.repeat,
            "seed": self.seed,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> Cell:
        d = json.loads(text)
        ev, fr = d["evaluation"], d["fractions"]
        return cls(
            dataset=DatasetSpec(**d["dataset"]),
            generator=GeneratorSpec(d["generator"]["name"], tuple((k, v) for k, v in d["generator"]["params"])),
            ratio=float(d["ratio"]),
            repeat=int(d["repeat"]),
            seed=int(d["seed"]),
            base_seed=int(d["base_seed"]),
            digest=d["digest"],
            fractions=(float(fr[0]), float(fr[1]), float(fr[2])),
            evaluation=EvalSpec(
                model=ev["model"],
                max_rows=int(ev["max_rows"]),
                metrics=tuple(ev["metrics"]) if ev["metrics"] is not None else None,
                margin=float(ev["margin"]) if ev.get("margin") is not None else None,
            ),
        )


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def from_dict(data: Mapping[str, Any], *, where: str = "config") -> BenchConfig:
    """Validate a parsed TOML document (or an equivalent dict)."""
    from clicksynth.generators import GENERATORS, generator_class
    from clicksynth.metrics import METRICS

    unknown = set(data) - _TOP
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{where}: unknown key {key!r}{suggest(key, _TOP)}")
    raw_ds = data.get("datasets")
    if not isinstance(raw_ds, list) or not raw_ds:
        raise ConfigError(f"{where}: give at least one [[datasets]] table")
    datasets = []
    for i, d in enumerate(raw_ds):
        _require(isinstance(d, Mapping), f"{where}: datasets[{i}] must be a table")
        extra = set(d) - {"name", "path", "target", "rows", "train_clicks"}
        _require(not extra, f"{where}: datasets[{i}] has unknown key(s) {sorted(extra)}")
        name = d.get("name") or (Path(d["path"]).stem if d.get("path") else None)
        _require(bool(name), f"{where}: datasets[{i}] needs a name or a path")
        if d.get("path"):
            _require(bool(d.get("target")), f"{where}: datasets[{i}] ({name}) is a file: give its target column")
        rows = d.get("rows")
        _require(rows is None or (isinstance(rows, int) and rows > 0), f"{where}: datasets[{i}].rows must be a positive integer")
        clicks = d.get("train_clicks")
        _require(
            clicks is None or (isinstance(clicks, int) and clicks >= 2), f"{where}: datasets[{i}].train_clicks must be an integer >= 2"
        )
        datasets.append(DatasetSpec(name=str(name), path=d.get("path"), target=d.get("target"), rows=rows, train_clicks=clicks))
    labels = [d.label for d in datasets]
    dup = next((x for x in labels if labels.count(x) > 1), None)
    _require(dup is None, f"{where}: data set {dup!r} appears twice")
    raw_gen = data.get("generators")
    if not isinstance(raw_gen, Mapping) or not raw_gen:
        raise ConfigError(f"{where}: give at least one [generators.<name>] table")
    generators = []
    for name, params in raw_gen.items():
        _require(name in GENERATORS, f"{where}: unknown generator {name!r}{suggest(name, GENERATORS)}")
        _require(isinstance(params, Mapping), f"{where}: [generators.{name}] must be a table of parameters")
        valid = generator_class(name)().get_params()
        for key in params:
            _require(key in valid and key != "random_state", f"{where}: generator {name!r} has no parameter {key!r}{suggest(key, valid)}")
        generators.append(GeneratorSpec(name, tuple(sorted(params.items()))))
    ratios = tuple(float(r) for r in data.get("ratios", [DEFAULT_RATIO]))
    _require(bool(ratios) and all(0 < r <= 1 for r in ratios), f"{where}: ratios must be in (0, 1], got {list(ratios)}")
    repeats = data.get("repeats", 1)
    _require(isinstance(repeats, int) and repeats >= 1, f"{where}: repeats must be a positive integer")
    timeout = float(data.get("timeout", 900))
    _require(timeout > 0, f"{where}: timeout must be positive")
    shares = [float(f) for f in data.get("fractions", DEFAULT_FRACTIONS)]
    _require(
        len(shares) == 3 and abs(sum(shares) - 1) < 1e-9 and min(shares) > 0,
        f"{where}: fractions must be three positive shares summing to 1",
    )
    fractions = (shares[0], shares[1], shares[2])
    ev = dict(data.get("evaluation", {}))
    extra = set(ev) - {"model", "max_rows", "metrics", "margin"}
    _require(not extra, f"{where}: [evaluation] has unknown key(s) {sorted(extra)}")
    metrics = ev.get("metrics")
    if metrics is not None:
        for m in metrics:
            _require(m in METRICS, f"{where}: unknown metric {m!r}{suggest(m, METRICS)}")
        metrics = tuple(metrics)
    _require(
        ev.get("model", "xgboost") in ("xgboost", "lightgbm", "catboost", "logistic"),
        f"{where}: unknown evaluation model {ev.get('model')!r}",
    )
    margin = ev.get("margin")
    _require(
        margin is None or (isinstance(margin, (int, float)) and 0 <= margin < 1),
        f"{where}: [evaluation] margin must be in [0, 1), got {margin!r}",
    )
    evaluation = EvalSpec(
        model=ev.get("model", "xgboost"),
        max_rows=int(ev.get("max_rows", STUDY_MAX_ROWS)),
        metrics=metrics,
        margin=float(margin) if margin is not None else None,
    )
    return BenchConfig(
        datasets=tuple(datasets),
        generators=tuple(generators),
        ratios=ratios,
        repeats=repeats,
        seed=int(data.get("seed", 0)),
        timeout=timeout,
        references=bool(data.get("references", True)),
        fractions=fractions,
        evaluation=evaluation,
    )


def load_config(path: str | Path) -> BenchConfig:
    """Read and validate a benchmark TOML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from exc
    return from_dict(data, where=str(p))
