"""What ``wildfer predict`` prints once it is done: a table of the faces found (:func:`face_table`),
the closing line (:func:`run_summary`, also atop report.html) and, for a live stream, how reading
went (:func:`live_line`)."""

from __future__ import annotations

from pathlib import Path

from .outcome import PredictResult


NAME_WIDTH = 40  # most characters of a source's name in the console table; longer ones lose their middle


def table_names(paths: list[Path], width: int = NAME_WIDTH) -> list[str]:
    """How the console table names ``paths``: the file name (the path as given where two share
    one), cut in the middle with an ellipsis beyond ``width`` characters, but never so that two
    paths read the same (those keep their whole name)."""
    counts: dict[str, int] = {}
    for p in paths:
        counts[p.name] = counts.get(p.name, 0) + 1
    full = [p.name if counts[p.name] == 1 else str(p) for p in paths]

    def cut(n: str) -> str:
        if len(n) <= width:
            return n
        tail = (width - 1) // 2  # the end holds the extension and, often, the numbering
        return n[: width - 1 - tail] + "…" + n[-tail:]

    short = [cut(n) for n in full]
    clash = {n for n in short if short.count(n) > 1}
    return [f if c in clash else c for f, c in zip(full, short)]


def face_table(res: PredictResult) -> str:
    """A readable table: a row per face (video: per person, with frames seen and time span;
    photo: with how many faces the photo gave), a row per source without a face or failed, and
    notes on videos that decoded short or have frames without a face."""
    names = table_names([log.source.path for log in res.logs] + [path for path, _ in res.failed])
    w = max([len("source")] + [min(len(n), NAME_WIDTH) for n in names])
    lines = [f"{'source':<{w}} {'face':>4} {'frames':>6} {'seen':>15}  expression (video: share of frames)"]
    for name, log in zip(names, res.logs):
        people = log.people(log.info.fps)
        video = log.source.kind == "video"
        notes = [log.info.short_read()] if log.info.short_read() else []
        n = len(people)
        photo = f"photo, {n} face{'' if n == 1 else 's'}"
        if not people:
            what = f"no face found in {log.frames_processed} frame(s)" if video else "no face found"
            lines.append(f"{name:<{w}} {'-':>4} {0:>6} {'' if video else photo:>15}  {what}")
        for p in people:
            span = f"{p['first_s']:.1f}-{p['last_s']:.1f} s" if video else photo
            share = f" ({p['share'][p['dominant']]:.0%})" if video else ""  # a photo's face: one frame, 100%
            lines.append(f"{name:<{w}} {p['face_id']:>4} {p['frames']:>6} {span:>15}  {p['dominant']}{share}")
        if video and people:
            missing = log.frames_processed - log.frames_with_face
            notes.append(f"{missing} of {log.frames_processed} processed frames without a face")
        lines += [f"{'':<{w}} note: {note}" for note in notes]
    for name, (path, error) in zip(names[len(res.logs):], res.failed):
        lines.append(f"{name:<{w}} {'-':>4} {0:>6} {'':>15}  failed: {error}")
    return "\n".join(lines)


def run_summary(res: PredictResult) -> str:
    """The closing line: frames and sources processed, how many faces the photos gave, how many
    sources were cut short or failed, and which classifier ran (model, backend, precision)."""
    cut = sum(1 for log in res.logs if log.info.short_read())
    photos = [log for log in res.logs if log.source.kind == "image"]
    problems = ""
    if photos:
        faces = [len(log.people(log.info.fps)) for log in photos]
        problems += f", {sum(faces)} face(s) in {len(photos)} photo(s) ({faces.count(0)} without a face)"
    problems += f", {cut} cut short (decoding stopped early)" if cut else ""
    problems += f", {len(res.failed)} failed" if res.failed else ""
    skipped = sum(len(s.names) for s in res.skipped)
    problems += f", {skipped} folder entr{'y' if skipped == 1 else 'ies'} not read" if skipped else ""
    clf = ""
    if res.classifier:
        c = res.classifier
        why = f"; {res.classifier_note}" if res.classifier_note else ""
        clf = f"; classifier: {c['model']} ({c['backend']}, {c['precision']}{why})"
    report = f"; report: {res.report}" if res.report else ""
    return f"{res.frames} frame(s) from {len(res.logs)} source(s){problems}{clf}; rows: {res.csv}{report}"


def live_line(live: dict) -> str:
    """One line on how reading went: :meth:`LiveStats.as_dict`'s figures."""
    lat = live["latency_s"]
    delay = (f"latency frame -> row p50 {lat['p50']:.3f} s, p95 {lat['p95']:.3f} s" if lat["frames"]
             else "no row written")
    return (f"live: {live['frames_received']} frame(s) received, {live['frames_processed']} processed, "
            f"{live['frames_skipped']} skipped (behind) in {live['seconds']:.1f} s; {delay}; {live['ended']}")
