"""clicksynth: synthetic data for CTR modelling on imbalanced ad logs, with an honest scorecard.

Importing this package loads neither torch nor XGBoost; they load when a
generator or model that needs them is used.
"""

from __future__ import annotations

from typing import Any

from clicksynth.datasets import list_datasets, load_dataset
from clicksynth.exceptions import (
    ClicksynthError,
    ClicksynthWarning,
    ConfigError,
    DataError,
    MissingDependencyError,
    ModelFileError,
    NotFittedError,
    TrainingError,
)
from clicksynth.io import read_table, scan_table, write_table
from clicksynth.schema import Column, Schema
from clicksynth.split import split_frame, subsample

__version__ = "0.1.0"

# Names whose modules pull in scikit-learn, XGBoost or torch are resolved on
# first use, so `import clicksynth` stays fast and light.
_LAZY = {
    "GENERATORS": "clicksynth.generators",
    "Generator": "clicksynth.generators",
    "get_generator": "clicksynth.generators",
    "list_generators": "clicksynth.generators",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'clicksynth' has no attribute {name!r}")


__all__ = [
    "GENERATORS",
    "ClicksynthError",
    "ClicksynthWarning",
    "Column",
    "ConfigError",
    "DataError",
    "Generator",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
    "Schema",
    "TrainingError",
    "__version__",
    "get_generator",
    "list_datasets",
    "list_generators",
    "load_dataset",
    "read_table",
    "scan_table",
    "split_frame",
    "subsample",
    "write_table",
]
