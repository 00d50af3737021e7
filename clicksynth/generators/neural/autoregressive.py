"""An any-order autoregressive model of a row's columns, conditioned on the click label.

Two networks compute the conditionals (``network``): NADE (``nade.py``, the default: the
drawn tokens' embeddings summed, then an MLP; a step costs the same at every column) and
the column transformer below (causal attention over the drawn tokens).

Papers:

* Uria, Murray & Larochelle (2014), "A Deep and Tractable Density Estimator", ICML:
  one network trained over random variable orders (orderless NADE), so any subset
  of the variables can be given and the rest drawn.
* Pannatier et al. (2024), "sigma-GPTs: A New Approach to Autoregressive Models",
  ECML PKDD: a causal transformer over a *shuffled* sequence, each position told
  its own variable and the variable it must predict next (double positional
  encoding).
* Tiwald et al. (2025), "TabularARGN: A Flexible and Efficient Auto-Regressive
  Framework for Generating High-Fidelity Synthetic Data", arXiv:2501.12012: tabular
  columns as discrete tokens (numerics binned), a softmax head per column.

Model -> code:

* p(x | y) = prod_t p(x_{s_t} | y, x_{s_1} .. x_{s_(t-1)}), s a column order ->
  ``ColumnNADE`` (its own module docstring), or ``ColumnTransformer``: position 0
  holds the label, position t the value of column s_t plus embeddings of s_t and of
  s_(t+1), whose distribution the position's output gives (sigma-GPT's two
  positions); causal attention
* training objective E_s[-log p(x | y)] over uniformly random orders, one per row
  (Uria et al. eq. 5), mixed with the generation order               -> ``_fit``
* a softmax head per column over its full vocabulary                 -> ``heads.py``
* generation: label first, then the fixed columns, then the rest in
  table order, one column per step (NADE's running sum, the
  transformer's key/value cache: ``net.start`` / ``net.step``)        -> ``_sample``

The label is always first, so every column is predicted given the click label
(the any-order reference puts it first only in a random order's luck, and its
rows lost the click signal); ``sample({1: n})`` is exactly n click rows without
rejection. Deviations: a column is the atoms of the shared reversible encoding
(``generators/_encoding.py``: a list column is its length and item flags, a
value seen fewer than ``min_frequency`` times is pooled into ``other`` and drawn
back as a real value by its frequency), except that a list column of few distinct
lists is one categorical column of its whole lists (``whole_lists``: real lists, and
one position instead of 17); numeric atoms are quantile bins and a
value is drawn among the training values of its bin; small heads share one
padded product for speed. Orders are not all uniform: ``order_share`` of the
training rows are visited in the table order that unconditioned sampling takes,
and early stopping reads that order's likelihood, so capacity goes where rows are
drawn while the random rest keeps any column subset fixable (the uniform
objective alone spreads it over all C! orders).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from clicksynth._frame import to_pandas
from clicksynth.exceptions import ConfigError, DataError
from clicksynth.generators._encoding import Encoded, TableEncoder
from clicksynth.generators._joint import WHOLE_LIST_VALUES, JointColumns, whole_list_columns
from clicksynth.generators.base import Generator, State
from clicksynth.generators.neural.heads import by_column, column_logits, column_nll, head_groups
from clicksynth.generators.neural.nade import ColumnNADE
from clicksynth.generators.neural.sampling import sample_in_chunks_at
from clicksynth.generators.neural.training import (
    Adam,
    BatchPicker,
    check_sequence_params,
    load_module,
    resolve_device,
    state_to_numpy,
    torch_seeded,
    train_with_early_stopping,
)

__all__ = ["AutoregressiveTransformer", "ColumnTransformer"]

_MAX_VALUES = 50_000  # training values kept per numeric atom for within-bin draws

#: Rows scored per pass (validation, score_samples): the loss holds every column's logits.
SCORE_ROWS = 4096


# -- numeric atoms as tokens ----------------------------------------------------------


@dataclass
class _Bins:
    """Quantile bins of one numeric atom and its training values, sorted: a bin's
    token decodes to a training value drawn uniformly within the bin, so the
    within-bin distribution is the real one and every value is a real value."""

    edges: np.ndarray  # (bins,) lower edge of each bin, itself a training value
    values: np.ndarray  # sorted training values (at most ``_MAX_VALUES``)

    @classmethod
    def fit(cls, x: np.ndarray, bins: int, rng: np.random.Generator) -> _Bins:
        if len(x) > _MAX_VALUES:
            x = rng.choice(x, _MAX_VALUES, replace=False)
        values = np.sort(x)
        distinct = np.unique(values)
        if len(distinct) <= bins:
            edges = distinct  # few values: one exact token each
        else:
            edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[:-1], method="inverted_cdf"))
        return cls(edges.astype(np.float64), values.astype(np.float64))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.edges, x, side="right") - 1, 0, len(self.edges) - 1)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo = np.searchsorted(self.values, self.edges, side="left")
        hi = np.append(lo[1:], len(self.values))
        start, width = lo[codes], hi[codes] - lo[codes]
        return self.values[start + (rng.random(len(codes)) * width).astype(np.int64).clip(max=width - 1)]


# -- the network ------------------------------------------------------------------------


_EACH = slice(None)  # one draw per row of the scores


class KVCache:
    """Keys and values of the positions decoded so far, one buffer per layer,
    position-major: (length, rows, heads, head width)."""

    def __init__(self, rows: int, heads: int, length: int, head_width: int, device: torch.device) -> None:
        self.k = torch.zeros(length, rows, heads, head_width, device=device)
        self.v = torch.zeros_like(self.k)
        self.size = 0

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Append one position's (rows, heads, head width) key and value; its query's
        attention output over every position so far. Elementwise products and sums
        over the position axis: a batched matrix product per (row, head) pair cost
        several times more for one query against a few dozen keys."""
        self.k[self.size], self.v[self.size] = k, v
        self.size += 1
        keys, values = self.k[: self.size], self.v[: self.size]
        w = torch.softmax((keys * q).sum(-1) * q.shape[-1] ** -0.5, dim=0)  # (positions, rows, heads)
        return (w.unsqueeze(-1) * values).sum(0)


