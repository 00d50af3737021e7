"""The only place seeds are made.

Randomness flows one way: a ``random_state`` at a public boundary becomes a
:class:`numpy.random.SeedSequence`, and everything below receives children of
it (numpy Generators, torch Generators, or plain ints for XGBoost and
scikit-learn). Library code never touches global random state.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

RandomState = int | np.random.SeedSequence | np.random.Generator | None

__all__ = ["RandomState", "as_seed_sequence", "child_rng", "derive_seed", "int_seed", "make_rng", "torch_generator"]


def as_seed_sequence(random_state: RandomState) -> np.random.SeedSequence:
    """Turn any accepted ``random_state`` into a SeedSequence.

    ``None`` draws fresh OS entropy, an int is used as entropy, a Generator
    contributes a draw from its own stream (so the caller's stream advances,
    as scikit-learn does with RandomState instances).
    """
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return np.random.SeedSequence(int(random_state))
    raise TypeError(f"random_state must be an int, SeedSequence, Generator or None, got {type(random_state).__name__}")


def make_rng(random_state: RandomState) -> np.random.Generator:
    """A numpy Generator from any accepted ``random_state``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(as_seed_sequence(random_state))


def child_rng(rng: np.random.Generator) -> np.random.Generator:
    """An independent Generator spawned from ``rng`` (advances ``rng``)."""
    return np.random.default_rng(int(rng.integers(0, 2**63 - 1)))


def int_seed(rng: np.random.Generator) -> int:
    """A 31-bit integer seed for libraries that take ints (XGBoost, scikit-learn)."""
    return int(rng.integers(0, 2**31 - 1))


def derive_seed(base: int, *parts: Any) -> int:
    """A stable 63-bit seed from a base seed and any labels.

    Used for benchmark cells: the seed of (seed, dataset, generator, ratio,
    repeat) depends only on those values, so adding a generator to a grid
    shifts no other cell. Hashing (not Python's salted ``hash``) keeps it
    stable across processes and machines.
    """
    text = "\x1f".join([str(int(base)), *(repr(p) for p in parts)])
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A CPU torch.Generator seeded from ``rng``."""
    import torch

    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(rng.integers(0, 2**63 - 1)))
    return gen
