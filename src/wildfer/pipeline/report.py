"""``OUTDIR/report.html``: what a ``predict`` run found, as one page to look at.

Every run writes it. On disk (inside the ``--out`` folder)::

    out/report.html             the run's settings and model, a colour key of the classes, then
                                one section per source in input order (a failed source: its error)
    out/.sections/<name>.html   one source's section, written with its other outputs (by the worker
                                that processed it), so a resumed run's page still has every source

A video's section lists its people in order of first appearance, each with a thumbnail, when it
was seen, its dominant expression, a timeline strip (where in the video the person is seen,
coloured by expression) and the share of its frames per class; a photo's shows the annotated photo
and, per face, the class probabilities. The page is self-contained: no script, no external style
sheet or font; pictures are embedded as ``data:`` URIs (JPEG: thumbnails of ``THUMB_SIDE`` px,
photos at most ``PHOTO_SIDE`` px); links to the full-size files beside it (``plots/``,
``annotated/``) are relative. All text that comes from outside (file names, class names, errors)
is escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from datetime import datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

import numpy as np

from .options import PredictOptions
from .render import annotated_photo, class_color, text_color
from .results import SourceLog
from .sources import Source

SECTIONS_DIR = ".sections"
PHOTO_SIDE = 800  # px, the longer side of a photo on the page
TIMELINE_BINS = 300  # at most this many time steps per person's strip

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 0 16px 48px; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.6em; margin: 24px 0 4px; } h2 { font-size: 1.2em; margin: 0 0 4px; word-break: break-all; }
.sub, .meta { color: #555; } .meta { margin: 0 0 10px; }
section.source { border: 1px solid #ddd; border-radius: 8px; padding: 14px 16px; margin: 18px 0; }
section.failed { border-color: #d62728; }
.key span, .chip { display: inline-block; padding: 1px 8px; border-radius: 10px; margin: 2px 4px 2px 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: middle; }
th { font-weight: 600; color: #555; font-size: 0.9em; }
table.settings { width: auto; font-size: 0.9em; } table.settings td.changed { font-weight: 700; }
img.thumb { width: 72px; height: 72px; object-fit: cover; border-radius: 6px; display: block; background: #eee; }
img.photo { max-width: 100%; height: auto; border-radius: 6px; display: block; margin: 6px 0 10px; }
svg.timeline { width: 100%; min-width: 160px; height: 16px; display: block; background: #eee; border-radius: 3px; }
.bar { display: flex; height: 12px; min-width: 120px; border-radius: 3px; overflow: hidden; background: #eee; }
.bar span { display: block; height: 100%; }
.shares { font-size: 0.85em; color: #444; margin-top: 2px; } td.seen { white-space: nowrap; }
nav ol { columns: 3; font-size: 0.9em; } .links a { margin-right: 12px; }
"""


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def _chip(k: int, name: str) -> str:
    """A class name on its colour (the colour of its boxes and plots), readable either way."""
    c = class_color(k)
    return f'<span class="chip" style="background:{_hex(c)};color:{_hex(text_color(c))}">{escape(name)}</span>'


def jpeg_uri(rgb: np.ndarray, quality: int = 82) -> str:
    """``data:image/jpeg;base64,...`` of an RGB uint8 picture."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _shares(values: np.ndarray, class_names: list[str], what: str) -> str:
    """A stacked bar of ``values`` (fractions per class) and the non-zero ones as text, largest first."""
    spans = "".join(f'<span style="width:{100 * v:.2f}%;background:{_hex(class_color(k))}" '
                    f'title="{escape(class_names[k])} {v:.0%}"></span>' for k, v in enumerate(values) if v > 0)
    text = " · ".join(f"{escape(class_names[k])} {values[k]:.0%}" for k in np.argsort(-values, kind="stable")
                      if values[k] >= 0.005)
    return f'<div class="bar" role="img" aria-label="{what}">{spans}</div><div class="shares">{text}</div>'


def _timeline(frames: np.ndarray, labels: np.ndarray, n_frames: int, step: int, class_names: list[str],
              fps: float) -> str:
    """An inline SVG strip across the whole video (``n_frames`` decoded frames): the stretches
    where the person is seen, each coloured by the expression most frames of it have, in at most
    ``TIMELINE_BINS`` time steps (so a long video's strip stays small)."""
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
    return (f'<svg class="timeline" viewBox="0 0 {n_frames} 1" preserveAspectRatio="none" role="img" '
            f'aria-label="timeline">{"".join(rects)}</svg>')


def _thumb(log: SourceLog, fid: int) -> str:
    crop = log.thumbs.get(fid)
    if crop is None:
        return '<td></td>'
    return f'<td><img class="thumb" src="{jpeg_uri(crop)}" alt="face {fid}"></td>'


def _links(outputs: dict[str, list[Path]], out: Path) -> str:
    names = {"plots": "timeline plot", "videos": "annotated video", "images": "annotated photo (full size)"}
    # relative URLs, percent-encoded: a file name may hold "#", "?" or "%"
    links = [f'<a href="{escape(quote(p.relative_to(out).as_posix()))}">{label}</a>'
             for key, label in names.items() for p in outputs.get(key, []) if p.is_relative_to(out)]
    return f'<p class="links">{"".join(links)}</p>' if links else ""


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
        if info.error:
            meta += f" · decoding stopped early ({escape(info.error)})"
    else:
        meta = f"photo · {info.width}×{info.height} · {len(people)} {'face' if len(people) == 1 else 'faces'}"
    parts = [f'<section class="source" data-kind="{src.kind}">', f"<h2>{escape(src.display_name)}</h2>",
             f'<p class="meta">{meta}</p>', _links(outputs, out)]
    if src.kind == "image" and people:
        parts.append(f'<img class="photo" src="{jpeg_uri(annotated_photo(log, PHOTO_SIDE))}" '
                     f'alt="{escape(src.display_name)}, annotated">')
    if not people:
        parts.append("<p>no face found</p></section>")
        return "\n".join(parts) + "\n"
    fids, frames, labels, probs = log.face_ids, log.frames, log.labels, log.probs
    if src.kind == "video":
        parts.append("<table><tr><th></th><th>face</th><th>seen</th><th>dominant</th><th>timeline</th>"
                     "<th>share of frames</th></tr>")
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
                    f'<td>{_chip(k, p["dominant"])} {p["share"][p["dominant"]]:.0%}</td>',
                    f"<td>{strip}</td>", f'<td>{_shares(share, names, "share of frames per class")}</td>']
        else:
            pr = probs[sel][0]
            row += [f"<td>{_chip(k, p['dominant'])} {pr[k]:.2f}</td>",
                    f'<td>{_shares(pr, names, "class probabilities")}</td>']
        parts.append("".join(row) + "</tr>")
    parts.append("</table></section>")
    return "\n".join(parts) + "\n"


