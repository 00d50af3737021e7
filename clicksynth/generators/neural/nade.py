"""NADE over a row's columns as tokens: the autoregressive generator's fast network.

Papers:

* Larochelle & Murray (2011), "The Neural Autoregressive Distribution Estimator",
  AISTATS: p(x) = prod_d p(x_d | x_<d) with h_d = sigm(c + W[:, <d] x_<d), so the
  hidden pre-activation of step d + 1 is step d's plus one column of W (the paper's
  O(HD) recurrence).
* Uria, Murray & Larochelle (2014), "A Deep and Tractable Density Estimator", ICML:
  deep NADE, trained over random variable orders.

Model -> code:

* a_t = e(y) + sum_{i < t} E[x_{s_i}] (W[:, <d] x_<d with one-hot categorical inputs: a
  column of W per value is a value embedding; the label's own token starts the sum)
  -> ``ColumnNADE.loss`` as a cumulative sum over the visiting order, ``step`` as a
  running sum (``NADEState``: one vector per row, whatever the number of columns)
* h_t = LayerNorm(MLP(a_t + target(s_t))), ``layers`` residual MLP blocks -> ``_hidden``
* p(x_{s_t} | y, x_{s_<t}) = softmax(V_{s_t} h_t + b_{s_t}), a head per column over its
  full vocabulary -> ``heads.column_nll`` / ``heads.column_logits``

Deviations: the sigmoid hidden layer is residual GELU MLP blocks (hidden ``ratio`` x
the width) with LayerNorm; an
embedding of the column to be predicted is added to the sum (deep NADE tells its
network which inputs are missing through a mask; here the order is known and one
vector says which column comes next). The generator (``autoregressive.py``) draws the
label first, so every column is predicted given it.

Against the column transformer, a step is one small MLP on a running sum instead of
attention over a growing key/value cache: no per-step memory grows with the columns
drawn, so a sampling pass decodes more rows at once (``decode_rows``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from clicksynth.generators.neural.heads import by_column, column_logits, column_nll, head_groups
from clicksynth.generators.neural.sampling import SAMPLE_CHUNK

__all__ = ["ColumnNADE", "NADEState"]


class NADEState:
    """The running sum a_t of the tokens drawn so far, (rows, width); None before the first."""

    def __init__(self) -> None:
        self.a: Tensor | None = None

    def add(self, e: Tensor) -> Tensor:
        self.a = e if self.a is None else self.a + e
        return self.a


class ColumnNADE(nn.Module):
    """The label and the columns as tokens, their embeddings summed in visiting order.

    ``vocab`` is each column's number of values; value embeddings and head rows of all
    columns sit in one table each (column j's at ``offsets[j]``), the label's two values
    after them (as in ``ColumnTransformer``, whose interface this shares).
    """

    offsets: Tensor
    decode_rows = SAMPLE_CHUNK  # a whole pass decoded at once: the state is one vector per row

    def __init__(self, vocab: list[int], width: int, layers: int, dropout: float, ratio: int = 2) -> None:
        super().__init__()
        self.vocab = vocab
        total = int(sum(vocab))
        offsets = np.concatenate([[0], np.cumsum(vocab)[:-1]]).astype(np.int64)
        self.register_buffer("offsets", torch.from_numpy(offsets))
        self.label_base = total  # value token of label y: label_base + y
        self.value = nn.Embedding(total + 2, width)  # every column's values, then label 0 / 1
        self.target = nn.Embedding(len(vocab), width)  # the column this step predicts
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(width), nn.Linear(width, ratio * width), nn.GELU(), nn.Linear(ratio * width, width), nn.Dropout(dropout)
            )
            for _ in range(layers)
        )
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, total)  # row offsets[j] + v: logit of value v of column j
        self.drop = nn.Dropout(dropout)
        self._groups = head_groups(vocab, offsets)

    def _hidden(self, a: Tensor) -> Tensor:
        x = self.drop(a)
        for block in self.blocks:
            x = x + block(x)
        return self.ln(x)

    def loss(self, codes: Tensor, labels: Tensor, order: Tensor) -> Tensor:
        """(B,) negative log-likelihood per column of rows ``codes`` (B, C local codes)
        with ``labels`` (B,), the columns visited in ``order`` (B, C, a permutation per row)."""
        B, C = codes.shape
        seen = self.value((codes + self.offsets).gather(1, order[:, :-1]))  # (B, C - 1, width), visiting order
        before = torch.cat([seen.new_zeros(B, 1, seen.shape[-1]), seen.cumsum(dim=1)], dim=1)  # position t: tokens before it
        a = before + self.value(self.label_base + labels).unsqueeze(1) + self.target(order)
        return column_nll(by_column(self._hidden(a), order), codes, self.head, self._groups) / C

    def start(self, rows: int) -> NADEState:
        return NADEState()

    def step(self, tokens: Tensor, columns: Tensor, target: int, label: int, state: NADEState) -> Tensor:
        """One generation step: add the last drawn token (the label's at the first step)
        to the sum -> logits of column ``target``. ``columns`` and ``label`` are in the
        sum already (each value token is its column's own)."""
        a = state.add(self.value(tokens))
        h = self._hidden(a + self.target.weight[target])
        return column_logits(h, self.head, int(self.offsets[target]), self.vocab[target])
