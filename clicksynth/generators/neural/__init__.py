"""The neural generators and the machinery they share.

=======================  ==============================================================
``transform.py``         rows <-> the networks' representation: spans, encoding,
                         category draws, the sampling layout
``conditional.py``       CTGAN's training-by-sampling conditions (label always included)
``training.py``          the shared epoch loop (history, divergence, progress, budget,
                         early stopping), Adam, seeding without global state, state dicts
``sampling.py``          seeded sampling passes on a thread pool
``ctgan.py``             CTGAN (one file per model; torch modules at module level)
``tvae.py``              TVAE
``autoregressive.py``    the any-order autoregressive generator and its column transformer
``nade.py``              its default network, NADE (a running sum of token embeddings, an MLP)
``heads.py``             per-column softmax heads in one table (column networks, diffusion)
``rowgpt.py``            the row GPT (rows as token sequences, grammar-constrained decoding)
``diffusion.py``         masked and multinomial (TabDDPM) diffusion
=======================  ==============================================================

Importing this package imports torch, and fails with
:class:`~clicksynth.exceptions.MissingDependencyError` where it is missing;
``import clicksynth`` never imports it (the registry loads generators lazily). It also makes
torch flush denormal floats to zero in this thread and in the threads started after it (torch's
OpenMP pool starts at its first parallel operation and inherits the flag): once a softmax head is
confident, its gradients hold values below 1e-38, and a matrix product on them ran 190 times
slower on CPU (``benchmarks/RESULTS.md``, "Denormals").
"""

from __future__ import annotations

from clicksynth.exceptions import MissingDependencyError

try:
    import torch  # imported here once so every module below may assume it
except ImportError as exc:  # pragma: no cover - torch is in the `neural` extra
    raise MissingDependencyError(
        "the neural generators need PyTorch: pip install 'clicksynth[neural]' (CPU build: pip install torch==2.13.0)"
    ) from exc

# Before any torch operation starts the thread pool, so its threads inherit it (see above).
torch.set_flush_denormal(True)
