"""What a column's *name* says about its kind, for ad logs like DIGIX 2020 / 2022.

:meth:`clicksynth.schema.Schema.infer` reads dtypes and values first; these name
rules settle what values cannot (an integer ``slot_id`` is a code, not a number;
``uid`` is a user key). They are data-set knowledge, kept here so the schema
module stays generic; a table with other conventions overrides kinds in its
schema TOML instead.
"""

from __future__ import annotations

import re

__all__ = ["is_categorical_name", "is_datetime_name", "is_id_name", "is_list_name", "is_user_name"]

# User / row keys in the DIGIX tables and common logs.
_ID_NAME = re.compile(r"^(log_?id|row_?id|uid|user_?id|u_?user_?id|userid|id|impression_?id|request_?id)$", re.I)
_USER_NAME = re.compile(r"^(uid|user_?id|u_?user_?id|userid)$", re.I)
# Integer-coded categories: ids, codes, classes and the DIGIX user/device attributes.
_CATEGORICAL_NAME = re.compile(
    r"(_id$|id$|_cd$|class|city|age$|gender|residence|career|device|net_type|emui|slot|site|"
    r"tags|indu|series|group|rank|grade|price|_type|dtype|section|_ch$|_m$|_pl$|entity|cat$)",
    re.I,
)
# Caret lists of DIGIX (ad_click_list_v001, u_newsCatInterests, communication_onlinerate, ...).
_LIST_NAME = re.compile(r"(_list|interests|dislike|onlinerate|ca2_news|entities)", re.I)
_DATETIME_NAME = re.compile(r"^(pt_d|e_et|date|day|timestamp|time|event_time)$", re.I)


def is_id_name(name: str) -> bool:
    return _ID_NAME.match(name) is not None


def is_user_name(name: str) -> bool:
    return _USER_NAME.match(name) is not None


def is_categorical_name(name: str) -> bool:
    return _CATEGORICAL_NAME.search(name) is not None


def is_list_name(name: str) -> bool:
    return _LIST_NAME.search(name) is not None


def is_datetime_name(name: str) -> bool:
    return _DATETIME_NAME.match(name) is not None
