"""Progress as plain lines, for long runs whose output is not a terminal (CI, ``nohup``, a pipe
to a log file), where a live progress bar prints nothing until the end: a line when a task
enters a new stage or ends, and a line every ``every`` seconds naming what is still running."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["HEARTBEAT_S", "Heartbeat"]

#: Seconds between two "still running" lines.
HEARTBEAT_S = 30.0


class Heartbeat:
    """Plain-line progress of ``total`` tasks, written with ``write``; a context manager.

    ``stage(key, stage, detail)`` reports a task's stage (a line only when the stage changes;
    the detail, e.g. the metric being computed, appears in the periodic lines), ``done(key,
    status)`` its end.
    """

    def __init__(self, total: int, write: Callable[[str], None], *, every: float = HEARTBEAT_S, what: str = "cells") -> None:
        self.total, self.what, self.every = total, what, every
        self._write = write
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, str, float]] = {}  # key -> (stage, detail, since)
        self._finished = 0
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._write(f"[{self._clock()}] {self.total} {self.what} to run")
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _clock(self) -> str:
        seconds = int(time.monotonic() - self._t0)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def stage(self, key: str, stage: str, detail: str = "") -> None:
        with self._lock:
            old = self._running.get(key)
            changed = old is None or old[0] != stage
            self._running[key] = (stage, detail, time.monotonic() if changed or old is None else old[2])
        if changed:
            self._write(f"[{self._clock()}] {key}: {stage}" + (f" {detail}" if detail else ""))

    def done(self, key: str, status: str) -> None:
        with self._lock:
            self._running.pop(key, None)
            self._finished += 1
            line = f"[{self._clock()}] {key}: {status} ({self._finished}/{self.total} {self.what})"
        self._write(line)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            with self._lock:
                now = time.monotonic()
                running = "; ".join(
                    f"{key} {stage}{' ' + detail if detail else ''} for {int(now - since)} s"
                    for key, (stage, detail, since) in self._running.items()
                )
                line = f"[{self._clock()}] {self._finished}/{self.total} {self.what} done" + (f"; running: {running}" if running else "")
            self._write(line)
