"""Bad input through the real entry points (catalogue: docs/robustness.md).

Every bad file is written here with a real encoder (PIL, PyAV, safetensors) and then broken the
way files break in the wild (bytes cut off, a header field patched, metadata that lies). Each
case must end in a one-line ``wildfer: error: ...`` naming the file and exit code 2, or in a
counted skip in the reader's :class:`~wildfer.data.report.ReadReport` — never a traceback.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from affwild2_fixtures import ABAW7_HEADER, write_frame, write_video
from fer_fixtures import FERPLUS_HEADER, write_fer
from pipeline_fixtures import paste, portrait, tiny_checkpoint, write_clip
from script_fixtures import run_script
from wildfer.cli import main
from wildfer.config import load_config
from wildfer.data.fer2013 import read_fer2013, read_ferplus_votes
from wildfer.data.folder import read_image_folder
from wildfer.errors import ConfigError, DataError
from wildfer.labels import FER2013, FERPLUS
from wildfer.models import weights
from wildfer.models.registry import create_model
from wildfer.models.weights import META_KEY, WeightsMeta, atomic_save, save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def cli(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code: int, err: str, name: str, needle: str) -> None:
    assert code == 2, err
    assert err.startswith("wildfer: error:") and len(err.strip().splitlines()) == 1, err
    assert name in err and needle in err and "Traceback" not in err, err


def cut(path: Path, keep: float = 0.5) -> Path:
    """Truncate ``path`` in place to ``keep`` of its bytes (a half-finished download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def noisy_photo(path: Path, side: int = 64) -> Path:
    """Random pixels: JPEG/PNG encoders produce large scan data, so a cut lands mid-scan."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(path)
    return path


# --- images ------------------------------------------------------------------------------


def test_predict_decodes_16bit_cmyk_palette_and_grey_alpha_photos(ckpt, tmp_path, capsys):
    face = portrait(0.5)  # 300x256 RGB
    grey = np.asarray(Image.fromarray(face).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(tmp_path / "deep16.png")  # mode I;16
    Image.fromarray(face).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(face).convert("P").save(tmp_path / "palette.png", transparency=0)
    la = Image.fromarray(face).convert("LA")
    la.putalpha(Image.fromarray(np.full(face.shape[:2], 255, np.uint8)))
    la.save(tmp_path / "greyalpha.png")
    modes = {}
    for name in ("deep16.png", "cmyk.jpg", "palette.png", "greyalpha.png"):
        with Image.open(tmp_path / name) as im:
            modes[name] = im.mode
    assert modes == {"deep16.png": "I;16", "cmyk.jpg": "CMYK", "palette.png": "P", "greyalpha.png": "LA"}
    out = tmp_path / "out"
    code, _, err = cli(["predict", tmp_path, "--out", out, "--model", ckpt, "--quiet", "--no-plots"], capsys)
    assert code == 0, err
    with open(out / "predictions.csv") as f:
        sources = {r["source"] for r in csv.DictReader(f)}
    names = ("deep16.png", "cmyk.jpg", "palette.png", "greyalpha.png")
    assert sources == {str(tmp_path / n) for n in names}  # a face found in every mode


@pytest.mark.parametrize("name, make, needle", [
    ("cut.jpg", lambda p: cut(noisy_photo(p)), "not a readable image"),
    ("cut.png", lambda p: cut(noisy_photo(p)), "not a readable image"),
    ("zero.png", lambda p: p.write_bytes(b""), "empty file"),
])
def test_a_broken_photo_is_named_and_the_others_processed_or_with_strict_refused_first(ckpt, tmp_path, capsys, name,
                                                                                         make, needle):
    good = tmp_path / "good.jpg"
    Image.fromarray(portrait(0.3)).save(good)
    make(tmp_path / name)
    out = tmp_path / "out"
    code, said, err = cli(["predict", good, tmp_path / name, "--out", out, "--model", ckpt, "--quiet"], capsys)
    assert code == 1 and f"wildfer: warning: not read: {tmp_path / name}: {needle}" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("wildfer: error: 1 input(s) could not be read, the rest are done")
    assert (out / "summaries" / "good.jpg.json").is_file() and ", 1 failed;" in said
    out = tmp_path / "strict"
    code, _, err = cli(["predict", good, tmp_path / name, "--out", out, "--model", ckpt, "--quiet", "--strict"], capsys)
    assert_one_line_error(code, err, name, needle)
    assert not (out / "predictions.csv").exists()  # failed at the probe, before the good photo ran


def test_image_folder_counts_zero_byte_and_reads_every_mode(tmp_path):
    (tmp_path / "happy").mkdir()
    Image.fromarray(np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).save(tmp_path / "happy" / "d16.png")
    Image.new("CMYK", (32, 32), (0, 0, 0, 0)).save(tmp_path / "happy" / "cmyk.jpg")  # no ink = white
    Image.new("RGB", (32, 32), (255, 0, 0)).convert("P").save(tmp_path / "happy" / "pal.png")
    (tmp_path / "happy" / "zero.jpg").write_bytes(b"")
    ds, rep = read_image_folder(tmp_path, in_chans=1, size=32)
    assert rep.kept == 3 and dict(rep.dropped) == {"unreadable image": 1}
    x = ds.load(np.arange(3)).numpy()  # sorted: cmyk.jpg, d16.png, pal.png
    assert x.shape == (3, 1, 32, 32)
    assert x[0].min() >= 250  # CMYK without ink is white
    assert x[1].max() == 255 and x[1].min() == 0  # 16-bit scaled by its maximum, not clipped
    assert abs(int(x[2].mean()) - 76) <= 2  # red through the palette, then ITU-R 601 luma


def test_truncated_jpeg_in_a_folder_fails_at_load_naming_it(ckpt, tmp_path, capsys):
    write_frame(tmp_path / "data" / "neutral" / "ok.jpg", 0)
    cut(noisy_photo(tmp_path / "data" / "happy" / "half.jpg"))
    code, _, err = cli(["evaluate", "--dataset", "folder", "--root", tmp_path / "data", "--model", ckpt,
                        "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, "half.jpg", "not a readable image")


# --- videos ------------------------------------------------------------------------------


def grey_clip(path: Path, n: int = 5) -> Path:
    return write_clip(path, [np.full((64, 64, 3), 90 + i, np.uint8) for i in range(n)])


def audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        st_ = out.add_stream("aac", rate=8000)
        fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        fr.sample_rate = 8000
        for pk in st_.encode(fr):
            out.mux(pk)
        for pk in st_.encode():
            out.mux(pk)
    return path


@pytest.mark.parametrize("name, make, needle", [
    ("cut.mp4", lambda p: cut(grey_clip(p)), "not a readable video"),  # MP4 index (moov) is at the end
    ("sound.mp4", audio_only, "no video stream"),
])
def test_predict_refuses_an_unopenable_video(ckpt, tmp_path, capsys, name, make, needle):
    make(tmp_path / name)
    code, _, err = cli(["predict", tmp_path / name, "--out", tmp_path / "o", "--model", ckpt, "--quiet"], capsys)
    assert_one_line_error(code, err, name, needle)


def test_video_whose_declared_frame_count_is_wrong(ckpt, tmp_path, capsys):
    clip = grey_clip(tmp_path / "liar.mp4", n=5)
    data = bytearray(clip.read_bytes())
    i = data.find(b"stts")  # time-to-sample box: (entry count, [sample count, delta]...)
    assert struct.unpack(">I", data[i + 8:i + 12]) == (1,)
    n, _ = struct.unpack(">II", data[i + 12:i + 20])
    assert n == 5
    data[i + 12:i + 16] = struct.pack(">I", 45)  # the container now announces 45 frames
    clip.write_bytes(bytes(data))
    code, out, err = cli(["predict", clip, "--out", tmp_path / "o", "--model", ckpt, "--quiet", "--abaw"], capsys)
    assert code == 0, err
    s = json.loads((tmp_path / "o" / "summaries" / "liar.mp4.json").read_text())
    assert s["frames_declared"] == 45 and s["frames_decoded"] == s["frames_processed"] == 5
    assert "no face found in 5 frame(s)" in out


# --- annotation, FER2013 and FER+ files through `wildfer evaluate` ------------------------


@pytest.mark.parametrize("labels, where, needle", [
    ([0, 9], "vid7.txt:3", "out of range"),
    (None, "vid7.txt:1", "missing header"),
])
def test_bad_affwild2_annotation_is_one_line(ckpt, tmp_path, capsys, labels, where, needle):
    ann, frames = tmp_path / "ann", tmp_path / "frames"
    write_video(ann, frames, "vid7", labels or [0, 1], frames=[1, 2])
    if labels is None:
        (ann / "vid7.txt").write_text("0\n1\n")
    code, _, err = cli(["evaluate", "--dataset", "affwild2", "--root", ann, "--frames", frames, "--model", ckpt,
                        "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, where, needle)


def test_fer2013_pixel_beyond_int64_is_a_counted_skip(tmp_path):
    huge = "3," + " ".join(["99999999999999999999999"] * 2304) + ",Training"
    write_fer(tmp_path, n_train=7, n_test=0, extra_lines=[huge], gz=False)
    d = read_fer2013(tmp_path)
    assert d.report.kept == 7 and dict(d.report.dropped) == {"non-numeric field": 1}


def test_truncated_fer2013_gzip_is_one_line(ckpt, tmp_path, capsys):
    root = write_fer(tmp_path / "fer", n_train=14, n_test=7, gz=True)
    cut(root / "fer2013.csv.gz", 0.6)
    code, _, err = cli(["evaluate", "--root", root, "--model", ckpt, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, "fer2013.csv.gz", "cannot read")


@pytest.mark.parametrize("edit, where, needle", [
    (lambda lines: lines + ["Training,,10,0,0,0,0,0,0,0,0,0"], "fer2013new.csv", "row position"),
    (lambda lines: lines[:-1], "fer2013new.csv", "row position"),
    (lambda lines: lines[:2] + ["Training,x.png,ten,0,0,0,0,0,0,0,0,0"] + lines[3:], "fer2013new.csv:3",
     "10 integer vote counts"),
    (lambda lines: ["Usage,Image name,a,b"] + lines[1:], "fer2013new.csv:1", "expected FER+ header"),
])
def test_bad_ferplus_file_is_one_line(ckpt, tmp_path, capsys, edit, where, needle):
    root = write_fer(tmp_path / "fer", n_train=7, n_test=7)
    votes = root / "fer2013new.csv"
    votes.write_text("\n".join(edit(votes.read_text().splitlines())) + "\n")
    code, _, err = cli(["evaluate", "--root", root, "--labels", "ferplus", "--model", ckpt,
                        "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, where, needle)


# --- checkpoints --------------------------------------------------------------------------


def _meta(**kw) -> WeightsMeta:
    base = dict(model="resnet18", labels="ferplus", label_names=list(FERPLUS.names), input_size=32, in_chans=1,
                mean=[0.5], std=[0.25])
    return WeightsMeta(**(base | kw))


def _lying(path: Path, num_classes: int = 8, in_chans: int = 1, **meta_kw) -> Path:
    """Tensors of a model with ``num_classes``/``in_chans`` under metadata that may claim otherwise."""
    model = create_model("resnet18", num_classes=num_classes, in_chans=in_chans, input_size=32)
    save_checkpoint(model, _meta(**meta_kw), path)
    return path


@pytest.mark.parametrize("make, needle", [
    (lambda p: _lying(p, num_classes=7), "metadata claims resnet18 for 8 labels (ferplus)"),  # FER2013 head
    (lambda p: _lying(p, in_chans=3), "shape mismatch for ['backbone.conv1.weight']"),  # RGB weights, grey metadata
    (lambda p: _lying(p, input_size="48px"), "input_size must be an integer"),
    (lambda p: _lying(p, input_size=0), "input_size must be an integer"),
    (lambda p: _lying(p, mean=[0.5, 0.5, 0.5]), "mean must list 1 number"),
    (lambda p: _lying(p, model="resnet9000"), "metadata names a model wildfer cannot build"),
    (lambda p: _lying(p, labels="emotions9"), "unknown label set 'emotions9'"),
    (lambda p: atomic_save(create_model("resnet18", 8, 1, 32).state_dict(), p), "without wildfer metadata"),
    (lambda p: atomic_save(create_model("resnet18", 8, 1, 32).state_dict(), p, {META_KEY: "[1, 2]"}),
     "bad wildfer metadata"),
    (lambda p: cut(_lying(p), 0.5), "not a safetensors checkpoint"),
    (lambda p: p.write_bytes(b""), "not a safetensors checkpoint"),
])
def test_checkpoint_that_does_not_fit_its_metadata_is_refused(tmp_path, capsys, make, needle):
    bad = tmp_path / "other.safetensors"
    make(bad)
    root = write_fer(tmp_path / "fer", n_train=7, n_test=7)
    code, _, err = cli(["evaluate", "--root", root, "--model", bad, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, "other.safetensors", needle)
    assert not (tmp_path / "o").exists()


def test_missing_shipped_model_says_reinstall(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(weights.SHIPPED, "default", tmp_path / "weights" / "default.safetensors")
    root = write_fer(tmp_path / "fer", n_train=7, n_test=7)
    code, _, err = cli(["evaluate", "--root", root, "--out", tmp_path / "o", "--backend", "torch"], capsys)  # --model default
    assert_one_line_error(code, err, "default.safetensors", "the shipped model 'default' is not installed (reinstall wildfer)")
    assert "not a safetensors checkpoint" not in err


# --- config -------------------------------------------------------------------------------


@pytest.mark.parametrize("data, needle", [
    (b"\xff\xfeo\x00p\x00", "not UTF-8"),
    (b"1: 2\nepochs: 3\n", "unknown key 1"),
    (b"~: 2\n", "unknown key None"),
])
def test_odd_yaml_is_one_line(tmp_path, capsys, data, needle):
    p = tmp_path / "recipe.yaml"
    p.write_bytes(data)
    code, _, err = cli(["train", p], capsys)
    assert_one_line_error(code, err, "recipe.yaml", needle)


# --- property-based: readers never crash on arbitrary text --------------------------------

TEXT = st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
FER_ROWS = st.lists(st.tuples(st.integers(-2, 9).map(str) | st.text(max_size=4),
                              st.lists(st.integers(-5, 300), max_size=5).map(lambda v: " ".join(map(str, v))),
                              st.sampled_from(["Training", "PublicTest", "", "x"])),
                    max_size=6).map(lambda rows: "emotion,pixels,Usage\n" + "\n".join(",".join(r) for r in rows))


def _write(d: str, name: str, text: str | bytes) -> Path:
    p = Path(d) / name
    p.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    return p


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(TEXT, FER_ROWS, st.binary(max_size=200)))
def test_fer2013_reader_returns_or_raises_data_error(text):
    with tempfile.TemporaryDirectory() as d:
        _write(d, "fer2013.csv", text)
        try:
            got = read_fer2013(d)
        except DataError as e:
            assert "fer2013.csv" in str(e)
        else:
            n = len(got.labels)
            assert got.images.shape == (n, 48, 48) and ((got.labels >= 0) & (got.labels < len(FER2013))).all()
            assert got.report.kept == n


@settings(max_examples=50, deadline=None)
@given(st.one_of(TEXT, st.lists(st.lists(st.integers(-3, 12).map(str) | st.text(max_size=3), max_size=13)
                                .map(",".join), max_size=5).map(lambda r: "\n".join([FERPLUS_HEADER] + r))),
       st.none() | st.integers(0, 5))
def test_ferplus_reader_returns_or_raises_data_error(text, n_rows):
    with tempfile.TemporaryDirectory() as d:
        _write(d, "fer2013new.csv", text)
        try:
            votes = read_ferplus_votes(d, n_rows=n_rows)
        except DataError as e:
            assert "fer2013new.csv" in str(e)
        else:
            assert votes.ndim == 2 and votes.shape[1] == 10 and (votes >= 0).all()


YAML_ISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
                            st.sampled_from(["epochs", "optim", "lr", "model", "name", "augment", "multires", "1"])
                            | st.text(max_size=5), kids, max_size=3), max_leaves=8)


@settings(max_examples=50, deadline=None)
@given(st.one_of(TEXT, YAML_ISH.map(lambda v: json.dumps(v)), st.binary(max_size=100)))
def test_config_loader_returns_or_raises_config_error(text):
    with tempfile.TemporaryDirectory() as d:
        p = _write(d, "r.yaml", text)
        try:
            load_config(p)
        except ConfigError as e:
            assert "r.yaml" in str(e)


# --- interrupted predict over many videos -------------------------------------------------


def face_video(path: Path, shift: int) -> Path:
    frames = [paste(np.full((240, 320, 3), 90, np.uint8), portrait(0.3), 10 + shift + 3 * i, 20) for i in range(4)]
    return write_clip(path, frames)


def test_predict_resume_after_sigkill_keeps_finished_videos(ckpt, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for k in range(4):
        face_video(videos / f"v{k}.mp4", 8 * k)
    # --batch-size 1: rows are flushed per frame, so the kill leaves partial rows of the next video
    args = [str(videos), "--model", str(ckpt), "--quiet", "--no-plots", "--abaw", "--detect-every", "2", "--batch-size", "1"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    code, _, err = cli(["predict", *args, "--out", ref], capsys)
    assert code == 0, err

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from wildfer.cli import main; sys.exit(main())",
                             "predict", *args, "--out", str(out)], env=env, stderr=subprocess.PIPE)
    done_dir, t_end = out / ".done", time.time() + 120
    while time.time() < t_end and proc.poll() is None and not (done_dir.is_dir() and any(done_dir.glob("*.json"))):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    finished = sorted(p.stem for p in done_dir.glob("*.json"))
    assert 1 <= len(finished) < 4  # killed part-way: some videos done, some not
    kept = {n: (out / "summaries" / f"{n}.mp4.json").stat().st_mtime_ns for n in finished}

    code, said, err = cli(["predict", *args, "--out", out, "--resume"], capsys)
    assert code == 0, err
    assert f"{len(finished)} source(s) finished by an earlier run were kept" in said
    assert {n: (out / "summaries" / f"{n}.mp4.json").stat().st_mtime_ns for n in finished} == kept  # not redone

    def table(folder: Path) -> list[tuple]:
        with open(folder / "predictions.csv") as f:
            return sorted(tuple(r) for r in csv.reader(f))

    assert table(out) == table(ref)  # no row lost, none duplicated
    assert (out / "abaw_predictions.txt").read_text() == (ref / "abaw_predictions.txt").read_text()
    # A run into the same folder without --resume is refused, one line, the folder as it was ...
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    code, said, err = cli(["predict", str(videos / "v0.mp4"), "--model", ckpt, "--quiet", "--no-plots",
                           "--out", out], capsys)
    assert_one_line_error(code, err, str(out), "holds another run's outputs")
    assert "--resume" in err and "--overwrite" in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    # ... and with --overwrite it starts over: the old run's files are gone, a file of the user's stays.
    (out / "notes.txt").write_text("mine\n")
    code, said, err = cli(["predict", str(videos / "v0.mp4"), "--model", ckpt, "--quiet", "--no-plots",
                           "--out", out, "--overwrite"], capsys)
    assert code == 0 and "earlier run" not in said, err
    assert sorted(p.stem for p in done_dir.glob("*.json")) == ["v0"]
    assert sorted(p.name for p in (out / "summaries").iterdir()) == ["v0.mp4.json"]
    assert not (out / "abaw").exists() and not (out / "abaw_predictions.txt").exists()  # this run wrote none
    assert (out / "notes.txt").read_text() == "mine\n"


# --- usage mistakes, through the installed console script ---------------------------------


# Needles hold what every allowed typer/click version says (the wording differs between them).
@pytest.mark.parametrize("args, needle", [
    (["predict", "a.jpg", "--ot", "o"], "--ot"),
    (["predict", "a.jpg"], "Missing option '--out'"),
    (["predcit", "a.jpg", "--out", "o"], "No such command 'predcit'"),
    (["predict", "a.jpg", "--out", "o", "--stride", "abc"], "Invalid value for '--stride'"),
    (["train"], "Missing argument"),
    (["predict", "a.jpg", "--out", "taken.txt"], "taken.txt: --out must be a folder, and this is a file"),
    (["split", "ann", "taken.txt"], "taken.txt/train: Not a directory"),  # an OSError naming the path
    # no suggestion unless one is close: click offered --out for --colour ("--" and "ou" in common)
    (["predict", "a.jpg", "--out", "o", "--colour"], "error: No such option: --colour (see 'wildfer predict --help')"),
    (["predict", "a.jpg", "--out", "o", "--stride", "0"], "error: --stride must be >= 1, got 0"),
    (["predict", "a.jpg", "--out", "o", "--stride", "-3"], "error: --stride must be >= 1, got -3"),
    (["predict", "a.jpg", "--out", "o", "--detect-every", "0"], "error: --detect-every must be >= 1, got 0"),
    (["predict", "a.jpg", "--out", "o", "--threads", "0"], "error: --threads must be >= 1, got 0"),
    (["predict", "a.jpg", "--out", "o", "--photo-min-face", "-1"], "error: --photo-min-face must be >= 0, got -1"),
    (["predict", "a.jpg", "--out", "o", "--resume", "--overwrite"], "--overwrite deletes them: give one"),
], ids=["unknown-flag", "missing-out", "mistyped-command", "stride-not-int", "missing-argument", "out-is-a-file",
        "split-into-a-file", "unknown-flag-far-from-all", "stride-0", "stride-negative", "detect-every-0", "threads-0",
        "photo-min-face-negative", "resume-and-overwrite"])
def test_usage_mistake_is_one_line_and_exit_2(tmp_path, args, needle):
    (tmp_path / "taken.txt").write_text("not a folder\n")
    Image.fromarray(portrait(0.3)).save(tmp_path / "a.jpg")
    (tmp_path / "ann").mkdir()
    for v in ("v1", "v2"):
        (tmp_path / "ann" / f"{v}.txt").write_text(ABAW7_HEADER + "\n0\n1\n")
    r = run_script(args, tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wildfer: error:") and needle in lines[0], r.stderr
    assert r.stdout == ""
    assert (tmp_path / "taken.txt").read_text() == "not a folder\n"


def test_predict_help_shows_flags_as_flags_every_choice_and_one_sentence_each(tmp_path):
    """``wildfer predict --help`` as the installed script prints it: a flag takes no value in the
    help (typer 0.29's rich help showed ``--annotate <bool>``), every model, detector and backend
    name is listed, and each option's help is one plain sentence."""
    from wildfer.detectors import list_detectors
    from wildfer.models.weights import SHIPPED
    from wildfer.pipeline.classify import BACKENDS

    r = run_script(["predict", "--help"], tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = r.stdout
    assert "<bool>" not in text
    assert text.splitlines()[0] == "Usage: wildfer predict [OPTIONS] [INPUT]..."  # many inputs, as click writes it
    assert "One or more videos, photos, folders or glob patterns to read (INPUT...)" in " ".join(text.split())
    helps: dict[str, str] = {}  # option (as its line begins) -> its help, wrapped lines joined
    for line in text.splitlines():
        if line.startswith("  -"):
            head, _, rest = line.strip().partition("  ")
            current = head
            helps[current] = rest.strip()
        elif line.startswith("      ") and helps:
            helps[current] += " " + line.strip()
    for flag in ("--annotate", "--abaw", "--quiet", "--resume", "--overwrite", "--demo", "--help"):
        assert flag in helps, (flag, sorted(helps))  # the flag alone, no value after it
    assert "--plots / --no-plots" in helps
    assert helps.get("--stride <int>") is not None and helps.get("--photo-max-side <int>") is not None
    assert all(name in helps["--model NAME|FILE"] for name in SHIPPED)
    for option in ("--detector NAME", "--check-detector NAME", "--photo-detector NAME"):
        assert all(name in helps[option] for name in list_detectors()), option
    assert "--backend " + "|".join(BACKENDS) in helps
    for option, help_text in helps.items():
        sentence = re.sub(r"\s*\[(default|required)[^\]]*\]", "", help_text).strip()  # click's own notes
        assert sentence.endswith(".") and sentence[0].isupper(), (option, sentence)
        assert ". " not in sentence, (option, sentence)  # one sentence


def test_bare_command_prints_help_and_version_prints_version(tmp_path):
    import wildfer

    r = run_script([], tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "Usage: wildfer" in r.stdout and "predict" in r.stdout
    r = run_script(["--version"], tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"wildfer {wildfer.__version__}\n", "")
