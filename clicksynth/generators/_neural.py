"""Shared pieces of the neural generators (CTGAN, TVAE).

* :class:`NeuralTransform` — the data transform of Xu et al. (2019), section 4.2,
  on top of :class:`~clicksynth.prep.encoders.TableEncoder` atoms:
  continuous atoms get *mode-specific normalisation* (a variational Gaussian
  mixture per column; a value becomes a scalar alpha = (x - mu_k) / (4 sigma_k)
  in [-1, 1] plus a one-hot of its mode k), or, with ``continuous="quantile"``,
  a single scalar through the column's normal-score quantile map; categorical
  atoms are one-hot. The mixture is fitted on at most ``transform_rows`` rows:
  fitting it on every row is the reference implementation's known bottleneck
  (hours of preprocessing on large tables, SDV ctgan issue #151) and a 10k-row
  sample pins the modes just as well.
* :class:`CondSampler` — "training-by-sampling" (section 4.3) with the click
  label always part of the condition: a label is drawn (clicks drawn as often
  as non-clicks), then a categorical column uniformly, then one of its
  categories with probability proportional to log frequency *within that
  label*, and real rows are drawn from that (label, column, category) group.
* Training helpers: the shared epoch loop (loss history, divergence checks,
  progress bar, wall-clock budget), a local torch RNG (global state is never
  touched) and state-dict <-> numpy.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from clicksynth.exceptions import MissingDependencyError, TrainingError
from clicksynth.prep.encoders import Encoded, TableEncoder

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["Adam", "CondSampler", "NeuralTransform", "Span", "require_torch", "torch_seeded", "train_epochs"]


SAMPLE_CHUNK = 4096  # rows per sampling pass: the draws stay in cache (TVAE, 200k rows: 4,096-row passes ~9% faster than 16,384)


def require_torch():  # type: ignore[no-untyped-def]
    """Import torch or explain how to get it."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is in the `all` extra
        raise MissingDependencyError(
            "the neural generators need PyTorch: pip install 'clicksynth[neural]' (CPU build: pip install torch==2.13.0)"
        ) from exc
    return torch


@dataclass(frozen=True)
class Span:
    """A slice of the transformed row: ``tanh`` (one scalar) or ``softmax`` (one-hot)."""

    start: int
    width: int
    activation: str  # "tanh" | "softmax"


