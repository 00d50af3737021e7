"""Reading a model file without trusting it.

A model file is a zip of ``model.json`` (the header), ``arrays.npz`` (read with
``allow_pickle=False``) and ``frames/<name>.parquet``. Before anything is built from it:

* the archive: only those members, each and all together under a size cap, and no member
  inflating more than ``MAX_RATIO`` times (a zip bomb is refused before it is inflated);
* the header: every key present with its JSON type, a registered generator, parameters the
  generator declares with values of their declared type, class counts that are counts;
* the arrays: numbers only (no object arrays);
* the state: loaded into the generator, then a few rows drawn per class through the same
  path as ``sample`` (with a throwaway stream), so a file whose state does not fit its
  parameters fails here, naming what, not later inside ``sample``.

Neural generators check declared layer sizes against the stored weights before allocating
(:func:`clicksynth.generators.neural.training.load_module`).
Every failure is a :class:`~clicksynth.exceptions.ModelFileError` naming the file and the fault.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.exceptions import ModelFileError

__all__ = ["MAX_BYTES", "MAX_RATIO", "check_params", "read"]

#: Largest uncompressed model file (all members together).
MAX_BYTES = 16 * 2**30
#: Largest inflation of a member above 1 MiB: model members deflate 2-10x; bombs 1000x.
MAX_RATIO = 200
_FRAME = re.compile(r"frames/([A-Za-z0-9_.\-]+)\.parquet")

# key -> JSON type(s) of the header.
_HEADER: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "version": int,
    "generator": str,
    "params": dict,
    "schema": dict,
    "feature_names": list,
    "dtypes": dict,
    "target": str,
    "class_counts": dict,
    "categories": dict,
    "ranges": dict,
    "sample_seed": int,
    "state": dict,
    "frames": list,
}


def read(path: Path, fmt: str, version: int) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, pd.DataFrame]]:
    """Header, arrays and frames of a model file, each checked (see the module docstring)."""
    try:
        with zipfile.ZipFile(path) as zf:
            _check_members(path, zf)
            header = _header(path, zf.read("model.json"), fmt, version)
            with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            frames = {k: pd.read_parquet(io.BytesIO(zf.read(f"frames/{k}.parquet"))) for k in header["frames"]}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError, NotImplementedError) as exc:
        raise ModelFileError(f"{path} is not a readable clicksynth model file: {exc}") from exc
    for name, a in arrays.items():
        if a.dtype.kind not in "biufUS":
            raise ModelFileError(f"{path}: array {name!r} has dtype {a.dtype}; model arrays hold numbers")
    return header, arrays, frames


def _check_members(path: Path, zf: zipfile.ZipFile) -> None:
    infos = zf.infolist()
    names = {i.filename for i in infos}
    for need in ("model.json", "arrays.npz"):
        if need not in names:
            raise ModelFileError(f"{path} is not a clicksynth model file: no {need}")
    stray = sorted(n for n in names - {"model.json", "arrays.npz"} if not _FRAME.fullmatch(n))
    if stray:
        raise ModelFileError(f"{path}: unexpected member {stray[0]!r} in the model file")
    total = sum(i.file_size for i in infos)
    if total > MAX_BYTES:
        raise ModelFileError(f"{path} would inflate to {total / 2**30:.1f} GiB (limit {MAX_BYTES / 2**30:.0f} GiB)")
    for i in infos:
        if i.file_size > 2**20 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise ModelFileError(
                f"{path}: member {i.filename!r} inflates {i.file_size / max(i.compress_size, 1):.0f}-fold "
                f"({i.compress_size} to {i.file_size} bytes; a model member inflates at most {MAX_RATIO}-fold)"
            )


def _header(path: Path, raw: bytes, fmt: str, version: int) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: model.json is not JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise ModelFileError(f"{path} is not a clicksynth model file")
    if header.get("version") != version:
        raise ModelFileError(f"{path} has model format version {header.get('version')}, this clicksynth reads {version}")
    for key, kind in _HEADER.items():
        if key not in header:
            raise ModelFileError(f"{path}: the header has no {key!r}")
        value = header[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ModelFileError(f"{path}: header {key!r} is {type(value).__name__}, expected {_name(kind)}")
    counts = header["class_counts"]
    if set(counts) != {"0", "1"} or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        raise ModelFileError(f"{path}: header 'class_counts' must give a count >= 0 for classes 0 and 1, got {counts}")
    if not all(isinstance(f, str) for f in header["feature_names"] + header["frames"]):
        raise ModelFileError(f"{path}: header 'feature_names' and 'frames' must be lists of names")
    return header


def _name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


def check_params(path: Path, klass: type, params: dict[str, Any]) -> None:
    """Parameters the generator declares, each of the type its default has."""
    declared = inspect.signature(klass).parameters
    for key, value in params.items():
        if key not in declared:
            raise ModelFileError(f"{path}: {klass.__name__} has no parameter {key!r}")
        default = declared[key].default
        if default is inspect.Parameter.empty or default is None or value is None:
            continue
        if not _same_kind(value, default):
            raise ModelFileError(f"{path}: parameter {key}={value!r} is {type(value).__name__}, expected {type(default).__name__}")


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and np.isfinite(value) and (isinstance(default, float) or isinstance(value, int))
    if isinstance(default, (list, tuple)):
        return isinstance(value, list)
    return isinstance(value, type(default))