class Block(nn.Module):
    """Pre-LayerNorm transformer block (GPT-2): causal self-attention and an MLP.

    ``kv_heads`` below ``heads`` shares each key/value head among ``heads // kv_heads``
    query heads (grouped-query attention; Ainslie et al. 2023, "GQA", EMNLP; one
    shared head is Shazeer's 2019 multi-query attention): generation's cache, and the
    memory attention reads at every step, shrink by that factor. The cache's
    ``attend`` then takes (rows, kv_heads, head width) keys and values.
    """

    def __init__(self, width: int, heads: int, dropout: float, kv_heads: int | None = None) -> None:
        super().__init__()
        kv_heads = heads if kv_heads is None else kv_heads
        if kv_heads < 1 or heads % kv_heads:
            raise ConfigError(f"kv_heads must divide heads {heads}, got {kv_heads}")
        self.heads, self.kv_heads, self.dropout = heads, kv_heads, dropout
        self.kv_width = width // heads * kv_heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, width + 2 * self.kv_width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        B, T, D = x.shape if cache is None else (x.shape[0], 1, x.shape[1])
        dh, split = D // self.heads, (D, self.kv_width, self.kv_width)
        if cache is not None:  # generation: x is (B, D), one new position seeing every cached one and itself
            q, k, v = self.qkv(self.ln1(x)).split(split, dim=1)
            att = cache.attend(q.view(B, self.heads, dh), k.view(B, self.kv_heads, dh), v.view(B, self.kv_heads, dh))
            x = x + self.proj(att.reshape(-1, D))  # B = 1 at a first step shared by every row: the cache's rows
            return x + self.mlp(self.ln2(x))
        # training: every position at once, each seeing those before it
        q, k, v = self.qkv(self.ln1(x)).split(split, dim=2)
        q = q.view(B, T, self.heads, dh).transpose(1, 2)
        k, v = (t.view(B, T, self.kv_heads, dh).transpose(1, 2) for t in (k, v))
        att = nn.functional.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0, enable_gqa=self.kv_heads < self.heads
        )
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(B, T, D)))
        return x + self.drop(self.mlp(self.ln2(x)))