class NeuralTransform:
    """Rows <-> the network's representation (see module docstring).

    Parameters
    ----------
    max_categories
        Codes per categorical column (``other`` included).
    continuous
        ``"modes"`` (mode-specific normalisation) or ``"quantile"``.
    max_modes
        Mixture components per continuous column.
    transform_rows
        Rows the mixtures are fitted on.
    """

    def __init__(self, *, max_categories: int = 20, continuous: str = "modes", max_modes: int = 10, transform_rows: int = 10_000) -> None:
        self.max_categories = max_categories
        self.continuous = continuous
        self.max_modes = max_modes
        self.transform_rows = transform_rows

    # -- fitting --------------------------------------------------------------------------
    def fit(self, X: Any, schema: Any, rng: np.random.Generator) -> "NeuralTransform":
        from sklearn.exceptions import ConvergenceWarning

        self.encoder = TableEncoder(max_categories=self.max_categories).fit(X, schema)
        enc = self.encoder.transform(X)
        self.cont_params: list[dict[str, Any]] = []
        for j in range(enc.continuous.shape[1]):
            x = enc.continuous[:, j]
            idx = rng.choice(len(x), size=min(len(x), self.transform_rows), replace=False)
            sample = x[idx]
            if self.continuous == "quantile" or np.unique(sample).size < 2:
                levels = np.quantile(x, np.linspace(0, 1, 257))
                self.cont_params.append({"kind": "quantile", "levels": levels.tolist()})
                continue
            from sklearn.mixture import BayesianGaussianMixture  # 0.4 s import: only when a column needs it

            with warnings.catch_warnings():
                # A mixture that stops before full convergence still places the modes
                # well enough for normalisation; the warning is noise to a user.
                warnings.simplefilter("ignore", ConvergenceWarning)
                bgm = BayesianGaussianMixture(
                    n_components=min(self.max_modes, np.unique(sample).size), weight_concentration_prior_type="dirichlet_process",
                    weight_concentration_prior=0.001, max_iter=100, random_state=int(rng.integers(0, 2**31 - 1)),
                ).fit(sample.reshape(-1, 1))
            keep = bgm.weights_ > 0.005
            if not keep.any():
                keep[np.argmax(bgm.weights_)] = True
            self.cont_params.append({
                "kind": "modes",
                "means": bgm.means_.ravel()[keep].tolist(),
                "stds": np.sqrt(bgm.covariances_.ravel()[keep]).clip(1e-6).tolist(),
                "weights": (bgm.weights_[keep] / bgm.weights_[keep].sum()).tolist(),
            })
        self._layout()
        return self

    def _layout(self) -> None:
        spans: list[Span] = []
        pos = 0
        self.cont_spans: list[tuple[Span, Span | None]] = []
        for p in self.cont_params:
            alpha = Span(pos, 1, "tanh")
            pos += 1
            mode = None
            if p["kind"] == "modes":
                mode = Span(pos, len(p["means"]), "softmax")
                pos += mode.width
            spans.append(alpha)
            if mode is not None:
                spans.append(mode)
            self.cont_spans.append((alpha, mode))
        self.disc_spans: list[Span] = []
        for card in self.encoder.cardinalities:
            s = Span(pos, card, "softmax")
            spans.append(s)
            self.disc_spans.append(s)
            pos += card
        self.spans = spans
        self.width = pos
        # Derived views the encoders, losses and samplers share.
        self.soft_spans = [s for s in spans if s.activation == "softmax"]
        self.alpha_columns = [a.start for a, _ in self.cont_spans]

    # -- encode / decode ----------------------------------------------------------------------
    def encode_parts(self, enc: Encoded, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Atoms -> (codes, alphas): the code of every one-hot span ((n, spans) int64,
        spans in :meth:`soft_layout` order) and every alpha scalar ((n, continuous)
        float32). The compact form of :meth:`encode_atoms`: 35 numbers a row where
        the one-hot matrix of the DIGIX data holds 745."""
        n = len(enc)
        index, _, mode_pos, disc_pos = self.soft_layout()
        codes = np.zeros((n, index.shape[0]), dtype=np.int64)
        alphas = np.zeros((n, len(self.cont_params)), dtype=np.float32)
        for j, p in enumerate(self.cont_params):
            x = enc.continuous[:, j]
            if p["kind"] == "quantile":
                levels = np.asarray(p["levels"])
                alphas[:, j] = 2 * np.interp(x, levels, np.linspace(0, 1, len(levels))) - 1
                continue
            mu, sd, w = (np.asarray(p[k]) for k in ("means", "stds", "weights"))
            # Posterior of each mode, then a sampled mode (as the paper does).
            logp = np.log(w) - 0.5 * ((x[:, None] - mu) / sd) ** 2 - np.log(sd)
            post = np.exp(logp - logp.max(axis=1, keepdims=True))
            post /= post.sum(axis=1, keepdims=True)
            k = (post.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
            alphas[:, j] = np.clip((x - mu[k]) / (4 * sd[k]), -0.99, 0.99)
            codes[:, mode_pos[j]] = k
        if disc_pos:
            codes[:, disc_pos] = enc.discrete
        return codes, alphas

    def encode_atoms(self, enc: Encoded, rng: np.random.Generator) -> np.ndarray:
        """Atoms -> float32 matrix of width :attr:`width` (one-hot spans, alphas)."""
        codes, alphas = self.encode_parts(enc, rng)
        out = np.zeros((len(enc), self.width), dtype=np.float32)
        out[:, self.alpha_columns] = alphas
        rows = np.arange(len(enc))
        for i, s in enumerate(self.soft_spans):
            out[rows, s.start + codes[:, i]] = 1.0
        return out

    def soft_layout(self):  # type: ignore[no-untyped-def]
        """(index, valid) tensors placing every one-hot span in a padded (spans, widest)
        block, and the positions of the mode spans and categorical spans in it."""
        if not hasattr(self, "_soft"):
            torch = require_torch()
            soft = self.soft_spans
            widest = max((s.width for s in soft), default=1)
            index = torch.zeros(len(soft), widest, dtype=torch.long)
            valid = torch.zeros(len(soft), widest, dtype=torch.bool)
            for i, s in enumerate(soft):
                index[i, : s.width] = torch.arange(s.start, s.start + s.width)
                valid[i, : s.width] = True
            modes = [soft.index(m) if m is not None else -1 for _, m in self.cont_spans]
            disc = [soft.index(d) for d in self.disc_spans]
            self._soft = (index, valid, modes, disc)
        return self._soft

    def span_columns_by_width(self) -> list[Any]:
        """Per distinct one-hot span width w: the (spans, w) output columns of the
        spans of that width (for activations applied one width at a time)."""
        torch = require_torch()
        index, valid, _, _ = self.soft_layout()
        widths = valid.sum(dim=1).numpy()
        return [index[torch.from_numpy(np.flatnonzero(widths == w)), : int(w)] for w in np.unique(widths)]

    def _sampling_layout(self) -> tuple[Any, Any, list[tuple[np.ndarray, int, int]]]:
        """(rows, refs, blocks) of the sampling layout, see :meth:`sampling_rows`
        (building it builds :meth:`soft_layout` too, all :meth:`sample_atoms` reads)."""
        if not hasattr(self, "_sampling"):
            torch = require_torch()
            index, valid, _, _ = self.soft_layout()
            widths = valid.sum(dim=1).numpy()
            rows, refs, blocks, pos = [], [], [], 0
            for w in np.unique(widths):
                positions = np.flatnonzero(widths == w)
                cols = index[torch.from_numpy(positions), : int(w)]  # (spans, w) original columns
                rows.append(cols[:, 1:].reshape(-1))
                refs.append(cols[:, :1].expand(-1, int(w) - 1).reshape(-1))
                blocks.append((positions, pos, int(w)))
                pos += len(positions) * (int(w) - 1)
            alphas = torch.tensor(self.alpha_columns, dtype=torch.long)
            rows.append(alphas)
            refs.append(torch.full_like(alphas, -1))
            self._sampling = (torch.cat(rows), torch.cat(refs), blocks)
        return self._sampling

    def sampling_rows(self, m: Any) -> Any:
        """``m`` (output columns first, in the network's order: a weight, a bias, a
        batch of outputs transposed) in the sampling layout: one-hot spans grouped by
        width, each span's first column subtracted from its others and dropped, then
        the alpha scalars in continuous-column order.

        Softmax does not change when one logit is subtracted from all, so a span's
        first logit is taken as 0 and never computed: models apply this to their
        output layer once (:func:`sampling_linear`), which saves one output column per
        span in the last product and the draws (34 of 434 on DIGIX 2020), and lets
        :meth:`sample_atoms` read plain slices.
        """
        rows, refs, _ = self._sampling_layout()
        ref = m[refs.clamp(min=0)]
        ref[refs < 0] = 0
        return m[rows] - ref

    @property
    def sampling_width(self) -> int:
        """Columns of the sampling layout (one fewer per one-hot span than ``width``)."""
        return len(self._sampling_layout()[0])

    def width_blocks(self) -> list[tuple[np.ndarray, int, int]]:
        """Per distinct one-hot span width w: (span positions, first column in the
        sampling layout, w); each span holds its w - 1 non-reference columns there."""
        return self._sampling_layout()[2]

    def draw_categories(self, raw: Any, rng: np.random.Generator) -> np.ndarray:
        """(B, one-hot spans) codes, each drawn from its span's softmax; ``raw`` holds
        the network's outputs in the layout of :meth:`sampling_rows`.

        Inverse-CDF draws: one uniform per span located in the span's cumulative
        softmax weights (an exact draw, to float rounding, needing a fraction of the
        random numbers and logarithms of Gumbel-max, the former method: 1.5x slower
        end to end). Two-way spans (flags, nulls, list items: most of an ad log)
        reduce to one comparison. The exponentials are taken once over the whole
        contiguous chunk, not per span after subtracting its maximum: that per-span
        shift cost more than the rest of the draw, and with logits relative to the
        span's first (weight 1, so no total underflows) it only matters where a weight
        overflows float32 (a relative logit above ~88), which
        :func:`_redraw_overflowed` redoes with the shift. Uniforms come from numpy's
        generator, several times faster than torch's per number.
        """
        torch = require_torch()
        blocks = self.width_blocks()
        n, n_spans = raw.shape[0], len(self.soft_spans)
        # Column-major: the decoder reads one span's codes at a time, and strided
        # reads across a (rows, spans) array cost more than the draws of small spans.
        picks = np.zeros((n_spans, n), dtype=np.int64).T
        if not n_spans:
            return picks
        first_alpha = self.sampling_width - len(self.cont_spans)
        weights = torch.exp(raw[:, :first_alpha])
        # Relative logits below 60 cannot overflow (a sum of e^60 terms stays finite for
        # any span under 10^12 columns), and the reference's weight 1 keeps every total
        # >= 1: one pass over the chunk then spares every block its own check (NaN
        # fails the test too).
        safe = bool(raw[:, :first_alpha].max() < 60) if first_alpha else True
        uniforms = torch.from_numpy(rng.random((n, n_spans), dtype=np.float32))
        used = 0
        for positions, start, width in blocks:
            if width == 1:  # a single-category column: code 0, already there
                continue
            spans = len(positions)
            u = uniforms[:, used : used + spans]
            used += spans
            # Column 0 (the reference) weighs 1, column k 1 + S_k in cumulative terms,
            # S the running sum of the others' weights: the code is the number of
            # cumulative weights <= u * total, i.e. [t >= 0] + #{k: S_k <= t} for
            # t = u * (1 + S_last) - 1.
            rest = weights[:, start : start + spans * (width - 1)].reshape(n, spans, width - 1)
            if width == 2:
                code = u * (1 + rest[..., 0]) >= 1
            else:
                run = rest.cumsum(dim=-1)
                t = u * (1 + run[..., -1]) - 1
                code = torch.searchsorted(run, t.unsqueeze(-1), right=True).squeeze_(-1).add_(t >= 0).clamp_(max=width - 1)
            if not safe:
                _redraw_overflowed(code, raw, u, start, spans, width)
            picks[:, positions] = code.numpy()
        return picks

    def sample_atoms(self, raw: Any, rng: np.random.Generator, *, sigmas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw network outputs (torch, B x sampling_width, see :meth:`sampling_rows`) -> the
        encoder's (continuous, discrete) atoms; :meth:`decode` turns them into rows.

        Every one-hot span is *sampled* from its softmax (:meth:`draw_categories`);
        alpha scalars go through tanh, plus TVAE's noise ``sigmas``.
        """
        torch = require_torch()
        _, _, mode_pos, disc_pos = self.soft_layout()
        n = raw.shape[0]
        picks = self.draw_categories(raw, rng)
        first_alpha = self.sampling_width - len(self.cont_spans)
        alphas = torch.tanh(raw[:, first_alpha:]).numpy().astype(float)
        cont = np.empty((n, len(self.cont_params)), order="F")  # column-major, as the codes
        for j, (p, (alpha, _)) in enumerate(zip(self.cont_params, self.cont_spans)):
            a = alphas[:, j]
            if sigmas is not None:
                a = a + rng.normal(0, sigmas[alpha.start], size=n)
            a = np.clip(a, -1, 1)
            if p["kind"] == "quantile":
                levels = np.asarray(p["levels"])
                cont[:, j] = np.interp((a + 1) / 2, np.linspace(0, 1, len(levels)), levels)
                continue
            k = picks[:, mode_pos[j]]
            cont[:, j] = a * 4 * np.asarray(p["stds"])[k] + np.asarray(p["means"])[k]
        disc = picks[:, disc_pos] if disc_pos else np.zeros((n, 0), np.int64)
        return cont, disc

    def decode(self, parts: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> Any:
        """Rows from the atoms of :meth:`sample_atoms`, chunks decoded in one pass
        (one frame built, not one per chunk and a concatenation)."""
        cont = np.concatenate([c for c, _ in parts]) if len(parts) > 1 else parts[0][0]
        disc = np.concatenate([d for _, d in parts]) if len(parts) > 1 else parts[0][1]
        return self.encoder.inverse_transform(cont, disc, rng)

    # -- state ----------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {
            "max_categories": self.max_categories, "continuous": self.continuous, "max_modes": self.max_modes,
            "transform_rows": self.transform_rows, "encoder": self.encoder.get_state(), "cont_params": self.cont_params,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "NeuralTransform":
        t = cls(max_categories=state["max_categories"], continuous=state["continuous"], max_modes=state["max_modes"], transform_rows=state["transform_rows"])
        t.encoder = TableEncoder.from_state(state["encoder"])
        t.cont_params = state["cont_params"]
        t._layout()
        return t


def _redraw_overflowed(code: Any, raw: Any, u: Any, start: int, spans: int, width: int) -> None:
    """Redraw, in place, the (row, span) codes whose weights overflowed float32
    (a logit more than ~88 above its span's reference, or NaN), from the stable
    softmax: the reference's logit 0 and the others shifted by the span's maximum."""
    torch = require_torch()
    n = raw.shape[0]
    rel = raw[:, start : start + spans * (width - 1)].reshape(n, spans, width - 1)
    bad = ~(rel.exp().sum(dim=-1) < float("inf"))
    if not bool(bad.any()):
        return
    at = bad.nonzero(as_tuple=True)
    logits = torch.cat([torch.zeros(len(at[0]), 1), rel[at]], dim=1)  # (k, width), reference first
    cum = (logits - logits.amax(dim=-1, keepdim=True)).exp_().cumsum_(dim=-1)
    target = u[at].unsqueeze(-1) * cum[:, -1:]
    code[at] = torch.searchsorted(cum, target, right=True).squeeze_(-1).clamp_(max=width - 1).to(code.dtype)


class CondSampler:
    """Conditional vectors = [label one-hot (2) | one-hot over all categorical spans]."""

    def __init__(self, transform: NeuralTransform, discrete: np.ndarray, y: np.ndarray) -> None:
        self.n_disc = len(transform.disc_spans)
        self.offsets = np.array([0, *np.cumsum([s.width for s in transform.disc_spans])], dtype=np.int64)
        self.width = 2 + int(self.offsets[-1])
        self.y = y.astype(np.int64)
        self.discrete = discrete
        # Per label and column: category frequencies (log for training, raw for sampling)
        # and the rows of each category, grouped for O(1) draws.
        self.freq = np.zeros((2, int(self.offsets[-1])))
        self.groups: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for label in (0, 1):
            rows = np.flatnonzero(self.y == label)
            for j in range(self.n_disc):
                codes = discrete[rows, j]
                width = int(self.offsets[j + 1] - self.offsets[j])
                counts = np.bincount(codes, minlength=width)
                self.freq[label, self.offsets[j] : self.offsets[j + 1]] = counts
                order = rows[np.argsort(codes, kind="stable")]
                starts = np.r_[0, np.cumsum(counts)[:-1]]
                self.groups[(label, j)] = (order, starts, counts)
        self.label_rows = [np.flatnonzero(self.y == label) for label in (0, 1)]

    @staticmethod
    def sampling_freq(freq: np.ndarray, offsets: np.ndarray, n_disc: int, label: int, log: bool) -> list[np.ndarray]:
        out = []
        for j in range(n_disc):
            f = freq[label, offsets[j] : offsets[j + 1]]
            f = np.log1p(f) if log else f.copy()
            out.append(f / f.sum() if f.sum() > 0 else np.full(len(f), 1 / len(f)))
        return out

    def _tables(self) -> None:
        """Flat lookup tables so a whole batch is drawn with two searchsorted calls.

        Segment g = label * n_disc + column holds that (label, column)'s cumulative
        log-frequency probabilities, shifted by g, so ``searchsorted(table, g + u)``
        finds a category inside segment g for every row at once.
        """
        cums, cat_start, row_orders, row_starts, row_counts = [], [], [], [], []
        pos = rpos = 0
        for label in (0, 1):
            probs = self.sampling_freq(self.freq, self.offsets, self.n_disc, label, log=True)
            for j in range(self.n_disc):
                g = label * self.n_disc + j
                c = np.cumsum(probs[j])
                c[-1] = 1.0
                cums.append(c + g)
                cat_start.append(pos)
                pos += len(c)
                order, starts, counts = self.groups[(label, j)]
                row_orders.append(order)
                row_starts.append(starts + rpos)
                row_counts.append(counts)
                rpos += len(order)
        self._cum = np.concatenate(cums)
        self._cat_start = np.array(cat_start)
        self._row_order = np.concatenate(row_orders)
        self._row_start = np.concatenate(row_starts)
        self._row_count = np.concatenate(row_counts)

    def train_batch(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cond, mask of the conditioned column, real row indices) for one training batch.

        Clicks are drawn as often as non-clicks, so a 3% minority gets half of the
        generator's training signal.
        """
        labels = rng.integers(0, 2, size=batch)
        cond = np.zeros((batch, self.width), dtype=np.float32)
        cond[np.arange(batch), labels] = 1.0
        mask = np.zeros((batch, max(self.n_disc, 1)), dtype=np.float32)
        if self.n_disc == 0:
            rows = np.empty(batch, dtype=np.int64)
            for label in (0, 1):
                idx = np.flatnonzero(labels == label)
                pool = self.label_rows[label]
                rows[idx] = pool[rng.integers(0, len(pool), size=len(idx))]
            return cond, mask, rows
        if not hasattr(self, "_cum"):
            self._tables()
        cols = rng.integers(0, self.n_disc, size=batch)
        seg = labels * self.n_disc + cols
        flat = np.searchsorted(self._cum, seg + rng.random(batch), side="right")
        flat = np.minimum(flat, self._cat_start[seg] + (self.offsets[cols + 1] - self.offsets[cols]) - 1)
        cats = flat - self._cat_start[seg]
        rows = self._row_order[self._row_start[flat] + (rng.random(batch) * self._row_count[flat]).astype(np.int64)]
        cond[np.arange(batch), 2 + self.offsets[cols] + cats] = 1.0
        mask[np.arange(batch), cols] = 1.0
        return cond, mask, rows

    def generation_index(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2) positions of the ones in the generation conditions: the label, then a
        random column's category drawn with its real frequency within the label
        ((n, 1), the label alone, when there are no categorical columns)."""
        if self.n_disc == 0:
            return np.full((n, 1), label, dtype=np.int64)
        if not hasattr(self, "_gen_cum"):
            # The column is uniform and the category follows its frequency, so the pair
            # is one draw from a flat table of P(column) * P(category | column), laid
            # out like the condition's columns: one search for the whole batch (the
            # per-column loop it replaces cost a tenth of CTGAN's sampling time).
            self._gen_cum = [
                np.cumsum(np.concatenate(self.sampling_freq(self.freq, self.offsets, self.n_disc, lab, log=False)))
                for lab in (0, 1)
            ]
        cum = self._gen_cum[label]
        idx = np.full((n, 2), label, dtype=np.int64)
        idx[:, 1] = 2 + np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), len(cum) - 1)
        return idx

    def generation_cond(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """The conditions of :meth:`generation_index` as dense one-hot rows."""
        idx = self.generation_index(label, n, rng)
        cond = np.zeros((n, self.width), dtype=np.float32)
        cond[np.arange(n)[:, None], idx] = 1.0
        return cond


def sample_in_chunks(n: int, rng: np.random.Generator, chunk: Callable[[int, np.random.Generator, Any], Any]) -> list[Any]:
    """``[chunk(rows, chunk_rng, torch_generator), ...]`` over passes of at most
    :data:`SAMPLE_CHUNK` rows, in order.

    Every pass has its own numpy and torch generators seeded from ``rng``, so the
    rows depend on the seed only, not on scheduling, and the process's global torch
    RNG is left alone. Passes run on a pool of as many threads as torch would use,
    each running torch single-threaded: a pass is part matrix products and part
    single-threaded work (random numbers, index draws, numpy), so two single-threaded
    passes side by side keep both cores busy where one two-threaded pass cannot
    (+8% CTGAN rows/s on 2 cores in an A/B run). torch's thread count is restored
    afterwards; callers sampling from several threads at once should expect torch
    to run single-threaded meanwhile.
    """
    torch = require_torch()
    starts = range(0, n, SAMPLE_CHUNK)
    seeds = rng.integers(0, 2**63 - 1, size=len(starts))

    def run(i: int) -> Any:
        with torch.no_grad():  # grad mode is per thread
            gen = torch.Generator().manual_seed(int(seeds[i]))
            return chunk(min(SAMPLE_CHUNK, n - starts[i]), np.random.default_rng(seeds[i]), gen)

    workers = min(torch.get_num_threads(), len(starts))
    if workers <= 1:
        return [run(i) for i in range(len(starts))]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(run, range(len(starts))))
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def torch_seeded(rng: np.random.Generator) -> Iterator[None]:
    """Run torch code with a seed from ``rng`` and restore the global RNG afterwards."""
    torch = require_torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(0, 2**63 - 1)))
        yield


