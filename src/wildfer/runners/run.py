"""``predict``: the one front of every ``wildfer predict`` run; the CLI, ``wildfer serve``'s video jobs
and scripts call it.

Before any work it checks the options, the ``--out`` folder and every input, and loads the models
(a bad ``--model`` fails before any process starts). Then one runner takes the sources: a live
stream is read as it comes (:mod:`.live`); with ``--ray ADDRESS`` whole sources run on a Ray
cluster (:mod:`.ray_exec`), with ``--workers N`` in N processes (:mod:`.parallel`), else one after
the other here (:mod:`.serial`). Every runner writes the same files (:mod:`wildfer.outputs`), rows
reach ``predictions.csv`` in input order, and the run ends with ``report.html``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..outputs.console import run_summary
from ..outputs.outcome import PredictResult, collect
from ..outputs.outdir import check_out, remove_outputs
from ..outputs.report import write_report
from ..outputs.results import CSVSink
from ..outputs.resume import drop_parts_folder, read_done, trim_predictions, unmerged_parts
from ..pipeline.load import load_models
from ..pipeline.options import PredictOptions, check_options
from ..pipeline.sources import MediaError, Source, probe, scan_inputs
from ..runtime import PLOTS_EXTRA, plots_available, set_threads
from .live import check_not_live, live_options, predict_live
from .serial import run_serial


def _unique_names(sources: list[Source]) -> list[str]:
    """File stems, made unique (``a``, ``a-2``) so outputs of same-named files do not collide."""
    seen: dict[str, int] = {}
    out = []
    for s in sources:
        n = s.path.stem
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def predict(inputs: list[str | Path | Source], out_dir: str | Path, opts: PredictOptions = PredictOptions(),
            on_frame: Callable[[], None] | None = None) -> PredictResult:
    """Run the whole pipeline on ``inputs`` (files, folders, globs, or :class:`Source` objects,
    say with a label of their own); write everything to ``out_dir``.

    An input that cannot be read (missing, empty, neither photo nor video, damaged: each file is
    opened before any work) lands in ``failed`` with its reason and the others are processed, as
    does a source that a user-data error stops later (say, a file replaced mid-run: no rows); with
    ``opts.strict`` the first such input raises before any work. What folders held that is not
    read is named in ``skipped``. Raises :class:`~wildfer.errors.WildferError` subclasses for a
    usage mistake (unknown model or detector, an unread URL scheme) and when no input at all can
    be read. With ``opts.workers > 1`` sources run in worker processes (runners.parallel),
    with ``opts.ray`` on a Ray cluster (runners.ray_exec); ``predictions.csv`` and every other
    output are the same as with one. A live stream (a URL or a camera) is read alone, as it
    comes (:mod:`.live`). ``on_frame`` is called per processed frame in this process (not in
    worker processes or on Ray: there, per finished source), say to report progress.
    """
    check_options(opts)
    if opts.ray:
        from .ray_exec import check_ray

        check_ray(opts.ray)  # not installed, nothing at that address: one line before any work
    elif opts.workers > 1:
        from .parallel import start_workers_early

        start_workers_early()
    out = Path(out_dir)
    earlier = check_out(out, opts.resume, opts.overwrite)  # before any work: a reused folder is refused
    found = scan_inputs(inputs, opts.recursive)
    sources, n_frames, failed = _readable(found, opts.strict)
    if opts.plots and not plots_available():
        if opts.progress and any(s.kind == "video" for s in sources):  # photos never get a plot: no word then
            print(f"wildfer: note: timeline plots need matplotlib, which this install lacks ({PLOTS_EXTRA}); "
                  "predicting without them", file=sys.stderr)
        opts = replace(opts, plots=False)
    check_not_live(sources)
    if sources[0].live:
        live_options(opts)  # a usage mistake before the models load
    set_threads(opts.threads)
    # Loaded here even when workers do the work: a bad --model or --detector fails before any
    # process starts, and the CSV header needs the class names.
    clf, detectors = load_models(opts)
    if sources[0].live:
        return predict_live(sources[0], out, opts, clf, detectors)
    if opts.overwrite and earlier:  # only now: bad inputs or a bad model leave the earlier run as it was
        remove_outputs(out)
    out.mkdir(parents=True, exist_ok=True)
    names = _unique_names(sources)
    done: dict[str, dict[str, list[Path]]] = {}
    in_parts: set[str] = set()
    append = False
    if opts.resume:
        done = read_done(out, sources, names)
        in_parts = unmerged_parts(out, set(done))
        kept = {src.label for src, name in zip(sources, names) if name in done and name not in in_parts}
        append = trim_predictions(out / "predictions.csv", CSVSink.header(clf.class_names), kept)
    sink = CSVSink(out / "predictions.csv", clf.class_names, append=append)
    todo = [i for i, name in enumerate(names) if name not in done]
    try:
        if opts.ray and todo:
            from .ray_exec import run_ray

            outcomes = run_ray(sources, names, todo, in_parts, n_frames, opts, out, sink)
        elif opts.workers > 1 and len(todo) > 1:
            from .parallel import run_parallel

            outcomes = run_parallel(sources, names, todo, in_parts, n_frames, opts, out, sink)
        else:
            outcomes = run_serial(sources, names, set(done), in_parts, n_frames, clf, detectors, opts, out, sink,
                                  on_frame)
    finally:
        sink.close()
    drop_parts_folder(out)
    res = collect(out, sink.path, sources, names, done, outcomes, opts)
    res.failed[:0], res.skipped = failed, found.skipped  # those that failed before any work first
    # Workers build their classifier from the same options, so the parent's says what ran.
    res.classifier, res.classifier_note = clf.describe(), clf.note
    res.report = write_report(out, sources, names, opts, res.classifier, clf.class_names, dict(res.failed),
                              set(res.resumed), run_summary(res), found.skipped)
    return res


def _readable(found, strict: bool) -> tuple[list[Source], list[int], list[tuple[Path, str]]]:
    """The sources of ``found`` that open (:func:`probe`) and the frames each announces, and the
    inputs that cannot be read, in input order: ``(path, reason)``. With ``strict`` the first of
    those raises; so does the first when none is left to read."""
    sources, n_frames, failed = [], [], []
    for item in found.items:
        if isinstance(item, Source):
            try:
                n_frames.append(0 if item.live else probe(item))
                sources.append(item)
                continue
            except MediaError as e:
                item = (item.path, str(e))
        if strict:
            raise MediaError(item[1])
        failed.append(item)
    if not sources:
        more = f" (and {len(failed) - 1} more input(s) that cannot be read)" if len(failed) > 1 else ""
        raise MediaError(failed[0][1] + more)
    return sources, n_frames, failed
