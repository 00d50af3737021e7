"""Per-column softmax heads stored in one table: column j's values are rows
``offsets[j] .. offsets[j] + vocab[j]`` of one ``nn.Linear``. The column networks
(transformer, NADE) and the masked diffusion share them."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

_SMALL_HEAD = 64  # heads up to this many values share one padded product

Groups = list[tuple[Tensor, Tensor, Tensor]]


def head_groups(vocab: list[int], offsets: np.ndarray) -> Groups:
    """Columns whose heads share one padded product: all with at most ``_SMALL_HEAD``
    values together, each larger one alone. Per group: column ids, (n, K) head rows
    (padded with row 0) and the (n, K) mask of real ones."""
    small = [j for j, k in enumerate(vocab) if k <= _SMALL_HEAD]
    groups = ([small] if small else []) + [[j] for j, k in enumerate(vocab) if k > _SMALL_HEAD]
    out = []
    for cols in groups:
        width = max(vocab[j] for j in cols)
        index = torch.zeros(len(cols), width, dtype=torch.long)
        valid = torch.zeros(len(cols), width, dtype=torch.bool)
        for i, j in enumerate(cols):
            index[i, : vocab[j]] = torch.arange(offsets[j], offsets[j] + vocab[j])
            valid[i, : vocab[j]] = True
        out.append((torch.tensor(cols, dtype=torch.long), index, valid))
    return out


def column_nll(by_column: Tensor, codes: Tensor, head: nn.Linear, groups: Groups) -> Tensor:
    """(B, C, width) the hidden state that predicts each column, (B, C) local codes ->
    (B,) negative log-likelihood summed over the columns."""
    total = by_column.new_zeros(len(codes))
    for columns, index, valid in groups:
        w, b = head.weight[index], head.bias[index]  # (n, K, width), (n, K)
        logits = torch.einsum("bnd,nkd->bnk", by_column[:, columns], w) + b
        logits = logits.masked_fill(~valid, -torch.inf)
        nll = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes[:, columns].reshape(-1), reduction="none")
        total = total + nll.view(len(codes), -1).sum(dim=1)
    return total


def by_column(h: Tensor, order: Tensor) -> Tensor:
    """(B, T, width) states in visiting order, position t predicting column ``order[:, t]``
    -> (B, C, width) the state predicting each column, in column order."""
    return h.gather(1, torch.argsort(order, dim=1).unsqueeze(-1).expand(-1, -1, h.shape[-1]))


def column_logits(h: Tensor, head: nn.Linear, start: int, size: int) -> Tensor:
    """(B, width) -> (B, size) logits of the column whose head rows begin at ``start``."""
    return nn.functional.linear(h, head.weight[start : start + size], head.bias[start : start + size])
