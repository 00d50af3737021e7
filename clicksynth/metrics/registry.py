"""The metric registry: every family's declared metrics, joined in a fixed order.

A metric is declared beside its code (``@FIDELITY.metric(...)`` in
``fidelity.py``, ``@UTILITY.metric`` / ``UTILITY.add`` in ``utility.py``,
``@PRIVACY.metric`` in ``privacy.py``); this module lists the families, not the
metrics, so adding a metric touches one file.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from clicksynth.exceptions import ConfigError
from clicksynth.metrics import fidelity, privacy, utility
from clicksynth.metrics._base import MetricSpec
from clicksynth.schema import suggest

__all__ = ["DEFAULT_METRICS", "FAMILIES", "METRICS", "SUBJECT_FREE", "SYNTHETIC_ONLY", "list_metrics", "select"]

FAMILIES = ("fidelity", "utility", "privacy")

#: Every registered metric by name, families in the order of FAMILIES.
METRICS: dict[str, MetricSpec] = {**fidelity.FIDELITY.specs, **utility.UTILITY.specs, **privacy.PRIVACY.specs}

#: trtr_* do not depend on the synthetic rows: computed once, reported as subject "real".
SUBJECT_FREE = frozenset(name for name in METRICS if name.startswith("trtr_"))
#: Reference subjects skip metrics whose point is the generator itself.
SYNTHETIC_ONLY = frozenset({"utility_curve"})

#: The default selection: all but accuracy, which is shown on request and never ranks.
DEFAULT_METRICS = tuple(n for n in METRICS if not n.endswith("_accuracy"))


def list_metrics() -> pd.DataFrame:
    """One row per registered metric: family, direction, bounds, ideal, needs, description."""
    return pd.DataFrame(
        [
            {
                "metric": s.name,
                "family": s.family,
                "higher_is_better": s.higher_is_better,
                "lower": s.bounds[0],
                "upper": s.bounds[1],
                "ideal": s.ideal,
                "needs_holdout": s.needs_holdout,
                "needs_test": s.needs_test,
                "description": s.description,
            }
            for s in METRICS.values()
        ]
    )


def select(metrics: Iterable[str] | None, families: Iterable[str] | None) -> list[MetricSpec]:
    names = list(metrics) if metrics is not None else list(DEFAULT_METRICS)
    for n in names:
        if n not in METRICS:
            raise ConfigError(f"unknown metric {n!r}{suggest(n, METRICS)}")
    fam = set(families) if families is not None else set(FAMILIES)
    bad = fam - set(FAMILIES)
    if bad:
        raise ConfigError(f"unknown metric family {sorted(bad)[0]!r}; choose from {', '.join(FAMILIES)}")
    return [METRICS[n] for n in names if METRICS[n].family in fam]
