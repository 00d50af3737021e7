"""Diffusion for ad-click tables, class-conditional: TabDDPM and masked (absorbing-state) diffusion.

Papers:

* Kotelnikov et al. (2023), "TabDDPM: Modelling Tabular Data with Diffusion Models", ICML:
  quantile-normalised numerics under Gaussian diffusion, categoricals under multinomial
  diffusion, one MLP denoiser with the timestep and the label embedded (``categorical="multinomial"``,
  registered also as ``tabddpm``).
* Hoogeboom et al. (2021), "Argmax Flows and Multinomial Diffusion", NeurIPS: the multinomial
  forward process q(x_t | x_0) = Cat(abar_t x_0 + (1 - abar_t) / K) and its posterior (eq. 13-15).
* Sahoo et al. (2024), "Simple and Effective Masked Diffusion Language Models" (MDLM), NeurIPS;
  Shi et al. (2025), "TabDiff", ICLR: categoricals diffused into an absorbing mask state over
  learned embeddings (``categorical="masked"``, the default).
* Ho & Salimans (2021), "Classifier-Free Diffusion Guidance": the label dropped in training,
  predictions extrapolated away from the unconditional ones at sampling (``guidance``).

Model -> code:

* numerics: normal scores of their empirical quantiles (TabDDPM's QuantileTransformer)  -> ``_Scores``
* Gaussian forward x_t = alpha_t x_0 + sigma_t eps, cosine schedule (Nichol & Dhariwal
  2021) in continuous time t in [0, 1]                                   -> ``_alpha``, ``_loss``
* multinomial forward and the KL of its posteriors, L_t (Hoogeboom eq. 13-15; the
  decoder term at t = 1/T is the same formula with abar_0 = 1)         -> ``_multinomial_kl``
* masked forward: each category masked with probability t; loss (1/t) * cross-entropy of
  the masked columns (MDLM eq. 10 with the linear schedule alpha_t = 1 - t) -> ``_loss``
* denoiser: column embeddings and numerics -> MLP with time and label embedded (TabDDPM's
  MLPDiffusion), a softmax head per column and a velocity per numeric  -> ``Denoiser``
* the weights' exponential moving average is the model kept and sampled (DDPM, TabDDPM)  -> ``_fit``
* sampling: ancestral steps t -> s on a uniform grid; masked columns are unmasked at
  uniformly drawn steps (MDLM's reverse process with the linear schedule), each from its
  head only at that step                                                -> ``_sample``

Deviations, each for a CPU and for our data: the Gaussian part predicts the velocity
v = alpha eps - sigma x_0 (Salimans & Ho 2022; stable at both ends of the schedule with few
steps) instead of eps; categories are embedded instead of one-hot (the one-hot input of a
3,000-level ID is what exhausts the reference's memory) and values seen fewer than
``min_frequency`` times are pooled and drawn back as real values by the shared encoding
(``generators/_encoding.py``, which also turns a list column into its length and item flags);
training batches hold clicks at ``click_share``; sampling may take fewer steps than training
(``steps``), both processes striding over the same continuous schedule.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtr, ndtri
from torch import Tensor, nn

from clicksynth.exceptions import ConfigError
from clicksynth.generators._encoding import TableEncoder
from clicksynth.generators.base import Generator, State
from clicksynth.generators.neural.autoregressive import _draw
from clicksynth.generators.neural.heads import column_logits, head_groups
from clicksynth.generators.neural.sampling import sample_in_chunks
from clicksynth.generators.neural.training import (
    Adam,
    BatchPicker,
    load_module,
    resolve_device,
    state_to_numpy,
    torch_seeded,
    train_with_early_stopping,
)

__all__ = ["Denoiser", "Diffusion", "TabDDPM"]

_MAX_VALUES = 50_000  # training values kept per numeric atom for the quantile map
_LOG_EPS = 1e-30  # floor inside logarithms of probabilities that may be exactly 0
_DIM_T = 128  # sinusoidal time features (TabDDPM's dim_t)


# -- numerics as normal scores --------------------------------------------------------------


@dataclass
class _Scores:
    """A numeric atom <-> normal scores through its empirical quantiles (sorted training
    values). Ties share their mid-rank's score; a score decodes to the training value at
    its quantile, so every generated value is a real one."""

    values: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, rng: np.random.Generator) -> _Scores:
        if len(x) > _MAX_VALUES:
            x = rng.choice(x, _MAX_VALUES, replace=False)
        return cls(np.sort(x).astype(np.float64))

    def encode(self, x: np.ndarray) -> np.ndarray:
        n = len(self.values)
        mid = (np.searchsorted(self.values, x, "left") + np.searchsorted(self.values, x, "right")) / 2
        return ndtri(np.clip(mid / n, 0.5 / n, 1 - 0.5 / n)).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        n = len(self.values)
        return self.values[np.clip((ndtr(z) * n).astype(np.int64), 0, n - 1)]


# -- schedules ------------------------------------------------------------------------------

_S = 0.008  # the cosine schedule's offset (Nichol & Dhariwal 2021)


def _alpha(t: Tensor) -> Tensor:
    """Signal scale alpha(t) of the cosine schedule: 1 at t = 0, 0 at t = 1; sigma = sqrt(1 - alpha^2).
    The multinomial process keeps a category with probability abar(t) = alpha(t)^2 (TabDDPM
    shares one schedule between both processes)."""
    return (torch.cos(torch.pi / 2 * (t + _S) / (1 + _S)) / math.cos(math.pi / 2 * _S / (1 + _S))).clamp(0.0, 1.0)


def _sinusoid(t: Tensor, dim: int) -> Tensor:
    """Transformer-style sinusoidal features of t * 1000 (the DDPM convention for t in [0, 1])."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = 1000 * t[:, None] * freqs
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


