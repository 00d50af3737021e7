"""Exception and warning types.

Every error the library raises on purpose is a :class:`ClicksynthError`; the
data and configuration errors also derive from :class:`ValueError` so code
written against scikit-learn conventions keeps catching them.
"""

from __future__ import annotations

__all__ = [
    "ClicksynthError",
    "ClicksynthWarning",
    "ConfigError",
    "DataError",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
    "StudyError",
    "TrainingError",
]


class ClicksynthError(Exception):
    """Base class of every error raised by clicksynth."""


class DataError(ClicksynthError, ValueError):
    """The input data is unusable: the message names the file, column or row and the fix."""


class ModelFileError(DataError):
    """A model file is damaged, crafted or from elsewhere: the message names the file and the fault."""


class ConfigError(ClicksynthError, ValueError):
    """A parameter, override file or benchmark configuration is invalid."""


class NotFittedError(ClicksynthError, AttributeError):
    """A generator or encoder was used before ``fit``."""


class MissingDependencyError(ClicksynthError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""


class TrainingError(ClicksynthError, RuntimeError):
    """Model training failed (for example the loss became NaN)."""


class StudyError(ClicksynthError, RuntimeError):
    """Every cell of a study failed: there is nothing to report (the message names why)."""


class ClicksynthWarning(UserWarning):
    """A recoverable quirk in the data or configuration."""