class ColumnTransformer(nn.Module):
    """The label and the columns as tokens; position t predicts column ``target[t]``.

    ``vocab`` is each column's number of values; value embeddings and head rows of
    all columns sit in one table each (column j's at ``offsets[j]``), the label's two
    values after them.
    """

    offsets: Tensor
    #: Rows decoded together within a sampling pass: their key/value cache (columns x rows x width
    #: per layer) then stays in the CPU's caches; attention over it is memory-bound (RESULTS, issue #15).
    decode_rows = 512

    def __init__(self, vocab: list[int], width: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        if width % heads:
            raise ConfigError(f"width {width} is not divisible by heads {heads}")
        self.vocab, self.width, self.heads = vocab, width, heads
        total = int(sum(vocab))
        offsets = np.concatenate([[0], np.cumsum(vocab)[:-1]]).astype(np.int64)
        self.register_buffer("offsets", torch.from_numpy(offsets))
        self.label_base = total  # value token of label y: label_base + y
        self.value = nn.Embedding(total + 2, width)  # every column's values, then label 0 / 1
        self.column = nn.Embedding(len(vocab) + 1, width)  # 0: the label, j + 1: column j
        self.target = nn.Embedding(len(vocab), width)  # the column this position predicts
        self.label = nn.Embedding(2, width)  # the click label, added at every position
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, total)  # row offsets[j] + v: logit of value v of column j
        self.drop = nn.Dropout(dropout)
        self._groups = head_groups(vocab, offsets)

    def hidden(self, tokens: Tensor, columns: Tensor, targets: Tensor, labels: Tensor) -> Tensor:
        """(B, T) global value tokens, their column ids and the column each position
        predicts, (B,) labels -> (B, T, width) final hidden states (causal over T)."""
        x = self.value(tokens) + self.column(columns) + self.target(targets) + self.label(labels).unsqueeze(1)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        return self.ln(x)

    def loss(self, codes: Tensor, labels: Tensor, order: Tensor) -> Tensor:
        """(B,) negative log-likelihood per column of rows ``codes`` (B, C local codes)
        with ``labels`` (B,), the columns visited in ``order`` (B, C, a permutation per row)."""
        C = codes.shape[1]
        tokens = codes + self.offsets
        seq_tokens = torch.cat([(self.label_base + labels).unsqueeze(1), tokens.gather(1, order[:, :-1])], dim=1)
        seq_columns = torch.cat([torch.zeros_like(labels).unsqueeze(1), order[:, :-1] + 1], dim=1)
        h = self.hidden(seq_tokens, seq_columns, order, labels)  # position t predicts column order[:, t]
        return column_nll(by_column(h, order), codes, self.head, self._groups) / C

    def start(self, rows: int) -> list[KVCache]:
        """Empty key/value caches for a decode of ``rows`` rows, one per block."""
        return [KVCache(rows, self.heads, len(self.vocab), self.width // self.heads, self.offsets.device) for _ in self.blocks]

    def step(self, tokens: Tensor, columns: Tensor, target: int, label: int, caches: list[KVCache]) -> Tensor:
        """One generation step for rows of class ``label``: the last drawn token -> logits of column ``target``."""
        x = self.value(tokens) + self.column(columns) + self.target.weight[target] + self.label.weight[label]  # (B, width)
        for block, cache in zip(self.blocks, caches):
            x = block(x, cache)
        return column_logits(self.ln(x), self.head, int(self.offsets[target]), self.vocab[target])


def _draw(logits: Tensor, temperature: float, top_p: float, gen: torch.Generator, rows: Tensor | slice = _EACH) -> Tensor:
    """One code per row from softmax(logits / temperature), within the top-p nucleus;
    ``rows``: which row of ``logits`` each draw reads (rows sharing a prefix share scores)."""
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(dim=-1) - sorted_p >= top_p  # outside the smallest set reaching top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(1, idx, sorted_p)
    cum = probs.cumsum(dim=-1)[rows]
    u = torch.rand(len(cum), 1, generator=gen, device="cpu").to(probs.device) * cum[:, -1:]
    return torch.searchsorted(cum, u, right=True).squeeze(1).clamp(max=probs.shape[1] - 1)


# -- the generator ------------------------------------------------------------------------

NETWORKS = ("nade", "transformer")


class AutoregressiveTransformer(Generator):
    """Any-order autoregressive model of the columns, NADE or a transformer (see the module docstring).

    Parameters
    ----------
    epochs
        Most passes over the training rows; training stops earlier when the
        validation loss has not improved for ``patience`` epochs, and the best
        epoch's weights are kept.
    batch_size, lr, weight_decay
        Rows per step, Adam's learning rate and L2 weight decay.
    network
        ``"nade"``: the sum of the drawn tokens' embeddings through an MLP
        (``nade.py``; a step costs the same at every column, no cache); ``"transformer"``:
        causal attention over the drawn tokens (a key/value cache). NADE is the default:
        as faithful in the sweep of ``benchmarks/RESULTS.md`` at several times the
        sampling speed; the transformer's rows are less exposed to a membership attack.
    width, layers, heads, dropout
        Network size: embedding width per column token, blocks (NADE: residual MLP
        blocks), attention heads (transformer only); dropout after embeddings, attention
        and MLPs. Defaults from the sweeps in ``benchmarks/RESULTS.md`` (one block;
        dropout 0: early stopping regularises, and dropout's random masks cost a sixth
        of a CPU training step).
    bins
        Quantile bins per numeric atom (fewer distinct values: one token each).
    min_frequency
        Categories seen fewer times are pooled into one ``other`` token and drawn
        back as real values by their frequencies (no model weight learns a value
        of one or two rows).
    list_items
        Items per list column with their own presence token.
    whole_lists
        A list column whose 256 commonest lists cover at least this share of the
        rows is one categorical column of its whole lists (each drawn list a training
        list; one token instead of a length and ``list_items`` flags); None: never.
    order_share
        Share of training rows visited in the generation order (the table's, the
        one ``sample`` uses when nothing is fixed); the rest in uniformly random
        orders, which keep every column subset fixable. 0: orderless NADE's
        objective alone, whose capacity is spread over all orders.
    click_share
        Share of click rows in every training batch (drawn with replacement within
        each class), or the data's own click rate where that is higher; None: the
        data's own rate. The label is always given, so this
        reweights the objective towards the rare class without biasing either
        class's conditional distribution: at natural rates the few click rows
        barely move the loss and the synthetic clicks carry little click signal;
        at 0.5 the non-click rows, most of a table, are under-trained; at 0.15 (the
        transformer's sweep) NADE's click rows sat nearer the training clicks than
        fresh clicks do, at 0.08 as near as fresh clicks, with the same click signal.
    validation
        Share of the training rows held out for early stopping (never the holdout).
    patience
        Epochs without a better validation loss before stopping.
    temperature, top_p
        Sampling controls: softmax temperature and nucleus mass.
    device
        Where training runs: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        Sampling runs on the CPU (batched passes on a thread pool, a key/value cache).
    max_time
        Wall-clock budget in seconds (None: none; a budget makes rows depend on the machine).
    """

    name = "autoregressive"
    conditional = True

    def __init__(
        self,
        *,
        epochs: int = 40,
        batch_size: int = 256,
        lr: float = 2e-3,
        weight_decay: float = 1e-5,
        network: str = "nade",
        width: int = 64,
        layers: int = 1,
        heads: int = 4,
        dropout: float = 0.0,
        bins: int = 64,
        min_frequency: int = 3,
        list_items: int = 16,
        whole_lists: float | None = 0.9,
        order_share: float = 0.5,
        click_share: float | None = 0.08,
        validation: float = 0.1,
        patience: int = 3,
        temperature: float = 1.0,
        top_p: float = 1.0,
        device: str = "auto",
        max_time: float | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.network = network
        self.width = width
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.bins = bins
        self.min_frequency = min_frequency
        self.list_items = list_items
        self.whole_lists = whole_lists
        self.order_share = order_share
        self.click_share = click_share
        self.validation = validation
        self.patience = patience
        self.temperature = temperature
        self.top_p = top_p
        self.device = device
        self.max_time = max_time
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        tiny = {"epochs": 2, "batch_size": 64, "width": 16, "layers": 1, "heads": 2, "bins": 8}
        return [tiny, {**tiny, "network": "transformer"}]

    # -- fitting --------------------------------------------------------------------------
    def _check_params(self) -> None:
        check_sequence_params(self)
        if self.network not in NETWORKS:
            raise ConfigError(f"network must be one of {sorted(NETWORKS)}, got {self.network!r}")
        if self.bins < 1 or self.min_frequency < 1:
            raise ConfigError(f"bins and min_frequency must be at least 1, got {self.bins} and {self.min_frequency}")
        if self.click_share is not None and not 0 < self.click_share < 1:
            raise ConfigError(f"click_share must be in (0, 1) or None, got {self.click_share}")
        if not 0.0 <= self.order_share <= 1.0:
            raise ConfigError(f"order_share must be in [0, 1], got {self.order_share}")
        if self.whole_lists is not None and not 0.0 <= self.whole_lists <= 1.0:
            raise ConfigError(f"whole_lists must be in [0, 1] or None, got {self.whole_lists}")

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        self._check_params()
        device = resolve_device(self.device)
        whole = whole_list_columns(X, self.schema_, WHOLE_LIST_VALUES, self.whole_lists)
        self.joint_, X, schema = JointColumns.fit_transform(X, self.schema_, threshold=None, whole=whole)
        self.encoder_ = TableEncoder(max_categories=2**31 - 1, min_frequency=self.min_frequency, list_top_k=self.list_items).fit(X, schema)
        enc = self.encoder_.transform(X)
        self.bins_ = [_Bins.fit(enc.continuous[:, j], self.bins, rng) for j in range(enc.continuous.shape[1])]
        codes = self._codes(enc)
        self.vocab_ = [len(b.edges) for b in self.bins_] + [max(k, 1) for k in self.encoder_.cardinalities]
        n, C = codes.shape
        held = rng.random(n) < self.validation if n >= 20 else np.zeros(n, bool)
        fit_rows, val_rows = np.flatnonzero(~held), np.flatnonzero(held)
        batch = min(self.batch_size, len(fit_rows))
        codes_t = torch.from_numpy(codes).to(device)
        labels_t = torch.from_numpy(y.astype(np.int64)).to(device)
        val_perm = np.argsort(rng.random((len(val_rows), C)), axis=1)
        if self.order_share > 0:  # stop on the likelihood of the order sampling takes
            val_perm[:] = np.arange(C)
        val_order = torch.from_numpy(val_perm).to(device)
        val_y = y[val_rows]
        with torch_seeded(rng):
            net = self._network(self.network).to(device)
            opt = Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            # Towards the rare class, never away from it: a table with more clicks keeps its own rate.
            share = None if self.click_share is None else max(self.click_share, float(y[fit_rows].mean()))
            pick = BatchPicker(fit_rows, y, batch, share, rng)

            def step(epoch: int, i: int) -> dict[str, float]:
                idx = torch.from_numpy(pick(i)).to(device)
                net.train()
                perm = torch.argsort(torch.rand(len(idx), C), dim=1)  # a random column order per row
                if self.order_share > 0:  # some rows in the order generation takes
                    perm[torch.rand(len(idx)) < self.order_share] = torch.arange(C)
                perm = perm.to(device)
                loss = net.loss(codes_t[idx], labels_t[idx], perm).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                return {"loss": loss.item()}

            def validation_loss() -> float:
                parts = []
                for s in range(0, len(val_rows), SCORE_ROWS):
                    idx = torch.from_numpy(val_rows[s : s + SCORE_ROWS]).to(device)
                    parts.append(net.loss(codes_t[idx], labels_t[idx], val_order[s : s + SCORE_ROWS]).cpu().numpy())
                nll = np.concatenate(parts)
                # The objective the batches weigh: classes mixed at the share (natural rates when None).
                share = pick.share
                if share is None or val_y.min() == val_y.max():
                    return float(nll.mean())
                return float(share * nll[val_y == 1].mean() + (1 - share) * nll[val_y == 0].mean())

            train_with_early_stopping(
                self,
                "Autoregressive",
                net,
                steps=max(len(fit_rows) // batch, 1),
                step=step,
                validation_loss=validation_loss if len(val_rows) else None,
            )
        self.net_ = net.cpu().eval()

    def _codes(self, enc: Encoded) -> np.ndarray:
        """Atoms -> (n, columns) local token codes: numeric atoms binned, then the discrete codes."""
        cont = [b.encode(enc.continuous[:, j]) for j, b in enumerate(self.bins_)]
        return np.column_stack([*cont, enc.discrete]).astype(np.int64) if cont or enc.discrete.size else np.zeros((len(enc), 0), np.int64)

    def score_samples(self, X: Any, y: Any) -> np.ndarray:
        """Log-likelihood (nats) of each row given its label: the sum over the columns of
        log p(x_c | label, x_<c) in the table order sampling takes. Numeric columns count at
        their quantile bin, rare or unseen categories as the pooled rare value. The difference
        at label 1 and at label 0 is the model's own click score (see ``benchmarks/click_signal.py``).

        ``y``: 0/1 labels (array, Series) or the name of the label column in ``X``.
        """
        self._check_fitted()
        if y is None:
            raise DataError("score_samples needs labels: pass y (array or Series) or the name of the label column in X")
        X = to_pandas(X, what="X")
        if isinstance(y, str):
            if y not in X.columns:
                raise DataError(f"label column {y!r} is not in X")
            X, y = X.drop(columns=y), X[y]
        labels = np.asarray(y)
        if labels.shape != (len(X),) or not set(np.unique(labels).tolist()) <= {0, 1}:
            raise DataError(f"y must hold one 0/1 label per row of X ({len(X)} rows)")
        labels = labels.astype(np.int64)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise DataError(f"X lacks the training columns {missing}")
        frame = self.joint_.transform(X[self.feature_names_in_].reset_index(drop=True))
        codes = torch.from_numpy(self._codes(self.encoder_.transform(frame)))
        C = codes.shape[1]
        order = torch.arange(C).expand(len(codes), C)
        out = []
        with torch.no_grad():
            for s in range(0, len(codes), SCORE_ROWS):
                part = slice(s, s + SCORE_ROWS)
                out.append(-self.net_.loss(codes[part], torch.from_numpy(labels[part].astype(np.int64)), order[part]).numpy() * C)
        return np.concatenate(out) if out else np.zeros(0)

    # -- sampling -------------------------------------------------------------------------
    def sample(
        self, n: int | Mapping[Any, int], *, random_state: int | None = None, fixed: Mapping[str, Any] | pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Generate rows (see :meth:`Generator.sample`), optionally with columns fixed.

        ``fixed``: ``{column: value}`` for every row, or a frame of some feature
        columns with one row per output row (rows in the order returned: class 0
        first when both are sampled); the other columns are drawn given them.
        """
        self._check_fitted()
        self._fixed = self._resolve_fixed(fixed, n)
        self._fixed_at = 0
        try:
            out = super().sample(n, random_state=random_state)
        finally:
            frame, self._fixed = self._fixed, None
        if frame is not None:
            for c in frame.columns:
                out[c] = pd.Series(frame[c].to_numpy(), index=out.index).astype(out[c].dtype)  # numpy or pandas dtypes
        return out

    def _resolve_fixed(self, fixed: Mapping[str, Any] | pd.DataFrame | None, n: int | Mapping[Any, int]) -> pd.DataFrame | None:
        if fixed is None:
            return None
        total = sum(self._resolve_counts(n).values())
        if isinstance(fixed, pd.DataFrame):
            frame = fixed.reset_index(drop=True)
            if len(frame) != total:
                raise ConfigError(f"fixed has {len(frame)} rows; it needs one per sampled row ({total})")
        else:
            frame = pd.DataFrame({c: [v] * total for c, v in fixed.items()})
        for c in frame.columns:
            if c not in self.feature_names_in_:
                raise ConfigError(f"fixed column {c!r} is not a feature of the training data")
            if self.schema_[c].kind == "id":
                raise ConfigError(f"fixed column {c!r} is an id column, which is not modelled")
            if c in self.categories_:
                seen = set(self.categories_[c])
                bad = [v for v in frame[c].dropna().unique() if v not in seen]
                if bad:
                    raise ConfigError(f"fixed value {bad[0]!r} of {c!r} was never seen in training")
            for group, table in zip(self.joint_.groups, self.joint_.tables):
                if group == [c]:  # a column of whole lists: only its training lists can be given
                    seen = set(table[c].dropna())
                    bad = [v for v in frame[c].dropna().unique() if v not in seen]
                    if bad:
                        raise ConfigError(f"fixed list {bad[0]!r} of {c!r} was never seen in training (a column of whole lists)")
            if c in self.ranges_:
                lo, hi = self.ranges_[c]
                v = pd.to_numeric(frame[c], errors="coerce")
                if ((v < lo) | (v > hi)).any():
                    raise ConfigError(f"fixed values of {c!r} lie outside the training range [{lo}, {hi}]")
        return frame

    def _fixed_codes(self, n: int) -> dict[int, np.ndarray]:
        """Token codes of the fixed columns' atoms for the next ``n`` output rows (none
        outside :meth:`sample`'s ``fixed``, e.g. for a loaded model)."""
        frame: pd.DataFrame | None = getattr(self, "_fixed", None)
        if frame is None:
            return {}
        part = frame.iloc[self._fixed_at : self._fixed_at + n].reset_index(drop=True)
        self._fixed_at += n
        full = pd.DataFrame({c: part[c] if c in part.columns else pd.Series([None] * n, dtype=object) for c in self.feature_names_in_})
        codes = self._codes(self.encoder_.transform(self.joint_.transform(full)))
        atoms = self.encoder_.atoms
        return {j: codes[:, j] for j, a in enumerate(atoms) if a.column in part.columns}

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        fixed = self._fixed_codes(n)
        C = len(self.vocab_)
        steps = list(fixed) + [j for j in range(C) if j not in fixed]
        net: Any = self.net_  # a ColumnNADE or ColumnTransformer: the same start / step interface
        label_token = net.label_base + label
        offsets = net.offsets.numpy()
        rows = net.decode_rows

        def chunk(start: int, m: int, crng: np.random.Generator, gen: torch.Generator) -> np.ndarray:
            return np.concatenate([decode(start + i, min(rows, m - i), gen) for i in range(0, m, rows)])

        def decode(start: int, m: int, gen: torch.Generator) -> np.ndarray:
            caches = net.start(m)
            codes = np.zeros((m, C), dtype=np.int64)
            # Every row begins at the label: the first step runs one row, broadcast to all rows after it.
            tokens = torch.full((1,), label_token, dtype=torch.long)
            columns = torch.zeros(1, dtype=torch.long)
            first = torch.zeros(m, dtype=torch.long)
            for j in steps:
                if j in fixed:
                    code = torch.from_numpy(fixed[j][start : start + m])
                    if j != steps[-1]:
                        net.step(tokens, columns, j, label, caches)  # only to take in the previous token
                else:
                    logits = net.step(tokens, columns, j, label, caches)
                    code = _draw(logits, self.temperature, self.top_p, gen, first if len(logits) < m else _EACH)
                codes[:, j] = code.numpy()
                tokens = code + int(offsets[j])
                columns = torch.full((m,), j + 1, dtype=torch.long)
            return codes

        parts = sample_in_chunks_at(n, rng, chunk)
        codes = np.concatenate(parts) if parts else np.zeros((0, C), np.int64)
        n_cont = len(self.bins_)
        cont = np.column_stack([b.decode(codes[:, j], rng) for j, b in enumerate(self.bins_)]) if n_cont else np.zeros((n, 0))
        return self.joint_.inverse_transform(self.encoder_.inverse_transform(cont, codes[:, n_cont:], rng))

    # -- state ----------------------------------------------------------------------------
    def _get_state(self) -> State:
        arrays = state_to_numpy("net", self.net_)
        for j, b in enumerate(self.bins_):
            arrays[f"bins{j}_edges"], arrays[f"bins{j}_values"] = b.edges, b.values
        meta = {
            "encoder": self.encoder_.get_state(),
            "vocab": self.vocab_,
            "history": self.history_,
            "stopped_by_time": self.stopped_by_time_,
            "best_epoch": self.best_epoch_,
            "joint": self.joint_.get_meta(),
            "network": self.network,
        }
        return State(meta=meta, arrays=arrays, frames=self.joint_.get_frames())

    def _set_state(self, state: State) -> None:
        self.encoder_ = TableEncoder.from_state(state.meta["encoder"])
        self.joint_ = JointColumns.from_state(state.meta.get("joint"), state.frames)  # files before 2026-12-01: no whole lists
        self.vocab_ = list(state.meta["vocab"])
        self.history_ = state.meta["history"]
        self.stopped_by_time_ = state.meta["stopped_by_time"]
        self.best_epoch_ = state.meta["best_epoch"]
        n_cont = len(self.encoder_.continuous_atoms)
        self.bins_ = [_Bins(np.asarray(state.arrays[f"bins{j}_edges"]), np.asarray(state.arrays[f"bins{j}_values"])) for j in range(n_cont)]
        self.network = state.meta.get("network", "transformer")  # files before 2026-12-03: the transformer
        self.net_ = load_module("net", lambda: self._network(self.network), state.arrays).eval()

    def _network(self, kind: str) -> ColumnTransformer | ColumnNADE:
        if kind == "nade":
            return ColumnNADE(self.vocab_, self.width, self.layers, self.dropout)
        return ColumnTransformer(self.vocab_, self.width, self.layers, self.heads, self.dropout)
