"""Pictures of a source's predictions: a timeline plot per video, an annotated MP4 per video and
an annotated JPEG per photo.

Overlays (:func:`draw_faces`) are a box per face and a label ``<face id>: <expression> <score>``
in black or white on a box filled with the expression's colour (``CLASS_COLORS``, the timeline
plot's), so the text reads on any background; labels and boxes are kept inside the frame, and
labels never overlap one another (:func:`label_layout`: above, below or inside the box, smaller
for small faces).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..pipeline.sources import open_frames
from .audio import AudioCopy
from .results import SourceLog

MAX_PLOTTED_PEOPLE = 12
# One colour per class index (RGB): matplotlib's tab10, the colours of the timeline plot's stack,
# so a box's colour in a picture is its expression's colour in the plot and in report.html.
CLASS_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def class_color(k: int) -> tuple[int, int, int]:
    return CLASS_COLORS[k % len(CLASS_COLORS)]


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour (0 black .. 1 white)."""
    c = np.asarray(rgb, np.float64) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(c @ [0.2126, 0.7152, 0.0722])


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours (1 .. 21; 4.5 is the bar for normal text)."""
    la, lb = sorted((_luminance(a), _luminance(b)))
    return (lb + 0.05) / (la + 0.05)


def text_color(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``fill``."""
    return max([(0, 0, 0), (255, 255, 255)], key=lambda c: contrast(c, fill))


MIN_SCALE = 0.35  # the smallest font scale a label gets (Hershey simplex, ~8 px caps): still legible


@dataclass(frozen=True)
class Label:
    """Where one face's label goes: ``rect`` integer (x0, y0, x1, y1) pixels, x1/y1 exclusive;
    its ``text`` (possibly shortened to the face id) at font ``scale`` and stroke ``thick``."""

    rect: tuple[int, int, int, int]
    text: str
    scale: float
    thick: int


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _candidates(box, lw: int, lh: int, fw: int, fh: int):
    """Label rectangles of ``lw`` x ``lh`` around ``box``, best first: above it, below it, inside
    its top edge, inside its bottom edge (each left-, then right-aligned with the box, moved
    sideways into the frame); those that do not fit in the frame are left out."""
    x0, y0, x1, y1 = (round(v) for v in box)
    for top in (y0 - lh, y1, y0, y1 - lh):
        for left in (x0, x1 - lw):
            left = min(max(left, 0), fw - lw)
            r = (left, top, left + lw, top + lh)
            if left >= 0 and top >= 0 and r[2] <= fw and r[3] <= fh:
                yield r


def label_layout(boxes: np.ndarray, texts: list[str], frame: tuple[int, int],
                 scale: float | None = None) -> list[Label | None]:
    """Labels for faces ``boxes`` (N, 4) pixels in a frame of ``frame`` (w, h) pixels, each inside
    the frame and none overlapping another.

    Faces are placed largest first. Each face's font starts at ``scale`` (default: from the
    frame's shorter side), no wider than about its box (a small face gets a smaller font, down to
    ``MIN_SCALE``), and tries :func:`_candidates` at that size and smaller ones, first where the
    label covers no other face's box, then anywhere free. A face that still finds no room gets its
    id alone (the text up to ``":"``); if even that fits nowhere, None: its box is drawn unlabelled.
    """
    import cv2

    fw, fh = frame
    base = scale if scale is not None else max(0.4, min(fw, fh) / 720)
    order = sorted(range(len(boxes)), key=lambda i: -(boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1]))
    placed: list[tuple[int, int, int, int]] = []
    out: list[Label | None] = [None] * len(boxes)

    def fits(r, others) -> bool:
        return not any(_overlaps(r, p) for p in placed) and not any(_overlaps(r, o) for o in others)

    for i in order:
        box = boxes[i]
        others = [tuple(round(v) for v in b) for j, b in enumerate(boxes) if j != i]
        short = texts[i].split(":")[0]
        (w1, _), _ = cv2.getTextSize(texts[i], cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)
        first = min(base, max(MIN_SCALE, 1.2 * (box[2] - box[0]) / max(w1, 1)))
        scales = [first * 0.8 ** k for k in range(8) if first * 0.8 ** k >= MIN_SCALE] or [MIN_SCALE]
        tries = [(t, sc, avoid) for t in (texts[i], short) for avoid in (others, []) for sc in scales]
        for text, sc, avoid in tries:
            thick = max(1, round(sc * 1.5))
            pad = max(2, round(4 * sc))
            (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, sc, thick)
            rect = next((r for r in _candidates(box, tw + 2 * pad, th + baseline + 2 * pad, fw, fh) if fits(r, avoid)),
                        None)
            if rect is not None:
                placed.append(rect)
                out[i] = Label(rect, text, sc, thick)
                break
    return out


