"""The generator registry: an explicit table of lazy ``"module:Class"`` strings.

Nothing is discovered by globbing or ``__subclasses__()``: a generator exists
when it is listed here, and importing clicksynth imports none of them (so
torch and imbalanced-learn load only when a generator that needs them is used).
"""

from __future__ import annotations

import importlib
from typing import Any

from clicksynth.exceptions import ConfigError
from clicksynth.generators.base import Generator
from clicksynth.schema import suggest

__all__ = ["GENERATORS", "Generator", "generator_class", "get_generator", "list_generators"]

GENERATORS: dict[str, str] = {
    # Baselines: the references every report shows.
    "identity": "clicksynth.generators.baselines:Identity",
    "bootstrap": "clicksynth.generators.baselines:Bootstrap",
    # Interpolation family (imbalanced-learn on our reversible encoding).
    "random_oversample": "clicksynth.generators.smote:RandomOversample",
    "smote": "clicksynth.generators.smote:Smote",
    "smotenc": "clicksynth.generators.smote:SmoteNC",
    "smoten": "clicksynth.generators.smote:SmoteN",
    "borderline_smote": "clicksynth.generators.smote:BorderlineSmote",
    "svm_smote": "clicksynth.generators.smote:SvmSmote",
    "adasyn": "clicksynth.generators.smote:Adasyn",
    "smote_tomek": "clicksynth.generators.smote:SmoteTomek",
    "smote_enn": "clicksynth.generators.smote:SmoteEnn",
    "gmm_smote": "clicksynth.generators.gmm_smote:GMMSmote",
    # Statistical and neural models.
    "gaussian_copula": "clicksynth.generators.copula:GaussianCopula",
    "sequential": "clicksynth.generators.sequential:SequentialTrees",
    "arf": "clicksynth.generators.arf:AdversarialRandomForest",
    "forestflow": "clicksynth.generators.forestflow:ForestFlow",
    "ctgan": "clicksynth.generators.neural.ctgan:CTGAN",
    "tvae": "clicksynth.generators.neural.tvae:TVAE",
    "autoregressive": "clicksynth.generators.neural.autoregressive:AutoregressiveTransformer",
    "rowgpt": "clicksynth.generators.neural.rowgpt:RowGPT",
    "diffusion": "clicksynth.generators.neural.diffusion:Diffusion",
    "tabddpm": "clicksynth.generators.neural.diffusion:TabDDPM",
}


def generator_class(name: str) -> type[Generator]:
    """The class registered under ``name`` (imported on first use)."""
    if name not in GENERATORS:
        raise ConfigError(f"unknown generator {name!r}{suggest(name, GENERATORS)}. Available: {', '.join(GENERATORS)}")
    module, _, attr = GENERATORS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def get_generator(name: str, **params: Any) -> Generator:
    """Instantiate a registered generator; unknown parameters raise ConfigError."""
    cls = generator_class(name)
    valid = cls().get_params(deep=False)
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise ConfigError(
            f"generator {name!r} has no parameter {unknown[0]!r}{suggest(unknown[0], valid)}. Its parameters are {', '.join(sorted(valid))}"
        )
    return cls(**params)


def list_generators() -> list[str]:
    """Registered generator names, in registry order."""
    return list(GENERATORS)
