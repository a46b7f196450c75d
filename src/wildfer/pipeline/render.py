"""Pictures of a source's predictions: a timeline plot per video and an annotated MP4."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .results import SourceLog
from .sources import open_frames

MAX_PLOTTED_PEOPLE = 6


def plot_timeline(log: SourceLog, path: Path) -> Path:
    """One panel per person (the ``MAX_PLOTTED_PEOPLE`` seen longest): stacked class
    probabilities against time in seconds; gaps where the person has no face stay blank."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; never opens a window
    import matplotlib.pyplot as plt

    fps = log.info.fps or 1.0
    people = log.people(fps)[:MAX_PLOTTED_PEOPLE]
    fids, frames, probs = log.face_ids, log.frames, log.probs
    n = max(1, len(people))
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.6 * n + 0.8), sharex=True, squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for ax, person in zip(axes[:, 0], people):
        sel = fids == person["face_id"]
        t = frames[sel] / fps
        p = probs[sel]
        # Break the stack at gaps longer than ~2 sampled frames so absent stretches stay blank.
        gaps = np.flatnonzero(np.diff(frames[sel]) > 2 * max(1, np.median(np.diff(frames[sel])) if sel.sum() > 1 else 1))
        for seg in np.split(np.arange(len(t)), gaps + 1):
            if len(seg):
                ax.stackplot(t[seg], p[seg].T, colors=colors[: p.shape[1]], linewidth=0)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face {person['face_id']}", fontsize=8)
        ax.set_title(f"face {person['face_id']}: {person['dominant']} ({person['frames']} frames)", fontsize=8, loc="left")
    if not people:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center", transform=axes[0, 0].transAxes)
    axes[-1, 0].set_xlim(0, max(log.info.frames_decoded, 1) / fps)  # the whole video: absent stretches show
    axes[-1, 0].set_xlabel("time (s)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[i]) for i in range(len(log.class_names))]
    fig.legend(handles, log.class_names, loc="upper right", ncol=min(8, len(log.class_names)), fontsize=7)
    fig.suptitle(log.source.path.name, fontsize=9, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def annotate_video(log: SourceLog, path: Path, stride: int = 1) -> Path:
    """Re-decode the video and write an H.264 MP4 with each face's box, id, label and score.

    Frames not processed (``stride``) show the last processed frame's boxes. Decoding twice costs
    time but keeps memory flat: no frame is held between the two passes.
    """
    import av
    import cv2

    fids, frames, boxes, probs = log.face_ids, log.frames, log.boxes, log.probs
    labels = probs.argmax(1) if len(probs) else np.zeros(0, np.int64)
    order = np.argsort(frames, kind="stable")
    starts = np.searchsorted(frames[order], np.arange(log.info.frames_decoded + 1))
    info, it = open_frames(log.source, stride=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = av.open(str(path), "w")
    fps = info.fps or 25.0
    st = out.add_stream("libx264", rate=_rate(fps))
    st.width, st.height = info.width - info.width % 2, info.height - info.height % 2
    st.pix_fmt = "yuv420p"
    st.options = {"crf": "23", "preset": "veryfast"}
    shown: list[int] = []
    for fr in it:
        if fr.index < len(starts) - 1:
            cur = order[starts[fr.index]: starts[fr.index + 1]]
            if len(cur) or fr.index % stride == 0:
                shown = list(cur)
        img = np.ascontiguousarray(fr.rgb[: st.height, : st.width])
        for i in shown:
            x0, y0, x1, y1 = (int(round(v)) for v in boxes[i])
            color = (0, 220, 0)
            cv2.rectangle(img, (x0, y0), (x1, y1), color, 2)
            text = f"{fids[i]}: {log.class_names[labels[i]]} {probs[i, labels[i]]:.2f}"
            cv2.putText(img, text, (x0, max(12, y0 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
        for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(pkt)
    for pkt in st.encode():
        out.mux(pkt)
    out.close()
    return path


def _rate(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)
