from __future__ import annotations

import bz2
import gzip
import os
import shutil

import polars as pl
import pytest

from clicksynth import DataError, read_table, write_table
from clicksynth.io import atomic_path, cache_dir, content_digest, scan_table


def test_csv_gz_parquet_read_same(tmp_path, ads):
    csv = write_table(ads, tmp_path / "a.csv")
    gz = write_table(ads, tmp_path / "a.csv.gz")
    pq = write_table(ads, tmp_path / "a.parquet")
    frames = [read_table(p) for p in (csv, gz, pq)]
    for f in frames:
        assert f.shape == ads.shape
        assert f["price"].sum() == pytest.approx(ads["price"].sum())
        assert f["onlinerate"].to_list() == ads["onlinerate"].tolist()


def test_integers_parsed_narrow(tmp_path, ads):
    f = read_table(write_table(ads, tmp_path / "a.csv"))
    assert f.schema["age"] == pl.Int32


def test_wide_integer_after_sample_falls_back(tmp_path):
    rows = ["a,b"] + [f"{i},1" for i in range(10_500)] + ["9000000000,1"]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(rows) + "\n")
    f = read_table(path)
    assert f["a"].max() == 9_000_000_000


def test_cache_is_keyed_on_content(tmp_path, ads):
    src = write_table(ads, tmp_path / "a.csv")
    read_table(src)
    cached = list(cache_dir().glob("*.parquet"))
    assert len(cached) == 1
    # A copy under another name is the same content: no new cache entry.
    copy = tmp_path / "copy.csv"
    shutil.copy(src, copy)
    read_table(copy)
    assert len(list(cache_dir().glob("*.parquet"))) == 1
    # Changing the bytes changes the key.
    write_table(ads.head(10), copy)
    assert read_table(copy).height == 10
    assert len(list(cache_dir().glob("*.parquet"))) == 2


def test_cache_hit_does_not_reparse(tmp_path, ads, monkeypatch):
    src = write_table(ads, tmp_path / "a.csv")
    read_table(src)

    def boom(*args, **kwargs):
        raise AssertionError("CSV parsed again")

    monkeypatch.setattr(pl, "read_csv", boom)
    assert read_table(src).height == len(ads)


def test_digest_memo_updates_when_file_changes(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a\n1\n")
    d1 = content_digest(p)
    p.write_text("a\n2\n")
    os.utime(p, ns=(1, 1))
    assert content_digest(p) != d1


def test_empty_and_header_only(write_csv):
    with pytest.raises(DataError, match="empty"):
        read_table(write_csv("", "empty.csv"))
    with pytest.raises(DataError, match="no data rows"):
        read_table(write_csv("a,b\n", "header.csv"))


def test_ragged_rows_named(write_csv):
    with pytest.raises(DataError, match="row 2 has 3 fields but the header has 2"):
        read_table(write_csv("a,b\n1,2\n3,4,5\n6,7\n", "long.csv"))
    with pytest.raises(DataError, match="row 2 has 2 fields but the header has 3"):
        read_table(write_csv("a,b,c\n1,2,3\n4,5\n6,7,8\n", "short.csv"))


def test_nulls_in_last_column_are_not_ragged(write_csv):
    f = read_table(write_csv("a,b\n1,2\n3,\n", "nulls.csv"))
    assert f["b"].null_count() == 1


def test_unreadable_compression(tmp_path):
    good = gzip.compress(b"a,b\n" + b"1,2\n" * 1000)
    trunc = tmp_path / "t.csv.gz"
    trunc.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_table(trunc)
    bz = tmp_path / "b.csv.bz2.csv"
    bz.write_bytes(bz2.compress(b"a,b\n1,2\n"))
    with pytest.raises(DataError, match="bzip2"):
        read_table(bz)


def test_missing_file_and_bad_parquet(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    fake = tmp_path / "x.parquet"
    fake.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a Parquet file"):
        read_table(fake)


def test_unknown_extension(tmp_path):
    p = tmp_path / "x.xlsx"
    p.write_bytes(b"zz")
    with pytest.raises(DataError, match="unknown file type"):
        read_table(p)


def test_scan_is_lazy_and_selects(tmp_path, ads):
    lf = scan_table(write_table(ads, tmp_path / "a.csv"), columns=["age", "label"])
    assert isinstance(lf, pl.LazyFrame)
    assert lf.collect().columns == ["age", "label"]


def test_interrupted_write_leaves_nothing(tmp_path, ads, monkeypatch):
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl.DataFrame, "write_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_table(ads, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_atomic_path_mode_is_not_private(tmp_path):
    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("x")
    assert (tmp_path / "f.txt").stat().st_mode & 0o044


def test_a_repeated_header_name_is_refused(tmp_path):
    """The CSV parser would rename the second 'a' to 'a_duplicated_0', so a column silently
    holds another's values under a made-up name: refused, naming the column."""
    from clicksynth import DataError
    from clicksynth.io import read_table

    p = tmp_path / "dup.csv"
    p.write_text("a,b,a,label\n1,2,3,0\n4,5,6,1\n")
    with pytest.raises(DataError, match=r"\['a'\] appear more than once"):
        read_table(p)


def test_parquet_list_columns_read_as_caret_lists(tmp_path):
    """A Parquet list<int> column is the list kind (caret-separated text), not "[0 4]" strings."""
    from clicksynth import Schema

    frame = pl.DataFrame({"hours": [[3, 7], [12], [], None], "tags": [["a"], ["b", "c"], ["a"], ["c"]], "label": [0, 1, 0, 1]})
    path = tmp_path / "lists.parquet"
    frame.write_parquet(path)
    got = read_table(path)
    assert got["hours"].to_list() == ["3^7", "12", "", None] and got["tags"].to_list() == ["a", "b^c", "a", "c"]
    assert Schema.infer(got.to_pandas(), target="label")["tags"].kind == "list"
    fixed = tmp_path / "array.parquet"
    pl.DataFrame({"pair": [[1, 2], [3, 4]], "label": [0, 1]}, schema={"pair": pl.Array(pl.Int64, 2), "label": pl.Int64}).write_parquet(
        fixed
    )
    assert read_table(fixed)["pair"].to_list() == ["1^2", "3^4"]


def test_parquet_struct_columns_are_a_clear_error(tmp_path):
    path = tmp_path / "struct.parquet"
    pl.DataFrame({"geo": [{"lat": 1.0, "lon": 2.0}], "label": [1]}).write_parquet(path)
    with pytest.raises(DataError, match=r"column 'geo' holds Struct.*flatten it into one column per field"):
        read_table(path)
    nested = tmp_path / "nested.parquet"
    pl.DataFrame({"deep": [[[1, 2]], [[3]]], "label": [0, 1]}).write_parquet(nested)
    with pytest.raises(DataError, match="column 'deep'"):
        read_table(nested)


@pytest.mark.parametrize("gz", [False, True])
def test_a_non_utf8_file_names_the_line_and_the_fix(tmp_path, gz):
    body = "uid,city,label\n" + "".join(f"{i},{'Zürich' if i == 40 else 'Bern'},{i % 2}\n" for i in range(60))
    raw = body.encode("latin-1")
    path = tmp_path / ("latin1.csv.gz" if gz else "latin1.csv")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DataError, match=r"line 42 is not UTF-8 text \(byte 0xfc at position 5\).*iconv -f latin1 -t utf-8"):
        read_table(path, cache=False)
