"""How a ``predict`` run is executed: :func:`predict` (:mod:`.run`), the one front, hands the sources
to one runner, and each runner composes the frame loop (:mod:`wildfer.pipeline`) with the writers
(:mod:`wildfer.outputs`).

:mod:`.serial` (one process, and the per-source step every runner takes), :mod:`.parallel`
(``--workers N`` processes), :mod:`.ray_exec` (``--ray ADDRESS``), :mod:`.live` (a live stream),
:mod:`.progress` (progress on stderr); :mod:`.preprocess` runs ``wildfer preprocess`` (aligned face
crops for training) the same way. A new runner is a module here that takes the sources
:func:`predict` gives it and returns one :class:`~wildfer.outputs.outcome.SourceOutcome` per source.

It may import ``pipeline``, ``outputs``, ``detectors``, ``geometry``, ``data`` (image decoding) and
the low modules (``errors``, ``runtime``). Only the entry points import it: ``cli``, ``serve``.
"""

from .run import predict

__all__ = ["predict"]
