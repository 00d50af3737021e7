"""The training machinery the neural generators share: the epoch loop (loss
history, divergence checks, progress bar, wall-clock budget), Adam, a local torch
RNG (global state is never touched) and state dicts <-> numpy arrays."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch

from clicksynth._progress import EpochProgress
from clicksynth.exceptions import ConfigError, TrainingError

M = TypeVar("M", bound=torch.nn.Module)

__all__ = [
    "Adam",
    "BatchPicker",
    "EarlyStopping",
    "Timer",
    "check_finite",
    "check_sequence_params",
    "load_module",
    "numpy_to_state",
    "resolve_device",
    "state_to_numpy",
    "torch_seeded",
    "train_epochs",
    "train_with_early_stopping",
]


@contextlib.contextmanager
def torch_seeded(rng: np.random.Generator) -> Iterator[None]:
    """Run torch code with a seed from ``rng`` and restore the global RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(0, 2**63 - 1)))
        yield


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; anything else as torch reads it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc


def check_finite(value: float, epoch: int, what: str, model: str) -> None:
    if not np.isfinite(value):
        raise TrainingError(
            f"{model} training diverged at epoch {epoch}: {what} is {value}; lower the learning rates "
            "or the batch size, or check the data for extreme values"
        )


def train_epochs(
    model: str,
    *,
    epochs: int,
    steps: int,
    max_time: float | None,
    verbose: bool,
    step: Callable[[int, int], dict[str, float]],
    validate: Callable[[int], tuple[dict[str, float], bool]] | None = None,
) -> tuple[list[dict[str, float]], bool]:
    """The training loop the neural generators share.

    Calls ``step(epoch, step_index)`` ``steps`` times per epoch; each call trains
    one batch and returns its losses. Per epoch the losses are averaged over the
    steps that ran (a time-stopped epoch averages only those), checked for
    divergence (:class:`TrainingError` naming the epoch), kept in the history
    with the elapsed seconds, and shown on the progress bar. Stops cleanly after
    the step during which ``max_time`` seconds ran out. ``validate(epoch)``, when
    given, runs after each epoch and returns losses to record beside the training
    ones and whether to stop now (early stopping).

    Returns (history, stopped_by_time).
    """
    history: list[dict[str, float]] = []
    timer = Timer(max_time)
    bar = EpochProgress(epochs, model.lower(), verbose)
    stopped = False
    try:
        for epoch in range(epochs):
            sums: dict[str, float] = {}
            for i in range(steps):
                for key, value in step(epoch, i).items():
                    sums[key] = sums.get(key, 0.0) + value
                if timer.expired():
                    stopped = True
                    break
            means = {key: total / (i + 1) for key, total in sums.items()}
            early = False
            if validate is not None:
                extra, early = validate(epoch)
                means.update(extra)
            for key, value in means.items():
                check_finite(value, epoch + 1, f"the {key.replace('_', ' ')}", model)
            history.append({"epoch": epoch + 1, **means, "seconds": timer.elapsed})
            bar.update("  ".join(f"{key} {value:+.3f}" for key, value in means.items()))
            if stopped or early:
                break
    finally:
        bar.close()
    return history, stopped


class BatchPicker:
    """The rows of each training step: a shuffled pass over ``rows`` per epoch, or, with a
    ``click_share``, each row a click with that probability, drawn with replacement within its
    class (the share reweights the objective towards the rare class; the label is an input, so
    neither class's conditional distribution is biased). Falls back to passes when a class is
    missing from ``rows``."""

    def __init__(self, rows: np.ndarray, y: np.ndarray, batch: int, click_share: float | None, rng: np.random.Generator) -> None:
        self.rows, self.batch, self.rng = rows, batch, rng
        self.by_label = [np.intersect1d(rows, np.flatnonzero(y == k)) for k in (0, 1)]
        self.share = click_share if click_share is not None and min(len(b) for b in self.by_label) else None
        self.order = rows

    def __call__(self, i: int) -> np.ndarray:
        """Row indices of the epoch's step ``i``."""
        b, rng = self.batch, self.rng
        if self.share is None:
            if i == 0:
                self.order = rng.permutation(self.rows)
            return self.order[i * b : (i + 1) * b]
        click = rng.random(b) < self.share
        zeros, ones = self.by_label
        return np.where(click, ones[rng.integers(0, len(ones), b)], zeros[rng.integers(0, len(zeros), b)])


class EarlyStopping:
    """The best validation loss so far, its epoch and a copy of the weights it had; stop after
    ``patience`` epochs without a better one."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.loss = float("inf")
        self.epoch = 0
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, loss: float, epoch: int, net: torch.nn.Module) -> bool:
        """Record the (0-based) ``epoch``'s validation loss; whether to stop now."""
        if loss < self.loss:
            self.loss, self.epoch, self.state = loss, epoch + 1, {k: v.detach().clone() for k, v in net.state_dict().items()}
        return epoch + 1 - self.epoch >= self.patience


