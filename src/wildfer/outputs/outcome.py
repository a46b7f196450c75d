"""What a ``predict`` run did, in memory: per source (:class:`SourceOutcome`, what a runner returns)
and in all (:class:`PredictResult`, put together by :func:`collect` in input order, which also
writes ``abaw_predictions.txt``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..pipeline.frames import StageTimer
from ..pipeline.options import PredictOptions
from ..pipeline.sources import Skipped, Source
from .abaw import write_image_location
from .results import SourceLog


OUTPUT_KINDS = ("summaries", "plots", "videos", "images", "abaw")  # PredictResult lists = done-marker keys


@dataclass
class PredictResult:
    out_dir: Path
    csv: Path
    logs: list[SourceLog]  # sources processed by this run, input order, compacted (SourceLog.compact)
    summaries: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)  # annotated videos (--annotate)
    images: list[Path] = field(default_factory=list)  # annotated photos (--annotate)
    abaw: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, all sources (and workers)
    resumed: list[Path] = field(default_factory=list)  # sources finished by an earlier run (--resume)
    warnings: list[str] = field(default_factory=list)  # "<source>: <what>", e.g. a video that decoded short
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (input, one-line error): no rows, no marker
    skipped: list[Skipped] = field(default_factory=list)  # per folder, what it held that is not read
    frames: int = 0  # frames processed, all sources
    classifier: dict[str, str] = field(default_factory=dict)  # Classifier.describe(): model, backend, precision
    classifier_note: str = ""  # why --backend auto did not take the int8 copy ("" if it did or was not asked)
    report: Path | None = None  # report.html (outputs.report)
    live: dict | None = None  # a live source: pipeline.live.LiveStats.as_dict() (also in its summary)


@dataclass
class SourceOutcome:
    """What processing one source gave: its compacted log, its output files by kind (the keys of
    ``OUTPUT_KINDS``) and seconds per stage; or, for a source a user-data error
    (:class:`~wildfer.errors.WildferError`) stopped, only that error's one-line message."""

    log: SourceLog | None = None
    outputs: dict[str, list[Path]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def collect(out: Path, csv_path: Path, sources: list[Source], names: list[str], done: dict[str, dict[str, list[Path]]],
             outcomes: dict[int, SourceOutcome], opts: PredictOptions) -> PredictResult:
    """One :class:`PredictResult` from the outcomes, everything in input order (whichever process
    finished first), and ``abaw_predictions.txt`` from the ABAW files in that order."""
    res = PredictResult(out, csv_path, [])
    timings = StageTimer()
    for i, (src, name) in enumerate(zip(sources, names)):
        if name in done:
            res.resumed.append(src.path)
            outputs = done[name]
        else:
            oc = outcomes[i]
            if oc.error is not None:
                res.failed.append((src.path, oc.error))
                continue
            res.logs.append(oc.log)
            if oc.log.info.short_read():
                res.warnings.append(f"{src.label}: {oc.log.info.short_read()}")
            res.frames += oc.log.frames_processed
            for stage, seconds in oc.timings.items():
                timings[stage] += seconds
            outputs = oc.outputs
        for key in OUTPUT_KINDS:
            getattr(res, key).extend(outputs.get(key, []))
    if opts.abaw and res.abaw:
        res.abaw.append(write_image_location(res.abaw, out / "abaw_predictions.txt"))
    res.timings = dict(timings)
    return res
