"""Progress on stderr, shown one way by every command (predict, evaluate, preprocess, pack, train).

On a terminal it is a tqdm bar. When stderr is not a terminal (a log file, a CI job, a pipe),
tqdm's carriage-return redraws would fill the log with thousands of half-lines, so the same
facts come as plain lines instead: one at most every ``LINE_EVERY_S`` seconds, and one when the
work ends::

    wildfer: boxes 520/1400 photos, 10.3 s
    wildfer: epoch 3/10 120/448 batches, 20.0 s, loss=1.052 lr=0.0021

:class:`Bar` is the bar (``update``, ``note``, ``close``, as tqdm's), :func:`progress` wraps an
iterable in one, and :class:`Lines` is the plain-line writer both use (and ``predict``'s own
progress of sources and frames, :mod:`wildfer.runners.progress`).
"""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TextIO, TypeVar

LINE_EVERY_S = 10.0  # off a terminal: at most one line per this many seconds (and the last)

T = TypeVar("T")


class Lines:
    """Plain progress lines on ``stream``: :meth:`say` prints ``wildfer: <text>`` at most once every
    ``LINE_EVERY_S`` seconds (the first at once), or always with ``force``; ``elapsed`` is the
    seconds since it was made."""

    def __init__(self, stream: TextIO):
        self.stream, self.t0, self.last = stream, time.perf_counter(), -float("inf")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def due(self) -> bool:
        return time.perf_counter() - self.last >= LINE_EVERY_S

    def say(self, text: str, force: bool = False) -> None:
        if force or self.due():
            self.last = time.perf_counter()
            print(f"wildfer: {text}", file=self.stream, flush=True)


class Bar:
    """``n`` of ``total`` (None: unknown) ``unit`` done, under ``desc``: a tqdm bar on a terminal,
    plain :class:`Lines` elsewhere (module docstring); nothing when not ``enabled``. ``initial``:
    done before it started (a resumed epoch)."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", enabled: bool = True,
                 initial: int = 0, stream: TextIO | None = None):
        self.total, self.desc, self.unit, self.enabled, self.n = total, desc, unit, enabled, initial
        self.stream = stream or sys.stderr
        self.extra = ""
        self._tqdm = None
        self._lines = Lines(self.stream)
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False, file=self.stream)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._tqdm is not None:
            self._tqdm.update(n)
        elif self.enabled and self._lines.due():
            self._lines.say(self._text())

    def note(self, text: str) -> None:
        """A short status after the count (a loss, a rate)."""
        self.extra = text
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        elif self.enabled:
            self._lines.say(self._text(), force=True)
        self.enabled = False  # closing twice says nothing more

    def _text(self) -> str:
        of = f"/{self.total}" if self.total else ""
        extra = f", {self.extra}" if self.extra else ""
        return f"{self.desc} {self.n}{of} {self.unit}, {self._lines.elapsed:.1f} s{extra}"

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it",
             enabled: bool = True) -> Iterator[T]:
    """``items``, one by one, with a :class:`Bar` counting them (``total``: ``len(items)`` when it
    has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    bar = Bar(total, desc, unit, enabled)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
