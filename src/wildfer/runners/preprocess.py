"""``preprocess``: Aff-Wild2-style aligned face crops from a user's own videos.

Layout written (the one the Aff-Wild2 reader expects)::

    OUT/cropped_aligned/<video>/00001.jpg         # 112x112 RGB, ArcFace template, 1-based frame number
    OUT/cropped_aligned/<video>_face<id>/00001.jpg  # every further person seen for >= 1 s

``<video>`` holds the person seen in most frames; a frame where that person has no face has no
file (numbering keeps the gap), exactly as in Aff-Wild2. Crops are written as they are made (one
folder per track, renamed once the video is done), so memory does not grow with video length.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detectors import Faces, create_detector
from ..detectors.flow import propagate
from ..geometry.align import align_faces
from ..pipeline.sources import expand_inputs, open_frames, probe
from ..pipeline.track import IoUTracker

CROP_SIZE = 112


@dataclass
class PreprocessResult:
    video: Path
    frames: int  # frames decoded
    folders: dict[str, int]  # output folder name -> crops written
    error: str | None = None  # decoding stopped early


def preprocess_videos(videos: str | Path, out: str | Path, detector: str = "mtcnn", detect_every: int = 1,
                      max_side: int | None = 640, min_face: int = 20, quality: int = 95,
                      progress: bool = True) -> list[PreprocessResult]:
    """Crop and align every face of every video in ``videos`` (a folder, file or glob) into ``out``."""
    from ..runtime import set_threads

    set_threads(1)  # see PredictOptions.threads
    sources = [s for s in expand_inputs([videos]) if s.kind == "video"]
    if not sources:
        from ..pipeline.sources import MediaError

        raise MediaError(f"{videos}: no video file to preprocess")
    for s in sources:
        probe(s)
    det = create_detector(detector, max_side=max_side, min_face=min_face)
    root = Path(out) / "cropped_aligned"
    return [_one(s, root, det, detect_every, quality, progress) for s in sources]


def _one(src, root: Path, det, detect_every: int, quality: int, progress: bool) -> PreprocessResult:
    import cv2

    from ..progress import progress as shown

    info, frames = open_frames(src, shots=True)
    tracker = IoUTracker(0.3, max(1, round(info.fps / 2)))
    tmp = root / f".{src.path.stem}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    counts: dict[int, int] = {}
    prev, faces, shot = None, Faces.empty(), 0
    for k, fr in enumerate(shown(frames, total=info.frames_declared or None, desc=src.path.stem, unit="frames",
                                 enabled=progress)):
        new_shot, shot = fr.shot != shot, fr.shot
        if new_shot:  # a camera cut: one person's folder never continues with someone else (pipeline.cuts)
            tracker.reset()
        grey = cv2.cvtColor(fr.rgb, cv2.COLOR_RGB2GRAY) if detect_every > 1 else None
        flow = detect_every > 1 and k % detect_every and prev is not None and not new_shot
        faces = propagate(prev, grey, faces) if flow else det(fr.rgb)
        prev = grey
        ids = tracker.update(faces.boxes)
        crops = align_faces(fr.rgb, faces.landmarks, CROP_SIZE, 3, "abaw")
        for fid, crop in zip(ids, crops):
            d = tmp / str(fid)
            d.mkdir(parents=True, exist_ok=True)
            bgr = cv2.cvtColor(crop.transpose(1, 2, 0), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(d / f"{fr.index + 1:05d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            counts[int(fid)] = counts.get(int(fid), 0) + 1
    folders: dict[str, int] = {}
    ranked = sorted(counts, key=lambda i: -counts[i])
    for rank, fid in enumerate(ranked):
        # Short tracks (< 1 s) are mostly false detections or passers-by: not worth a folder.
        if rank > 0 and counts[fid] < max(1, info.fps):
            continue
        name = src.path.stem if rank == 0 else f"{src.path.stem}_face{fid}"
        dest = root / name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(tmp / str(fid)), dest)
        folders[name] = counts[fid]
    shutil.rmtree(tmp, ignore_errors=True)
    return PreprocessResult(src.path, info.frames_decoded, folders, info.error)
