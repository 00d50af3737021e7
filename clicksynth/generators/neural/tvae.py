"""TVAE, class-conditional: the tabular variational autoencoder of Xu et al. (2019),
"Modeling Tabular Data using Conditional GAN", arXiv:1907.00503, section 4.5.

Paper -> code:

* same data transform as CTGAN (mode-specific normalisation, one-hot)   -> ``NeuralTransform``
* encoder q(z | r, c): two FC-ReLU layers -> (mu, log sigma^2)          -> ``Encoder``
* decoder p(r | z, c): two FC-ReLU layers -> alpha (with a learned
  per-scalar sigma) and logits of every mode / category                 -> ``Decoder``
* ELBO = reconstruction (Gaussian on alpha, cross-entropy on one-hot
  spans) + KL(q(z | r, c) || N(0, I))                                   -> ``_Reconstruction``
                                                                           and ``TVAE._fit``

The click label ``c`` (one-hot) is an input of both encoder and decoder (a
conditional VAE, Sohn et al. 2015), so decoding with c = click yields click
rows directly: ``sample({1: n})`` returns exactly ``n`` click rows in one pass.
At sampling time categories are drawn from the decoder's softmax (not its
argmax), which reproduces rare categories instead of collapsing onto modes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from clicksynth.exceptions import ConfigError
from clicksynth.generators.base import Generator, State
from clicksynth.generators.neural.sampling import sample_in_chunks
from clicksynth.generators.neural.training import Adam, load_module, state_to_numpy, torch_seeded, train_epochs
from clicksynth.generators.neural.transform import NeuralTransform, sampling_linear

__all__ = ["TVAE"]


def mlp(i: int, dims: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    """Linear-ReLU layers of widths ``dims`` on ``i`` inputs, and the last width."""
    layers: list[nn.Module] = []
    for h in dims:
        layers += [nn.Linear(i, h), nn.ReLU()]
        i = h
    return nn.Sequential(*layers), i


class SparseRows(torch.autograd.Function):
    """Sum of weight rows (``embedding_bag``) with its weight gradient written as
    one ``index_add_`` of the row gradients: the library's backward sorts the
    positions first, which is slower here."""

    @staticmethod
    def forward(ctx: Any, positions: Tensor, values: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(positions, values)
        ctx.rows = weight.shape[0]
        return nn.functional.embedding_bag(positions, weight, per_sample_weights=values, mode="sum")

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor]:
        positions, values = ctx.saved_tensors
        rows = (grad.unsqueeze(1) * values.unsqueeze(2)).reshape(-1, grad.shape[1])
        return None, None, grad.new_zeros(ctx.rows, grad.shape[1]).index_add_(0, positions.reshape(-1), rows)


class Encoder(nn.Module):
    """q(z | r, c). The first layer is the paper's Linear over [r | c], read as a sum
    of weight rows: r is one-hot spans plus alpha scalars, so a row has one
    non-zero per span and a product over every one-hot column shrinks to a sum of
    one row per span (the same function and parameters, much cheaper)."""

    def __init__(self, width: int, latent: int, compress_dims: tuple[int, ...]) -> None:
        super().__init__()
        bound = 1 / np.sqrt(width + 2)  # nn.Linear's default initialisation
        self.first = nn.Parameter(torch.empty(width + 2, compress_dims[0]).uniform_(-bound, bound))
        self.first_bias = nn.Parameter(torch.empty(compress_dims[0]).uniform_(-bound, bound))
        self.body, h = mlp(compress_dims[0], compress_dims[1:])
        self.head = nn.Linear(h, 2 * latent)  # mu and log sigma^2 in one product

    def forward(self, positions: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        # positions / values: (B, non-zeros) columns of [r | c] and their entries.
        h = torch.relu(SparseRows.apply(positions, values, self.first) + self.first_bias)
        h = self.body(h)  # (B, h)
        mu, logvar = self.head(h).chunk(2, dim=1)  # (B, latent) each
        return mu, logvar


class Decoder(nn.Module):
    """p(r | z, c): raw outputs (B, width) and a learned sigma per alpha scalar."""

    def __init__(self, width: int, latent: int, decompress_dims: tuple[int, ...]) -> None:
        super().__init__()
        self.body, h = mlp(latent + 2, decompress_dims)
        self.out = nn.Linear(h, width)
        self.log_sigma = nn.Parameter(torch.full((width,), np.log(0.1), dtype=torch.float32))

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        return self.out(self.body(torch.cat([z, c], dim=1)))  # (B, width) raw


def build_networks(width: int, latent: int, compress_dims: tuple[int, ...], decompress_dims: tuple[int, ...]) -> tuple[Encoder, Decoder]:
    """Encoder and decoder, built in a fixed order (their initial weights come from one seeded stream)."""
    return Encoder(width, latent, compress_dims), Decoder(width, latent, decompress_dims)


class SpanCrossEntropy(torch.autograd.Function):
    """The autograd function of :class:`_Reconstruction`'s one-hot part.

    Forward: sum over spans of logsumexp(span) - chosen logit, for every row at once: a
    per-span maximum by scatter-amax, the exponentials of the whole row, per-span sums
    as one product with the (columns x spans) membership matrix. Backward writes the
    known gradient, softmax within each span minus the one-hot target, from the saved
    exponentials: a third of the operations autograd would record.
    """

    @staticmethod
    def forward(ctx: Any, raw: Tensor, targets: Tensor, span_of: Tensor, member: Tensor) -> Tensor:
        # raw (B, width); targets (B, spans) chosen columns; span_of (width,) span
        # of each column, alpha columns in an extra last bucket; member (width, spans).
        n = raw.shape[0]
        top = raw.new_full((n, member.shape[1] + 1), -torch.inf).scatter_reduce_(1, span_of.expand(n, -1), raw, "amax")
        e = torch.exp(raw - top.index_select(1, span_of))
        sums = e @ member
        ctx.save_for_backward(e, sums, targets, span_of)
        return (top[:, :-1] + torch.log(sums)).sum(dim=1) - raw.gather(1, targets).sum(dim=1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        e, sums, targets, span_of = ctx.saved_tensors
        inv = torch.cat([sums.reciprocal(), sums.new_zeros(len(sums), 1)], dim=1)  # alpha bucket: 0
        g = e * inv.index_select(1, span_of)  # softmax within each span
        g.scatter_add_(1, targets, g.new_full(targets.shape, -1.0))
        return g * grad.unsqueeze(1), None, None, None


class _Reconstruction:
    """The ELBO's reconstruction term, -log p(r | z, c) per row, in a fixed handful of
    whole-row tensor operations whatever the number or widths of the spans: one-hot
    spans through :class:`SpanCrossEntropy`, alphas through the paper's Gaussian with
    a learned sigma per scalar. Slicing span by span (the reference's way) cost more
    than the network's matrix products: each slice's backward writes a zero-filled
    full-width gradient, and an ad log has dozens of spans of many widths.
    """

    def __init__(self, transform: NeuralTransform) -> None:
        soft = transform.soft_spans
        span_of = torch.full((transform.width,), len(soft), dtype=torch.long)
        for i, s in enumerate(soft):
            span_of[s.start : s.start + s.width] = i
        self.span_of = span_of
        self.member = torch.nn.functional.one_hot(span_of, len(soft) + 1)[:, :-1].float()  # (columns, spans)
        self.starts = torch.tensor([s.start for s in soft], dtype=torch.long)
        self.alpha_columns = torch.tensor(transform.alpha_columns, dtype=torch.long)

    def __call__(self, raw: Tensor, codes: Tensor, alphas: Tensor, log_sigma: Tensor) -> Tensor:
        """raw (B, width) decoder outputs, codes (B, spans), alphas (B, continuous) -> (B,)."""
        total = raw.new_zeros(raw.shape[0])
        if len(self.starts):
            total = total + SpanCrossEntropy.apply(raw, codes + self.starts, self.span_of, self.member.to(raw.dtype))
        if len(self.alpha_columns):
            log_s = log_sigma[self.alpha_columns]
            err = alphas - torch.tanh(raw.index_select(1, self.alpha_columns))
            total = total + (err**2 / (2 * torch.exp(2 * log_s)) + log_s).sum(dim=1)
        return total


class TVAE(Generator):
    """Class-conditional tabular VAE.

    Parameters
    ----------
    epochs
        Passes over the training rows.
    batch_size
        Rows per step.
    lr
        Adam learning rate.
    embedding_dim
        Latent dimension.
    compress_dims, decompress_dims
        Encoder and decoder hidden widths.
    loss_factor
        Weight of the reconstruction term (2 in the reference implementation).
    balance
        Draw clicks and non-clicks equally often in training batches, so the
        decoder sees the minority class as often as the majority.
    max_categories, continuous, transform_rows, max_time
        As for :class:`~clicksynth.generators.neural.ctgan.CTGAN`.
    """

    name = "tvae"
    conditional = True

    def __init__(
        self,
        *,
        epochs: int = 30,
        batch_size: int = 500,
        lr: float = 1e-3,
        embedding_dim: int = 128,
        compress_dims: tuple[int, ...] = (128, 128),
        decompress_dims: tuple[int, ...] = (128, 128),
        loss_factor: float = 2.0,
        balance: bool = True,
        max_categories: int = 20,
        continuous: str = "modes",
        transform_rows: int = 10_000,
        max_time: float | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.embedding_dim = embedding_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.loss_factor = loss_factor
        self.balance = balance
        self.max_categories = max_categories
        self.continuous = continuous
        self.transform_rows = transform_rows
        self.max_time = max_time
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"epochs": 1, "batch_size": 50, "embedding_dim": 8, "compress_dims": (16,), "decompress_dims": (16,)}]

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"epochs must be >= 1 and batch_size >= 2, got {self.epochs} and {self.batch_size}")
        if not self.compress_dims:
            raise ConfigError("compress_dims needs at least one hidden layer")
        if self.continuous not in ("modes", "quantile"):
            raise ConfigError(f"continuous must be 'modes' or 'quantile', got {self.continuous!r}")
        t = self.transform_ = NeuralTransform(
            max_categories=self.max_categories, continuous=self.continuous, transform_rows=self.transform_rows
        ).fit(X, self.schema_, rng)
        codes, alphas = t.encode_parts(t.encoder.transform(X), rng)
        # The encoder's input [r | c] as (column, value) pairs, one per span: the
        # chosen column of each one-hot span (value 1), each alpha, the label.
        soft_starts = np.array([s.start for s in t.soft_spans], dtype=np.int64)
        alpha_starts = np.array(t.alpha_columns, dtype=np.int64)
        positions = np.concatenate(
            [codes + soft_starts, np.broadcast_to(alpha_starts, alphas.shape), t.width + y.astype(np.int64)[:, None]], axis=1
        )
        values = np.concatenate([np.ones(codes.shape, np.float32), alphas, np.ones((len(y), 1), np.float32)], axis=1)
        labels = np.eye(2, dtype=np.float32)[y]
        by_label = [np.flatnonzero(y == k) for k in (0, 1)]
        n = len(codes)
        batch = min(self.batch_size, n)
        with torch_seeded(rng):
            enc, dec = build_networks(t.width, self.embedding_dim, tuple(self.compress_dims), tuple(self.decompress_dims))
            opt = Adam([*enc.parameters(), *dec.parameters()], lr=self.lr, weight_decay=1e-5)
            pos_all, val_all, codes_all, alphas_all, c_all = (
                torch.from_numpy(np.ascontiguousarray(a)) for a in (positions, values, codes, alphas, labels)
            )
            reconstruction = _Reconstruction(t)
            order = np.arange(n)

            def step(epoch: int, i: int) -> dict[str, float]:
                nonlocal order
                if i == 0:
                    order = rng.permutation(n)
                if self.balance:
                    half = rng.integers(0, 2, size=batch)
                    picked = np.where(
                        half == 1,
                        by_label[1][rng.integers(0, len(by_label[1]), batch)],
                        by_label[0][rng.integers(0, len(by_label[0]), batch)],
                    )
                else:
                    picked = order[i * batch : (i + 1) * batch]
                idx = torch.from_numpy(picked)
                c = c_all[idx]
                mu, logvar = enc(pos_all[idx], val_all[idx])
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterisation
                rec = reconstruction(dec(z, c), codes_all[idx], alphas_all[idx], dec.log_sigma).mean()
                kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1).mean()
                loss = rec * self.loss_factor + kl  # negative ELBO
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    dec.log_sigma.clamp_(np.log(0.01), np.log(1.0))
                return {"loss": loss.item(), "reconstruction": rec.item(), "kl": kl.item()}

            self.history_, self.stopped_by_time_ = train_epochs(
                "TVAE", epochs=self.epochs, steps=max(n // batch, 1), max_time=self.max_time, verbose=self.verbose, step=step
            )
        dec.eval()
        self.decoder_ = dec

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        sigmas = np.exp(self.decoder_.log_sigma.detach().numpy().astype(float))
        head = sampling_linear(self.decoder_.out, self.transform_)  # builds the layout before the threads start

        def chunk(m: int, crng: np.random.Generator, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
            c = torch.zeros(m, 2)
            c[:, label] = 1.0
            raw = head(self.decoder_.body(torch.cat([torch.randn(m, self.embedding_dim, generator=gen), c], dim=1)))
            # Categories are drawn from the decoder's softmax, not its argmax.
            return self.transform_.sample_atoms(raw, crng, sigmas=sigmas)

        return self.transform_.decode(sample_in_chunks(n, rng, chunk), rng)

    def _get_state(self) -> State:
        return State(
            meta={"transform": self.transform_.get_state(), "history": self.history_, "stopped_by_time": self.stopped_by_time_},
            arrays=state_to_numpy("D", self.decoder_),
        )

    def _set_state(self, state: State) -> None:
        self.transform_ = NeuralTransform.from_state(state.meta["transform"])
        self.history_ = state.meta["history"]
        self.stopped_by_time_ = state.meta["stopped_by_time"]
        widths = (self.transform_.width, self.embedding_dim, tuple(self.compress_dims), tuple(self.decompress_dims))
        dec = load_module("D", lambda: build_networks(*widths)[1], state.arrays)
        dec.eval()
        self.decoder_ = dec
