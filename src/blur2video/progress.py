"""Feedback on long commands, chosen in one place for all of them.

On a terminal a step counter is a bar with an ETA (tqdm); where stderr is not a terminal (a log
file, CI) a bar's carriage returns would be noise, so each step becomes a plain line, at most one
every ``LINE_EVERY_S`` seconds besides the first and the last; with ``--quiet`` there is nothing.
The command line sets the mode once (``set_mode``); the library's loops ask ``track`` for a
counter and never decide themselves. Problems (a skipped sample, a failed photo) are printed in
every mode: quiet silences feedback, not errors.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

MODES = ("auto", "bar", "lines", "quiet")
LINE_EVERY_S = 5.0  # a line per step at most this often where steps are fast (a log stays readable)

_mode = "auto"


def set_mode(mode: str) -> str:
    """Choose the feedback of every counter and note from now on: ``auto`` (a bar on a terminal,
    lines otherwise), ``bar``, ``lines`` or ``quiet``. Returns the mode it replaces."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"feedback mode {mode!r}: choose one of {', '.join(MODES)}")
    previous, _mode = _mode, mode
    return previous


def mode(stream: TextIO | None = None) -> str:
    """The mode in force for ``stream`` (stderr by default), with ``auto`` resolved."""
    if _mode != "auto":
        return _mode
    stream = stream or sys.stderr
    try:
        return "bar" if stream.isatty() else "lines"
    except (AttributeError, ValueError):  # a closed or unusual stream
        return "lines"


def quiet() -> bool:
    return mode() == "quiet"


def _print(line: str, stream: TextIO | None = None) -> None:
    """A line on stderr (or ``stream``) that does not break a bar being drawn."""
    stream = stream or sys.stderr
    if mode() == "bar":
        from tqdm import tqdm

        tqdm.write(line, file=stream)
    else:
        print(line, file=stream, flush=True)


def say(line: str) -> None:
    """Feedback that is not a step (a note, a validation score): silenced by ``--quiet``."""
    if not quiet():
        _print(line)


def problem(line: str) -> None:
    """A line about something that went wrong: printed in every mode."""
    _print(line)


def result(line: str) -> None:
    """A line of the command's result on stdout (what a script reads): printed in every mode."""
    _print(line, sys.stdout)


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("s", "x", "ch", "sh")) else "s")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """A step counter drawn as the mode says; ``update`` after each step, ``close`` at the end
    (or use it as a context manager). ``enabled=False`` makes it silent (a DDP rank other than 0,
    a caller's own ``quiet``). A bar stays on screen when it ends unless ``leave`` is False, or
    None (the default) and it was drawn below another (ablate's runs)."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "step",
        initial: int = 0,
        every_s: float = LINE_EVERY_S,
        leave: bool | None = None,
        enabled: bool = True,
    ) -> None:
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.done = self.start = initial
        self.mode = mode() if enabled else "quiet"
        self.started = time.monotonic()
        self.last_line = -float("inf")
        self.postfix: dict[str, object] = {}
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, leave=leave, file=sys.stderr
            )

    def update(self, n: int = 1, **postfix: object) -> None:
        """``n`` more steps done; ``postfix`` (e.g. ``loss=0.012``) is shown beside the count."""
        self.done += n
        self.postfix.update(postfix)
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(n)
        elif self.mode == "lines":
            now = time.monotonic()
            first, last = self.done - n == self.start, self.total is not None and self.done >= self.total
            if first or last or now - self.last_line >= self.every_s:
                self.last_line = now
                print(self.line(now), file=sys.stderr, flush=True)

    def set_total(self, total: int | None) -> None:
        """A new estimate of the steps in all (a video's frame count, known only roughly at first)."""
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def line(self, now: float | None = None) -> str:
        """The plain line of the count so far: done/total, the rate, the time left."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        steps = self.done - self.start
        parts = [f"{self.desc}: {self.done}" + (f"/{self.total}" if self.total else "") + f" {_plural(self.unit)}"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        if steps > 0 and elapsed > 0:
            rate = steps / elapsed
            parts.append(f"{rate:.2f} {_plural(self.unit)}/s" if rate >= 1 else f"{1 / rate:.2f} s/{self.unit}")
            if self.total:
                parts.append(f"{_clock(max(0, self.total - self.done) / rate)} left")
        parts += [f"{k}={v}" for k, v in self.postfix.items()]
        return ", ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


track = Progress  # the name the library's loops use: ``with progress.track(total, desc) as bar``