# -- the denoiser ---------------------------------------------------------------------------


class Denoiser(nn.Module):
    """TabDDPM's MLP denoiser over embedded columns.

    Input: every categorical column's (possibly masked) value embedded, the numerics' noisy
    scores; projected to ``layers[0]`` units and added to the embeddings of the time and of the
    label (2 = none, for classifier-free guidance); then ReLU and Linear-ReLU layers of the
    other widths. TabDDPM's MLPDiffusion is ``layers = (128, *d_layers)`` (its dim_t projection). Output: one head
    row per category of every column (column j's at ``offsets[j]``), then a velocity per numeric.
    """

    offsets: Tensor

    def __init__(self, vocab: list[int], n_num: int, masked: bool, embed: int, layers: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        if not layers or min(layers) < 1 or embed < 1:
            raise ConfigError(f"layers need at least one positive width and embed must be positive, got {layers} and {embed}")
        self.vocab, self.n_num, self.masked = vocab, n_num, masked
        self.total = int(sum(vocab))
        offsets = np.concatenate([[0], np.cumsum(vocab)[:-1]]).astype(np.int64)
        self.register_buffer("offsets", torch.from_numpy(offsets))
        # every column's values, then (masked mode) one mask token per column
        self.values = nn.Embedding(self.total + (len(vocab) if masked else 0), embed)
        self.inp = nn.Linear(len(vocab) * embed + n_num, layers[0])
        self.time = nn.Sequential(nn.Linear(_DIM_T, layers[0]), nn.SiLU(), nn.Linear(layers[0], layers[0]))
        self.label = nn.Embedding(3, layers[0])
        body: list[nn.Module] = [nn.ReLU(), nn.Dropout(dropout)]
        for a, b in pairwise(layers):
            body += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*body)
        self.head = nn.Linear(layers[-1], self.total + n_num)
        self.groups = head_groups(vocab, offsets) if vocab else []

    def mask_tokens(self) -> Tensor:
        """(columns,) the global token of each column's mask state."""
        return self.total + torch.arange(len(self.vocab), device=self.offsets.device)

    def hidden(self, tokens: Tensor, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        """(B, C) global tokens, (B, n_num) noisy scores, (B,) labels -> (B, last width); ``t``:
        (B,) times, or one time (a 0-d tensor) shared by every row (its embedding computed once)."""
        parts = [self.values(tokens).flatten(1), x] if self.n_num else [self.values(tokens).flatten(1)]
        time = self.time(_sinusoid(t.reshape(-1), _DIM_T))
        return self.body(self.inp(torch.cat(parts, dim=1)) + time + self.label(y))

    def velocity(self, h: Tensor) -> Tensor:
        return nn.functional.linear(h, self.head.weight[self.total :], self.head.bias[self.total :])

    def logits(self, h: Tensor, j: int) -> Tensor:
        """Column ``j``'s logits for hidden states ``h``."""
        return column_logits(h, self.head, int(self.offsets[j]), self.vocab[j])

    def grouped_logits(self, h: Tensor, fill: float) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per head group: (column ids, (B, n, K) logits with padding set to ``fill``, (n, K) valid).
        Every column's logits in one product, then gathered into the groups."""
        full = nn.functional.linear(h, self.head.weight[: self.total], self.head.bias[: self.total])
        out = []
        for columns, index, valid in self.groups:
            index, valid = index.to(h.device), valid.to(h.device)
            if len(columns) == 1:  # a large column alone: its slice of the product, no copy and no padding
                start = int(index[0, 0])
                out.append((columns.to(h.device), full[:, start : start + index.shape[1]].unsqueeze(1), valid))
            else:
                out.append((columns.to(h.device), full[:, index].masked_fill(~valid, fill), valid))
        return out


def _multinomial_kl(logits: Tensor, valid: Tensor, k: Tensor, x0: Tensor, xt: Tensor, abar_t: Tensor, abar_s: Tensor) -> Tensor:
    """KL(q(x_s | x_t, x_0) || p(x_s | x_t)) per (row, column) for one head group (Hoogeboom et
    al. eq. 13-15): q's posterior is [a x_t + (1 - a)/K] * [abar_s x_0 + (1 - abar_s)/K]
    normalised, a = abar_t / abar_s; p's the same with x_0 replaced by the predicted
    distribution softmax(logits). At s = 0 (abar_s = 1) it is -log p(x_0 | x_t), the decoder term.
    Shapes: logits (B, n, K), valid (n, K), k (n,) sizes, x0 / xt (B, n), abar_* (B,)."""
    lk = torch.log(k.to(logits.dtype))[None, :, None]
    a = (abar_t / abar_s).clamp(max=1.0)[:, None, None]
    at_xt = torch.nn.functional.one_hot(xt, logits.shape[-1]).bool()
    f1 = torch.where(at_xt, torch.log(a + (1 - a) / k[None, :, None]), torch.log((1 - a).clamp(min=_LOG_EPS)) - lk)
    abs_ = abar_s[:, None, None]
    floor = torch.log((1 - abs_).clamp(min=_LOG_EPS)) - lk
    at_x0 = torch.nn.functional.one_hot(x0, logits.shape[-1]).bool()
    lq = f1 + torch.logaddexp(torch.where(at_x0, torch.log(abs_), torch.full_like(f1, math.log(_LOG_EPS))), floor)
    lp = f1 + torch.logaddexp(torch.log(abs_) + torch.log_softmax(logits, dim=-1), floor)
    lq = (lq.masked_fill(~valid, -torch.inf)).log_softmax(dim=-1)
    lp = (lp.masked_fill(~valid, -torch.inf)).log_softmax(dim=-1)
    q = lq.exp()
    return torch.where(valid & (q > 0), q * (lq - lp), torch.zeros_like(q)).sum(dim=-1)


# -- the generator --------------------------------------------------------------------------


class Diffusion(Generator):
    """Class-conditional diffusion over mixed columns (see the module docstring).

    Parameters
    ----------
    categorical
        ``"masked"``: absorbing-state diffusion of the categories (the default);
        ``"multinomial"``: TabDDPM's uniform-noise diffusion.
    epochs
        Most passes over the training rows; training stops earlier when the validation loss
        has not improved for ``patience`` epochs, and the best epoch's weights are kept.
    batch_size, lr, weight_decay
        Rows per step, Adam's learning rate and L2 weight decay.
    ema
        Decay of the exponential moving average of the weights, the model that is validated,
        kept and sampled (0: the raw weights).
    layers, embed, dropout
        Denoiser widths (the first: the input projection, where time and label are added),
        the embedding width per categorical column, dropout after each layer.
    timesteps
        Training grid of the multinomial mode (the KL terms are between neighbouring steps);
        the masked mode trains in continuous time and ignores it.
    steps
        Sampling steps (fewer: faster, coarser; at most ``timesteps`` in the multinomial mode).
    guidance
        Classifier-free guidance weight w: predictions (1 + w) cond - w uncond; 0 samples from
        the conditional model alone (one network pass per step instead of two).
    label_dropout
        Share of training rows whose label is hidden (the unconditional model guidance needs).
    min_frequency, list_items
        Categories seen fewer times are pooled into ``other`` and drawn back as real values;
        items per list column with their own presence flag.
    click_share
        Share of click rows in every training batch (None: the data's rate).
    validation, patience
        Share of the training rows held out for early stopping, and epochs without improvement.
    device
        Where training runs: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``;
        sampling runs on the CPU.
    max_time
        Wall-clock budget in seconds (None: none; a budget makes rows depend on the machine).
    """

    name = "diffusion"
    conditional = True

    def __init__(
        self,
        *,
        categorical: str = "masked",
        epochs: int = 400,
        batch_size: int = 512,
        lr: float = 2e-3,
        weight_decay: float = 1e-5,
        ema: float = 0.995,
        layers: tuple[int, ...] = (128, 256, 256),
        embed: int = 16,
        dropout: float = 0.0,
        timesteps: int = 100,
        steps: int = 50,
        guidance: float = 0.0,
        label_dropout: float = 0.1,
        min_frequency: int = 3,
        list_items: int = 16,
        click_share: float | None = 0.25,
        validation: float = 0.1,
        patience: int = 10,
        device: str = "auto",
        max_time: float | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.categorical = categorical
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.ema = ema
        self.layers = layers
        self.embed = embed
        self.dropout = dropout
        self.timesteps = timesteps
        self.steps = steps
        self.guidance = guidance
        self.label_dropout = label_dropout
        self.min_frequency = min_frequency
        self.list_items = list_items
        self.click_share = click_share
        self.validation = validation
        self.patience = patience
        self.device = device
        self.max_time = max_time
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        tiny = {"epochs": 2, "batch_size": 64, "layers": (16,), "embed": 4, "steps": 4, "timesteps": 8}
        return [tiny, {**tiny, "categorical": "multinomial"}]

    # -- fitting --------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.categorical not in ("masked", "multinomial"):
            raise ConfigError(f"categorical must be 'masked' or 'multinomial', got {self.categorical!r}")
        if self.epochs < 1 or self.batch_size < 2 or self.patience < 1:
            raise ConfigError(
                f"epochs and patience must be >= 1 and batch_size >= 2, got {self.epochs}, {self.patience}, {self.batch_size}"
            )
        if self.steps < 1 or self.timesteps < 1:
            raise ConfigError(f"steps and timesteps must be >= 1, got {self.steps} and {self.timesteps}")
        if self.categorical == "multinomial" and self.steps > self.timesteps:
            raise ConfigError(f"the multinomial mode samples at most its {self.timesteps} training steps, got steps={self.steps}")
        if self.guidance < 0 or not 0 <= self.label_dropout < 1:
            raise ConfigError(f"guidance must be >= 0 and label_dropout in [0, 1), got {self.guidance} and {self.label_dropout}")
        if self.guidance > 0 and self.label_dropout == 0:
            raise ConfigError("guidance needs an unconditional model: set label_dropout > 0")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be in [0, 1), got {self.ema}")
        if not 0.0 <= self.validation < 0.5 or self.min_frequency < 1:
            raise ConfigError(f"validation must be in [0, 0.5) and min_frequency >= 1, got {self.validation} and {self.min_frequency}")
        if self.click_share is not None and not 0 < self.click_share < 1:
            raise ConfigError(f"click_share must be in (0, 1) or None, got {self.click_share}")

    def _build(self) -> Denoiser:
        return Denoiser(self.vocab_, len(self.scores_), self.categorical == "masked", self.embed, tuple(self.layers), self.dropout)

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        self._check_params()
        device = resolve_device(self.device)
        self.encoder_ = TableEncoder(max_categories=2**31 - 1, min_frequency=self.min_frequency, list_top_k=self.list_items).fit(
            X, self.schema_
        )
        enc = self.encoder_.transform(X)
        self.scores_ = [_Scores.fit(enc.continuous[:, j], rng) for j in range(enc.continuous.shape[1])]
        self.vocab_ = [max(k, 1) for k in self.encoder_.cardinalities]
        codes = enc.discrete.astype(np.int64)
        nums = (
            np.column_stack([s.encode(enc.continuous[:, j]) for j, s in enumerate(self.scores_)]) if self.scores_ else np.zeros((len(X), 0))
        )
        n = len(codes)
        held = rng.random(n) < self.validation if n >= 20 else np.zeros(n, bool)
        fit_rows, val_rows = np.flatnonzero(~held), np.flatnonzero(held)
        batch = min(self.batch_size, len(fit_rows))
        codes_t = torch.from_numpy(codes).to(device)
        nums_t = torch.from_numpy(nums.astype(np.float32)).to(device)
        labels_t = torch.from_numpy(y.astype(np.int64)).to(device)
        with torch_seeded(rng):
            net = self._build().to(device)
            opt = Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            # The exponential moving average of the weights is the model validated, kept and sampled
            # (Ho et al. 2020; TabDDPM): the diffusion loss is noisy, the raw weights' validation
            # loss jumps between epochs and early stopping would stop at a lucky dip.
            ema = copy.deepcopy(net).requires_grad_(False)
            # Validation noise drawn once: every epoch's validation loss is the same function of the weights.
            val_idx = torch.from_numpy(val_rows).to(device)
            val_noise = self._noise(len(val_rows), device, torch.Generator().manual_seed(int(rng.integers(2**62))), stratified=True)
            pick = BatchPicker(fit_rows, y, batch, self.click_share, rng)

            def step(epoch: int, i: int) -> dict[str, float]:
                idx = torch.from_numpy(pick(i)).to(device)
                net.train()
                labels = labels_t[idx]
                if self.label_dropout > 0:  # hidden labels: the unconditional model guidance extrapolates from
                    labels = torch.where(torch.rand(len(idx), device=device) < self.label_dropout, 2, labels)
                loss = self._loss(net, codes_t[idx], nums_t[idx], labels, self._noise(len(idx), device, None, stratified=True)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    torch._foreach_lerp_(list(ema.parameters()), list(net.parameters()), 1 - self.ema)
                return {"loss": loss.item()}

            def validation_loss() -> float:
                return float(self._loss(ema, codes_t[val_idx], nums_t[val_idx], labels_t[val_idx], val_noise).mean())

            train_with_early_stopping(
                self,
                "Diffusion",
                ema,
                steps=max(len(fit_rows) // batch, 1),
                step=step,
                validation_loss=validation_loss if len(val_rows) else None,
            )
        self.net_ = ema.cpu().eval()

    def _noise(self, n: int, device: torch.device, gen: torch.Generator | None, *, stratified: bool) -> dict[str, Tensor]:
        """The randomness of one loss evaluation: times (stratified over the batch: MDLM's
        low-discrepancy sampler, lower-variance losses), uniforms for masks or category
        noise, Gaussian noise. Drawn on the CPU from ``gen`` (torch's global stream when None)."""
        C, N = len(self.vocab_), len(self.scores_)
        u = torch.rand(n, generator=gen)
        t = (u + torch.arange(n) / max(n, 1)) % 1.0 if stratified else u
        # multinomial: a step of the discrete grid 1..T; masked: continuous, away from the 1/t pole
        t = (torch.floor(t * self.timesteps) + 1) / self.timesteps if self.categorical == "multinomial" else t.clamp(min=1e-3)
        out = {
            "t": t,
            "u": torch.rand(n, C, generator=gen),
            "uniform": torch.rand(n, C, generator=gen),
            "eps": torch.randn(n, N, generator=gen),
        }
        return {k: v.to(device) for k, v in out.items()}

    def _loss(self, net: Denoiser, codes: Tensor, nums: Tensor, labels: Tensor, noise: dict[str, Tensor]) -> Tensor:
        """(B,) the diffusion loss per row, averaged over its columns."""
        t, C, N = noise["t"], codes.shape[1], nums.shape[1]
        alpha = _alpha(t)[:, None]
        sigma = (1 - alpha**2).clamp(min=0).sqrt()
        x = alpha * nums + sigma * noise["eps"]
        k = torch.tensor(self.vocab_, device=codes.device)
        if self.categorical == "masked":
            masked = noise["u"] < t[:, None]
            tokens = torch.where(masked, net.mask_tokens(), codes + net.offsets)
        else:
            abar_t = alpha[:, 0] ** 2
            uniform = (noise["uniform"] * k).long().clamp(max=k - 1)
            xt = torch.where(noise["u"] < abar_t[:, None], codes, uniform)
            tokens = xt + net.offsets
        h = net.hidden(tokens, x, t, labels)
        total = h.new_zeros(len(h))
        if N:
            v = alpha * noise["eps"] - sigma * nums
            total = total + ((net.velocity(h) - v) ** 2).sum(dim=1)
        if C and self.categorical == "masked":
            for columns, logits, _ in net.grouped_logits(h, -torch.inf):
                ce = nn.functional.cross_entropy(logits.flatten(0, 1), codes[:, columns].flatten(), reduction="none").view(len(h), -1)
                total = total + (ce * masked[:, columns]).sum(dim=1) / t  # MDLM's weight alpha'/(1 - alpha) = 1/t
        elif C:
            abar_s = _alpha(t - 1 / self.timesteps).clamp(min=0) ** 2
            abar_s = torch.where(t - 1 / self.timesteps <= 1e-6, torch.ones_like(abar_s), abar_s)
            for columns, logits, valid in net.grouped_logits(h, -1e4):
                kl = _multinomial_kl(logits, valid, k[columns], codes[:, columns], xt[:, columns], abar_t, abar_s)
                total = total + kl.sum(dim=1)
        return total / (C + N)

    # -- sampling -----------------------------------------------------------------------------
    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        net = self.net_
        C, N, S = len(self.vocab_), len(self.scores_), self.steps
        grid = torch.linspace(1.0, 0.0, S + 1)
        masked = self.categorical == "masked"

        def predict(tokens: Tensor, x: Tensor, t: float) -> tuple[Tensor, Tensor | None]:
            """Hidden states (conditional, then unconditional when guided)."""
            tt = torch.tensor(t)
            h = net.hidden(tokens, x, tt, torch.full((len(x),), label, dtype=torch.long))
            if self.guidance <= 0:
                return h, None
            return h, net.hidden(tokens, x, tt, torch.full((len(x),), 2, dtype=torch.long))

        def guided(out: Tensor, uncond: Tensor | None) -> Tensor:
            """(1 + w) cond - w uncond (Ho & Salimans eq. 6; on log-probabilities for categories)."""
            return out if uncond is None else out + self.guidance * (out - uncond)

        def chunk(m: int, crng: np.random.Generator, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
            x = torch.randn(m, N, generator=gen)
            k = torch.tensor(self.vocab_)
            if masked:
                codes = torch.zeros(m, C, dtype=torch.long)
                tokens = net.mask_tokens().expand(m, -1).clone()
                reveal = torch.randint(0, S, (m, C), generator=gen)  # the step at which each column is unmasked
            else:
                codes = (torch.rand(m, C, generator=gen) * k).long().clamp(max=k - 1)  # x_1: uniform
            for i in range(S):
                t, s = float(grid[i]), float(grid[i + 1])
                h, hu = predict(tokens if masked else codes + net.offsets, x, t)
                if masked:
                    for j in range(C):
                        rows = torch.nonzero(reveal[:, j] == i).squeeze(1)
                        if len(rows):
                            lp = torch.log_softmax(net.logits(h[rows], j), dim=-1)
                            lu = None if hu is None else torch.log_softmax(net.logits(hu[rows], j), dim=-1)
                            code = _draw(guided(lp, lu), 1.0, 1.0, gen)
                            codes[rows, j] = code
                            tokens[rows, j] = code + net.offsets[j]
                elif C:
                    codes = self._multinomial_step(net, h, hu, codes, t, s, gen)
                if N:
                    x = _gaussian_step(x, guided(net.velocity(h), None if hu is None else net.velocity(hu)), t, s, gen)
            cont = np.column_stack([sc.decode(x[:, j].numpy()) for j, sc in enumerate(self.scores_)]) if N else np.zeros((m, 0))
            return cont, codes.numpy()

        parts = sample_in_chunks(n, rng, chunk)
        cont = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, N))
        disc = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, C), np.int64)
        return self.encoder_.inverse_transform(cont, disc, rng)

    def _multinomial_step(
        self, net: Denoiser, h: Tensor, hu: Tensor | None, codes: Tensor, t: float, s: float, gen: torch.Generator
    ) -> Tensor:
        """x_t -> x_s for every column: a draw from [a x_t + (1 - a)/K] * g, g = abar_s p + (1 - abar_s)/K.

        The product is drawn as the mixture it is (sum g = 1): keep x_t with probability
        a g(x_t) / (a g(x_t) + (1 - a)/K), otherwise draw from g, i.e. from p with probability
        abar_s and uniformly otherwise. The same distribution as normalising the product over
        every category, with one pass over the probabilities fewer than four.
        """
        abar_t = float(_alpha(torch.tensor(t))) ** 2
        abar_s = 1.0 if s <= 0 else float(_alpha(torch.tensor(s))) ** 2
        a = min(abar_t / abar_s, 1.0) if abar_s > 0 else 0.0
        out = codes.clone()
        groups = net.grouped_logits(h, -torch.inf)
        groups_u = net.grouped_logits(hu, -torch.inf) if hu is not None else [None] * len(groups)
        for (columns, logits, valid), gu in zip(groups, groups_u):
            if gu is not None:  # padding stays -inf (-inf - -inf would be nan)
                logp = torch.log_softmax(logits, dim=-1)
                logits = (logp + self.guidance * (logp - torch.log_softmax(gu[1], dim=-1))).masked_fill(~valid, -torch.inf)
            p = torch.softmax(logits, dim=-1)  # (B, n, K), 0 on padding
            k = valid.sum(dim=1).to(p.dtype)[None, :]  # (1, n)
            xt = codes[:, columns]
            g_xt = abar_s * p.gather(2, xt.unsqueeze(-1)).squeeze(-1) + (1 - abar_s) / k
            u = torch.rand(4, *xt.shape, generator=gen)
            keep = u[0] * (a * g_xt + (1 - a) / k) < a * g_xt
            cum = p.cumsum(dim=-1)
            from_p = torch.searchsorted(cum, u[1].unsqueeze(-1) * cum[..., -1:], right=True).squeeze(-1)
            drawn = torch.where(u[2] < abar_s, from_p, (u[3] * k).long())
            out[:, columns] = torch.where(keep, xt, drawn).clamp(max=(k.long() - 1))
        return out

    # -- state --------------------------------------------------------------------------------
    def _get_state(self) -> State:
        arrays = state_to_numpy("net", self.net_)
        for j, sc in enumerate(self.scores_):
            arrays[f"scores{j}"] = sc.values
        meta = {
            "encoder": self.encoder_.get_state(),
            "vocab": self.vocab_,
            "history": self.history_,
            "stopped_by_time": self.stopped_by_time_,
            "best_epoch": self.best_epoch_,
        }
        return State(meta=meta, arrays=arrays)

    def _set_state(self, state: State) -> None:
        self.encoder_ = TableEncoder.from_state(state.meta["encoder"])
        self.vocab_ = list(state.meta["vocab"])
        self.history_ = state.meta["history"]
        self.stopped_by_time_ = state.meta["stopped_by_time"]
        self.best_epoch_ = state.meta["best_epoch"]
        self.scores_ = [_Scores(np.asarray(state.arrays[f"scores{j}"])) for j in range(len(self.encoder_.continuous_atoms))]
        self.net_ = load_module("net", self._build, state.arrays).eval()


def _gaussian_step(x: Tensor, v: Tensor, t: float, s: float, gen: torch.Generator) -> Tensor:
    """x_t -> x_s, ancestral (DDIM with eta = 1, i.e. the DDPM posterior) from the predicted
    velocity: x0 = alpha_t x_t - sigma_t v, eps = sigma_t x_t + alpha_t v."""
    a_t, a_s = float(_alpha(torch.tensor(t))), float(_alpha(torch.tensor(s)))
    s_t, s_s = math.sqrt(max(1 - a_t**2, 0.0)), math.sqrt(max(1 - a_s**2, 0.0))
    x0 = (a_t * x - s_t * v).clamp(-6, 6)  # scores of training data lie within about +-4.5
    if s <= 0:
        return x0
    eps = (x - a_t * x0) / s_t if s_t > 0 else torch.zeros_like(x)
    var = (s_s**2 / s_t**2) * (1 - a_t**2 / a_s**2) if s_t > 0 else 0.0
    noise = torch.randn(x.shape, generator=gen) * math.sqrt(max(var, 0.0))
    return a_s * x0 + math.sqrt(max(s_s**2 - var, 0.0)) * eps + noise


class TabDDPM(Diffusion):
    """TabDDPM as published (Kotelnikov et al. 2023): :class:`Diffusion` with multinomial
    diffusion of the categories and the paper's MLP denoiser, scaled to a CPU: the paper's
    1,000 steps become 100 (sampling walks each), its 128-unit projection followed by widths
    of up to 1,024 units by three layers of 512, its learning rate ~1e-3 kept, no label
    dropout (no guidance)."""

    name = "tabddpm"

    def __init__(
        self,
        *,
        categorical: str = "multinomial",
        epochs: int = 200,
        batch_size: int = 512,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        ema: float = 0.995,
        layers: tuple[int, ...] = (128, 512, 512, 512),
        embed: int = 16,
        dropout: float = 0.0,
        timesteps: int = 100,
        steps: int = 100,
        guidance: float = 0.0,
        label_dropout: float = 0.0,
        min_frequency: int = 3,
        list_items: int = 16,
        click_share: float | None = 0.25,
        validation: float = 0.1,
        patience: int = 10,
        device: str = "auto",
        max_time: float | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            categorical=categorical,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            ema=ema,
            layers=layers,
            embed=embed,
            dropout=dropout,
            timesteps=timesteps,
            steps=steps,
            guidance=guidance,
            label_dropout=label_dropout,
            min_frequency=min_frequency,
            list_items=list_items,
            click_share=click_share,
            validation=validation,
            patience=patience,
            device=device,
            max_time=max_time,
            random_state=random_state,
            verbose=verbose,
        )

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"epochs": 2, "batch_size": 64, "layers": (16,), "embed": 4, "steps": 4, "timesteps": 8}]
