"""The SMOTE family through imbalanced-learn, on our reversible encoding.

Each generator keeps the encoded training rows (so a saved SMOTE model holds
real rows: treat the file like the data) and, to sample ``n`` rows of a class,
asks the imbalanced-learn sampler to grow that class by ``n`` and keeps the
rows it appends. Encodings:

* ``smote``, ``borderline_smote``, ``svm_smote``, ``adasyn``, ``smote_tomek``,
  ``smote_enn``, ``random_oversample``: standardised continuous atoms and
  one-hot (x 1/sqrt(2)) categorical atoms; one-hot blocks decode by argmax.
* ``smotenc``: continuous atoms plus categorical *codes* (the neighbours'
  majority category) with up to 256 categories per column; a vectorised
  implementation of imbalanced-learn's SMOTENC algorithm (see ``smote_nc_rows``).
* ``smoten``: everything categorical; continuous atoms in quantile bins,
  decoded uniformly within the bin.

Scaling past memory (imbalanced-learn issue #667): the sampler never sees more
than ``max_rows_per_class`` rows of the class it grows (a random subset: SMOTE
only interpolates within a class) plus a small stub of the other class, which
imbalanced-learn needs to run. The variants that look at the other class
(borderline, SVM, ADASYN, Tomek / ENN cleaning) see up to the same number of
its rows, drawn at random: an approximation of their danger / noise
estimates on very large data, exact below the cap.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clicksynth._knn import FastNeighbors
from clicksynth.exceptions import ConfigError
from clicksynth.generators._encoding import TableEncoder
from clicksynth.generators.base import Generator, State
from clicksynth.seeding import int_seed

__all__ = [
    "Adasyn",
    "BorderlineSmote",
    "RandomOversample",
    "Smote",
    "SmoteEnn",
    "SmoteN",
    "SmoteNC",
    "SmoteTomek",
    "SvmSmote",
]

log = logging.getLogger(__name__)

_STUB = 64  # rows of the other class passed when the sampler does not use them
_SMOTEN_BINS = 10
_CODE_WIDTH = 8  # random-code width of a large categorical in the SMOTE-NC search


def _nn(k: int) -> FastNeighbors:
    """A neighbours object for imbalanced-learn: ``k`` neighbours plus the row itself."""
    return FastNeighbors(n_neighbors=k + 1)


class _Interpolation(Generator):
    """Shared machinery; subclasses set the sampler and the encoding."""

    conditional = True
    #: "onehot", "codes" (SMOTENC) or "bins" (SMOTEN).
    encoding: ClassVar[str] = "onehot"
    #: Whether the sampler looks at the other class (danger / noise estimates).
    uses_other_class: ClassVar[bool] = False

    def __init__(
        self,
        *,
        k_neighbors: int = 5,
        max_categories: int = 32,
        max_rows_per_class: int = 50_000,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.k_neighbors = k_neighbors
        self.max_categories = max_categories
        self.max_rows_per_class = max_rows_per_class
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"k_neighbors": 3, "max_categories": 16}]

    # -- encoding ---------------------------------------------------------------------
    def _design(self, cont: np.ndarray, disc: np.ndarray) -> np.ndarray:
        z = (cont - self.mean_) / self.scale_
        if self.encoding == "codes":
            return np.hstack([z, disc.astype(float)])
        if self.encoding == "bins":
            binned = (
                np.column_stack([np.searchsorted(e, z[:, j], side="right") for j, e in enumerate(self.bin_edges_)])
                if z.shape[1]
                else np.zeros((len(z), 0))
            )
            return np.hstack([binned, disc]).astype(float)
        blocks = [z]
        for j, card in enumerate(self.encoder_.cardinalities):
            block = np.zeros((len(disc), card), dtype=float)
            block[np.arange(len(disc)), disc[:, j]] = 1 / np.sqrt(2)
            blocks.append(block)
        return np.hstack(blocks)

    def _undesign(self, Z: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        p = self.mean_.shape[0]
        if self.encoding == "bins":
            cont = np.empty((len(Z), p))
            for j, e in enumerate(self.bin_edges_):
                b = np.clip(Z[:, j].round().astype(int), 0, len(e))
                lo = np.r_[self.zmin_[j], e][b]
                hi = np.r_[e, self.zmax_[j]][b]
                cont[:, j] = rng.uniform(lo, np.maximum(hi, lo))
            disc = Z[:, p:].round().astype(np.int64)
        elif self.encoding == "codes":
            cont = Z[:, :p]
            disc = Z[:, p:].round().astype(np.int64)
        else:
            cont = Z[:, :p]
            codes, start = [], p
            for card in self.encoder_.cardinalities:
                codes.append(np.argmax(Z[:, start : start + card], axis=1))
                start += card
            disc = np.column_stack(codes) if codes else np.zeros((len(Z), 0), np.int64)
        cont = cont * self.scale_ + self.mean_
        return self.encoder_.inverse_transform(cont, disc, rng)

    # -- fitting and sampling -------------------------------------------------------------
    def _check_params(self) -> None:
        if isinstance(self.k_neighbors, bool) or not isinstance(self.k_neighbors, (int, np.integer)) or self.k_neighbors < 1:
            raise ConfigError(f"{self.name}: k_neighbors must be a whole number >= 1, got {self.k_neighbors!r}")

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        self._check_params()
        max_cat = max(self.max_categories, 256) if self.encoding == "codes" else self.max_categories
        self.encoder_ = TableEncoder(max_categories=max_cat).fit(X, self.schema_)
        enc = self.encoder_.transform(X)
        self.mean_ = enc.continuous.mean(axis=0)
        sd = enc.continuous.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        z = (enc.continuous - self.mean_) / self.scale_
        self.bin_edges_ = [np.unique(np.quantile(z[:, j], np.linspace(0, 1, _SMOTEN_BINS + 1)[1:-1])) for j in range(z.shape[1])]
        self.zmin_ = z.min(axis=0) if len(z) else np.zeros(0)
        self.zmax_ = z.max(axis=0) if len(z) else np.zeros(0)
        self.design_ = self._design(enc.continuous, enc.discrete).astype(np.float32 if self.encoding == "onehot" else np.float64)
        self.y_ = y.astype(np.int64)

    def _sampler(self, strategy: dict[int, int], seed: int, k: int) -> Any:
        raise NotImplementedError

    def _context(self, label: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        own = np.flatnonzero(self.y_ == label)
        other = np.flatnonzero(self.y_ != label)
        if len(own) > self.max_rows_per_class:
            own = np.sort(rng.choice(own, self.max_rows_per_class, replace=False))
        keep_other = self.max_rows_per_class if self.uses_other_class else _STUB
        if len(other) > keep_other:
            other = np.sort(rng.choice(other, keep_other, replace=False))
        idx = np.concatenate([own, other])
        return self.design_[idx], self.y_[idx]

    def _draw(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """At least ``n`` new encoded rows of ``label`` (some samplers round their counts)."""
        Z, y = self._context(label, rng)
        have = int((y == label).sum())
        k = min(self.k_neighbors, max(have - 1, 1))
        out: list[np.ndarray] = []
        got, attempts = 0, 0
        while got < n and attempts < 8:
            ask = int(np.ceil((n - got) * (1.25 if attempts else 1.0))) + (2 if attempts else 0)
            sampler = self._sampler({label: have + ask, 1 - label: int((y != label).sum())}, int_seed(rng), k)
            Zr, yr = sampler.fit_resample(Z, y)
            new = Zr[len(Z) :][yr[len(Z) :] == label] if len(Zr) > len(Z) else np.zeros((0, Z.shape[1]))
            out.append(np.asarray(new))
            got += len(new)
            attempts += 1
        if got < n:
            raise RuntimeError(f"{self.name} produced {got} of {n} rows")  # pragma: no cover
        rows = np.vstack(out)
        return rows[np.sort(rng.choice(len(rows), n, replace=False))] if len(rows) > n else rows

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        # One row cannot be interpolated: repeat it (with its decoding noise).
        Z = np.repeat(self.design_[self.y_ == label], n, axis=0) if int((self.y_ == label).sum()) < 2 else self._draw(label, n, rng)
        return self._undesign(np.asarray(Z, dtype=float), rng)

    # -- state ----------------------------------------------------------------------------
    def _get_state(self) -> State:
        return State(
            meta={"encoder": self.encoder_.get_state()},
            arrays={
                "design": self.design_,
                "y": self.y_,
                "mean": self.mean_,
                "scale": self.scale_,
                "zmin": self.zmin_,
                "zmax": self.zmax_,
                **{f"edges{j}": e for j, e in enumerate(self.bin_edges_)},
            },
        )

    def _set_state(self, state: State) -> None:
        self.encoder_ = TableEncoder.from_state(state.meta["encoder"])
        a = state.arrays
        self.design_, self.y_, self.mean_, self.scale_ = a["design"], a["y"], a["mean"], a["scale"]
        self.zmin_, self.zmax_ = a["zmin"], a["zmax"]
        self.bin_edges_ = [a[f"edges{j}"] for j in range(len(self.mean_))]


class RandomOversample(_Interpolation):
    """Random oversampling (imbalanced-learn ``RandomOverSampler``) with optional
    shrinkage: a smoothed bootstrap that jitters continuous atoms."""

    name = "random_oversample"

    def __init__(
        self,
        *,
        shrinkage: float | None = None,
        max_categories: int = 32,
        max_rows_per_class: int = 50_000,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.shrinkage = shrinkage
        super().__init__(
            k_neighbors=5, max_categories=max_categories, max_rows_per_class=max_rows_per_class, random_state=random_state, verbose=verbose
        )

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"shrinkage": 0.5}]

    def _sampler(self, strategy: dict[int, int], seed: int, k: int) -> Any:
        from imblearn.over_sampling import RandomOverSampler

        # Shrinkage applies to every design column; with one-hot columns it blurs
        # the blocks, which argmax decoding absorbs.
        return RandomOverSampler(sampling_strategy=strategy, shrinkage=self.shrinkage, random_state=seed)


class Smote(_Interpolation):
    """SMOTE (Chawla et al. 2002): interpolate between a row and one of its k nearest
    same-class neighbours, on standardised continuous and one-hot categorical atoms."""

    name = "smote"

    def _sampler(self, strategy: dict[int, int], seed: int, k: int) -> Any:
        from imblearn.over_sampling import SMOTE

        return SMOTE(sampling_strategy=strategy, k_neighbors=_nn(k), random_state=seed)


class SmoteNC(_Interpolation):
    """SMOTE-NC (Chawla et al. 2002, section 6.1): continuous atoms interpolated,
    categorical atoms take the most frequent value among the k neighbours."""

    name = "smotenc"
    encoding = "codes"

    def __init__(
        self,
        *,
        k_neighbors: int = 5,
        max_categories: int = 256,
        max_rows_per_class: int = 50_000,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            k_neighbors=k_neighbors,
            max_categories=max_categories,
            max_rows_per_class=max_rows_per_class,
            random_state=random_state,
            verbose=verbose,
        )

    def _draw(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        Z, y = self._context(label, rng)
        own = Z[y == label]
        p = self.mean_.shape[0]
        k = min(self.k_neighbors, len(own) - 1)
        return smote_nc_rows(own[:, :p], own[:, p:].round().astype(np.int32), self.encoder_.cardinalities, n, k, rng)


def smote_nc_rows(
    cont: np.ndarray, codes: np.ndarray, cardinalities: list[int], n: int, k: int, rng: np.random.Generator, chunk: int = 8192
) -> np.ndarray:
    """``n`` SMOTE-NC rows ``[continuous | codes]`` from the rows of one class.

    The algorithm of imbalanced-learn's ``SMOTENC`` (Chawla et al. 2002, 6.1),
    vectorised: neighbours under Euclidean distance on the continuous atoms plus
    the median continuous standard deviation per categorical mismatch; continuous
    atoms interpolate towards a random one of the k neighbours; each categorical
    atom takes the most frequent value among the k neighbours (ties at random).
    imbalanced-learn's own implementation spends most of its time in sparse LIL
    assignments and decoding; ``benchmarks/generators.py`` runs it beside this one.
    """
    m, p = cont.shape
    sd = cont.std(axis=0) if p else np.zeros(0)
    med = float(np.median(sd)) if p else 1.0
    med = med if med > 0 else 1.0  # no continuous spread: Hamming distance alone
    # Search space: a mismatch in a categorical atom costs med^2 in squared
    # distance. Small categoricals are one-hot x med/sqrt(2) (exact); large ones
    # get random codes with E||u - v||^2 = med^2, which keeps the width at
    # 8 per column instead of up to 256.
    blocks = [cont.astype(np.float32)]
    for j, card in enumerate(cardinalities):
        if card <= _CODE_WIDTH * 2:
            table = np.eye(card, dtype=np.float32) * (med / np.sqrt(2))
        else:
            table = rng.normal(0.0, med / np.sqrt(2 * _CODE_WIDTH), (card, _CODE_WIDTH)).astype(np.float32)
        blocks.append(table[codes[:, j]])
    emb = np.hstack(blocks)
    nbrs = FastNeighbors(n_neighbors=k + 1).fit(emb).kneighbors(return_distance=False)[:, 1 : k + 1]
    base = rng.integers(0, m, n)
    partner = nbrs[base, rng.integers(0, k, n)]
    gap = rng.random((n, 1))
    out = np.empty((n, p + codes.shape[1]))
    out[:, :p] = cont[base] + gap * (cont[partner] - cont[base])
    for lo in range(0, n, chunk):
        hood = codes[nbrs[base[lo : lo + chunk]]]  # (rows, k, columns)
        votes = (hood[:, :, None, :] == hood[:, None, :, :]).sum(axis=2)  # neighbours sharing each value
        best = (votes + 0.5 * rng.random(votes.shape)).argmax(axis=1)
        out[lo : lo + chunk, p:] = np.take_along_axis(hood, best[:, None, :], axis=1)[:, 0, :]
    return out


class _Quadratic(_Interpolation):
    """Variants whose cost grows quadratically with the rows of a class (SMOTE-N's n x n
    value-difference matrix, SVM-SMOTE's kernel SVM): lower default caps."""

    def __init__(
        self,
        *,
        k_neighbors: int = 5,
        max_categories: int = 32,
        max_rows_per_class: int = 5_000,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            k_neighbors=k_neighbors,
            max_categories=max_categories,
            max_rows_per_class=max_rows_per_class,
            random_state=random_state,
            verbose=verbose,
        )


class SmoteN(_Quadratic):
    """SMOTE-N: every atom categorical (continuous ones in quantile bins); new rows take
    the neighbours' most frequent value per column (value difference metric)."""

    name = "smoten"
    encoding = "bins"

    def _sampler(self, strategy: dict[int, int], seed: int, k: int) -> Any:
        from imblearn.over_sampling import SMOTEN

        return SMOTEN(sampling_strategy=strategy, k_neighbors=k, random_state=seed)


class BorderlineSmote(_Interpolation):
    """Borderline-SMOTE (Han et al. 2005): interpolate only from rows whose neighbourhood
    is mostly, but not only, of the other class."""

    name = "borderline_smote"
    uses_other_class = True

    def _sampler(self, strategy: dict[int, int], seed: int, k: int) -> Any:
        from imblearn.over_sampling import BorderlineSMOTE

        return BorderlineSMOTE(sampling_strategy=strategy, k_neighbors=_nn(k), m_neighbors=_nn(2 * k), random_state=seed)

    def _draw(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        try:
            return super()._draw(label, n, rng)
        except RuntimeError:
            # No borderline rows (classes well separated): plain SMOTE, as the paper implies.
            log.info("borderline_smote found no danger rows for class %s; using SMOTE", label)
            return _plain_smote_draw(self, label, n, rng)


class SvmSmote(_Quadratic):
    """SVM-SMOTE (Nguyen et al. 2011): interpolate from the support vectors of an SVM
    separating the classes."""

    name = "svm_smote"
    uses_other_class = True

    def _sampler(self, strategy: dict[int, int], seed: int, k: int) -> Any:
        from imblearn.over_sampling import SVMSMOTE

        return SVMSMOTE(sampling_strategy=strategy, k_neighbors=_nn(k), m_neighbors=_nn(2 * k), random_state=seed)


class Adasyn(_Interpolation):
    """ADASYN (He et al. 2008): more synthetic rows where a class is harder to learn."""

    name = "adasyn"
    uses_other_class = True

    def _sampler(self, strategy: dict[int, int], seed: int, k: int) -> Any:
        from imblearn.over_sampling import ADASYN

        return ADASYN(sampling_strategy=strategy, n_neighbors=_nn(k), random_state=seed)

    def _draw(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        try:
            return super()._draw(label, n, rng)
        except (ValueError, RuntimeError):
            # ADASYN refuses when no row of the class has other-class neighbours: its
            # density weights are all zero and it degenerates to uniform SMOTE.
            log.info("adasyn found no hard rows for class %s; using SMOTE", label)
            return _plain_smote_draw(self, label, n, rng)


class _Cleaned(_Interpolation):
    """SMOTE rows that survive a cleaning step on real + synthetic rows.

    The synthetic rows of the requested class that the cleaner keeps are
    returned; more are drawn until ``n`` survive (up to a few rounds, then the
    remainder is filled with uncleaned SMOTE rows and a warning is logged).
    """

    uses_other_class = True

    def _cleaner(self, seed: int) -> Any:
        raise NotImplementedError

    def _draw(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        Z, y = self._context(label, rng)
        kept: list[np.ndarray] = []
        got = 0
        for _ in range(4):
            need = n - got
            fresh = _smote_rows(Z, y, label, int(np.ceil(need * 1.5)) + 2, self.k_neighbors, rng)
            Zc = np.vstack([Z, fresh])
            yc = np.r_[y, np.full(len(fresh), label)]
            cleaner = self._cleaner(int_seed(rng))
            cleaner.fit_resample(Zc, yc)
            survivors = cleaner.sample_indices_[cleaner.sample_indices_ >= len(Z)] - len(Z)
            kept.append(fresh[np.sort(survivors)][:need])
            got += len(kept[-1])
            if got >= n:
                break
        if got < n:
            log.warning("%s: cleaning removed most rows; %d of %d rows are uncleaned SMOTE rows", self.name, n - got, n)
            kept.append(_smote_rows(Z, y, label, n - got, self.k_neighbors, rng))
        return np.vstack(kept)[:n]


class SmoteTomek(_Cleaned):
    """SMOTE followed by Tomek-link removal (Batista et al. 2004)."""

    name = "smote_tomek"

    def _cleaner(self, seed: int) -> Any:
        from clicksynth._knn import FastTomekLinks

        return FastTomekLinks()


class SmoteEnn(_Cleaned):
    """SMOTE followed by edited nearest neighbours (Batista et al. 2004)."""

    name = "smote_enn"

    def _cleaner(self, seed: int) -> Any:
        from imblearn.under_sampling import EditedNearestNeighbours

        return EditedNearestNeighbours(sampling_strategy="all", n_neighbors=_nn(3))


def _smote_rows(Z: np.ndarray, y: np.ndarray, label: int, n: int, k_neighbors: int, rng: np.random.Generator) -> np.ndarray:
    from imblearn.over_sampling import SMOTE

    have = int((y == label).sum())
    k = min(k_neighbors, max(have - 1, 1))
    sampler = SMOTE(sampling_strategy={label: have + n, 1 - label: int((y != label).sum())}, k_neighbors=_nn(k), random_state=int_seed(rng))
    Zr, _ = sampler.fit_resample(Z, y)
    return np.asarray(Zr[len(Z) :])


def _plain_smote_draw(self: _Interpolation, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
    Z, y = self._context(label, rng)
    return _smote_rows(Z, y, label, n, self.k_neighbors, rng)
