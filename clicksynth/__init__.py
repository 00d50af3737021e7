"""clicksynth: synthetic data for CTR modelling on imbalanced ad logs, with an honest scorecard.

Importing this package loads neither torch nor XGBoost; they load when a
generator or model that needs them is used.
"""

from __future__ import annotations

from clicksynth.datasets import list_datasets, load_dataset
from clicksynth.exceptions import (
    ClicksynthError,
    ClicksynthWarning,
    ConfigError,
    DataError,
    MissingDependencyError,
    NotFittedError,
    TrainingError,
)
from clicksynth.generators import GENERATORS, Generator, get_generator, list_generators
from clicksynth.io import read_table, scan_table, write_table
from clicksynth.schema import Column, Schema
from clicksynth.split import split_frame, subsample

__version__ = "0.1.0"

__all__ = [
    "GENERATORS",
    "ClicksynthError",
    "ClicksynthWarning",
    "Column",
    "ConfigError",
    "DataError",
    "Generator",
    "MissingDependencyError",
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
