"""``predict --ray ADDRESS``: whole sources on a Ray cluster, one loaded model per Ray actor.

The same per-source work as ``--workers`` (:mod:`.parallel`), run by Ray actors that may sit on
other machines. ``ADDRESS``: ``local`` starts a Ray cluster on this machine's cores for the run
(and stops it after); ``auto``, ``HOST:PORT`` or ``ray://HOST:10001`` (Ray Client) join a running
one (``ray start --head``, see the README). A process that already called ``ray.init()`` keeps
its connection, whatever ``ADDRESS`` says.

Each actor loads the classifier and the detectors once, with ``--threads`` torch threads and as
many Ray CPUs, and takes one source at a time, the longest first. Workers do not share the
driver's file system: an actor writes a source's outputs into a temporary folder on its own
machine, laid out as ``--out`` is::

    .parts/<name>.csv     the predictions.csv header, then the source's rows
    summaries/, plots/, annotated/, abaw/, .sections/    exactly as one process writes them

and returns those files (as bytes) with its outcome. The driver writes them into ``--out``, then
the source's done marker (``.done/<name>.json``), then copies the part into ``predictions.csv``
as soon as every source before it is in (:class:`.parallel.InOrder`). ``--out`` thus needs to
exist on the driver only, and holds exactly what ``--workers`` leaves there, so ``--resume`` (with
or without Ray) picks up a killed run the same way. The driver holds one source's files at a time.

The inputs are opened by the actors: every machine must see them at the same paths (the same
copies, or a shared file system); relative paths are taken from the driver's working directory,
which then must exist on every machine too. So must ``--model`` when it names a file.

Failures: a source stopped by a user-data error comes back failed with its one-line reason, no
rows and no marker, as in one process. So does one that hit an unexpected error in the worker (its
traceback goes to the worker's log) or whose actor died (killed, out of memory, machine lost): a
fresh actor then takes the dead one's place. After more deaths than actors started, the run stops
with a one-line error; what finished is kept for ``--resume``.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import traceback
from collections import deque
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError, WildferError
from ..outputs.outcome import SourceOutcome
from ..outputs.results import CSVSink
from ..outputs.resume import DONE_DIR, mark_done, part_path
from ..pipeline.load import load_models
from ..pipeline.options import PredictOptions
from ..pipeline.sources import Source
from .parallel import PROGRESS_EVERY_S, InOrder, longest_first
from .progress import Progress, unit_of
from .serial import process_source


def import_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'wildfer[ray]'") from None
    return ray


def check_ray(address: str) -> None:
    """Ray is installed and ``address`` is worth trying (:func:`check_reachable`): a one-line
    error before any work otherwise."""
    import_ray()
    check_reachable(address)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def check_reachable(address: str) -> None:
    """For ``HOST:PORT`` and ``ray://HOST[:PORT]``: one TCP connection first, since Ray itself
    retries an address where nothing answers for minutes before it gives up."""
    if address in ("local", "auto"):
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep:  # a bare host: only Ray Client has a default port
        host, port = hostport, "10001" if address.startswith("ray://") else ""
    if not port.isdigit():
        raise ConfigError(f"--ray {address}: give local, auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise ConfigError(f"--ray {address}: nothing answers at {host}:{port} ({e.strerror or e}); "
                          "is `ray start --head` running there?") from None


@contextmanager
def connected(address: str):
    """Ray, initialised for ``address`` (see module docstring) for the duration of the block."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    check_reachable(address)
    try:
        if address == "local":
            # Ray would otherwise report usage statistics over the network; nothing leaves this machine.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except Exception as e:  # ConnectionError, AuthenticationError, a malformed address: all one line
        hint = "use --ray local" if address == "local" else "is it running, and its token set here (README)?"
        raise ConfigError(f"--ray {address}: cannot start or join a Ray cluster ({_first_line(e)}); {hint}") from None
    try:
        yield ray
    finally:
        ray.shutdown()  # stops a local cluster; disconnects from a running one