def section_path(out: Path, name: str) -> Path:
    return out / SECTIONS_DIR / f"{name}.html"


def write_section(log: SourceLog, name: str, outputs: dict[str, list[Path]], out: Path, stride: int = 1) -> Path:
    """``out/.sections/<name>.html``: :func:`section_html`, for :func:`write_report` to gather."""
    path = section_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(section_html(log, outputs, out, stride), encoding="utf-8")
    return path


def write_report(out: Path, sources: list[Source], names: list[str], opts: PredictOptions, classifier: dict[str, str],
                 class_names: list[str], failed: dict[Path, str], resumed: set[Path], summary: str) -> Path:
    """``out/report.html`` (module docstring) for ``sources`` (``names``: their output names), in
    input order. ``classifier``: ``Classifier.describe()``; ``failed``: source -> one-line error;
    ``resumed``: sources finished by an earlier run; ``summary``: the run's closing line."""
    from .. import __version__

    defaults = PredictOptions()
    settings = []
    for f in dataclasses.fields(opts):
        value = getattr(opts, f.name)
        changed = ' class="changed"' if value != getattr(defaults, f.name) else ""
        settings.append(f"<tr><td>{escape(f.name)}</td><td{changed}>{escape(str(value))}</td></tr>")
    model = ", ".join(escape(str(v)) for v in classifier.values())
    body = [f"<h1>wildfer predict: {len(sources)} source{'s' if len(sources) != 1 else ''}</h1>",
            f'<p class="sub">{datetime.now().isoformat(sep=" ", timespec="seconds")} · '
            f"wildfer {escape(__version__)} · model: {model}</p>", f'<p class="sub">{escape(summary)}</p>']
    if class_names:
        body.append('<p class="key">' + "".join(_chip(k, c) for k, c in enumerate(class_names)) + "</p>")
    body.append('<details open><summary>settings (bold: not the default)</summary><table class="settings">'
                f"{''.join(settings)}</table></details>")
    toc, sections = [], []
    for i, (src, name) in enumerate(zip(sources, names)):
        anchor = f"source-{i + 1}"
        toc.append(f'<li><a href="#{anchor}">{escape(src.display_name)}</a></li>')
        sections.append(f'<div id="{anchor}">')
        if src.path in failed:
            sections.append(f'<section class="source failed"><h2>{escape(src.display_name)}</h2>'
                            f"<p>failed: {escape(failed[src.path])}</p></section>")
        elif section_path(out, name).is_file():
            sections.append(section_path(out, name).read_text(encoding="utf-8"))
            if src.path in resumed:
                sections.append('<p class="sub">(finished by an earlier run into this folder)</p>')
        else:  # finished by an earlier run of a wildfer that wrote no report
            sections.append(f'<section class="source"><h2>{escape(src.display_name)}</h2><p>finished by an earlier '
                            "run that left no report section; its summary is in summaries/</p></section>")
        sections.append("</div>")
    if len(sources) > 1:
        body.append(f"<nav><ol>{''.join(toc)}</ol></nav>")
    page = ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>wildfer report</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body + sections) + "\n</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