def draw_faces(img: np.ndarray, boxes: np.ndarray, texts: list[str], colors: list[tuple[int, int, int]]) -> np.ndarray:
    """Draw each face's box and label on RGB uint8 ``img`` (in place; returned).

    Line width and text size follow the frame's shorter side (a 360 px video and a 4000 px photo
    both get legible labels), smaller for small faces; labels never overlap each other nor leave
    the frame (:func:`label_layout`); boxes are clipped to the frame so a face at its edge keeps
    all four sides visible."""
    import cv2

    h, w = img.shape[:2]
    line = max(2, round(min(h, w) / 250))
    for box, color in zip(boxes, colors):
        x0, y0 = int(np.clip(round(box[0]), 0, w - 1)), int(np.clip(round(box[1]), 0, h - 1))
        x1, y1 = int(np.clip(round(box[2]), 0, w - 1)), int(np.clip(round(box[3]), 0, h - 1))
        cv2.rectangle(img, (x0, y0), (x1, y1), color, line)
    for label, color in zip(label_layout(boxes, texts, (w, h)), colors):
        if label is None:
            continue
        lx0, ly0, lx1, ly1 = label.rect
        pad = max(2, round(4 * label.scale))
        (_, th), _ = cv2.getTextSize(label.text, cv2.FONT_HERSHEY_SIMPLEX, label.scale, label.thick)
        cv2.rectangle(img, (lx0, ly0), (lx1 - 1, ly1 - 1), color, cv2.FILLED)
        cv2.putText(img, label.text, (lx0 + pad, ly0 + pad + th), cv2.FONT_HERSHEY_SIMPLEX, label.scale,
                    text_color(color), label.thick, cv2.LINE_AA)
    return img


def face_labels(fids: np.ndarray, labels: np.ndarray, scores: np.ndarray, class_names: list[str]) -> list[str]:
    """Each face's label text, ``<face id>: <class> <score>``."""
    return [f"{f}: {class_names[k]} {s:.2f}" for f, k, s in zip(fids, labels, scores)]


def draw_rows(img: np.ndarray, boxes: np.ndarray, fids: np.ndarray, labels: np.ndarray, scores: np.ndarray,
               class_names: list[str], ids_only: bool = False) -> np.ndarray:
    """:func:`draw_faces` with the labels of :func:`face_labels` (``ids_only``: the face ids
    alone, for thumbnails too small for more), coloured by class."""
    texts = [str(f) for f in fids] if ids_only else face_labels(fids, labels, scores, class_names)
    return draw_faces(img, boxes, texts, [class_color(k) for k in labels])


def timeline_people(log: SourceLog) -> tuple[list[dict], int]:
    """The people the timeline plot shows, in order of first appearance, and how many it leaves
    out: everyone if at most ``MAX_PLOTTED_PEOPLE``, else the ``MAX_PLOTTED_PEOPLE`` seen longest."""
    people = log.people(log.info.fps or 1.0)  # longest first
    shown = people[:MAX_PLOTTED_PEOPLE]
    return sorted(shown, key=lambda p: (p["first_frame"], p["face_id"])), len(people) - len(shown)