def check_finite(value: float, epoch: int, what: str, model: str) -> None:
    if not np.isfinite(value):
        raise TrainingError(
            f"{model} training diverged at epoch {epoch}: {what} is {value}; lower the learning rates "
            "or the batch size, or check the data for extreme values"
        )


class EpochProgress:
    """A rich progress bar over epochs when ``verbose`` (library code prints nothing otherwise)."""

    def __init__(self, total: int, name: str, verbose: bool) -> None:
        self.verbose = verbose
        if verbose:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn(f"[bold]{name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[loss]}"), transient=False)
            self.task = self.progress.add_task(name, total=total, loss="")
            self.progress.start()

    def update(self, loss: str) -> None:
        if self.verbose:
            self.progress.update(self.task, advance=1, loss=loss)

    def close(self) -> None:
        if self.verbose:
            self.progress.stop()


def train_epochs(
    model: str, *, epochs: int, steps: int, max_time: float | None, verbose: bool, step: Callable[[int, int], dict[str, float]]
) -> tuple[list[dict[str, float]], bool]:
    """The training loop both neural generators share.

    Calls ``step(epoch, step_index)`` ``steps`` times per epoch; each call trains
    one batch and returns its losses. Per epoch the losses are averaged over the
    steps that ran (a time-stopped epoch averages only those), checked for
    divergence (:class:`TrainingError` naming the epoch), kept in the history
    with the elapsed seconds, and shown on the progress bar. Stops cleanly after
    the step during which ``max_time`` seconds ran out.

    Returns (history, stopped_by_time).
    """
    history: list[dict[str, float]] = []
    timer = Timer(max_time)
    bar = EpochProgress(epochs, model.lower(), verbose)
    stopped = False
    try:
        for epoch in range(epochs):
            sums: dict[str, float] = {}
            for i in range(steps):
                for key, value in step(epoch, i).items():
                    sums[key] = sums.get(key, 0.0) + value
                if timer.expired():
                    stopped = True
                    break
            means = {key: total / (i + 1) for key, total in sums.items()}
            for key, value in means.items():
                check_finite(value, epoch + 1, f"the {key.replace('_', ' ')}", model)
            history.append({"epoch": epoch + 1, **means, "seconds": timer.elapsed})
            bar.update("  ".join(f"{key} {value:+.3f}" for key, value in means.items()))
            if stopped:
                break
    finally:
        bar.close()
    return history, stopped