def train_with_early_stopping(
    gen: Any,
    model: str,
    net: torch.nn.Module,
    *,
    steps: int,
    step: Callable[[int, int], dict[str, float]],
    validation_loss: Callable[[], float] | None,
) -> None:
    """:func:`train_epochs` for a generator with ``epochs``, ``patience``, ``max_time`` and
    ``verbose``: after each epoch ``validation_loss()`` (in eval mode, without gradients; None:
    no validation rows) decides early stopping; the best epoch's weights are loaded back and
    ``gen.history_``, ``gen.stopped_by_time_`` and ``gen.best_epoch_`` set."""
    stop = EarlyStopping(gen.patience)

    def validate(epoch: int) -> tuple[dict[str, float], bool]:
        if validation_loss is None:
            return {}, False
        net.eval()
        with torch.no_grad():
            loss = validation_loss()
        return {"validation_loss": loss}, stop.update(loss, epoch, net)

    gen.history_, gen.stopped_by_time_ = train_epochs(
        model, epochs=gen.epochs, steps=steps, max_time=gen.max_time, verbose=gen.verbose, step=step, validate=validate
    )
    if stop.state is not None:
        net.load_state_dict(stop.state)
    gen.best_epoch_ = stop.epoch or len(gen.history_)


def check_sequence_params(gen: object) -> None:
    """The parameter checks the transformer generators share (``epochs``, ``batch_size``,
    ``layers``, ``width``, ``heads``, ``validation``, ``temperature``, ``top_p``)."""
    g: Any = gen
    if g.epochs < 1 or g.batch_size < 2:
        raise ConfigError(f"epochs must be >= 1 and batch_size >= 2, got {g.epochs} and {g.batch_size}")
    if g.layers < 1 or g.width < 1 or g.heads < 1:
        raise ConfigError(f"layers, width and heads must be positive, got {g.layers}, {g.width}, {g.heads}")
    if not 0.0 <= g.validation < 0.5:
        raise ConfigError(f"validation must be in [0, 0.5), got {g.validation}")
    if g.temperature <= 0 or not 0 < g.top_p <= 1:
        raise ConfigError(f"temperature must be > 0 and top_p in (0, 1], got {g.temperature} and {g.top_p}")


class Adam:
    """Adam (Kingma & Ba 2015) with L2 weight decay: the update ``torch.optim.Adam``
    makes, through the same fused kernel when this torch has it (foreach kernels
    otherwise).

    Our own because constructing any ``torch.optim`` optimiser imports the TorchDynamo
    compiler on first use, seconds per process that every command-line run pays again.
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params: list[torch.Tensor] = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        # Steps per parameter, as torch counts them: a step without a gradient skips it.
        self.t = [torch.zeros((), dtype=torch.float32) for _ in self.params]
        self.fused = hasattr(torch, "_fused_adam_")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        b1, b2 = self.betas
        with torch.no_grad():
            params = [self.params[i] for i in live]
            grads = [p.grad for p in params if p.grad is not None]  # every live parameter has one
            m, v, t = [self.m[i] for i in live], [self.v[i] for i in live], [self.t[i] for i in live]
            torch._foreach_add_(t, 1)
            if self.fused:
                torch._fused_adam_(
                    params,
                    grads,
                    m,
                    v,
                    [],
                    t,
                    lr=self.lr,
                    beta1=b1,
                    beta2=b2,
                    weight_decay=self.weight_decay,
                    eps=self.eps,
                    amsgrad=False,
                    maximize=False,
                )
                return
            steps = [float(x) for x in t]
            if self.weight_decay:
                grads = list(torch._foreach_add(grads, params, alpha=self.weight_decay))
            torch._foreach_lerp_(m, grads, 1 - b1)
            torch._foreach_mul_(v, b2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
            denom = torch._foreach_sqrt(v)
            torch._foreach_div_(denom, [float(np.sqrt(1 - b2**k)) for k in steps])
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(params, m, denom, [-self.lr / (1 - b1**k) for k in steps])


def state_to_numpy(prefix: str, module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {f"{prefix}.{k}": v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def numpy_to_state(prefix: str, module: torch.nn.Module, arrays: dict[str, np.ndarray]) -> None:
    state = {k[len(prefix) + 1 :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix + ".")}
    module.load_state_dict(state)


class Timer:
    """Wall-clock budget (``max_time`` seconds; None = unlimited)."""

    def __init__(self, budget: float | None) -> None:
        self.start = time.perf_counter()
        self.budget = budget

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def expired(self) -> bool:
        return self.budget is not None and self.elapsed >= self.budget


def load_module(prefix: str, build: Callable[[], M], arrays: dict[str, np.ndarray]) -> M:
    """The network ``build`` declares, holding the stored weights ``arrays[prefix.*]``.

    The declaration is built on torch's meta device first (no memory) and its shapes compared
    with the stored ones, so a model file declaring huge layers is refused before anything is
    allocated; non-finite weights are refused too."""
    from clicksynth.exceptions import ModelFileError

    with torch.device("meta"):
        declared = {k: tuple(v.shape) for k, v in build().state_dict().items()}
    stored = {k[len(prefix) + 1 :]: v for k, v in arrays.items() if k.startswith(prefix + ".")}
    for key in sorted(set(declared) | set(stored)):
        shape = tuple(stored[key].shape) if key in stored else None
        if shape != declared.get(key):
            raise ModelFileError(f"weights {prefix}.{key}: stored shape {shape}, the parameters declare {declared.get(key)}")
        if stored[key].dtype.kind == "f" and not np.isfinite(stored[key]).all():
            raise ModelFileError(f"weights {prefix}.{key} hold NaN or infinite values")
    module = build()
    numpy_to_state(prefix, module, arrays)
    return module
