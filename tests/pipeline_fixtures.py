"""Real media for the pipeline tests, built in tmp folders: a tiny checkpoint, photos made from
matplotlib's sample portrait (a real face MTCNN finds) and H.264 clips encoded with PyAV."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from script_fixtures import run_script, wildfer_script  # noqa: F401  (tests import them from here too)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SHARED_VIDEOS = SHARED / "faces" / "videos"


def tiny_checkpoint(path: Path) -> Path:
    """An untrained 48 px grey resnet18 with the FER+ label set, saved as a wildfer checkpoint."""
    import torch

    from wildfer.labels import FERPLUS
    from wildfer.models.registry import create_model
    from wildfer.models.weights import WeightsMeta, save_checkpoint

    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=len(FERPLUS), in_chans=1, input_size=48)
    meta = WeightsMeta(model="resnet18", labels="ferplus", label_names=list(FERPLUS.names), input_size=48,
                       in_chans=1, mean=[0.5], std=[0.25])
    save_checkpoint(model, meta, path)
    return path


def portrait(scale: float = 1.0) -> np.ndarray:
    """matplotlib's grace_hopper.jpg as RGB uint8 (600x512 at scale 1)."""
    import cv2

    from wildfer.data.datasets import load_image
    from wildfer.pipeline.demo import sample_photo

    img = load_image(sample_photo(), 3)
    return img if scale == 1.0 else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> np.ndarray:
    h, w = img.shape[:2]
    canvas[y:y + h, x:x + w] = img
    return canvas


SOUND_RATE = 16000  # Hz, the sample rate of the sound write_clip adds


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10, sound: np.ndarray | None = None,
               audio_codec: str = "aac", video_start_s: float = 0.0) -> Path:
    """Encode RGB uint8 frames (even width/height) as H.264 with PyAV (the container from the
    suffix), with ``sound`` (mono float32 in [-1, 1] at ``SOUND_RATE``, from time 0) as an
    ``audio_codec`` track; the first picture at ``video_start_s`` seconds (a stream offset)."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "18"}
        au = None if sound is None else out.add_stream(audio_codec, rate=SOUND_RATE, layout="mono")
        if au is not None:
            fmt = "fltp" if audio_codec == "aac" else "s16"
            step = 1024
            for k in range(0, len(sound), step):
                chunk = sound[k:k + step].astype(np.float32)[None]
                data = chunk if fmt == "fltp" else (chunk * 32767).astype(np.int16)
                fr = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
                fr.sample_rate, fr.pts = SOUND_RATE, k
                for pkt in au.encode(fr):
                    out.mux(pkt)
            for pkt in au.encode():
                out.mux(pkt)
        offset = round(video_start_s * fps)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts = i + offset
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def faststart_clip(path: Path, frames: list[np.ndarray]) -> Path:
    """An MP4 with its index (moov) at the front, as web videos are: a cut copy still opens."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def face_clip(path: Path, n_face: int = 6, n_empty: int = 3, two: bool = False, size=(320, 240)) -> Path:
    """A clip whose first ``n_face`` frames show the portrait (moving 4 px a frame; with ``two``, a
    mirrored smaller copy on the right too) and whose last ``n_empty`` frames show no face."""
    w, h = size
    big = portrait(0.3)  # 180x154
    small = portrait(0.22)[:, ::-1]
    frames = []
    for i in range(n_face + n_empty):
        canvas = np.full((h, w, 3), 90, np.uint8)
        if i < n_face:
            paste(canvas, big, 10 + 4 * i, 20)
            if two:
                paste(canvas, small, w - small.shape[1] - 5, h - small.shape[0] - 5)
        frames.append(canvas)
    return write_clip(path, frames)


def table(out: str) -> list[str]:
    """``predict``'s printed lines without the closing one, which names the output folder."""
    return out.strip().splitlines()[:-1]


def same_outputs(a: Path, b: Path) -> None:
    """Two ``predict --abaw`` output folders hold the same results (``b`` from a parallel run)."""
    # Byte equality: the same computation in a worker gives the same floats (threads = 1 in both).
    assert (a / "predictions.csv").read_bytes() == (b / "predictions.csv").read_bytes()
    assert (a / "abaw_predictions.txt").read_text() == (b / "abaw_predictions.txt").read_text()
    for s in sorted((a / "summaries").iterdir()):
        assert json.loads(s.read_text()) == json.loads((b / "summaries" / s.name).read_text()), s.name
    assert sorted(p.name for p in (a / "abaw").iterdir()) == sorted(p.name for p in (b / "abaw").iterdir())
    assert not (b / ".parts").exists()  # every part was copied in and deleted
    # report.html's sections (the page itself has the run's date): written by the workers, the same
    sections = sorted(p.name for p in (a / ".sections").iterdir())
    assert sections and sections == sorted(p.name for p in (b / ".sections").iterdir())
    for name in sections:
        assert (a / ".sections" / name).read_text() == (b / ".sections" / name).read_text(), name
    assert (b / "report.html").is_file()


def ffmpeg() -> str:
    """Debian's ffmpeg (.ci/run installs it; there a missing one fails the test instead of skipping it)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        if os.environ.get("WILDFER_REQUIRE_FFMPEG"):
            pytest.fail("WILDFER_REQUIRE_FFMPEG is set (.ci/run) but ffmpeg is not installed")
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg; .ci/run installs it)")
    return exe
