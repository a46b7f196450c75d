"""``OUTDIR/report.html``: what a ``predict`` run found, as one page to look at.

Every run writes it. On disk (inside the ``--out`` folder)::

    out/report.html             the run's title and closing line, its warnings (videos that decoded
                                short, failed sources), an overview (photos, faces found, photos
                                without a face, expression counts over all faces; videos and their
                                people), the colour key, then one section per source in input order
                                (a failed source: its error), and last the settings, collapsed
    out/.sections/<name>.html   one source's section, written with its other outputs (by the worker
                                that processed it), so a resumed run's page still has every source
    out/.sections/<name>.json   what the overview counts of it: ``kind``, ``faces`` (a photo's faces,
                                a video's people), ``labels`` (class -> faces, or people by their
                                dominant expression), ``warning`` (a short read, else null)

A video's section shows the annotated MP4 playing in the page (``<video>``, with ``--annotate``)
and the timeline plot, then its people in order of first appearance, each with a thumbnail, when it
was seen, its dominant expression, a timeline strip under a seconds axis (where in the video the
person is seen, coloured by expression) and the share of its frames per class. A photo's shows a
thumbnail of the photo (at most ``PHOTO_SIDE`` px, faces boxed and numbered) linked to the full
annotated photo (``--annotate``; else to the photo itself), marked when no face was found, and per
face the class probabilities. Pictures are embedded as ``data:`` URIs (JPEG thumbnails, the plot's
PNG), so the page needs no other file but the videos it plays and the full-size pictures it links
(relative URLs into ``annotated/``; a photo itself by its ``file:`` URI); no script, no external
style sheet or font. All text that comes from outside (file names, class names, errors) is escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from datetime import datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..images import IMAGE_EXTS
from ..pipeline.options import FLAGS, PredictOptions
from ..pipeline.sources import Skipped, Source
from ..version import __version__
from .render import annotated_photo, class_color, text_color
from .results import SourceLog

SECTIONS_DIR = ".sections"
PHOTO_SIDE = 320  # px, the longer side of a photo's thumbnail on the page (106 photos: ~1.6 MB in all)
FACE_SIDE = 72  # px, a person's thumbnail on the page
JPEG_QUALITY = 72  # thumbnails: small files that still show a face's expression
TIMELINE_BINS = 300  # at most this many time steps per person's strip
OPEN_TOC = 12  # the list of sources is open up to this many, collapsed beyond

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 0 16px 48px; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.6em; margin: 24px 0 4px; } h2 { font-size: 1.2em; margin: 0 0 4px; word-break: break-all; }
.sub, .meta { color: #555; } .meta { margin: 0 0 10px; }
section.source, section.overview { border: 1px solid #ddd; border-radius: 8px; padding: 14px 16px; margin: 18px 0; }
section.overview { background: #fafafa; } section.overview p { margin: 4px 0; }
section.failed { border-color: #d62728; }
.warning { border-left: 4px solid #d62728; background: #fdf0f0; padding: 6px 10px; margin: 6px 0; }
.key span, .chip { display: inline-block; padding: 1px 8px; border-radius: 10px; margin: 2px 4px 2px 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: middle; }
th { font-weight: 600; color: #555; font-size: 0.9em; }
table.settings { width: auto; font-size: 0.9em; } table.settings td.changed { font-weight: 700; }
img.thumb { width: 72px; height: 72px; object-fit: cover; border-radius: 6px; display: block; background: #eee; }
.beside { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: flex-start; }
.beside table { flex: 1 1 480px; width: auto; }
figure.photo { margin: 6px 0 10px; display: inline-block; position: relative; flex: 0 0 auto; }
figure.photo img { max-width: 100%; height: auto; border-radius: 6px; display: block; }
figure.noface img { outline: 4px solid #d62728; outline-offset: -4px; filter: grayscale(0.6); }
figure.noface figcaption { position: absolute; left: 8px; top: 8px; background: #d62728; color: #fff;
                           padding: 2px 8px; border-radius: 10px; font-weight: 600; }
img.plot { max-width: 100%; height: auto; display: block; margin: 6px 0; }
video.annotated { max-width: 100%; max-height: 480px; display: block; margin: 6px 0; background: #000; }
svg.timeline { width: 100%; min-width: 160px; height: 16px; display: block; background: #eee; border-radius: 3px; }
.axis { position: relative; height: 1.2em; min-width: 160px; font-weight: 400; font-size: 0.8em; color: #555; }
.axis span { position: absolute; top: 0; transform: translateX(-50%); white-space: nowrap; }
.axis span.first { transform: none; } .axis span.last { transform: translateX(-100%); }
.bar { display: flex; height: 12px; min-width: 120px; border-radius: 3px; overflow: hidden; background: #eee; }
.bar span { display: block; height: 100%; }
.shares { font-size: 0.85em; color: #444; margin-top: 2px; } td.seen { white-space: nowrap; }
nav ol { columns: 3; font-size: 0.9em; } .links a { margin-right: 12px; }
section.photos { margin: 18px 0; } .ptable { display: flex; flex-direction: column; border-top: 1px solid #ddd; }
.prow { display: grid; grid-template-columns: minmax(10em, 2fr) 4em 5fr; gap: 8px; padding: 3px 8px;
        border-bottom: 1px solid #eee; align-items: center; } .prow.head { order: -1; font-weight: 600; color: #555; }
.prow .name { word-break: break-all; } .prow.failed { color: #b00; }
section.photos > input { position: absolute; opacity: 0; }
section.photos > label { display: inline-block; padding: 0 8px; margin: 2px 2px 2px 0; border: 1px solid #ccc;
                         border-radius: 10px; cursor: pointer; font-size: 0.9em; }
section.photos > input:checked + label { background: #1d1d1f; color: #fff; border-color: #1d1d1f; }
section.photos > input:focus-visible + label { outline: 2px solid #1f77b4; }
"""


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def _chip(k: int, name: str) -> str:
    """A class name on its colour (the colour of its boxes and plots), readable either way."""
    c = class_color(k)
    return f'<span class="chip" style="background:{_hex(c)};color:{_hex(text_color(c))}">{escape(name)}</span>'