class Adam:
    """Adam (Kingma & Ba 2015) with L2 weight decay: the update ``torch.optim.Adam``
    makes, through the same fused kernel when this torch has it (foreach kernels
    otherwise).

    Our own because constructing any ``torch.optim`` optimiser imports the TorchDynamo
    compiler on first use: 2-3 s per process on this 2-core machine, a tenth of a
    30-epoch TVAE fit, paid again by every command-line run.
    """

    def __init__(self, params: Any, *, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        torch = require_torch()
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        # Steps per parameter, as torch counts them: a step without a gradient skips it.
        self.t = [torch.zeros((), dtype=torch.float32) for _ in self.params]
        self.fused = hasattr(torch, "_fused_adam_")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        torch = require_torch()
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        b1, b2 = self.betas
        with torch.no_grad():
            params = [self.params[i] for i in live]
            grads = [p.grad for p in params]
            m, v, t = [self.m[i] for i in live], [self.v[i] for i in live], [self.t[i] for i in live]
            torch._foreach_add_(t, 1)
            if self.fused:
                torch._fused_adam_(params, grads, m, v, [], t, lr=self.lr, beta1=b1, beta2=b2, weight_decay=self.weight_decay, eps=self.eps, amsgrad=False, maximize=False)
                return
            steps = [float(x) for x in t]
            if self.weight_decay:
                grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
            torch._foreach_lerp_(m, grads, 1 - b1)
            torch._foreach_mul_(v, b2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
            denom = torch._foreach_sqrt(v)
            torch._foreach_div_(denom, [float(np.sqrt(1 - b2**k)) for k in steps])
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(params, m, denom, [-self.lr / (1 - b1**k) for k in steps])


def sampling_linear(layer: "torch.nn.Linear", transform: NeuralTransform) -> Callable[[Any], Any]:
    """``layer`` (the network's output layer) as a function giving its outputs in
    ``transform``'s sampling layout (:meth:`NeuralTransform.sampling_rows` applied to
    weight and bias). A function, not a new ``nn.Linear``: constructing one draws its
    initial weights from the global torch RNG, which sampling must leave alone."""
    torch = require_torch()
    with torch.no_grad():
        weight = transform.sampling_rows(layer.weight)
        bias = transform.sampling_rows(layer.bias) if layer.bias is not None else None
    return lambda x: torch.nn.functional.linear(x, weight, bias)


def state_to_numpy(prefix: str, module: "torch.nn.Module") -> dict[str, np.ndarray]:
    return {f"{prefix}.{k}": v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def numpy_to_state(prefix: str, module: "torch.nn.Module", arrays: dict[str, np.ndarray]) -> None:
    torch = require_torch()
    state = {k[len(prefix) + 1 :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix + ".")}
    module.load_state_dict(state)


class Timer:
    """Wall-clock budget (``max_time`` seconds; None = unlimited)."""

    def __init__(self, budget: float | None) -> None:
        self.start = time.perf_counter()
        self.budget = budget

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def expired(self) -> bool:
        return self.budget is not None and self.elapsed >= self.budget
