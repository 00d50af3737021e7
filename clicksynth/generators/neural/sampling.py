"""Sampling passes: seeded per pass, run on a thread pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import numpy as np
import torch

__all__ = ["SAMPLE_CHUNK", "PrefixGroups", "pass_bounds", "sample_in_chunks", "sample_in_chunks_at"]

T = TypeVar("T")


class _Takes(Protocol):
    def take(self, rows: torch.Tensor) -> None: ...


class PrefixGroups:
    """Rows of one decoding pass grouped by their prefix (the tokens fed so far).

    A causal decoder's hidden states, and so its keys, values and next-token scores,
    depend on the prefix only: rows that share one need one network row. At the first
    step every row of a class shares it, and the first columns of a row (an ad's ID,
    then its advertiser) take few values, so the early steps run on a fraction of the
    rows. Each cache row is a group's; :meth:`advance` splits the groups by the
    token just drawn and gives each new group its parent's cache. Once the groups
    number ``per_row_share`` of the rows, every row becomes a group of its own (in
    row order) and nothing is regrouped any more: copying the caches at each step
    would then cost more than the few shared rows save.
    """

    per_row_share = 0.9

    def __init__(self, rows: int) -> None:
        self.node = np.zeros(rows, np.int64)  # each row's group: its row of the caches
        self.groups = 1
        self.per_row = rows <= 1  # every row its own group, group i being row i

    def advance(self, tokens: np.ndarray, vocab: int, caches: Sequence[_Takes]) -> np.ndarray:
        """Regroup by the rows' latest ``tokens`` (< ``vocab``) and reorder the caches'
        rows to the new groups; a representative row of each group, in group order."""
        m = len(tokens)
        if self.per_row:
            return np.arange(m)
        _, first, node = np.unique(self.node * vocab + tokens, return_index=True, return_inverse=True)
        parents = self.node[first]  # ascending: the keys sort by group first
        if len(first) >= self.per_row_share * m:
            first, parents, node, self.per_row = np.arange(m), self.node, np.arange(m), True
        if len(first) > self.groups:  # else each group kept its rows: its cache row stays
            for cache in caches:
                cache.take(torch.from_numpy(parents))
        self.node, self.groups = node.reshape(-1), len(first)
        return first

    def rows(self, at: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | slice]:
        """The groups of rows ``at`` (each once), and per row its place among them."""
        if self.per_row:
            return torch.from_numpy(at), slice(None)
        groups, place = np.unique(self.node[at], return_inverse=True)
        return torch.from_numpy(groups), torch.from_numpy(place.reshape(-1))


SAMPLE_CHUNK = 4096  # most rows per sampling pass: small enough that the draws stay in cache


def pass_bounds(n: int) -> list[int]:
    """Where the passes over ``n`` rows start, then ``n``: as few passes of at most
    :data:`SAMPLE_CHUNK` rows as can be, an even number of them when more than one, and
    of equal sizes (within a row). Passes of 4,096, 4,096 and 1,808 rows leave a core idle
    while the last runs; four of 2,500 keep two busy. The split depends on ``n`` only, so
    the rows do not depend on the machine's cores."""
    k = -(-n // SAMPLE_CHUNK)
    if k > 1 and k % 2:
        k += 1
    return [n * i // k for i in range(k + 1)] if k else [0]


def sample_in_chunks(n: int, rng: np.random.Generator, chunk: Callable[[int, np.random.Generator, torch.Generator], T]) -> list[T]:
    """:func:`sample_in_chunks_at` for chunk functions that need not know where their rows start."""
    return sample_in_chunks_at(n, rng, lambda start, rows, crng, gen: chunk(rows, crng, gen))


def sample_in_chunks_at(n: int, rng: np.random.Generator, chunk: Callable[[int, int, np.random.Generator, torch.Generator], T]) -> list[T]:
    """``[chunk(start, rows, chunk_rng, torch_generator), ...]`` over the passes of
    :func:`pass_bounds`, in order (``start``: the pass's first row).

    Every pass has its own numpy and torch generators seeded from ``rng``, so the
    rows depend on the seed only, not on scheduling, and the process's global torch
    RNG is left alone. Passes run on a pool of as many threads as torch would use,
    each running torch single-threaded: a pass is part matrix products and part
    single-threaded work (random numbers, index draws, numpy), so two single-threaded
    passes side by side keep both cores busy where one two-threaded pass cannot.
    torch's thread count is restored
    afterwards; callers sampling from several threads at once should expect torch
    to run single-threaded meanwhile.
    """
    bounds = pass_bounds(n)
    starts = bounds[:-1]
    seeds = rng.integers(0, 2**63 - 1, size=len(starts))

    def run(i: int) -> T:
        with torch.no_grad():  # grad mode is per thread
            gen = torch.Generator().manual_seed(int(seeds[i]))
            return chunk(starts[i], bounds[i + 1] - starts[i], np.random.default_rng(seeds[i]), gen)

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
