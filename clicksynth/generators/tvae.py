"""TVAE, class-conditional: the tabular variational autoencoder of Xu et al. (2019),
"Modeling Tabular Data using Conditional GAN", arXiv:1907.00503, section 4.5.

Paper -> code:

* same data transform as CTGAN (mode-specific normalisation, one-hot)   -> ``NeuralTransform``
* encoder q(z | r, c): two FC-ReLU layers -> (mu, log sigma^2)          -> ``Encoder``
* decoder p(r | z, c): two FC-ReLU layers -> alpha (with a learned
  per-scalar sigma) and logits of every mode / category                 -> ``Decoder``
* ELBO = reconstruction (Gaussian on alpha, cross-entropy on one-hot
  spans) + KL(q(z | r, c) || N(0, I))                                   -> ``_elbo``

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

from clicksynth.exceptions import ConfigError
from clicksynth.generators._neural import (
    NeuralTransform,
    numpy_to_state,
    SAMPLE_CHUNK,
    permuted_linear,
    require_torch,
    state_to_numpy,
    torch_seeded,
    train_epochs,
)
from clicksynth.generators.base import Generator, State

__all__ = ["TVAE"]



def _build(width: int, latent: int, compress_dims: tuple[int, ...], decompress_dims: tuple[int, ...]):  # type: ignore[no-untyped-def]
    torch = require_torch()
    nn = torch.nn

    def mlp(i: int, dims: tuple[int, ...]) -> tuple[nn.Sequential, int]:
        layers: list[nn.Module] = []
        for h in dims:
            layers += [nn.Linear(i, h), nn.ReLU()]
            i = h
        return nn.Sequential(*layers), i

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, h = mlp(width + 2, compress_dims)
            self.mu, self.logvar = nn.Linear(h, latent), nn.Linear(h, latent)

        def forward(self, x, c):  # type: ignore[no-untyped-def]
            h = self.body(torch.cat([x, c], dim=1))  # (B, h)
            return self.mu(h), self.logvar(h)  # (B, latent) each

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, h = mlp(latent + 2, decompress_dims)
            self.out = nn.Linear(h, width)
            self.log_sigma = nn.Parameter(torch.full((width,), np.log(0.1), dtype=torch.float32))

        def forward(self, z, c):  # type: ignore[no-untyped-def]
            return self.out(self.body(torch.cat([z, c], dim=1)))  # (B, width) raw

    return Encoder(), Decoder()


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
        As for :class:`~clicksynth.generators.ctgan.CTGAN`.
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
        max_categories: int = 50,
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

    def _elbo(self, raw, x, mu, logvar, log_sigma):  # type: ignore[no-untyped-def]
        """Negative ELBO per row (averaged): reconstruction * loss_factor + KL."""
        torch = require_torch()
        rec = []
        for s in self.transform_.spans:
            if s.activation == "tanh":
                sig = torch.exp(log_sigma[s.start])
                rec.append(((x[:, s.start] - torch.tanh(raw[:, s.start])) ** 2 / (2 * sig**2)) + torch.log(sig))
            else:
                target = x[:, s.start : s.start + s.width].argmax(dim=1)
                rec.append(torch.nn.functional.cross_entropy(raw[:, s.start : s.start + s.width], target, reduction="none"))
        recon = torch.stack(rec, dim=1).sum(dim=1).mean()
        kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1).mean()
        return recon * self.loss_factor + kl, recon, kl

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"epochs must be >= 1 and batch_size >= 2, got {self.epochs} and {self.batch_size}")
        if self.continuous not in ("modes", "quantile"):
            raise ConfigError(f"continuous must be 'modes' or 'quantile', got {self.continuous!r}")
        torch = require_torch()
        self.transform_ = NeuralTransform(max_categories=self.max_categories, continuous=self.continuous, transform_rows=self.transform_rows).fit(X, self.schema_, rng)
        data = self.transform_.encode_atoms(self.transform_.encoder.transform(X), rng)
        labels = np.eye(2, dtype=np.float32)[y]
        by_label = [np.flatnonzero(y == k) for k in (0, 1)]
        batch = min(self.batch_size, len(data))
        with torch_seeded(rng):
            enc, dec = _build(self.transform_.width, self.embedding_dim, tuple(self.compress_dims), tuple(self.decompress_dims))
            opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=self.lr, weight_decay=1e-5, fused=True)
            x_all, c_all = torch.from_numpy(data), torch.from_numpy(labels)
            order = np.arange(len(data))

            def step(epoch: int, i: int) -> dict[str, float]:
                nonlocal order
                if i == 0:
                    order = rng.permutation(len(data))
                if self.balance:
                    half = rng.integers(0, 2, size=batch)
                    idx = np.where(half == 1, by_label[1][rng.integers(0, len(by_label[1]), batch)], by_label[0][rng.integers(0, len(by_label[0]), batch)])
                else:
                    idx = order[i * batch : (i + 1) * batch]
                x, c = x_all[idx], c_all[idx]
                mu, logvar = enc(x, c)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterisation
                loss, rec, kl = self._elbo(dec(z, c), x, mu, logvar, dec.log_sigma)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    dec.log_sigma.clamp_(np.log(0.01), np.log(1.0))
                return {"loss": loss.item(), "reconstruction": rec.item(), "kl": kl.item()}

            self.history_, self.stopped_by_time_ = train_epochs(
                "TVAE", epochs=self.epochs, steps=max(len(data) // batch, 1), max_time=self.max_time, verbose=self.verbose, step=step
            )
        dec.eval()
        self.decoder_ = dec

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        torch = require_torch()
        sigmas = np.exp(self.decoder_.log_sigma.detach().numpy().astype(float))
        out = []
        head = permuted_linear(self.decoder_.out, self.transform_.sampling_order())
        with torch_seeded(rng), torch.no_grad():
            for start in range(0, n, SAMPLE_CHUNK):
                m = min(SAMPLE_CHUNK, n - start)
                c = torch.zeros(m, 2)
                c[:, label] = 1.0
                raw = head(self.decoder_.body(torch.cat([torch.randn(m, self.embedding_dim), c], dim=1)))
                # Categories are drawn from the decoder's softmax, not its argmax.
                out.append(self.transform_.sample_decode(raw, rng, sigmas=sigmas))
        return pd.concat(out, ignore_index=True) if len(out) > 1 else out[0]

    def _get_state(self) -> State:
        return State(
            meta={"transform": self.transform_.get_state(), "history": self.history_, "stopped_by_time": self.stopped_by_time_},
            arrays=state_to_numpy("D", self.decoder_),
        )

    def _set_state(self, state: State) -> None:
        self.transform_ = NeuralTransform.from_state(state.meta["transform"])
        self.history_ = state.meta["history"]
        self.stopped_by_time_ = state.meta["stopped_by_time"]
        _, dec = _build(self.transform_.width, self.embedding_dim, tuple(self.compress_dims), tuple(self.decompress_dims))
        numpy_to_state("D", dec, state.arrays)
        dec.eval()
        self.decoder_ = dec
