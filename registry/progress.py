"""A small text progress bar for long registry commands (stderr; no dependency).

On a terminal the bar redraws in place; otherwise (CI logs, pipes) it prints
one line per stage and per tenth of the work, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, title: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.title, self.width = title, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last: tuple[str, int] = ("", -1)

    def update(self, stage: str, done: int, total: int) -> None:
        """``stage`` (e.g. validating, writing) is ``done`` of ``total`` through."""
        fraction = done / total if total else 1.0
        tenth = int(fraction * 10)
        if not self.tty and (stage, tenth) == self._last:
            return
        self._last = (stage, tenth)
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        count = f" {done}/{total}" if total > 1 else ""
        line = (f"{self.title}: [{bar}] {fraction:4.0%} {stage}{count}"
                f" ({time.monotonic() - self.started:.1f} s)")
        if self.tty:
            self.stream.write("\r" + line.ljust(100)[:100])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
