"""CTGAN, class-conditional: Xu, Skoularidou, Cuesta-Infante & Veeramachaneni (2019),
"Modeling Tabular Data using Conditional GAN", arXiv:1907.00503.

Paper -> code:

* section 4.2 mode-specific normalisation      -> ``NeuralTransform`` (``transform.py``)
* section 4.3 conditional vector, training-by-
  sampling, generator loss with cross-entropy   -> ``CondSampler`` (``conditional.py``); ``_cond_loss``
* section 4.4 generator: residual FC-BN-ReLU blocks (the condition through a
  linear embedding), tanh for alpha,
  gumbel-softmax (tau = 0.2) for modes and categories   -> ``ConditionalGenerator``, ``_activate``
* section 4.4 critic: PacGAN (Lin et al. 2018) over ``pac`` rows, FC-LeakyReLU-
  dropout, WGAN-GP loss (Gulrajani et al. 2017, lambda = 10)  -> ``Critic``, ``_gradient_penalty``

Differences from the reference implementation:

* the click label is always part of the condition (the first two entries of the
  conditional vector), and clicks are drawn as often as non-clicks during
  training. ``sample({1: n})`` therefore conditions on the label and returns
  exactly ``n`` click rows in one pass, where the reference falls back to
  rejection sampling;
* the critic sees each row with its *label* only, not the whole conditional
  vector: the conditioned category is already in the row, and the generator is
  held to it by the cross-entropy term. On a categorical-heavy log this about
  halves the critic's input and its cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from clicksynth.exceptions import ConfigError
from clicksynth.generators.base import Generator as _Generator
from clicksynth.generators.base import State
from clicksynth.generators.neural.conditional import CondSampler, FrozenCond
from clicksynth.generators.neural.sampling import sample_in_chunks
from clicksynth.generators.neural.training import Adam, load_module, state_to_numpy, torch_seeded, train_epochs
from clicksynth.generators.neural.transform import NeuralTransform

__all__ = ["CTGAN"]


class Residual(nn.Module):
    """FC -> BatchNorm -> ReLU, concatenated with the input (paper eq. for h1, h2)."""

    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.fc, self.bn = nn.Linear(i, o), nn.BatchNorm1d(o)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)  # (B, o + i)


class ConditionalGenerator(nn.Module):
    """G(z, cond) -> raw outputs (B, width): residual blocks over [z | embedded condition]."""

    def __init__(self, width: int, cond_width: int, embedding_dim: int, generator_dim: tuple[int, ...]) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        # The one-hot condition enters through a linear embedding (what the paper's
        # first layer does to it anyway) instead of being concatenated raw into every
        # residual block: with ~750 condition columns this halves the generator's cost.
        self.cond = nn.Linear(cond_width, embedding_dim, bias=False)
        layers: list[nn.Module] = []
        dim = 2 * embedding_dim
        for h in generator_dim:
            layers.append(Residual(dim, h))
            dim += h
        layers.append(nn.Linear(dim, width))
        self.seq = nn.Sequential(*layers)

    def forward(self, z: Tensor, cond: Tensor) -> Tensor:
        return self.seq(torch.cat([z, self.cond(cond)], dim=1))  # (B, width) raw outputs

    def sampling_net(self, layout: Callable[[Tensor], Tensor], label: int) -> Callable[[Tensor, Tensor | None], Tensor]:
        """The eval-mode generator for rows of class ``label`` as ``(z, cats) ->
        raw outputs in the sampling layout``; ``cats`` holds the condition-column
        position of each row's other one, (B,), or is None when the data has no
        categorical column.

        Exact algebra, done once per ``sample`` call: every layer's product with the
        condition's embedding (the last ``embedding_dim`` inputs of each layer) is
        folded into a (condition columns x outputs) table, so the condition costs
        one table row per layer instead of an embedding_dim-wide product; the label's row, the bias and BatchNorm's
        running statistics are folded into every row of that table, so a layer is
        one gather and one product accumulated onto it. ``layout`` is a linear map
        on output columns (``NeuralTransform.sampling_rows``) applied to the last
        layer's weight and bias.
        """
        E = self.embedding_dim
        cw = self.cond.weight  # (E, condition columns)
        layers = []  # (weights on the other inputs, per-condition-column offsets, offset without a category)
        with torch.no_grad():
            for block in cast(list[Residual], list(self.seq)[:-1]):
                bn = block.bn
                assert bn.running_var is not None and bn.running_mean is not None  # BatchNorm1d tracks them by default
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                w = block.fc.weight * scale[:, None]
                table = (w[:, -E:] @ cw).T
                bias = block.fc.bias * scale + bn.bias - bn.running_mean * scale + table[label]
                layers.append((w[:, :-E].T.contiguous(), (table + bias).contiguous(), bias))
            out = cast(nn.Linear, self.seq[-1])
            w = layout(out.weight)
            table = (w[:, -E:] @ cw).T
            bias = layout(out.bias) + table[label]
            layers.append((w[:, :-E].T.contiguous(), (table + bias).contiguous(), bias))

        hidden = [w_x.shape[1] for w_x, _, _ in layers[:-1]]
        total = sum(hidden) + E

        def offsets(table: Tensor, bias: Tensor, cats: Tensor | None, m: int) -> Tensor:
            return table.index_select(0, cats) if cats is not None else bias.expand(m, -1).contiguous()

        def run(z: Tensor, cats: Tensor | None) -> Tensor:
            # One (B, h_k + ... + h_1 + E) buffer, filled from the right: each
            # residual block reads every column right of its own slice (its input:
            # earlier outputs and z) and writes its slice in place, so the growing
            # concatenations are never copied.
            m = z.shape[0]
            buf = torch.empty(m, total)
            end = total - E
            buf[:, end:] = z
            for (w_x, table, bias), h in zip(layers[:-1], hidden):
                torch.addmm(offsets(table, bias, cats, m), buf[:, end:], w_x, out=buf[:, end - h : end]).relu_()
                end -= h
            w_x, table, bias = layers[-1]
            return offsets(table, bias, cats, m).addmm_(buf, w_x)

        return run


class Critic(nn.Module):
    """D over ``pac`` packed rows (each with its label): FC-LeakyReLU-dropout layers."""

    def __init__(self, width: int, discriminator_dim: tuple[int, ...], pac: int) -> None:
        super().__init__()
        self.pac = pac
        layers: list[nn.Module] = []
        dim = (width + 2) * pac
        for h in discriminator_dim:
            layers += [nn.Linear(dim, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            dim = h
        layers.append(nn.Linear(dim, 1))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.seq(x.reshape(-1, x.shape[1] * self.pac))  # (B / pac, 1)


class ClickClassifier(nn.Module):
    """Auxiliary click classifier on a (post-activation) row: CTAB-GAN's utility loss."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            nn.Linear(width, 128), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(128, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.seq(x).squeeze(1)  # (B,) click logit


