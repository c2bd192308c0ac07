"""A progress bar on stderr: tenants done / failed / remaining, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str = "fleet", stream: TextIO | None = None, width: int = 30) -> None:
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stderr
        self.done = self.failed = 0
        self.t0 = time.perf_counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done - self.failed)

    def line(self) -> str:
        finished = self.done + self.failed
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / finished * self.remaining if finished else float("nan")
        filled = int(self.width * finished / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        eta_s = f"{eta:,.0f}s" if eta == eta else "?"
        counts = f"done {self.done} failed {self.failed} remaining {self.remaining}"
        return f"[{self.label}] |{bar}| {finished}/{self.total} {counts} elapsed {elapsed:,.0f}s ETA {eta_s}"

    def update(self, done: int = 0, failed: int = 0) -> None:
        self.done += done
        self.failed += failed
        now = time.perf_counter()
        if self._tty:
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif now - self._last > 2 or self.remaining == 0:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._last = now

    def close(self) -> None:
        if self._tty:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()


_CURRENT: Progress | None = None


def start(total: int, label: str) -> Progress:
    global _CURRENT
    _CURRENT = Progress(total, label)
    return _CURRENT


def current() -> Progress | None:
    return _CURRENT


def stop() -> None:
    global _CURRENT
    if _CURRENT is not None:
        _CURRENT.close()
    _CURRENT = None
