"""Reading and writing tables: CSV, gzipped CSV and Parquet through Polars.

A CSV is parsed once; its Parquet copy is cached under a key made from the
file's *content* (SHA-256), so a second load of the same bytes is a Parquet
read whatever the file is called. A small index maps (path, size, mtime) to the
digest so an unchanged file is not even re-hashed.

Memory: integer columns are parsed straight into Int32 when a first look says
they fit (DIGIX codes all do), which roughly halves the resident size of an
ad log; if a later value does not fit, the parse is redone at full width.
Every write goes to a temporary name in the destination folder and is renamed
into place, so an interrupted write leaves no partial file.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import polars as pl

from clicksynth._frame import to_polars
from clicksynth.exceptions import DataError

__all__ = ["atomic_path", "cache_dir", "check_writable", "clear_cache", "content_digest", "read_table", "scan_table", "write_table"]

log = logging.getLogger(__name__)

_CACHE_VERSION = "2"  # 2: files with a repeated header name are refused, not cached
_SAMPLE_ROWS = 10_000
_INT32_LIMIT = 2**30  # headroom below 2**31 for values unseen in the first rows
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
    b"PK\x03\x04": "zip",
    b"(\xb5/\xfd": "zstd",
    b"PAR1": "parquet",
}


def cache_dir(path: str | Path | None = None) -> Path:
    """The Parquet cache folder: ``path``, ``$CLICKSYNTH_CACHE_DIR`` or ``~/.cache/clicksynth``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("CLICKSYNTH_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clicksynth"


def clear_cache(path: str | Path | None = None) -> int:
    """Delete cached Parquet copies; returns how many files were removed."""
    folder = cache_dir(path)
    removed = 0
    if folder.is_dir():
        for f in folder.glob("*.parquet"):
            f.unlink(missing_ok=True)
            removed += 1
        (folder / "index.json").unlink(missing_ok=True)
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    On any exception (KeyboardInterrupt included) the temporary file is removed
    and ``path`` is left as it was.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the usual umask-based mode.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_folder(folder: str | Path) -> Iterator[Path]:
    """Yield a staging folder beside ``folder`` for a set of files written together; on success
    move them all into ``folder`` (made if needed), on any error remove them: a set is never
    half-written (``split``'s three parts, ``evaluate``'s scores)."""
    dest = Path(folder)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    try:
        yield staging
        dest.mkdir(exist_ok=True)
        for f in sorted(staging.iterdir()):
            os.chmod(f, 0o666 & ~_umask())
            os.replace(f, dest / f.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _format_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv.gz", ".csv", ".gz", ".txt", ".tsv")):
        return "csv"
    raise DataError(f"{path}: unknown file type; clicksynth reads .csv, .csv.gz and .parquet")


def check_writable(path: str | Path, *, table: bool = True, folder: bool = False) -> Path:
    """Fail now, before any work, if ``path`` cannot be written: an unknown table extension
    (``table``), a folder where a file is wanted (or a file where a ``folder`` is), or no
    permission to create it. Creates nothing."""
    p = Path(path)
    if table and not folder:
        _format_of(p)
    if p.exists() and p.is_dir() != folder:
        raise DataError(f"cannot write {p}: it is a {'file' if folder else 'folder'}; give a {'folder' if folder else 'file'} path")
    base = p if folder else p.parent
    while not base.exists():  # the nearest existing ancestor decides whether the rest can be made
        base = base.parent
    if not base.is_dir():
        raise DataError(f"cannot write {p}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise DataError(f"cannot write {p}: no permission to write in {base}")
    return p


def _sniff_compression(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(8)
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def content_digest(path: str | Path, *, cache: str | Path | None = None) -> str:
    """SHA-256 of the file's bytes, memoised on (path, size, mtime) in the cache index."""
    p = Path(path).resolve()
    st = p.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    index_file = cache_dir(cache) / "index.json"
    index = _read_index(index_file)
    entry = index.get(str(p))
    if entry and entry.get("stat") == stamp:
        return str(entry["sha256"])
    with open(p, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    index[str(p)] = {"stat": stamp, "sha256": digest}
    _write_index(index_file, index)
    return digest


def _read_index(index_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_index(index_file: Path, index: dict[str, Any]) -> None:
    try:
        with atomic_path(index_file) as tmp:
            tmp.write_text(json.dumps(index), encoding="utf-8")
    except OSError as exc:  # a read-only cache must not stop a read
        log.warning("could not update cache index %s: %s", index_file, exc)


def read_table(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    cache: bool = True,
    cache_path: str | Path | None = None,
) -> pl.DataFrame:
    """Read a CSV, gzipped CSV or Parquet file into a Polars DataFrame.

    Parameters
    ----------
    path
        The file. Compression is recognised from the bytes, not the name.
    columns
        Read only these columns.
    cache
        Keep (and reuse) a Parquet copy of CSV input keyed on its content.
    cache_path
        Cache folder; see :func:`cache_dir`.
    """
    return scan_table(path, cache=cache, cache_path=cache_path, columns=columns).collect()


def scan_table(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    cache: bool = True,
    cache_path: str | Path | None = None,
) -> pl.LazyFrame:
    """A lazy frame over the file (CSV is parsed once and served from the Parquet cache)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p} is a folder; give a .csv, .csv.gz or .parquet file")
    if p.stat().st_size == 0:
        raise DataError(f"{p} is empty (0 bytes); give a table with a header row and data rows")
    fmt = _format_of(p)
    compression = _sniff_compression(p)
    if compression == "parquet" or fmt == "parquet":
        if compression != "parquet":
            raise DataError(f"{p} is named like Parquet but is not a Parquet file; check the file or its extension")
        lf = _scan_parquet(p)
    else:
        if compression in ("bzip2", "xz", "zip"):
            raise DataError(f"{p} is {compression}-compressed, which clicksynth cannot read; decompress it or recompress with gzip")
        if cache:
            cached = cache_dir(cache_path) / f"{content_digest(p, cache=cache_path)}-v{_CACHE_VERSION}.parquet"
            if not cached.exists():
                frame = _parse_csv(p, compression)
                _check_nonempty(frame, p)
                try:
                    write_table(frame, cached)
                except OSError as exc:
                    log.warning("could not write cache %s: %s", cached, exc)
                # The parsed frame is already in memory: no need to read the copy back.
                lf = frame.lazy()
            else:
                log.debug("cache hit for %s -> %s", p, cached)
                lf = _scan_parquet(cached)
        else:
            frame = _parse_csv(p, compression)
            _check_nonempty(frame, p)
            lf = frame.lazy()
    if columns:
        missing = [c for c in columns if c not in lf.collect_schema().names()]
        if missing:
            raise DataError(f"{p} has no column(s) {missing}")
        lf = lf.select(list(columns))
    return lf


def _scan_parquet(p: Path) -> pl.LazyFrame:
    try:
        lf = pl.scan_parquet(p)
        schema = lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{p} is not a readable Parquet file: {exc}") from exc
    nested = [(name, dtype) for name, dtype in schema.items() if dtype.is_nested()]
    for name, dtype in nested:
        if not isinstance(dtype, (pl.List, pl.Array)) or dtype.inner is None or dtype.inner.is_nested():
            raise DataError(
                f"{p}: column {name!r} holds {dtype} values (nested records); clicksynth reads flat columns and "
                "lists of plain values: flatten it into one column per field first"
            )
    if not nested:
        return lf
    # Lists become the caret-separated text of list columns ("3^7^12"), which the schema reads as a
    # list column; an empty list is "", a missing one stays missing.
    return lf.with_columns(
        [
            (pl.col(n) if isinstance(d, pl.List) else pl.col(n).arr.to_list())
            .list.eval(pl.element().cast(pl.String))
            .list.join("^")
            .alias(n)
            for n, d in nested
        ]
    )


def _check_nonempty(frame: pl.DataFrame, p: Path) -> None:
    if frame.height == 0:
        raise DataError(f"{p} has a header but no data rows")


def _parse_csv(p: Path, compression: str | None) -> pl.DataFrame:
    """Parse a CSV with narrow integer dtypes, falling back to full width."""
    try:
        head = pl.read_csv(p, n_rows=_SAMPLE_ROWS, infer_schema_length=_SAMPLE_ROWS)
    except pl.exceptions.NoDataError as exc:
        raise DataError(f"{p} is empty; give a table with a header row and data rows") from exc
    except OSError as exc:
        raise DataError(f"{p}: unreadable {compression or 'file'} ({exc}); the file may be truncated or corrupt") from exc
    except pl.exceptions.PolarsError as exc:
        raise _csv_error(p, compression, exc) from exc
    # The parser renames a repeated header name ("a", "a_duplicated_0"): one column would then
    # silently hold another's values under a made-up name.
    names = [str(v) for v in pl.read_csv(p, n_rows=1, has_header=False, infer_schema=False).row(0)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{p}: column name(s) {repeated} appear more than once in the header; give every column its own name")
    narrow = {
        name: pl.Int32
        for name, dtype in head.schema.items()
        if dtype == pl.Int64 and isinstance(top := head[name].drop_nulls().abs().max(), int) and top < _INT32_LIMIT
    }
    attempts: list[dict[str, Any]] = [
        {"schema_overrides": narrow, "infer_schema_length": _SAMPLE_ROWS},
        {"infer_schema_length": None},
    ]
    last: Exception | None = None
    for kwargs in attempts:
        try:
            frame = pl.read_csv(p, **kwargs)
            break
        except OSError as exc:
            raise DataError(f"{p}: unreadable {compression or 'file'} ({exc}); the file may be truncated or corrupt") from exc
        except pl.exceptions.PolarsError as exc:
            last = exc
    else:
        assert last is not None
        raise _csv_error(p, compression, last) from last
    # Rows with too few fields are filled with nulls by the parser; they always
    # leave the last column null, so only then is the slow per-row check needed.
    if frame.width > 1 and frame[frame.columns[-1]].null_count():
        bad = _find_ragged_row(p, compression)
        if bad is not None:
            row, got, want = bad
            raise DataError(f"{p}: row {row} has {got} fields but the header has {want}; fix or remove that row")
    return frame


def _open_text(p: Path, compression: str | None) -> io.TextIOBase:
    if compression == "gzip":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(p, encoding="utf-8", errors="replace", newline="")


def _find_ragged_row(p: Path, compression: str | None) -> tuple[int, int, int] | None:
    """First data row (1-based, header excluded) whose field count differs from the header's."""
    try:
        with _open_text(p, compression) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                return None
            for i, row in enumerate(reader, start=1):
                if row and len(row) != len(header):
                    return i, len(row), len(header)
    except (OSError, EOFError, csv.Error):
        return None
    return None


def _csv_error(p: Path, compression: str | None, exc: Exception) -> DataError:
    if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
        bad_line = _find_non_utf8_line(p, compression)
        if bad_line is not None:
            line, byte = bad_line
            return DataError(
                f"{p}: line {line} is not UTF-8 text (byte {byte}); clicksynth reads UTF-8: re-save the file "
                f"as UTF-8, e.g. `iconv -f latin1 -t utf-8 {p.name} > utf8-{p.name}`"
            )
    bad = _find_ragged_row(p, compression)
    if bad is not None:
        row, got, want = bad
        return DataError(f"{p}: row {row} has {got} fields but the header has {want}; fix or remove that row")
    return DataError(f"{p} could not be parsed as CSV: {exc}")


def _find_non_utf8_line(p: Path, compression: str | None) -> tuple[int, str] | None:
    """First line (1-based, the header is line 1) that is not valid UTF-8, and its first bad byte."""
    try:
        with gzip.open(p, "rb") if compression == "gzip" else open(p, "rb") as f:
            for i, raw in enumerate(f, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    return i, f"0x{raw[err.start]:02x} at position {err.start + 1}"
    except (OSError, EOFError):
        return None
    return None


def write_table(frame: Any, path: str | Path) -> Path:
    """Write a pandas or Polars frame to CSV, gzipped CSV or Parquet, atomically."""
    p = Path(path)
    fmt = _format_of(p)
    df = to_polars(frame)
    with atomic_path(p) as tmp:
        if fmt == "parquet":
            df.write_parquet(tmp, compression="zstd", compression_level=1)
        elif p.name.lower().endswith(".gz"):
            with gzip.open(tmp, "wb", compresslevel=6) as f:
                df.write_csv(cast("IO[bytes]", f))  # a GzipFile is a binary file
        else:
            df.write_csv(tmp)
    return p


class TableWriter:
    """Write a table chunk by chunk to CSV, gzipped CSV or Parquet: memory holds one chunk.

    The file appears under its name only when the writer closes without error (written to a
    temporary file beside it, then renamed); on an error nothing is left behind::

        with TableWriter("big.parquet") as w:
            for chunk in chunks:
                w.write(chunk)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.format = _format_of(self.path)
        self.rows = 0
        self._stack = contextlib.ExitStack()
        self._parquet: Any = None
        self._text: Any = None

    def __enter__(self) -> TableWriter:
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        return self

    def write(self, frame: Any) -> None:
        df = to_polars(frame)
        if self.format == "parquet":
            import pyarrow.parquet as pq

            table = df.to_arrow()
            if self._parquet is None:
                self._parquet = self._stack.enter_context(pq.ParquetWriter(self._tmp, table.schema, compression="zstd"))
            self._parquet.write_table(table.cast(self._parquet.schema))
        else:
            if self._text is None:
                # Closed by the exit stack, before the rename.
                gz = self.path.name.lower().endswith(".gz")
                opener = gzip.open(self._tmp, "wb", compresslevel=6) if gz else open(self._tmp, "wb")  # noqa: SIM115
                self._text = self._stack.enter_context(opener)
            df.write_csv(self._text, include_header=self.rows == 0)
        self.rows += df.height

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None and self.rows == 0:
            self.write(pl.DataFrame())  # an empty table is still a file
        self._stack.__exit__(*exc)
