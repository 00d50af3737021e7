"""Preparation of raw ad logs: list features, DIGIX ads + feeds merge, pruning, bucketing."""

from __future__ import annotations

from clicksynth.prep.digix import (
    aggregate_feeds,
    bucket_rare,
    downcast,
    merge_feeds,
    parse_datetimes,
    prepare,
    prune,
)
from clicksynth.prep.lists import ListFeaturizer, parse_list

__all__ = [
    "ListFeaturizer",
    "aggregate_feeds",
    "bucket_rare",
    "downcast",
    "merge_feeds",
    "parse_datetimes",
    "parse_list",
    "prepare",
    "prune",
]