def n_workers(ray, opts: PredictOptions, n_todo: int) -> int:
    """Actors to start: ``opts.workers`` (0: as many as the cluster's CPUs hold, ``threads`` CPUs
    each), at most one per source. Raises :class:`ConfigError` when the cluster cannot hold them
    (they would wait forever for CPUs)."""
    per = opts.threads or 1
    cpus = [n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]
    capacity = sum(int(c // per) for c in cpus)
    n = opts.workers or capacity
    if n > capacity or capacity == 0:
        raise ConfigError(f"--workers {n or 1} with --threads {per} needs {(n or 1) * per} CPU(s) on machines of at "
                          f"least {per} CPU(s); the Ray cluster has {sum(cpus):g} CPU(s) on {len(cpus)} machine(s)")
    return min(n, n_todo)


class Worker:
    """What each Ray actor is (``ray.remote(Worker)``): the options and the models, or the
    one-line reason they did not load (:meth:`ready`); :meth:`run` processes one source."""

    def __init__(self, opts: PredictOptions, cwd: str):
        self.error = None
        try:
            if os.path.isdir(cwd):  # relative input paths mean what they mean on the driver
                os.chdir(cwd)
            from ..runtime import set_threads

            set_threads(opts.threads)
            self.opts = opts
            self.clf, self.detectors = load_models(opts)
        except Exception as e:  # reported by ready(), so the driver stops with one line
            self.error = f"{type(e).__name__}: {_first_line(e)}" if not isinstance(e, WildferError) else str(e)

    def ready(self) -> str | None:
        return self.error

    def run(self, src: Source, name: str) -> tuple[SourceOutcome, dict[str, bytes]]:
        """One source: its outcome (output paths relative to ``--out``) and its files by relative path."""
        if self.error:  # a replacement actor, on a machine that cannot load the models
            return SourceOutcome(error=f"{src.path}: the Ray worker could not load the models: {self.error}"), {}
        with tempfile.TemporaryDirectory(prefix="wildfer-ray-") as tmp:
            tmp = Path(tmp)
            part = part_path(tmp, name)
            part.parent.mkdir(parents=True)
            sink = CSVSink(part, self.clf.class_names)
            try:
                oc = process_source(src, name, self.clf, self.detectors, self.opts, sink, tmp)
            except WildferError as e:
                return SourceOutcome(error=str(e)), {}
            except Exception as e:  # a bug, or the machine (disk full): this source only; details in the log
                traceback.print_exc()
                return SourceOutcome(error=f"{src.path}: {type(e).__name__} in the Ray worker: {_first_line(e)}"), {}
            finally:
                sink.close()
            oc.outputs = {k: [Path(p).relative_to(tmp) for p in v] for k, v in oc.outputs.items()}
            # The marker is the driver's to write, once these files are in --out.
            files = {str(p.relative_to(tmp)): p.read_bytes() for p in sorted(tmp.rglob("*"))
                     if p.is_file() and p.relative_to(tmp).parts[0] != DONE_DIR}
            return oc, files


def _store(out: Path, name: str, src: Source, oc: SourceOutcome, files: dict[str, bytes]) -> None:
    """A finished source's files into ``out``, then its done marker (the order :mod:`wildfer.outputs.resume` needs)."""
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    oc.outputs = {k: [out / p for p in v] for k, v in oc.outputs.items()}
    mark_done(out, name, src, oc.outputs)


def _wait_ready(ray, actors: list) -> None:
    """Wait until every actor has loaded its models; a one-line error if one could not."""
    try:
        errors = ray.get([a.ready.remote() for a in actors])
    except ray.exceptions.RayError as e:  # say, wildfer missing on a machine: the actor cannot exist
        raise ConfigError(f"a Ray worker could not start ({_first_line(e)}); every machine needs "
                          "the same wildfer install (README)") from None
    for error in errors:
        if error:
            raise ConfigError(f"a Ray worker could not load the models: {error}")


def run_ray(sources: list[Source], names: list[str], todo: list[int], in_parts: set[str], n_frames: list[int],
            opts: PredictOptions, out: Path, sink: CSVSink) -> dict[int, SourceOutcome]:
    """Process the sources with indices ``todo`` on the Ray cluster ``opts.ray``; copy their rows,
    and those of the done sources named in ``in_parts``, into ``sink`` in input order. Returns
    ``{index: outcome}`` for every index in ``todo``; each outcome's ``timings`` also holds
    ``collect``: the driver's seconds to receive and store that source."""
    merger = InOrder(names, set(todo), in_parts, out, sink)
    merger.advance()  # done sources at the front whose rows wait in parts
    with connected(opts.ray) as ray:
        n = n_workers(ray, opts, len(todo))
        actor = ray.remote(num_cpus=opts.threads or 1, scheduling_strategy="SPREAD")(Worker)
        args = (replace(opts, progress=False), os.getcwd())  # one bar, the driver's
        queue = deque(longest_first(todo, n_frames))
        idle = [actor.remote(*args) for _ in range(n)]
        actors = list(idle)  # every actor started, to end them whatever happens
        running: dict = {}  # result ref -> (source index, actor)
        outcomes: dict[int, SourceOutcome] = {}
        deaths, frames, t0 = 0, 0, time.perf_counter()
        bar = Progress(len(todo), unit_of([sources[i].kind for i in todo]), opts.progress)
        try:
            _wait_ready(ray, idle)
            while queue or running:
                while idle and queue:
                    a, i = idle.pop(), queue.popleft()
                    running[a.run.remote(sources[i], names[i])] = (i, a)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=PROGRESS_EVERY_S)
                for ref in ready:
                    i, a = running.pop(ref)
                    t = time.perf_counter()
                    try:
                        oc, files = ray.get(ref)
                    except ray.exceptions.RayError as e:  # the actor died (or its machine): this source fails
                        deaths += 1
                        if deaths > n:
                            raise WildferError(
                                f"{deaths} Ray workers died ({_first_line(e)}) with {len(todo) - len(outcomes)} "
                                f"source(s) unfinished; the {len(outcomes)} finished are kept in {out}: "
                                "run again with --resume to do the rest") from None
                        oc, files = SourceOutcome(error=f"{sources[i].path}: the Ray worker processing it died "
                                                        f"({_first_line(e)})"), {}
                        ray.kill(a)
                        a = actor.remote(*args)
                        actors.append(a)
                    if oc.error is None:
                        _store(out, names[i], sources[i], oc, files)
                        oc.timings["collect"] = time.perf_counter() - t
                        frames += oc.log.frames_processed
                    outcomes[i] = oc
                    merger.finish(i, has_rows=oc.error is None)
                    idle.append(a)
                    bar.note(f"{frames} frames, {frames / (time.perf_counter() - t0):.1f} frames/s")
                    bar.advance()
        finally:
            bar.close()
            for a in actors:  # now, not when they finish their current source (which may take an hour)
                ray.kill(a)
    return outcomes