def build_networks(
    width: int, cond_width: int, embedding_dim: int, generator_dim: tuple[int, ...], discriminator_dim: tuple[int, ...], pac: int
) -> tuple[ConditionalGenerator, Critic, ClickClassifier]:
    """The three networks, built in a fixed order (their initial weights come from one seeded stream)."""
    return (
        ConditionalGenerator(width, cond_width, embedding_dim, generator_dim),
        Critic(width, discriminator_dim, pac),
        ClickClassifier(width),
    )


class CTGAN(_Generator):
    """Conditional tabular GAN with the click label in the condition.

    Parameters
    ----------
    epochs
        Passes over the training rows.
    batch_size
        Rows per step (rounded down to a multiple of ``pac``).
    generator_lr, discriminator_lr
        Adam learning rates (betas 0.5, 0.9; weight decay 1e-6 as in the paper).
    generator_dim, discriminator_dim
        Hidden layer widths. The generator defaults to (128, 128) with 64 noise
        dimensions, not the paper's (256, 256) and 128: chosen by the multi-seed
        sweep in ``benchmarks/RESULTS.md`` (no worse in quality, cheaper to fit and sample).
    embedding_dim
        Noise dimension.
    pac
        Rows the critic judges together (PacGAN).
    discriminator_steps
        Critic updates per generator update.
    classifier_weight
        Weight of an auxiliary click classifier's loss on generated rows (CTAB-GAN,
        Zhao et al. 2021); 0 gives plain CTGAN.
    max_categories
        Codes per categorical column; rarer values share an ``other`` code that
        decodes to a draw from their real frequencies (keeps a 4k-value
        ``adv_id`` to 20 outputs). 20 rather than 50: chosen by the multi-seed sweep in
        ``benchmarks/RESULTS.md`` (no worse in quality, smaller output layer and draws).
    continuous
        ``"modes"`` (mode-specific normalisation) or ``"quantile"``.
    transform_rows
        Rows the per-column mixtures are fitted on.
    max_time
        Wall-clock budget in seconds; training stops cleanly at the first step past it.
    """

    name = "ctgan"
    conditional = True

    def __init__(
        self,
        *,
        epochs: int = 30,
        batch_size: int = 500,
        generator_lr: float = 2e-4,
        discriminator_lr: float = 2e-4,
        generator_dim: tuple[int, ...] = (128, 128),
        discriminator_dim: tuple[int, ...] = (256, 256),
        embedding_dim: int = 64,
        pac: int = 10,
        discriminator_steps: int = 1,
        classifier_weight: float = 1.0,
        max_categories: int = 20,
        continuous: str = "modes",
        transform_rows: int = 10_000,
        max_time: float | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.generator_lr = generator_lr
        self.discriminator_lr = discriminator_lr
        self.generator_dim = generator_dim
        self.discriminator_dim = discriminator_dim
        self.embedding_dim = embedding_dim
        self.pac = pac
        self.discriminator_steps = discriminator_steps
        self.classifier_weight = classifier_weight
        self.max_categories = max_categories
        self.continuous = continuous
        self.transform_rows = transform_rows
        self.max_time = max_time
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"epochs": 1, "batch_size": 40, "generator_dim": (16, 16), "discriminator_dim": (16, 16), "embedding_dim": 8, "pac": 2}]

    # -- training -------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.discriminator_steps < 1:
            raise ConfigError(f"discriminator_steps must be at least 1, got {self.discriminator_steps}")
        if self.pac < 1 or self.batch_size < self.pac:
            raise ConfigError(f"batch_size ({self.batch_size}) must be at least pac ({self.pac})")
        if self.continuous not in ("modes", "quantile"):
            raise ConfigError(f"continuous must be 'modes' or 'quantile', got {self.continuous!r}")

    def _layout(self) -> None:
        """Span layouts: per span width, the (spans, width) columns gumbel-softmax runs
        over in one call (no padding to the widest span); and the padded layout of
        ``NeuralTransform.soft_layout`` for the conditional cross-entropy."""
        index, valid, _, disc = self.transform_.soft_layout()
        self._soft_index, self._soft_valid = index, valid
        self._blocks = self.transform_.span_columns_by_width()
        self._tanh_cols = torch.tensor(self.transform_.alpha_columns, dtype=torch.long)
        self._disc_rows = torch.tensor(disc, dtype=torch.long)

    def _activate(self, raw: Tensor, tau: float = 0.2) -> Tensor:
        """tanh on alpha scalars, gumbel-softmax on one-hot spans (paper section 4.4)."""
        out = torch.empty_like(raw)
        if len(self._tanh_cols):
            out[:, self._tanh_cols] = torch.tanh(raw[:, self._tanh_cols])
        if self._blocks:
            # Gumbel noise from uniforms (torch's exponential_ is much slower than rand on CPU),
            # then one softmax per span width.
            noisy = (raw - torch.log(-torch.log(torch.rand_like(raw) + 1e-20) + 1e-20)) / tau
            for cols in self._blocks:
                out[:, cols] = torch.softmax(noisy[:, cols], dim=-1)
        return out

    def _cond_loss(self, raw: Tensor, cond: Tensor, mask: Tensor) -> Tensor:
        """Cross-entropy of each row's conditioned column against its chosen category."""
        if not len(self._disc_rows):
            return raw.sum() * 0.0
        idx, valid = self._soft_index[self._disc_rows], self._soft_valid[self._disc_rows]  # (C, W)
        logits = raw[:, idx].masked_fill(~valid, float("-inf"))  # (B, C, W)
        offsets = torch.as_tensor(self.sampler_.offsets)
        target = torch.zeros(raw.shape[0], len(self._disc_rows), dtype=torch.long)
        for j in range(len(self._disc_rows)):  # cheap: index arithmetic only
            target[:, j] = cond[:, 2 + offsets[j] : 2 + offsets[j + 1]].argmax(dim=1)
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
        return (ce.reshape(raw.shape[0], -1) * mask[:, : len(self._disc_rows)]).sum() / raw.shape[0]

    def _networks(self) -> tuple[ConditionalGenerator, Critic, ClickClassifier]:
        """Fresh networks for the fitted transform and conditions (initial weights from torch's current RNG)."""
        return build_networks(
            self.transform_.width,
            self.sampler_.width,
            self.embedding_dim,
            tuple(self.generator_dim),
            tuple(self.discriminator_dim),
            self.pac,
        )

    def _gradient_penalty(self, critic: Critic, real: Tensor, fake: Tensor, lam: float = 10.0) -> Tensor:
        b = real.shape[0] // self.pac
        eps = torch.rand(b, 1, 1).expand(b, self.pac, real.shape[1]).reshape(real.shape)
        mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = critic(mix)
        grad = torch.autograd.grad(out.sum(), mix, create_graph=True)[0]
        grad = grad.reshape(-1, self.pac * real.shape[1])
        return lam * ((grad.norm(2, dim=1) - 1) ** 2).mean()

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        self._check_params()
        self.transform_ = NeuralTransform(
            max_categories=self.max_categories, continuous=self.continuous, transform_rows=self.transform_rows
        ).fit(X, self.schema_, rng)
        enc = self.transform_.encoder.transform(X)
        data = self.transform_.encode_atoms(enc, rng)  # (n, width)
        self.sampler_ = CondSampler(self.transform_, enc.discrete, y)
        self._layout()
        batch = max(self.pac, (min(self.batch_size, len(data)) // self.pac) * self.pac)
        with torch_seeded(rng):
            G, D, C = self._networks()
            opt_c = Adam(C.parameters(), lr=1e-3, weight_decay=1e-5)
            opt_g = Adam(G.parameters(), lr=self.generator_lr, betas=(0.5, 0.9), weight_decay=1e-6)
            opt_d = Adam(D.parameters(), lr=self.discriminator_lr, betas=(0.5, 0.9), weight_decay=1e-6)
            real_all = torch.from_numpy(data)

            def step(epoch: int, i: int) -> dict[str, float]:
                for _ in range(self.discriminator_steps):
                    cond_np, _, rows = self.sampler_.train_batch(batch, rng)
                    cond = torch.from_numpy(cond_np)
                    real = torch.cat([real_all[rows], cond[:, :2]], dim=1)
                    with torch.no_grad():
                        fake = torch.cat([self._activate(G(torch.randn(batch, self.embedding_dim), cond)), cond[:, :2]], dim=1)
                    # WGAN-GP critic loss: E[D(fake)] - E[D(real)] + GP (one pass over both)
                    scores = D(torch.cat([fake, real], dim=0))
                    half = scores.shape[0] // 2
                    loss_d = scores[:half].mean() - scores[half:].mean() + self._gradient_penalty(D, real, fake)
                    opt_d.zero_grad()
                    loss_d.backward()
                    opt_d.step()
                if self.classifier_weight > 0:
                    # The classifier learns clicks from the real rows of the critic's batch.
                    loss_c = torch.nn.functional.binary_cross_entropy_with_logits(C(real[:, :-2]), cond[:, 1])
                    opt_c.zero_grad()
                    loss_c.backward()
                    opt_c.step()
                cond_np, mask_np, _ = self.sampler_.train_batch(batch, rng)
                cond, mask = torch.from_numpy(cond_np), torch.from_numpy(mask_np)
                raw = G(torch.randn(batch, self.embedding_dim), cond)
                act = self._activate(raw)
                # Generator loss: -E[D(fake)] + conditional cross-entropy
                loss_g = -D(torch.cat([act, cond[:, :2]], dim=1)).mean() + self._cond_loss(raw, cond, mask)
                if self.classifier_weight > 0:
                    # ... + the classifier's cross-entropy against the conditioned label,
                    # so generated click rows carry what distinguishes real clicks.
                    loss_g = loss_g + self.classifier_weight * torch.nn.functional.binary_cross_entropy_with_logits(C(act), cond[:, 1])
                opt_g.zero_grad()
                loss_g.backward()
                opt_g.step()
                return {"generator_loss": loss_g.item(), "discriminator_loss": loss_d.item()}

            self.history_, self.stopped_by_time_ = train_epochs(
                "CTGAN", epochs=self.epochs, steps=max(len(data) // batch, 1), max_time=self.max_time, verbose=self.verbose, step=step
            )
        self._recalibrate(G, rng)
        self.generator_ = G

    def _recalibrate(self, G: ConditionalGenerator, rng: np.random.Generator, batches: int = 20, rows: int = 2000) -> None:
        """Re-estimate BatchNorm statistics on the conditions used at generation time.

        Training draws categories by log frequency and clicks half the time, so the
        running statistics describe a different input distribution from the one
        ``sample`` feeds; normalising with them distorts the marginals, while
        normalising with each sampling batch's own statistics (train mode) would erase
        the difference between a click batch and a non-click batch.
        """
        norms = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
        prior = np.array([self.class_counts_[0], self.class_counts_[1]], dtype=float)
        prior /= prior.sum()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        G.train()
        with torch_seeded(rng), torch.no_grad():
            for _ in range(batches):
                n1 = int(rng.binomial(rows, prior[1]))
                cond = np.vstack([self.sampler_.generation_cond(0, rows - n1, rng), self.sampler_.generation_cond(1, n1, rng)])
                G(torch.randn(rows, self.embedding_dim), torch.from_numpy(cond))
        for m in norms:
            m.momentum = 0.1
        G.eval()

    # -- sampling -------------------------------------------------------------------------
    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        net = self.generator_.sampling_net(self.transform_.sampling_rows, label)
        # Lazily built tables are built here, before the threads start: the layout's by
        # sampling_net, the conditions' by one throwaway draw.
        self.sampler_.generation_index(label, 1, np.random.default_rng(0))

        def chunk(m: int, crng: np.random.Generator, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
            idx = self.sampler_.generation_index(label, m, crng)
            cats = torch.from_numpy(idx[:, 1]) if idx.shape[1] > 1 else None
            raw = net(torch.randn(m, self.embedding_dim, generator=gen), cats)
            # Categories are drawn from each softmax: what gumbel-softmax tends to as tau -> 0.
            return self.transform_.sample_atoms(raw, crng)

        return self.transform_.decode(sample_in_chunks(n, rng, chunk), rng)

    # -- state ----------------------------------------------------------------------------
    def _get_state(self) -> State:
        arrays = state_to_numpy("G", self.generator_)
        arrays["cond_freq"] = self.sampler_.freq
        arrays["cond_offsets"] = self.sampler_.offsets
        meta = {"transform": self.transform_.get_state(), "history": self.history_, "stopped_by_time": self.stopped_by_time_}
        return State(meta=meta, arrays=arrays)

    def _set_state(self, state: State) -> None:
        self.transform_ = NeuralTransform.from_state(state.meta["transform"])
        self.history_ = state.meta["history"]
        self.stopped_by_time_ = state.meta["stopped_by_time"]
        self.sampler_ = FrozenCond(state.arrays["cond_freq"], state.arrays["cond_offsets"])
        G = load_module("G", lambda: self._networks()[0], state.arrays)
        G.eval()
        self.generator_ = G
