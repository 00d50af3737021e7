"""Sampling passes: seeded per pass, run on a thread pool."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch

__all__ = ["SAMPLE_CHUNK", "pass_bounds", "sample_in_chunks", "sample_in_chunks_at"]

T = TypeVar("T")

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
