"""``predict --workers N``: whole sources spread over N worker processes, rows merged in input order.

Each worker process loads the classifier and the detectors once, sets ``--threads`` torch threads,
then takes one source at a time, the longest first (by the frames its file announces; unknown
lengths count as longest), so that one long video does not run alone at the end. For each source
the worker writes, in this order (see :mod:`wildfer.outputs.resume` for the layout)::

    out/.parts/<name>.csv      the predictions.csv header, then the source's rows
    out/summaries/, plots/, annotated/, abaw/    exactly as one process writes them
    out/.done/<name>.json      the done marker

The parent copies a finished part into ``predictions.csv`` as soon as every source before it (in
input order) is in, then deletes the part: ``predictions.csv`` is byte for byte what one process
writes, and no process ever holds more than one source's rows. A killed run leaves done sources
either merged or with a complete part; ``--resume`` (with any number of workers) picks both up.

A source stopped by a user-data error comes back as a failed outcome (no rows, no marker), and the
other sources go on, as in one process. A worker that dies (killed, out of memory) stops the run
with a one-line error; what finished is kept for ``--resume``.

Workers start as with ``spawn`` (see :func:`_context`): a script that calls ``predict`` with
``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard around that call.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from ..errors import WildferError
from ..outputs.outcome import SourceOutcome
from ..outputs.results import CSVSink
from ..outputs.resume import merge_part, part_path
from ..pipeline.load import load_models
from ..pipeline.options import PredictOptions
from ..pipeline.sources import Source
from .progress import Progress, unit_of
from .serial import process_source

PROGRESS_EVERY_S = 0.5  # how often a worker reports its frame count to the parent's bar

_WORKER: dict = {}  # this worker process's options, output folder, models and frame counter


def _context() -> mp.context.BaseContext:
    """forkserver where the platform has it, else spawn; never plain fork (a fork of a parent
    whose threads are running can deadlock). The fork server imports the pipeline once and each
    worker forks from it ready-made: on the shared 2-core test machine two workers were up in 9 s
    instead of 18 s with spawn, where each imported torch itself (as the pipeline did then)."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return mp.get_context("spawn")


def start_workers_early() -> None:
    """Start the fork server now: it imports the pipeline while the parent still checks
    the inputs and loads the model (on a multi-core machine the two overlap)."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class _FrameCounter:
    """Counts a worker's processed frames; sends the count to the parent every PROGRESS_EVERY_S."""

    def __init__(self, queue):
        self.queue, self.n, self.t = queue, 0, time.monotonic()

    def __call__(self) -> None:
        self.n += 1
        if time.monotonic() - self.t >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.n:
            self.queue.put(self.n)
        self.n, self.t = 0, time.monotonic()


def _init_worker(opts: PredictOptions, out: Path, queue) -> None:
    import threading

    from tqdm import tqdm

    from ..runtime import set_threads

    # Ctrl-C reaches the whole process group; the parent ends the workers, which need not print
    # a KeyboardInterrupt traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default lock is a multiprocessing semaphore that a terminated worker cannot release,
    # so the resource tracker warns about it after Ctrl-C; workers draw no bar, a thread lock does.
    tqdm.set_lock(threading.RLock())
    set_threads(opts.threads)
    clf, detectors = load_models(opts)
    _WORKER.update(opts=opts, out=out, clf=clf, detectors=detectors, count=_FrameCounter(queue))


def _work(src: Source, name: str) -> SourceOutcome:
    """One source in a worker: its part file, its other outputs, its marker (see module docstring)."""
    w = _WORKER
    part = part_path(w["out"], name)
    part.parent.mkdir(parents=True, exist_ok=True)
    sink = CSVSink(part, w["clf"].class_names)
    try:
        return process_source(src, name, w["clf"], w["detectors"], w["opts"], sink, w["out"], w["count"])
    except WildferError as e:
        sink.close()
        part.unlink(missing_ok=True)  # no rows of a failed source; no marker, so --resume tries it again
        return SourceOutcome(error=str(e))
    finally:
        sink.close()
        w["count"].flush()


def longest_first(todo: list[int], n_frames: list[int]) -> list[int]:
    """Source indices by the frames their files announce, most first; unknown lengths (0) first
    of all; ties keep input order."""
    return sorted(todo, key=lambda i: -(n_frames[i] or math.inf))


class InOrder:
    """Copies parts into ``predictions.csv`` strictly in input order (also for ``--ray``, :mod:`.ray_exec`).

    ``state[i]``: None while source ``i`` is unfinished; True when its rows wait in its part file;
    False when there is nothing to copy (rows already in predictions.csv, or the source failed).
    """

    def __init__(self, names: list[str], todo: set[int], in_parts: set[str], out: Path, sink: CSVSink):
        self.names, self.out, self.sink = names, out, sink
        self.state: list[bool | None] = [None if i in todo else name in in_parts for i, name in enumerate(names)]
        self.next = 0  # first source not yet copied

    def finish(self, i: int, has_rows: bool) -> None:
        self.state[i] = has_rows
        self.advance()

    def advance(self) -> None:
        while self.next < len(self.state) and self.state[self.next] is not None:
            if self.state[self.next]:
                merge_part(self.sink, self.out, self.names[self.next])
            self.next += 1


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers now (an error or Ctrl-C in the parent); shutdown() alone would wait until
    each finished its current source, which can take an hour for a long video."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
    else:
        for p in list((pool._processes or {}).values()):
            p.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_parallel(sources: list[Source], names: list[str], todo: list[int], in_parts: set[str], n_frames: list[int],
                 opts: PredictOptions, out: Path, sink: CSVSink) -> dict[int, SourceOutcome]:
    """Process the sources with indices ``todo`` in ``min(opts.workers, len(todo))`` processes;
    copy their rows, and those of the done sources named in ``in_parts``, into ``sink`` in input
    order. ``n_frames``: frames each source announces (0 = unknown), for the longest-first order.
    Returns ``{index: outcome}`` for every index in ``todo``."""
    ctx = _context()
    queue = ctx.SimpleQueue()
    merger = InOrder(names, set(todo), in_parts, out, sink)
    merger.advance()  # done sources at the front whose rows wait in parts
    order = longest_first(todo, n_frames)
    worker_opts = replace(opts, progress=False)  # one bar, the parent's: N per-source bars would garble it
    pool = ProcessPoolExecutor(min(opts.workers, len(todo)), mp_context=ctx, initializer=_init_worker,
                               initargs=(worker_opts, out, queue))
    bar = Progress(len(todo), unit_of([sources[i].kind for i in todo]), opts.progress)
    outcomes: dict[int, SourceOutcome] = {}
    frames, t0, finished = 0, time.perf_counter(), False
    try:
        index = {pool.submit(_work, sources[i], names[i]): i for i in order}
        running = set(index)
        while running:
            ready, running = wait(running, timeout=PROGRESS_EVERY_S, return_when=FIRST_COMPLETED)
            while not queue.empty():
                frames += queue.get()
            for f in ready:
                i = index[f]
                outcomes[i] = f.result()
                merger.finish(i, has_rows=outcomes[i].error is None)
                bar.advance()
            bar.note(f"{frames} frames, {frames / (time.perf_counter() - t0):.1f} frames/s")
        finished = True
    except BrokenProcessPool:
        raise WildferError(f"a worker process died (killed, or out of memory?) with {len(todo) - len(outcomes)} "
                           f"source(s) unfinished; the {len(outcomes)} finished are kept in {out}: "
                           "run again with --resume to do the rest") from None
    finally:
        bar.close()
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop(pool)
    return outcomes
