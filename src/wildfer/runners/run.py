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
from ..pipeline.sources import Source, expand_inputs, probe
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


def predict(inputs: list[str | Path], out_dir: str | Path, opts: PredictOptions = PredictOptions(),
            on_frame: Callable[[], None] | None = None) -> PredictResult:
    """Run the whole pipeline on ``inputs`` (files, folders, globs); write everything to ``out_dir``.

    Raises :class:`~wildfer.errors.WildferError` subclasses for bad input before any work starts
    (missing/empty/unknown/unreadable files, unknown model or detector). A source that a user-data
    error stops later (say, a file replaced mid-run) leaves no rows and lands in ``failed``; the
    others go on. With ``opts.workers > 1`` sources run in worker processes (runners.parallel),
    with ``opts.ray`` on a Ray cluster (runners.ray_exec); ``predictions.csv`` and every other
    output are the same as with one. A live stream (a URL or a camera) is read alone, as it
    comes (:mod:`.live`). ``on_frame`` is called per processed frame in this process (not in
    worker processes or on Ray: there, per finished source), say to report progress.
    """
    check_options(opts)
    if opts.plots and not plots_available():
        print(f"wildfer: note: timeline plots need matplotlib, which this install lacks ({PLOTS_EXTRA}); "
              "predicting without them", file=sys.stderr)
        opts = replace(opts, plots=False)
    if opts.ray:
        from .ray_exec import check_ray

        check_ray(opts.ray)  # not installed, nothing at that address: one line before any work
    elif opts.workers > 1:
        from .parallel import start_workers_early

        start_workers_early()
    out = Path(out_dir)
    earlier = check_out(out, opts.resume, opts.overwrite)  # before any work: a reused folder is refused
    sources = expand_inputs(inputs)
    check_not_live(sources)
    if sources[0].live:
        live_options(opts)  # a usage mistake before the models load
    n_frames = [0 if s.live else probe(s) for s in sources]
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
        kept = {str(src.path) for src, name in zip(sources, names) if name in done and name not in in_parts}
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
    # Workers build their classifier from the same options, so the parent's says what ran.
    res.classifier, res.classifier_note = clf.describe(), clf.note
    res.report = write_report(out, sources, names, opts, res.classifier, clf.class_names, dict(res.failed),
                              set(res.resumed), run_summary(res))
    return res