def plot_timeline(log: SourceLog, path: Path) -> Path:
    """One panel per person (:func:`timeline_people`: in order of first appearance; the title
    says how many were left out): stacked class probabilities against time in seconds; gaps
    where the person has no face stay blank."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; never opens a window
    import matplotlib.pyplot as plt

    fps = log.info.fps or 1.0
    people, left_out = timeline_people(log)
    fids, frames, probs = log.face_ids, log.frames, log.probs
    n = max(1, len(people))
    height = 1.2 * n + 1.1  # inches
    fig, axes = plt.subplots(n, 1, figsize=(10, height), sharex=True, squeeze=False)
    colors = [tuple(v / 255 for v in class_color(k)) for k in range(len(log.class_names))]
    for ax, person in zip(axes[:, 0], people):
        sel = fids == person["face_id"]
        t = frames[sel] / fps
        p = probs[sel]
        # Break the stack at gaps longer than ~2 sampled frames so absent stretches stay blank.
        gaps = np.flatnonzero(np.diff(frames[sel]) > 2 * max(1, np.median(np.diff(frames[sel])) if sel.sum() > 1 else 1))
        for seg in np.split(np.arange(len(t)), gaps + 1):
            if len(seg):
                ax.stackplot(t[seg], p[seg].T, colors=colors, linewidth=0)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face {person['face_id']}", fontsize=8)
        ax.set_title(f"face {person['face_id']}: {person['dominant']} ({person['frames']} frames)", fontsize=8, loc="left")
    if not people:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center", transform=axes[0, 0].transAxes)
    axes[-1, 0].set_xlim(0, max(log.info.frames_decoded, 1) / fps)  # the whole video: absent stretches show
    axes[-1, 0].set_xlabel("time (s)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[i]) for i in range(len(log.class_names))]
    fig.legend(handles, log.class_names, loc="upper right", ncol=min(8, len(log.class_names)), fontsize=7)
    title = log.source.display_name
    if left_out:
        seen = max(p["frames"] for p in log.people(fps)[MAX_PLOTTED_PEOPLE:])
        title += f": the {len(people)} people seen longest; {left_out} more not shown (each seen <= {seen} frames)"
    fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / height))  # 0.45 in at the top for the title and key
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def annotate_video(log: SourceLog, path: Path, stride: int = 1) -> Path:
    """Re-decode the video and write an H.264 MP4 with each face's box, id, label and score, and
    the source's sound (:mod:`.audio`).

    Frames not processed (``stride``) show the last processed frame's boxes, up to a shot cut
    (:mod:`wildfer.pipeline.cuts`): a new shot shows none until its first processed frame. Decoding twice costs
    time but keeps memory flat: no frame is held between the two passes.
    """
    import av

    fids, frames, boxes, labels = log.face_ids, log.frames, log.boxes, log.labels
    scores = log.probs[np.arange(len(labels)), labels]
    order = np.argsort(frames, kind="stable")
    starts = np.searchsorted(frames[order], np.arange(log.info.frames_decoded + 1))
    info, it = open_frames(log.source, stride=1, shots=stride > 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = av.open(str(path), "w")
    fps = info.fps or 25.0
    st = out.add_stream("libx264", rate=_rate(fps))
    st.pix_fmt = "yuv420p"
    st.options = {"crf": "23", "preset": "veryfast"}
    sound = AudioCopy(log.source.path, out)
    shown, shot, sized = np.zeros(0, np.int64), 0, False
    for fr in it:
        if not sized:  # the first frame's size: upright, as decoding turned it (DecodeInfo.rotation)
            h, w = fr.rgb.shape[:2]
            st.width, st.height, sized = w - w % 2, h - h % 2, True
        sound.until(fr.time_s)
        if fr.shot != shot:
            shown, shot = np.zeros(0, np.int64), fr.shot
        if fr.index < len(starts) - 1:
            cur = order[starts[fr.index]: starts[fr.index + 1]]
            if len(cur) or fr.index % stride == 0:
                shown = cur
        img = np.ascontiguousarray(fr.rgb[: st.height, : st.width])
        draw_rows(img, boxes[shown], fids[shown], labels[shown], scores[shown], log.class_names)
        for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(pkt)
    if not sized:  # not one frame decoded: the container's size, for a valid empty file
        st.width, st.height = info.width - info.width % 2, info.height - info.height % 2
    for pkt in st.encode():
        out.mux(pkt)
    sound.finish()
    out.close()
    return path


def _rate(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def annotated_photo(log: SourceLog, max_side: int | None = None, ids_only: bool = False) -> np.ndarray:
    """The photo of ``log`` (RGB uint8) with every face's box and label drawn (``ids_only``: just
    the face id); with ``max_side``, downscaled first so its longer side is at most that many
    pixels (overlays sized for it)."""
    import cv2

    _, frames = open_frames(log.source)
    img = next(iter(frames)).rgb
    boxes = log.boxes.astype(np.float64)
    f = 1.0 if max_side is None else min(1.0, max_side / max(img.shape[:2]))
    if f < 1:
        img = cv2.resize(img, (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f))),
                         interpolation=cv2.INTER_AREA)
        boxes = boxes * f
    else:
        img = img.copy()  # the decoded photo may be read-only; the caller gets a picture of its own
    labels = log.labels
    scores = log.probs[np.arange(len(labels)), labels]
    return draw_rows(img, boxes, log.face_ids, labels, scores, log.class_names, ids_only)


def annotate_photo(log: SourceLog, path: Path) -> Path:
    """Write :func:`annotated_photo` at full size to ``path`` as a JPEG (quality 90)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(annotated_photo(log)).save(path, quality=90)
    return path