def jpeg_uri(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """``data:image/jpeg;base64,...`` of an RGB uint8 picture."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _shares(values: np.ndarray, class_names: list[str], what: str) -> str:
    """A stacked bar of ``values`` (fractions per class) and the non-zero ones as text, largest first."""
    spans = "".join(f'<span style="width:{100 * v:.2f}%;background:{_hex(class_color(k))}" '
                    f'title="{escape(class_names[k])} {v:.0%}"></span>' for k, v in enumerate(values) if v > 0)
    text = " · ".join(f"{escape(class_names[k])} {values[k]:.0%}" for k in np.argsort(-values, kind="stable")
                      if values[k] >= 0.005)
    return f'<div class="bar" role="img" aria-label="{what}">{spans}</div><div class="shares">{text}</div>'


def time_ticks(duration_s: float, most: int = 6) -> list[float]:
    """Round times in seconds (0, then steps of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10 min ...) up to
    ``duration_s``, at most ``most`` of them."""
    steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]
    step = next((s for s in steps if duration_s / s < most), steps[-1] * np.ceil(duration_s / (most * steps[-1])))
    return [float(t) for t in np.arange(0, duration_s + 1e-9, step)]


def _seconds(t: float) -> str:
    return f"{t:g} s" if t < 60 else f"{int(t // 60)}:{int(t % 60):02d}"


def time_axis(duration_s: float) -> str:
    """The seconds axis above a video's timeline strips (they span ``duration_s``)."""
    ticks = time_ticks(duration_s)
    spans = []
    for i, t in enumerate(ticks):
        cls = ' class="first"' if i == 0 else ' class="last"' if t / duration_s > 0.97 else ""
        spans.append(f'<span{cls} style="left:{100 * t / duration_s:.2f}%">{_seconds(t)}</span>')
    return f'<div class="axis" aria-label="time in seconds">{"".join(spans)}</div>'


def _timeline(frames: np.ndarray, labels: np.ndarray, n_frames: int, step: int, class_names: list[str],
              fps: float) -> str:
    """An inline SVG strip across the whole video (``n_frames`` decoded frames): the stretches
    where the person is seen, each coloured by the expression most frames of it have, in at most
    ``TIMELINE_BINS`` time steps (so a long video's strip stays small), and white lines at the
    ticks of :func:`time_axis`."""
    n_frames = max(n_frames, int(frames.max()) + 1)
    bins = max(1, min(TIMELINE_BINS, n_frames // max(step, 1)))
    b = np.minimum(frames * bins // n_frames, bins - 1)
    counts = np.zeros((bins, len(class_names)), np.int64)
    np.add.at(counts, (b, labels), 1)
    seen, lab = counts.sum(1) > 0, counts.argmax(1)
    rects, i = [], 0
    width = n_frames / bins
    while i < bins:
        if not seen[i]:
            i += 1
            continue
        j = i
        while j + 1 < bins and seen[j + 1] and lab[j + 1] == lab[i]:
            j += 1
        t0, t1 = i * width / fps, (j + 1) * width / fps
        rects.append(f'<rect x="{i * width:.2f}" y="0" width="{(j + 1 - i) * width:.2f}" height="1" '
                     f'fill="{_hex(class_color(lab[i]))}"><title>{escape(class_names[lab[i]])} '
                     f'{t0:.1f}-{t1:.1f} s</title></rect>')
        i = j + 1
    ticks = "".join(f'<line x1="{t * fps:.2f}" x2="{t * fps:.2f}" y1="0" y2="1" stroke="#fff" stroke-width="1" '
                    f'vector-effect="non-scaling-stroke"/>' for t in time_ticks(n_frames / fps)[1:])
    return (f'<svg class="timeline" viewBox="0 0 {n_frames} 1" preserveAspectRatio="none" role="img" '
            f'aria-label="timeline">{"".join(rects)}{ticks}</svg>')


def _thumb(log: SourceLog, fid: int) -> str:
    import cv2

    crop = log.thumbs.get(fid)
    if crop is None:
        return '<td></td>'
    f = FACE_SIDE / max(crop.shape[:2])
    if f < 1:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                          interpolation=cv2.INTER_AREA)
    return f'<td><img class="thumb" src="{jpeg_uri(crop)}" alt="face {fid}"></td>'


def _href(p: Path, out: Path) -> str:
    """A relative URL of ``p`` inside ``out``, percent-encoded (a file name may hold "#", "?" or "%")."""
    return escape(quote(p.relative_to(out).as_posix()))


def _photo_figure(log: SourceLog, outputs: dict[str, list[Path]], out: Path, n_faces: int) -> str:
    """The photo's thumbnail (faces boxed and numbered, or marked "no face found"), linked to the
    full-size annotated photo, else to the photo itself."""
    src = log.source
    full = [p for p in outputs.get("images", []) if p.is_relative_to(out)]
    href = _href(full[0], out) if full else escape(src.path.resolve().as_uri())
    img = (f'<a href="{href}"><img class="photo" src="{jpeg_uri(annotated_photo(log, PHOTO_SIDE, ids_only=True))}" '
           f'alt="{escape(src.display_name)}{", annotated" if n_faces else ""}"></a>')
    if n_faces:
        return f'<figure class="photo">{img}</figure>'
    return f'<figure class="photo noface">{img}<figcaption>no face found</figcaption></figure>'


def _video_media(outputs: dict[str, list[Path]], out: Path) -> str:
    """The annotated MP4, playing in the page, and the timeline plot, shown (embedded)."""
    parts = [f'<video class="annotated" controls preload="metadata" src="{_href(p, out)}"></video>'
             for p in outputs.get("videos", []) if p.is_relative_to(out)]
    for p in outputs.get("plots", []):
        data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
        parts.append(f'<img class="plot" src="data:image/png;base64,{data}" alt="timeline plot">')
    return "\n".join(parts)


def section_html(log: SourceLog, outputs: dict[str, list[Path]], out: Path, stride: int = 1) -> str:
    """One source's section (see module docstring); ``log`` must not be compacted yet."""
    info, names, src = log.info, log.class_names, log.source
    people = sorted(log.people(info.fps), key=lambda p: (p["first_frame"], p["face_id"]))
    missing = log.frames_processed - log.frames_with_face
    if src.kind == "video":
        meta = (f"video · {info.frames_decoded / (info.fps or 1):.1f} s · {info.frames_decoded} frames at "
                f"{info.fps:.2f} fps · {info.width}×{info.height} · {len(people)} "
                f"{'person' if len(people) == 1 else 'people'} · {missing} of {log.frames_processed} processed "
                f"frames without a face")
    else:
        meta = f"photo · {info.width}×{info.height} · {len(people)} {'face' if len(people) == 1 else 'faces'}"
    parts = [f'<section class="source" data-kind="{src.kind}" data-faces="{len(people)}">',
             f"<h2>{escape(src.display_name)}</h2>", f'<p class="meta">{meta}</p>']
    if info.short_read():
        parts.append(f'<p class="warning">{escape(info.short_read())}</p>')
    if src.kind == "image":
        parts.append('<div class="beside">' + _photo_figure(log, outputs, out, len(people)))
    else:
        parts.append(_video_media(outputs, out))
    if not people:
        parts.append("<p>no face found</p>" if src.kind == "video" else "</div>")
        parts.append("</section>")
        return "\n".join(parts) + "\n"
    fids, frames, labels, probs = log.face_ids, log.frames, log.labels, log.probs
    if src.kind == "video":
        axis = time_axis(max(info.frames_decoded, int(frames.max()) + 1) / (info.fps or 1))
        parts.append("<table><tr><th></th><th>face</th><th>seen</th><th>dominant</th>"
                     f"<th>timeline{axis}</th><th>share of frames</th></tr>")
    else:
        parts.append("<table><tr><th></th><th>face</th><th>expression</th><th>probabilities</th></tr>")
    for p in people:
        fid = p["face_id"]
        sel = fids == fid
        k = names.index(p["dominant"])
        row = [f'<tr class="person" data-face-id="{fid}">', _thumb(log, fid), f"<td>{fid}</td>"]
        if src.kind == "video":
            share = np.array([p["share"][c] for c in names])
            strip = _timeline(frames[sel], labels[sel], info.frames_decoded, stride, names, info.fps or 1)
            row += [f'<td class="seen">{p["first_s"]:.1f}–{p["last_s"]:.1f} s<br>'
                    f'<span class="sub">{p["frames"]} frames</span></td>',
                    f'<td class="seen">{_chip(k, p["dominant"])} {p["share"][p["dominant"]]:.0%}</td>',
                    f"<td>{strip}</td>", f'<td>{_shares(share, names, "share of frames per class")}</td>']
        else:
            pr = probs[sel][0]
            row += [f'<td class="seen">{_chip(k, p["dominant"])} {pr[k]:.2f}</td>',
                    f'<td>{_shares(pr, names, "class probabilities")}</td>']
        parts.append("".join(row) + "</tr>")
    parts.append("</table>" + ("</div>" if src.kind == "image" else "") + "</section>")
    return "\n".join(parts) + "\n"


def section_path(out: Path, name: str) -> Path:
    return out / SECTIONS_DIR / f"{name}.html"


def section_stats(log: SourceLog) -> dict:
    """What the overview counts of a source (the module docstring's ``.sections/<name>.json``)."""
    people = log.people(log.info.fps)
    labels = {c: 0 for c in log.class_names}
    for p in people:
        labels[p["dominant"]] += 1
    return {"kind": log.source.kind, "faces": len(people), "labels": labels, "warning": log.info.short_read()}


def write_section(log: SourceLog, name: str, outputs: dict[str, list[Path]], out: Path, stride: int = 1) -> Path:
    """``out/.sections/<name>.html`` (:func:`section_html`) and ``<name>.json``
    (:func:`section_stats`), for :func:`write_report` to gather."""
    path = section_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(section_html(log, outputs, out, stride), encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(section_stats(log)) + "\n", encoding="utf-8")
    return path


def _read_stats(out: Path, name: str) -> dict | None:
    try:
        stats = json.loads(section_path(out, name).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a section from a wildfer that wrote none: left out of the overview
        return None
    return stats if isinstance(stats, dict) else None


def _counts(labels: dict[str, int], class_names: list[str]) -> str:
    """Counts per class, most first, each on its colour chip (zeros left out)."""
    order = sorted(range(len(class_names)), key=lambda k: -labels.get(class_names[k], 0))
    return " ".join(f"{_chip(k, class_names[k])}{labels[class_names[k]]}" for k in order
                    if labels.get(class_names[k], 0))


SINGULAR = {"faces": "face", "people": "person"}


def overview_html(stats: list[tuple[str, Path, dict | None]], class_names: list[str]) -> str:
    """The overview (module docstring) of ``(anchor, source, stats)`` per source processed."""
    photos = [(a, p, st) for a, p, st in stats if st is not None and st["kind"] == "image"]
    videos = [(a, p, st) for a, p, st in stats if st is not None and st["kind"] == "video"]
    parts = ['<section class="overview"><h2>Overview</h2>']
    for what, group, unit in (("photos", photos, "faces"), ("videos", videos, "people")):
        if not group:
            continue
        total = {c: sum(st["labels"].get(c, 0) for _, _, st in group) for c in class_names}
        empty = [(a, p) for a, p, st in group if st["faces"] == 0]
        found = sum(st["faces"] for _, _, st in group)
        line = f"<p><b>{len(group)} {what}</b>: {found} {unit if found != 1 else SINGULAR[unit]} found"
        line += f", {len(empty)} {what if len(empty) != 1 else what[:-1]} without a face" if what == "photos" else ""
        parts.append(line + "</p>")
        if found:
            by = "expression" if what == "photos" else "dominant expression"
            parts.append(f'<p class="counts">{unit} by {by}: {_counts(total, class_names)}</p>')
        if empty:
            links = ", ".join(f'<a href="#{a}">{escape(p.name)}</a>' for a, p in empty)
            parts.append(f'<p class="empty">{what} without a face: {links}</p>')
    missing = len(stats) - len(photos) - len(videos)
    if missing:
        parts.append(f'<p class="sub">{missing} source(s) finished by an earlier wildfer are not counted here</p>')
    return "\n".join(parts) + "</section>"


def photo_table_html(rows: list[tuple[str, Path, dict | None, str | None]], class_names: list[str]) -> str:
    """The photos as one compact table (photo, faces, expressions), each row linked to its card
    below, with buttons that sort it (input order, most faces, most faces of an expression) and
    filter it (photos with a face of an expression, without a face, failed). ``rows``: ``(anchor,
    photo, stats or None, error or None)`` per photo. No script: radio buttons and CSS (each row
    carries its rank for every sort as a custom property, and classes for every filter)."""
    present = [k for k, c in enumerate(class_names) if any(st and st["labels"].get(c) for _, _, st, _ in rows)]

    def rank(key) -> dict[int, int]:  # row index -> 1-based place, ties in input order
        order = sorted(range(len(rows)), key=lambda i: (-key(rows[i]), i))
        return {i: r + 1 for r, i in enumerate(order)}

    faces = rank(lambda r: r[2]["faces"] if r[2] else -1)
    per_class = {k: rank(lambda r, c=class_names[k]: r[2]["labels"].get(c, 0) if r[2] else -1) for k in present}
    sorts = [("input", "input order", None), ("faces", "most faces", None)]
    sorts += [(f"c{k}", f"most {class_names[k]}", k) for k in present]
    shows = [("all", "all", None)] + [(f"c{k}", class_names[k], k) for k in present]
    shows += [(key, label, None) for key, label in (("none", "no face"), ("failed", "failed"))
              if any(key in _row_classes(r, class_names) for r in rows)]
    parts = ['<section class="photos"><h2>Photos</h2>', "sort:"]
    for key, label, _ in sorts:
        parts.append(f'<input type="radio" name="psort" id="ps-{key}"{" checked" if key == "input" else ""}>'
                     f'<label for="ps-{key}">{escape(label)}</label>')
    parts.append("<br>show:")
    for key, label, _ in shows:
        parts.append(f'<input type="radio" name="pshow" id="pf-{key}"{" checked" if key == "all" else ""}>'
                     f'<label for="pf-{key}">{escape(label)}</label>')
    parts.append('<div class="ptable"><div class="prow head"><span>photo</span><span>faces</span>'
                 "<span>expressions</span></div>")
    for i, (anchor, path, st, error) in enumerate(rows):
        order = ";".join([f"--faces:{faces[i]}"] + [f"--c{k}:{per_class[k][i]}" for k in present])
        if st is None:
            what, n = (f"failed: {escape(error)}" if error else "finished by an earlier wildfer"), "–"
        else:
            n = str(st["faces"])
            what = " ".join(f"{_chip(k, c)}{'×' + str(st['labels'][c]) if st['labels'][c] > 1 else ''}"
                            for k, c in enumerate(class_names) if st["labels"].get(c)) or "no face found"
        parts.append(f'<div class="prow {" ".join(_row_classes(rows[i], class_names))}" style="{order}">'
                     f'<a class="name" href="#{anchor}">{escape(path.name)}</a><span>{n}</span><span>{what}</span></div>')
    parts.append("</div></section>")
    return "\n".join(parts)


def photo_table_css(n_classes: int) -> str:
    """The rules that sort and filter :func:`photo_table_html`'s rows, for ``n_classes`` classes."""
    css = ["#ps-faces:checked ~ .ptable .prow { order: var(--faces); }"]
    css += [f"#ps-c{k}:checked ~ .ptable .prow {{ order: var(--c{k}); }}" for k in range(n_classes)]
    css += [f"#pf-{key}:checked ~ .ptable .prow:not(.{key}):not(.head) {{ display: none; }}"
            for key in [f"c{k}" for k in range(n_classes)] + ["none", "failed"]]
    return "\n".join(css) + "\n"


def _row_classes(row: tuple[str, Path, dict | None, str | None], class_names: list[str]) -> list[str]:
    """What the filters know of a photo: ``c<k>`` per expression among its faces, ``none``, ``failed``."""
    _, _, st, error = row
    if st is None:
        return ["failed"] if error else []
    if not st["faces"]:
        return ["none"]
    return [f"c{k}" for k, c in enumerate(class_names) if st["labels"].get(c)]


def settings_html(opts: PredictOptions, classifier: dict[str, str]) -> str:
    """The run's options, each by the flag that sets it (``FLAGS``), the ones not at their default
    in bold; the model as asked for and as it ran (``default`` runs as ``default-int8``)."""
    defaults = PredictOptions()
    rows = []
    for f in dataclasses.fields(opts):
        value, default = getattr(opts, f.name), getattr(defaults, f.name)
        if f.name == "progress":  # set by --quiet, its opposite
            value, default = not value, not default
        changed = ' class="changed"' if value != default else ""
        shown = str(value)
        if f.name == "model" and classifier:
            shown += f" (ran as {', '.join(str(v) for v in classifier.values())})"
        rows.append(f"<tr><td>{escape(FLAGS.get(f.name, f.name))}</td><td{changed}>{escape(shown)}</td></tr>")
    return ('<details class="settings"><summary>settings (bold: not the default)</summary>'
            f'<table class="settings">{"".join(rows)}</table></details>')


def write_report(out: Path, sources: list[Source], names: list[str], opts: PredictOptions, classifier: dict[str, str],
                 class_names: list[str], failed: dict[Path, str], resumed: set[Path], summary: str,
                 skipped: list[Skipped] = ()) -> Path:
    """``out/report.html`` (module docstring) for ``sources`` (``names``: their output names), in
    input order. ``classifier``: ``Classifier.describe()``; ``failed``: input -> one-line error
    (sources that failed, and inputs that could not be read at all, which get a section after the
    sources'); ``resumed``: sources finished by an earlier run; ``summary``: the run's closing
    line; ``skipped``: what folders held that is not read."""
    model = ", ".join(escape(str(v)) for v in classifier.values())
    kinds = [s.kind for s in sources]
    counted = [f"{kinds.count(k)} {w}{'s' if kinds.count(k) != 1 else ''}" for k, w in (("video", "video"),
                                                                                       ("image", "photo")) if k in kinds]
    body = [f"<h1>wildfer predict: {' and '.join(counted)}</h1>",
            f'<p class="sub">{datetime.now().isoformat(sep=" ", timespec="seconds")} · '
            f"wildfer {escape(__version__)} · model: {model}</p>", f'<p class="sub">{escape(summary)}</p>']
    toc, sections, stats, warnings = [], [], [], []
    photos: list[tuple[str, Path, dict | None, str | None]] = []
    unread = [Source(path, "image" if path.suffix.lower() in IMAGE_EXTS else "") for path in failed
              if path not in {s.path for s in sources}]
    for i, (src, name) in enumerate(zip(sources + unread, names + [""] * len(unread))):
        anchor = f"source-{i + 1}"
        toc.append(f'<li><a href="#{anchor}">{escape(src.display_name)}</a></li>')
        sections.append(f'<div id="{anchor}">')
        if src.path in failed:
            sections.append(f'<section class="source failed"><h2>{escape(src.display_name)}</h2>'
                            f"<p>failed: {escape(failed[src.path])}</p></section>")
            warnings.append(f'<a href="#{anchor}">{escape(src.display_name)}</a> failed: {escape(failed[src.path])}')
            if src.kind == "image":
                photos.append((anchor, src.path, None, failed[src.path]))
        elif section_path(out, name).is_file():
            sections.append(section_path(out, name).read_text(encoding="utf-8"))
            if src.path in resumed:
                sections.append('<p class="sub">(finished by an earlier run into this folder)</p>')
            stats.append((anchor, src.path, _read_stats(out, name)))
            if src.kind == "image":
                photos.append((anchor, src.path, stats[-1][2], None))
            if stats[-1][2] and stats[-1][2].get("warning"):
                warnings.append(f'<a href="#{anchor}">{escape(src.display_name)}</a>: {escape(stats[-1][2]["warning"])}')
        else:  # finished by an earlier run of a wildfer that wrote no report
            sections.append(f'<section class="source"><h2>{escape(src.display_name)}</h2><p>finished by an earlier '
                            "run that left no report section; its summary is in summaries/</p></section>")
        sections.append("</div>")
    body += [f'<p class="warning">{w}</p>' for w in warnings]
    body += [f'<p class="warning">not read: {escape(str(s))}</p>' for s in skipped]
    if stats:
        body.append(overview_html(stats, class_names))
    if len(photos) > 1:
        body.append(photo_table_html(photos, class_names))
    if class_names:
        body.append('<p class="key">' + "".join(_chip(k, c) for k, c in enumerate(class_names)) + "</p>")
    if len(sources) > 1:
        opened = " open" if len(sources) <= OPEN_TOC else ""
        body.append(f"<details{opened}><summary>all {len(sources)} sources</summary>"
                    f"<nav><ol>{''.join(toc)}</ol></nav></details>")
    page = ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>wildfer report</title><style>{CSS}{photo_table_css(len(class_names))}</style></head><body>\n"
            + "\n".join(body + sections + [settings_html(opts, classifier)]) + "\n</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
