"""MTCNN on onnxruntime (the shipped ONNX nets, ``detectors/mtcnn.py``) against today's torch cascade
(facenet-pytorch's weights in torch, ``runtime="torch"``): the same faces on generated and real photos
and clip frames, and the shipped files are the ones their origin names."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from pipeline_fixtures import SHARED, paste, portrait


def test_shipped_nets_match_their_origin():
    from wildfer.detectors.mtcnn import MODEL_DIR

    origin = json.loads((MODEL_DIR / "origin.json").read_text())
    assert origin["package"] == "facenet-pytorch" and origin["version"] == "2.6.0"
    for name in ("pnet", "rnet", "onet"):
        assert hashlib.sha256((MODEL_DIR / f"{name}.onnx").read_bytes()).hexdigest() == origin[name]["onnx_sha256"]
        assert origin[name]["max_abs_output_diff_vs_torch"] < 1e-5
    assert "Timothy Esler" in (MODEL_DIR / "LICENSE.md").read_text()


def _same_faces(frames, **opts):
    """Each frame through both runtimes: the same faces, boxes and landmarks to 0.05 px, scores to 1e-4."""
    from wildfer.detectors import create_detector

    onnx, torch_ = create_detector("mtcnn", **opts), create_detector("mtcnn", runtime="torch", **opts)
    n = 0
    for img in frames:
        a, b = onnx(img), torch_(img)
        assert len(a) == len(b)
        if len(a):
            assert np.abs(a.boxes - b.boxes).max() < 0.05 and np.abs(a.landmarks - b.landmarks).max() < 0.05
            assert np.abs(a.scores - b.scores).max() < 1e-4
        n += len(a)
    return n


def test_onnx_cascade_matches_torch_on_generated_photos():
    pytest.importorskip("torch", reason="the torch cascade (the reference) needs the full install")
    canvas = np.full((400, 700, 3), 200, np.uint8)
    paste(canvas, portrait(0.5), 20, 50)
    paste(canvas, portrait(0.25)[:, ::-1], 450, 100)
    assert _same_faces([canvas, portrait(), np.full((240, 320, 3), 128, np.uint8)], max_side=None) == 3


@pytest.mark.shared_data
def test_onnx_cascade_matches_torch_on_shared_photos_and_clips():
    pytest.importorskip("torch", reason="the torch cascade (the reference) needs the full install")
    from wildfer.data.datasets import load_image
    from wildfer.pipeline.sources import Source, open_frames

    photos = sorted((SHARED / "faces" / "images").glob("*.jpg"))[::6]
    clip = SHARED / "faces" / "videos" / "short_hamilton_clip.mp4"
    if not photos or not clip.is_file():
        pytest.skip("../shared/data/faces is absent")
    assert _same_faces([load_image(p, 3) for p in photos], max_side=1280) > 10
    frames = [f.rgb for f in open_frames(Source(clip, "video"), stride=25)[1]]
    assert _same_faces(frames, max_side=480, min_face=40) > 5
