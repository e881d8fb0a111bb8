"""A dependency-free progress bar for long CLI work (training, evaluation): stderr only."""
from __future__ import annotations

import sys
import time
from typing import Dict, Optional


def _fmt_s(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class Progress:
    """Redraws one line on a TTY; on a pipe/log, prints a line at most every `every_s` seconds."""

    def __init__(self, name: str, total_s: float = float("inf"), total_steps: Optional[int] = None, every_s: float = 30.0):
        self.name, self.total_s, self.total_steps, self.every_s = name, total_s, total_steps, every_s
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def update(self, step: int, elapsed: float, seen: int, stats: Dict[str, float]):
        now = time.time()
        if now - self.last < (0.5 if self.tty else self.every_s):
            return
        self.last = now
        frac = elapsed / self.total_s if self.total_s != float("inf") else 0.0
        if self.total_steps:
            frac = max(frac, step / self.total_steps)
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        width = 24
        fill = int(min(1.0, frac) * width)
        rate = seen / elapsed if elapsed > 0 else 0.0
        stat = " ".join(f"{k} {v:.4f}" for k, v in stats.items())
        eta_s = _fmt_s(eta) if eta == eta else "--:--"
        line = (f"{self.name} [{'#' * fill}{'.' * (width - fill)}] {100 * min(1.0, frac):5.1f}% step {step} "
                f"| {stat} | {rate:.1f} img/s | {_fmt_s(elapsed)} ETA {eta_s}")
        if self.tty:
            sys.stderr.write("\r" + line[:160].ljust(160))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self):
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()
