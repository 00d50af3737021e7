"""A progress bar over the steps of a long fit, shared by the neural and tree generators
(torch-free, so the tree generators do not import torch for it)."""

from __future__ import annotations

__all__ = ["EpochProgress"]


class EpochProgress:
    """A rich progress bar over epochs when ``verbose`` (library code prints nothing otherwise)."""

    def __init__(self, total: int, name: str, verbose: bool) -> None:
        self.verbose = verbose
        if verbose:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn(f"[bold]{name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[loss]}"),
                transient=False,
            )
            self.task = self.progress.add_task(name, total=total, loss="")
            self.progress.start()

    def update(self, loss: str) -> None:
        if self.verbose:
            self.progress.update(self.task, advance=1, loss=loss)

    def close(self) -> None:
        if self.verbose:
            self.progress.stop()
