"""The pipeline's parts on real pixels: alignment, detection, tracking, flow, smoothing, ABAW files."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline_fixtures import SHARED, paste, portrait
from wildfer.data.datasets import load_image
from wildfer.errors import ConfigError, DataError
from wildfer.labels import ABAW8, FER2013, FERPLUS
from wildfer.outputs.abaw import fill_nearest, to_abaw8
from wildfer.geometry.align import TEMPLATES, align_faces, similarity_transform
from wildfer.detectors import create_detector, list_detectors
from wildfer.pipeline.smooth import StreamSmoother
from wildfer.pipeline.sources import MediaError, expand_inputs, prefetched, probe, scan_inputs
from wildfer.geometry.boxes import iou_matrix
from wildfer.detectors.flow import FLOW_MAX_SIDE, flow_grey, propagate
from wildfer.pipeline.track import IoUTracker


@pytest.fixture(scope="module")
def mtcnn():
    return create_detector("mtcnn", max_side=640)


def test_similarity_transform_recovers_rotation_scale_shift():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    a, s, t = np.deg2rad(17), 1.7, np.array([12.0, -5.0])
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = similarity_transform(src, src @ (s * r).T + t)
    np.testing.assert_allclose(m[:, :2], s * r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


@pytest.mark.parametrize("template,size,chans", [("fer", 48, 1), ("abaw", 112, 3)])
def test_align_puts_landmarks_on_the_template(template, size, chans):
    # Bright dots at 5 landmarks of a "face" that is the template rotated by 12 degrees, scaled to
    # 150 px and shifted; after alignment each dot must sit on its template position.
    a = np.deg2rad(12)
    r = 150 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    lm = (TEMPLATES[template] @ r.T + [250, 160]).astype(np.float32)
    img = np.zeros((480, 640, 3), np.uint8)
    for x, y in lm:
        cv2.circle(img, (int(round(x)), int(round(y))), 9, (255, 255, 255), -1)
    crop = align_faces(img, lm[None], size, chans, template)
    assert crop.shape == (1, chans, size, size) and crop.dtype == np.uint8
    for x, y in TEMPLATES[template] * size:
        assert crop[0, 0, int(y), int(x)] > 120, (template, x, y)
    assert crop[0, 0, 0, 0] == 0 and crop[0, 0, size // 2, size // 4] == 0  # and nowhere else


def test_detector_registry_names_its_detectors():
    assert "mtcnn" in list_detectors()
    with pytest.raises(ConfigError, match="unknown face detector"):
        create_detector("nope")


def test_mtcnn_finds_the_portrait_with_landmarks_inside_the_box(mtcnn):
    faces = mtcnn(portrait())
    assert len(faces) == 1 and faces.scores[0] > 0.95
    x0, y0, x1, y1 = faces.boxes[0]
    lm = faces.landmarks[0]
    assert (lm[:, 0] > x0).all() and (lm[:, 0] < x1).all() and (lm[:, 1] > y0).all() and (lm[:, 1] < y1).all()
    assert lm[0, 0] < lm[1, 0] and lm[0, 1] < lm[3, 1]  # left eye left of right eye, above mouth


def test_mtcnn_counts_two_people_and_no_one(mtcnn):
    canvas = np.full((400, 700, 3), 200, np.uint8)
    paste(canvas, portrait(0.5), 20, 50)
    paste(canvas, portrait(0.4)[:, ::-1], 450, 100)
    assert len(mtcnn(canvas)) == 2
    assert len(mtcnn(np.full((240, 320, 3), 128, np.uint8))) == 0


def test_mtcnn_cascade_finds_facenets_faces():
    # wildfer runs facenet-pytorch's nets (as ONNX) in its own cascade, which resizes with
    # OpenCV instead of torch's area interpolation (detectors/mtcnn_cascade.py): the same faces must come
    # out, boxes and landmarks within a few percent of the face size.
    import torch
    from facenet_pytorch import MTCNN

    canvas = np.full((400, 700, 3), 200, np.uint8)
    paste(canvas, portrait(0.5), 20, 50)
    paste(canvas, portrait(0.4)[:, ::-1], 450, 100)
    with torch.inference_mode():
        boxes, probs, lms = MTCNN(keep_all=True, device="cpu", min_face_size=20, post_process=False).detect(canvas, landmarks=True)
    ours = create_detector("mtcnn", max_side=None, min_face=20)(canvas)
    boxes, lms = np.asarray(boxes, np.float32), np.asarray(lms, np.float32)
    assert len(ours) == len(boxes) == 2
    order, mine = np.argsort(boxes[:, 0]), np.argsort(ours.boxes[:, 0])
    side = (boxes[order, 2] - boxes[order, 0])[:, None]
    assert (np.abs(ours.boxes[mine] - boxes[order]) < 0.05 * side).all()
    assert (np.abs(ours.landmarks[mine] - lms[order]).max(axis=2) < 0.03 * side).all()
    assert (ours.scores > 0.99).all()


def test_numpy_nms_keeps_what_torchvisions_keeps():
    # The union NMS of the cascade replaced torchvision.ops.nms (its import costs seconds of
    # start-up): same boxes kept, in the same order, score ties included.
    import torch
    from torchvision.ops import nms as tv_nms

    from wildfer.detectors.mtcnn_cascade import nms

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 300))
        xy = rng.uniform(0, 200, (n, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2)).astype(np.float32)], 1)
        scores = rng.choice(np.linspace(0.6, 1, 20), n).astype(np.float32)  # many ties
        for th in (0.5, 0.7):
            ref = tv_nms(torch.from_numpy(boxes), torch.from_numpy(scores), th).numpy()
            np.testing.assert_array_equal(nms(boxes, scores, th), ref)


def test_recheck_keeps_a_face_cut_by_the_frame_edge_and_mirrored():
    face = portrait(0.5)  # 300x256
    canvas = np.full((300, 456, 3), 120, np.uint8)
    canvas[:, 296:] = face[:, :160]  # the portrait's left 62%, cut by the frame's right edge
    canvas[:, :256] = face[:, ::-1]
    on, off = create_detector("mtcnn", max_side=640), create_detector("mtcnn", max_side=640, recheck=0)
    found = on(canvas)
    assert len(found) == len(off(canvas)) == 2
    assert found.boxes[:, 2].max() == 456  # the cut face, its box clipped at the edge


@pytest.mark.shared_data
def test_recheck_drops_the_reviewed_non_faces_of_the_shared_photos_and_keeps_their_faces():
    """A desk object passed MTCNN at 0.94 (the jacket and camera of deepface_img31/40, larger
    photos, are left to benchmarks/bench_photo_faces.py); a face cut by the photo's edge must stay.
    benchmarks/photo_faces_review.csv says which detections are faces (a person looked)."""
    import csv

    from wildfer.pipeline.options import PREDICT_DEFAULTS as D

    photos = SHARED / "faces" / "images"
    if not photos.is_dir():
        pytest.skip(f"{photos} is absent (../shared/data)")
    names = ["face_recognition_obama.jpg", "face_recognition_obama_partial_face2.jpg"]
    review = Path(__file__).resolve().parents[1] / "benchmarks" / "photo_faces_review.csv"
    with open(review) as f:
        truth = [r for r in csv.DictReader(f) if r["photo"] in names]
    det = create_detector("mtcnn", max_side=D.photo_max_side, min_face=D.photo_min_face)
    for name in names:
        boxes = det(load_image(photos / name, 3)).boxes
        want = [[float(r[k]) for k in ("x0", "y0", "x1", "y1")] for r in truth if r["photo"] == name and r["face"] == "1"]
        not_faces = [[float(r[k]) for k in ("x0", "y0", "x1", "y1")] for r in truth if r["photo"] == name and r["face"] == "0"]
        iou = iou_matrix(np.array(want, np.float32).reshape(-1, 4), boxes)
        assert (iou.max(1, initial=0) >= 0.5).all(), name  # every reviewed face is kept
        assert len(boxes) == (iou.max(0, initial=0) >= 0.5).sum(), name  # nothing else
        assert not_faces == [] or iou_matrix(np.array(not_faces, np.float32), boxes).max(initial=0) < 0.5


def test_predicting_a_photo_with_the_shipped_model_imports_no_torchvision_or_timm(tmp_path):
    # Start-up: torchvision's ops import torch._dynamo and timm imports torchvision, seconds on a
    # loaded CPU; predict's default path (int8 ONNX classifier, MTCNN) needs neither.
    import subprocess
    import sys

    Image.fromarray(portrait(0.5)).save(tmp_path / "p.jpg")
    code = ("import sys; from wildfer.cli import main; main(['predict', sys.argv[1], '--out', sys.argv[2], '--quiet']);"
            "print(sorted(m for m in ('torchvision', 'timm', 'torch._dynamo', 'facenet_pytorch') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.jpg"), str(tmp_path / "out")], text=True,
                       capture_output=True, env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout
    assert (tmp_path / "out" / "predictions.csv").read_text().count("\n") == 2  # the header and one face


def test_mtcnn_on_1080p_grey_and_downscaled_detection(mtcnn):
    canvas = np.full((1080, 1920, 3), 60, np.uint8)
    paste(canvas, portrait(1.5), 700, 100)  # 900x768 face photo in a 1080p frame
    grey = np.repeat(cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY)[..., None], 3, 2)
    f = mtcnn(grey)
    assert len(f) == 1
    assert f.boxes[0, 0] > 700 and f.boxes[0, 2] < 700 + 768  # boxes come back in full-size pixels


def test_tracker_keeps_ids_and_starts_new_ones():
    tr = IoUTracker(min_iou=0.3, max_missed=1)
    a, b = np.array([0, 0, 50, 50.0]), np.array([100, 100, 160, 160.0])
    assert tr.update(np.stack([a, b])).tolist() == [0, 1]
    assert tr.update(np.stack([b + 5, a + 5])).tolist() == [1, 0]  # order in the frame does not matter
    assert tr.update(np.stack([a + 10])).tolist() == [0]  # b missed once: kept
    assert tr.update(np.stack([a + 12])).tolist() == [0]  # b missed twice: ended
    assert tr.update(np.stack([a + 14, b])).tolist() == [0, 2]  # b comes back with a new id
    assert iou_matrix(a[None], (a + 25)[None])[0, 0] == pytest.approx(625 / (2 * 2500 - 625))


@pytest.mark.parametrize("side", [400, 640])
def test_optical_flow_carries_landmarks_with_the_face(mtcnn, side):
    canvas = np.full((side * 3 // 4, side, 3), 90, np.uint8)
    face = portrait(0.35)
    f0 = paste(canvas.copy(), face, 40, 30)
    f1 = paste(canvas.copy(), face, 47, 34)  # moved by (7, 4) px
    faces = mtcnn(f0)
    grey = lambda x: cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)  # noqa: E731
    moved = propagate(grey(f0), grey(f1), faces)  # full resolution
    np.testing.assert_allclose(moved.landmarks - faces.landmarks, np.broadcast_to([7, 4], faces.landmarks.shape), atol=1.0)
    # predict's way: flow on a copy at most FLOW_MAX_SIDE px wide; boxes and landmarks stay in frame pixels
    g0, g1 = flow_grey(f0), flow_grey(f1)
    assert g0.shape[1] == FLOW_MAX_SIDE < side
    moved = propagate(g0, g1, faces, g0.shape[1] / side)
    np.testing.assert_allclose(moved.landmarks - faces.landmarks, np.broadcast_to([7, 4], faces.landmarks.shape),
                               atol=side / FLOW_MAX_SIDE)  # ~1 px of the flow image


def test_smoother_is_a_centred_moving_average_with_bounded_memory():
    rng = np.random.default_rng(1)
    t = np.arange(40) / 10.0  # 10 fps
    p = rng.dirichlet(np.ones(3), 40).astype(np.float32)
    sm = StreamSmoother(half_s=0.2, key=lambda r: r)
    out, longest = [], 0
    for i in range(40):
        sm.push(7, t[i], p[i], i)
        out += sm.advance(t[i])
        longest = max(longest, len(sm.tracks.get(7, [])))
    out += sm.flush()
    assert [r for r, _ in out] == list(range(40))
    for i, (_, q) in enumerate(out):
        win = [j for j in range(40) if abs(t[j] - t[i]) <= 0.2 + 1e-9]
        np.testing.assert_allclose(q, p[win].mean(0), atol=1e-6)
    assert longest <= 8  # the window plus one pending step, never the whole video


def test_smoother_off_passes_probabilities_through():
    sm = StreamSmoother(0.0)
    p = np.array([0.2, 0.8], np.float32)
    sm.push(0, 0.0, p, (0, 0))
    assert sm.advance(0.0) == []
    (row, q), = sm.advance(0.1)
    assert row == (0, 0) and q is p


def test_abaw_mapping_and_nearest_fill():
    m = to_abaw8(list(FERPLUS.names))
    assert [ABAW8.names[i] for i in m] == ["Neutral", "Happiness", "Surprise", "Sadness", "Anger", "Disgust", "Fear", "Other"]
    assert [ABAW8.names[i] for i in to_abaw8(list(FER2013.names))][:2] == ["Anger", "Disgust"]
    got = fill_nearest(8, np.array([5, 1]), np.array([3, 6]))
    assert got.tolist() == [6, 6, 6, 6, 3, 3, 3, 3]  # frame 3 is 2 from both: the earlier wins


def test_inputs_expand_and_fail_with_the_file_name(tmp_path):
    Image.fromarray(portrait(0.2)).save(tmp_path / "a.jpg")
    Image.fromarray(portrait(0.2)).save(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("x")
    assert [s.path.name for s in expand_inputs([tmp_path])] == ["a.jpg", "b.png"]
    assert [s.path.name for s in expand_inputs([str(tmp_path / "*.png")])] == ["b.png"]
    (tmp_path / "empty.mp4").write_bytes(b"")
    cases = {str(tmp_path / "missing.mp4"): "no such file", str(tmp_path / "notes.txt"): "not a video or image",
             str(tmp_path / "*.mov"): "matches no"}
    for path, msg in cases.items():
        with pytest.raises(MediaError, match=msg) as e:
            expand_inputs([path])
        assert Path(path).name in str(e.value)
        assert isinstance(e.value, DataError)
    (empty,) = expand_inputs([tmp_path / "empty.mp4"])  # named: opening it says what it is
    with pytest.raises(MediaError, match=f"{empty.path}: empty file"):
        probe(empty)
    found = scan_inputs([tmp_path / "missing.mp4", tmp_path, tmp_path / "*.mov"])  # not strict: each named
    assert [s.path.name for s in found.sources] == ["a.jpg", "b.png", "empty.mp4"]
    assert [(p.name, why.split(": ", 1)[1]) for p, why in found.failed] == [
        ("missing.mp4", "no such file or folder"), ("*.mov", "the pattern matches no video or image file")]
    assert [str(s) for s in found.skipped] == [f"{tmp_path}: 1 file(s) neither photo nor video, not read: notes.txt"]


def test_prefetch_keeps_order_and_reraises_where_the_error_happened():
    def items():
        yield from range(50)
        raise ValueError("broke after 50")

    got = []
    with pytest.raises(ValueError, match="broke after 50"):
        for x in prefetched(items(), depth=3):
            got.append(x)
    assert got == list(range(50))


def test_prefetch_stops_and_closes_its_source_when_the_consumer_stops():
    produced, closed = [], []

    def items():
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.append(True)

    stream = prefetched(items(), depth=2)
    assert next(stream) == 0
    stream.close()  # what a break, an error or Ctrl-C in the consumer does
    assert closed == [True]
    # bounded: one taken, at most `depth` queued, one held by the producer while it waits
    assert len(produced) <= 4
    assert not any(t.name == "wildfer-decode" and t.is_alive() for t in threading.enumerate())
