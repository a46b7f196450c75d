"""Progress of a ``predict`` run on stderr: how many sources are done ("12/106 photos") and, while
one process works through a video, how far into it.

On a terminal these are tqdm bars (the sources' bar, the video's frames beneath it). When stderr
is not a terminal (a log file, a CI job, a pipe) tqdm's carriage-return redraws would fill the log,
so the same facts come as plain lines instead, as every command shows progress
(:mod:`wildfer.progress`): one at most every ``LINE_EVERY_S`` seconds, and one when the run ends::

    wildfer: 12/106 photos, 2.1 s
    wildfer: 1/3 videos, 12.5 s; clip.mp4: frame 240/472
"""

from __future__ import annotations

import sys
from typing import TextIO

from ..progress import Lines


def unit_of(kinds: list[str]) -> str:
    """What the sources are, for the count: ``photos``, ``videos`` or (both) ``sources``."""
    if kinds and all(k == "image" for k in kinds):
        return "photos"
    if kinds and all(k == "video" for k in kinds):
        return "videos"
    return "sources"


class Progress:
    """Counts finished sources out of ``total`` (a ``unit`` such as ``photos``) and, between
    :meth:`start` and :meth:`advance`, the current video's processed frames. ``enabled`` False:
    prints nothing. ``stream``: stderr; ``tty``: whether to draw bars (default: ``stream.isatty()``)."""

    def __init__(self, total: int, unit: str, enabled: bool = True, stream: TextIO | None = None,
                 tty: bool | None = None):
        self.total, self.unit, self.enabled = total, unit, enabled and total > 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.done, self.lines = 0, Lines(self.stream)
        self.name, self.frames, self.frames_total = "", 0, None  # the current video, if any
        self.extra = ""
        self._bar = self._frame_bar = None
        if self.enabled and self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc="predict", unit=unit.rstrip("s") or unit, file=self.stream,
                             bar_format="{desc}: {n_fmt}/{total_fmt} " + unit + " |{bar}| {elapsed}<{remaining}{postfix}")

    def start(self, name: str, frames: int | None) -> None:
        """A video begins: ``frames`` processed frames expected (None: unknown)."""
        self.name, self.frames, self.frames_total = name, 0, frames or None
        if self._bar is not None:
            from tqdm import tqdm

            self._frame_bar = tqdm(total=self.frames_total, desc=name, unit="frame", leave=False, file=self.stream)

    def frame(self) -> None:
        """One more processed frame of the current video."""
        self.frames += 1
        if self._frame_bar is not None:
            self._frame_bar.update(1)
        elif self.name:  # a photo's one frame: its source's count says it
            self._line()

    def advance(self, n: int = 1) -> None:
        """``n`` more sources finished (the current video's frame count ends)."""
        self.done += n
        self.name, self.frames_total = "", None
        if self._frame_bar is not None:
            self._frame_bar.close()
            self._frame_bar = None
        if self._bar is not None:
            self._bar.update(n)
        else:
            self._line(force=self.done >= self.total)

    def note(self, text: str) -> None:
        """A short status after the counts (say, frames per second over all workers)."""
        self.extra = text
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def close(self) -> None:
        if self._frame_bar is not None:
            self._frame_bar.close()
        if self._bar is not None:
            self._bar.close()

    def _line(self, force: bool = False) -> None:
        if not self.enabled or not (force or self.lines.due()):
            return
        line = f"{self.done}/{self.total} {self.unit}, {self.lines.elapsed:.1f} s"
        if self.extra:
            line += f", {self.extra}"
        if self.name and self.done < self.total:
            of = f"/{self.frames_total}" if self.frames_total else ""
            line += f"; {self.name}: frame {self.frames}{of}"
        self.lines.say(line, force=True)
