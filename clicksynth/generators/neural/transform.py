"""Rows <-> the neural generators' representation.

:class:`NeuralTransform` is the data transform of Xu et al. (2019), section 4.2,
on top of :class:`~clicksynth.generators._encoding.TableEncoder` atoms:
continuous atoms get *mode-specific normalisation* (a variational Gaussian
mixture per column; a value becomes a scalar alpha = (x - mu_k) / (4 sigma_k)
in [-1, 1] plus a one-hot of its mode k), or, with ``continuous="quantile"``,
a single scalar through the column's normal-score quantile map; categorical
atoms are one-hot. The mixture is fitted on at most ``transform_rows`` rows:
fitting it on every row is the reference implementation's known bottleneck
(hours of preprocessing on large tables, SDV ctgan issue #151) and a 10k-row
sample pins the modes just as well.

Sampling reads the networks' outputs in a *sampling layout* (each one-hot span's
first logit subtracted and dropped, spans grouped by width) and draws every
category from its span's softmax.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from clicksynth.generators._encoding import Encoded, TableEncoder
from clicksynth.schema import Schema

__all__ = ["NeuralTransform", "Span", "sampling_linear"]


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
    def fit(self, X: pd.DataFrame, schema: Schema, rng: np.random.Generator) -> NeuralTransform:
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
            from sklearn.mixture import BayesianGaussianMixture  # a slow import: only when a column needs it

            with warnings.catch_warnings():
                # A mixture that stops before full convergence still places the modes
                # well enough for normalisation; the warning is noise to a user.
                warnings.simplefilter("ignore", ConvergenceWarning)
                bgm = BayesianGaussianMixture(
                    n_components=min(self.max_modes, np.unique(sample).size),
                    weight_concentration_prior_type="dirichlet_process",
                    weight_concentration_prior=0.001,
                    max_iter=100,
                    random_state=int(rng.integers(0, 2**31 - 1)),
                ).fit(sample.reshape(-1, 1))
            keep = bgm.weights_ > 0.005
            if not keep.any():
                keep[np.argmax(bgm.weights_)] = True
            self.cont_params.append(
                {
                    "kind": "modes",
                    "means": bgm.means_.ravel()[keep].tolist(),
                    "stds": np.sqrt(bgm.covariances_.ravel()[keep]).clip(1e-6).tolist(),
                    "weights": (bgm.weights_[keep] / bgm.weights_[keep].sum()).tolist(),
                }
            )
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
        float32). The compact form of :meth:`encode_atoms`: one number per span instead
        of one per one-hot column."""
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

    def soft_layout(self) -> tuple[torch.Tensor, torch.Tensor, list[int], list[int]]:
        """(index, valid) tensors placing every one-hot span in a padded (spans, widest)
        block, and the positions of the mode spans and categorical spans in it."""
        if not hasattr(self, "_soft"):
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

    def span_columns_by_width(self) -> list[torch.Tensor]:
        """Per distinct one-hot span width w: the (spans, w) output columns of the
        spans of that width (for activations applied one width at a time)."""
        index, valid, _, _ = self.soft_layout()
        widths = valid.sum(dim=1).numpy()
        return [index[torch.from_numpy(np.flatnonzero(widths == w)), : int(w)] for w in np.unique(widths)]

    def _sampling_layout(self) -> tuple[torch.Tensor, torch.Tensor, list[tuple[np.ndarray, int, int]]]:
        """(rows, refs, blocks) of the sampling layout, see :meth:`sampling_rows`
        (building it builds :meth:`soft_layout` too, all :meth:`sample_atoms` reads)."""
        if not hasattr(self, "_sampling"):
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

    def sampling_rows(self, m: torch.Tensor) -> torch.Tensor:
        """``m`` (output columns first, in the network's order: a weight, a bias, a
        batch of outputs transposed) in the sampling layout: one-hot spans grouped by
        width, each span's first column subtracted from its others and dropped, then
        the alpha scalars in continuous-column order.

        Softmax does not change when one logit is subtracted from all, so a span's
        first logit is taken as 0 and never computed: models apply this to their
        output layer once (:func:`sampling_linear`), which saves one output column per
        span in the last product and the draws, and lets
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

    def draw_categories(self, raw: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
        """(B, one-hot spans) codes, each drawn from its span's softmax; ``raw`` holds
        the network's outputs in the layout of :meth:`sampling_rows`.

        Inverse-CDF draws: one uniform per span located in the span's cumulative
        softmax weights (an exact draw, to float rounding, needing a fraction of the
        random numbers and logarithms of Gumbel-max, the former and slower method).
        Two-way spans (flags, nulls, list items: most of an ad log)
        reduce to one comparison. The exponentials are taken once over the whole
        contiguous chunk, not per span after subtracting its maximum: that per-span
        shift cost more than the rest of the draw, and with logits relative to the
        span's first (weight 1, so no total underflows) it only matters where a weight
        overflows float32 (a relative logit above ~88), which
        :func:`_redraw_overflowed` redoes with the shift. Uniforms come from numpy's
        generator, faster than torch's per number.
        """
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

    def sample_atoms(
        self, raw: torch.Tensor, rng: np.random.Generator, *, sigmas: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw network outputs (torch, B x sampling_width, see :meth:`sampling_rows`) -> the
        encoder's (continuous, discrete) atoms; :meth:`decode` turns them into rows.

        Every one-hot span is *sampled* from its softmax (:meth:`draw_categories`);
        alpha scalars go through tanh, plus TVAE's noise ``sigmas``.
        """
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

    def decode(self, parts: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> pd.DataFrame:
        """Rows from the atoms of :meth:`sample_atoms`, chunks decoded in one pass
        (one frame built, not one per chunk and a concatenation)."""
        cont = np.concatenate([c for c, _ in parts]) if len(parts) > 1 else parts[0][0]
        disc = np.concatenate([d for _, d in parts]) if len(parts) > 1 else parts[0][1]
        return self.encoder.inverse_transform(cont, disc, rng)

    # -- state ----------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {
            "max_categories": self.max_categories,
            "continuous": self.continuous,
            "max_modes": self.max_modes,
            "transform_rows": self.transform_rows,
            "encoder": self.encoder.get_state(),
            "cont_params": self.cont_params,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NeuralTransform:
        t = cls(
            max_categories=state["max_categories"],
            continuous=state["continuous"],
            max_modes=state["max_modes"],
            transform_rows=state["transform_rows"],
        )
        t.encoder = TableEncoder.from_state(state["encoder"])
        t.cont_params = state["cont_params"]
        t._layout()
        return t


def _redraw_overflowed(code: torch.Tensor, raw: torch.Tensor, u: torch.Tensor, start: int, spans: int, width: int) -> None:
    """Redraw, in place, the (row, span) codes whose weights overflowed float32
    (a logit more than ~88 above its span's reference, or NaN), from the stable
    softmax: the reference's logit 0 and the others shifted by the span's maximum."""
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


def sampling_linear(layer: torch.nn.Linear, transform: NeuralTransform) -> Callable[[torch.Tensor], torch.Tensor]:
    """``layer`` (the network's output layer) as a function giving its outputs in
    ``transform``'s sampling layout (:meth:`NeuralTransform.sampling_rows` applied to
    weight and bias). A function, not a new ``nn.Linear``: constructing one draws its
    initial weights from the global torch RNG, which sampling must leave alone."""
    with torch.no_grad():
        weight = transform.sampling_rows(layer.weight)
        bias = transform.sampling_rows(layer.bias) if layer.bias is not None else None
    return lambda x: torch.nn.functional.linear(x, weight, bias)
