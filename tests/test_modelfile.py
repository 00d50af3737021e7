"""A fuzz of crafted model files: each is refused at load with a ModelFileError naming the fault,
before anything large is allocated, and the CLI says so without a traceback."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clicksynth import ConfigError, DataError, ModelFileError
from clicksynth.cli import app
from clicksynth.generators import Generator, _modelfile, get_generator
from tests.conftest import make_ads

Members = dict[str, bytes]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """One fitted model file per storage style: frames (SMOTE), arrays (copula), weights (CTGAN)."""
    out = tmp_path_factory.mktemp("models")
    frame = make_ads(300)
    files = {}
    for name, params in (("smote", {}), ("gaussian_copula", {}), ("ctgan", {"epochs": 1, "batch_size": 50})):
        gen = get_generator(name, random_state=0, **params).fit(frame, "label")
        files[name] = gen.save(out / f"{name}.csm")
    return files


def _members(path: Path) -> Members:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path: Path, members: Members) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _header(change: Callable[[dict], None]) -> Callable[[Members], None]:
    def apply(m: Members) -> None:
        h = json.loads(m["model.json"])
        change(h)
        m["model.json"] = json.dumps(h).encode()

    return apply


def _arrays(change: Callable[[dict], None]) -> Callable[[Members], None]:
    def apply(m: Members) -> None:
        with np.load(io.BytesIO(m["arrays.npz"])) as npz:
            arrays = {k: npz[k] for k in npz.files}
        change(arrays)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        m["arrays.npz"] = buf.getvalue()

    return apply


def _first(arrays: dict, prefix: str) -> str:
    return next(k for k in sorted(arrays) if k.startswith(prefix))


def _set(d: dict, key: str, value) -> None:
    d[key] = value


# (base model, change to the members, words the error must contain)
CASES: dict[str, tuple[str, Callable[[Members], None], str]] = {
    "no model.json": ("smote", lambda m: m.pop("model.json"), "no model.json"),
    "no arrays": ("smote", lambda m: m.pop("arrays.npz"), "no arrays.npz"),
    "stray member": ("smote", lambda m: _set(m, "run_me.py", b"import os"), "unexpected member"),
    "header not JSON": ("smote", lambda m: _set(m, "model.json", b"{not json"), "not JSON"),
    "header a list": ("smote", lambda m: _set(m, "model.json", b"[1, 2]"), "not a clicksynth model file"),
    "other format": ("smote", _header(lambda h: _set(h, "format", "sdv")), "not a clicksynth model file"),
    "other version": ("smote", _header(lambda h: _set(h, "version", 99)), "version 99"),
    "missing key": ("smote", _header(lambda h: h.pop("params")), "no 'params'"),
    "mistyped key": ("smote", _header(lambda h: _set(h, "sample_seed", "seven")), "'sample_seed' is str"),
    "bool as seed": ("smote", _header(lambda h: _set(h, "sample_seed", True)), "'sample_seed' is bool"),
    "negative count": ("smote", _header(lambda h: _set(h, "class_counts", {"0": 5, "1": -1})), "class_counts"),
    "third class": ("smote", _header(lambda h: _set(h, "class_counts", {"0": 5, "1": 1, "2": 1})), "class_counts"),
    "unknown generator": ("smote", _header(lambda h: _set(h, "generator", "os.system")), "unknown generator"),
    "unknown parameter": ("smote", _header(lambda h: h["params"].update(evil=1)), "no parameter 'evil'"),
    "mistyped parameter": ("smote", _header(lambda h: h["params"].update(k_neighbors="five")), "k_neighbors='five'"),
    "bool parameter": ("smote", _header(lambda h: h["params"].update(k_neighbors=True)), "k_neighbors=True"),
    "invalid parameter value": ("smote", _header(lambda h: h["params"].update(k_neighbors=0)), "k_neighbors"),
    "listed frame missing": ("smote", _header(lambda h: h["frames"].append("ghost")), "frames/ghost.parquet"),
    "frame name with a path": ("smote", lambda m: _set(m, "frames/../../x.parquet", b""), "unexpected member"),
    "array missing": ("gaussian_copula", _arrays(lambda a: a.pop(_first(a, "corr1"))), "corr1"),
    "array reshaped": ("gaussian_copula", _arrays(lambda a: _set(a, "corr1", np.eye(2))), "state does not match"),
    "state key missing": ("gaussian_copula", _header(lambda h: h["state"].pop("encoder")), "encoder"),
    "weights reshaped": ("ctgan", _arrays(lambda a: _set(a, _first(a, "G."), np.zeros((3, 3), np.float32))), "stored shape (3, 3)"),
    "weights NaN": ("ctgan", _arrays(lambda a: a[_first(a, "G.")].fill(np.nan)), "NaN or infinite"),
    "huge layers declared": ("ctgan", _header(lambda h: h["params"].update(generator_dim=[2**24, 2**24])), "the parameters declare"),
    "parameter NaN": ("ctgan", _header(lambda h: h["params"].update(generator_lr=float("nan"))), "generator_lr=nan"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_model_file_is_refused_with_the_fault_named(saved, tmp_path, case):
    base, change, words = CASES[case]
    members = _members(saved[base])
    change(members)
    path = _write(tmp_path / "crafted.csm", members)
    with pytest.raises(ModelFileError) as err:
        Generator.load(path)
    assert words in str(err.value) and str(err.value).count(str(path)) == 1


def test_a_zip_bomb_is_refused_before_it_inflates(saved, tmp_path):
    members = _members(saved["smote"])
    members["arrays.npz"] = bytes(64 * 2**20)  # 64 MiB of zeros deflate about 1000-fold
    path = _write(tmp_path / "bomb.csm", members)
    assert path.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="inflates"):
        Generator.load(path)


def test_the_total_size_is_capped(saved, monkeypatch):
    monkeypatch.setattr(_modelfile, "MAX_BYTES", 1000)
    with pytest.raises(ModelFileError, match="would inflate"):
        Generator.load(saved["smote"])


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 broken", bytes(range(256)) * 4])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "junk.csm"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a readable clicksynth model file"):
        Generator.load(path)


def test_untouched_files_load_and_sample_as_saved(saved):
    for name, path in saved.items():
        gen = Generator.load(path)
        again = Generator.load(path)
        assert gen.name == name
        # The load-time check draws on its own stream: the first sample is the saved model's first.
        assert gen.sample(20).equals(again.sample(20))


def test_a_model_of_another_kind_is_a_data_error(saved):
    from clicksynth.generators.smote import Smote

    with pytest.raises(DataError, match="not a Smote"):
        Smote.load(saved["ctgan"])


def test_cli_names_the_fault_without_a_traceback(saved, tmp_path):
    members = _members(saved["ctgan"])
    _header(lambda h: h["params"].update(generator_dim=[2**24, 2**24]))(members)
    path = _write(tmp_path / "crafted.csm", members)
    r = CliRunner().invoke(app, ["sample", str(path), "--rows", "5", "--out", str(tmp_path / "out.csv")])
    assert r.exit_code == 2, r.output
    assert "the parameters declare" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out.csv").exists()


def test_a_loaded_model_issues_ids_past_the_training_maximum_and_names_unsaveable_params(tmp_path):
    X = pd.DataFrame({"uid": [10, 11, 12, 13] * 5, "a": np.arange(20.0)})
    y = np.r_[np.ones(5, int), np.zeros(15, int)]
    gen = get_generator("random_oversample", random_state=0).fit(X, y)
    back = Generator.load(gen.save(tmp_path / "m.csm"))
    assert sorted(back.sample({0: 3, 1: 2})["uid"]) == [14, 15, 16, 17, 18]
    assert back.n_features_in_ == 2 and list(back.feature_names_in_) == ["uid", "a"] and back.classes_.tolist() == [0, 1]
    with pytest.raises(DataError, match=r"ghost\.csm: no such model file$"):
        Generator.load(tmp_path / "ghost.csm")
    gen.shrinkage = object()  # not JSON
    with pytest.raises(ConfigError, match=r"^RandomOversample parameters or state are not JSON-serialisable: "):
        gen.save(tmp_path / "bad.csm")
