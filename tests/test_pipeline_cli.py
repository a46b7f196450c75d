"""``wildfer predict`` / ``wildfer preprocess`` end to end on real files written in tmp folders."""

from __future__ import annotations

import csv
import json
from html import escape
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline_fixtures import SHARED_VIDEOS, face_clip, faststart_clip, paste, portrait, run_script, tiny_checkpoint
from wildfer.cli import main
from wildfer.labels import ABAW8, FERPLUS
from wildfer.outputs.results import FIXED_COLUMNS


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    clip = face_clip(d / "two.mp4", n_face=6, n_empty=3, two=True)
    rgba = np.zeros((300, 260, 4), np.uint8)
    rgba[..., :3] = np.asarray(Image.fromarray(portrait()).resize((260, 300)))
    rgba[20:280, 10:250, 3] = 255  # opaque face, transparent frame around it
    Image.fromarray(rgba, "RGBA").save(d / "alpha.png")
    Image.fromarray(portrait(0.5)).convert("L").save(d / "bw.jpg")
    Image.fromarray(np.full((200, 300, 3), 30, np.uint8)).save(d / "empty.jpg")
    return {"model": tiny_checkpoint(d / "tiny.safetensors"), "clip": clip, "dir": d}


def rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path) as f:
        r = csv.DictReader(f)
        return r.fieldnames, list(r)


def run(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predict_video_and_photos_writes_every_output(media, tmp_path, capsys, monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("wildfer predict tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)  # nothing may be downloaded
    d = media["dir"]
    code, out, err = run(["predict", media["clip"], d / "alpha.png", d / "bw.jpg", "--out", tmp_path,
                          "--model", media["model"], "--detect-every", "2", "--smooth", "0.3", "--abaw",
                          "--annotate", "--quiet"], capsys)
    assert code == 0, err
    header, data = rows(tmp_path / "predictions.csv")
    assert header == FIXED_COLUMNS + [f"p_{c}" for c in FERPLUS.names] + ["detection_score"]
    # ``source`` is the path as given on the command line, extension included.
    assert {r["source"] for r in data} == {str(media["clip"]), str(d / "alpha.png"), str(d / "bw.jpg")}
    video = [r for r in data if r["source"] == str(media["clip"])]
    assert sorted({int(r["frame"]) for r in video}) == list(range(6))  # frames 6-8 have no face
    assert len(video) == 12
    # Two people with stable ids: face 0 stays on the left, face 1 on the right.
    for r in video:
        assert (float(r["x0"]) < 160) == (r["face_id"] == "0")
    for r in data:
        p = np.array([float(r[f"p_{c}"]) for c in FERPLUS.names])
        # the label is the arg-max of the unrounded probabilities: a tie at 4 decimals may go either way
        assert abs(p.sum() - 1) < 1e-3 and p[FERPLUS.names.index(r["label"])] == p.max()
        assert 0.5 <= float(r["detection_score"]) <= 1  # the detector's confidence in a face it kept
    photos = [r for r in data if r["source"] != str(media["clip"])]
    assert all(r["frame"] == "0" and r["time_s"] == "0.000" for r in photos)

    s = json.loads((tmp_path / "summaries" / "two.mp4.json").read_text())
    assert (s["frames_decoded"], s["frames_with_face"], s["frames_without_face"]) == (9, 6, 3)
    assert [p["frames"] for p in s["people"]] == [6, 6]
    assert abs(sum(s["people"][0]["share"].values()) - 1) < 1e-3
    assert (tmp_path / "plots" / "two.png").read_bytes()[:4] == b"\x89PNG"

    abaw = (tmp_path / "abaw" / "two.txt").read_text().splitlines()
    assert abaw[0] == ",".join(ABAW8.names) and len(abaw) == 1 + 9
    assert abaw[7:] == [abaw[6]] * 3  # no-face frames take the nearest labelled frame's label
    single = (tmp_path / "abaw_predictions.txt").read_text().splitlines()
    assert single[0] == "image_location," + ",".join(ABAW8.names)
    assert single[1].startswith("two/00001.jpg,") and len(single) == 1 + 9  # the 2nd person: < 1 s, no file

    with av.open(str(tmp_path / "annotated" / "two.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 9
    assert "two.mp4" in out and "alpha.png" in out and "3 of 9 processed frames without a face" in out


def test_no_face_anywhere_is_an_empty_result_not_an_error(media, tmp_path, capsys):
    code, out, err = run(["predict", media["dir"] / "empty.jpg", "--out", tmp_path, "--model", media["model"],
                          "--quiet"], capsys)
    assert code == 0, err
    header, data = rows(tmp_path / "predictions.csv")
    assert header[:10] == FIXED_COLUMNS and data == []
    assert "no face found" in out


def test_outputs_join_back_to_the_inputs_as_given(media, tmp_path, capsys):
    """``source`` is the path as given, so a.jpg and a.png stay apart and match their summaries;
    a video without any face still gets its ABAW file (Neutral throughout)."""
    from pipeline_fixtures import write_clip

    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(portrait(0.5)).save(d / "a.jpg")
    Image.fromarray(portrait(0.4)[:, ::-1]).save(d / "a.png")
    blank = write_clip(d / "blank.mp4", [np.full((120, 160, 3), 40 + 10 * i, np.uint8) for i in range(5)])
    out = tmp_path / "out"
    code, said, err = run(["predict", d / "a.jpg", d / "a.png", blank, "--out", out, "--model", media["model"],
                           "--abaw", "--quiet", "--no-plots"], capsys)
    assert code == 0, err
    _, data = rows(out / "predictions.csv")
    assert {r["source"] for r in data} == {str(d / "a.jpg"), str(d / "a.png")}
    for name in ("a.jpg", "a.png"):
        summary = json.loads((out / "summaries" / f"{name}.json").read_text())
        mine = [r for r in data if r["source"] == summary["source"]]
        assert len(mine) == sum(p["frames"] for p in summary["people"]) >= 1
    assert "a.jpg" in said and "a.png" in said
    lines = (out / "abaw" / "blank.txt").read_text().splitlines()
    assert lines == [",".join(ABAW8.names)] + ["0"] * 5
    single = (out / "abaw_predictions.txt").read_text().splitlines()
    assert single[1:] == [f"blank/{i:05d}.jpg,0" for i in range(1, 6)]


def test_bad_input_is_one_line_and_exit_2(media, tmp_path, capsys):
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 50)
    (tmp_path / "text.jpg").write_text("not a photo\n")
    cases = [(tmp_path / "missing.mov", "no such file"), (tmp_path / "zero.mp4", "empty file"),
             (tmp_path / "text.mp4", "not a readable video"), (tmp_path / "text.jpg", "not a readable image")]
    for path, msg in cases:
        code, out, err = run(["predict", path, "--out", tmp_path / "o", "--model", media["model"], "--quiet"], capsys)
        assert code == 2 and msg in err and path.name in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1
    code, _, err = run(["predict", media["clip"], "--out", tmp_path / "o", "--model", tmp_path / "no.safetensors"], capsys)
    assert code == 2 and "no.safetensors" in err


def test_truncated_video_keeps_what_decodes_and_says_so(media, tmp_path, capsys):
    """A video cut off mid-stream keeps the rows of the frames that decode (MPEG-TS; MP4 with its
    index in front, as web videos are). The MP4 announces its 20 frames, so it says that decoding
    stopped short of them: on stderr, in its summary, in the table and on report.html (MPEG-TS
    announces no count). A whole clip says nothing."""
    from pipeline_fixtures import write_clip

    rng = np.random.default_rng(0)  # noisy frames: every frame's data is large, so a cut lands mid-stream
    frames = [paste(np.clip(rng.normal(90, 20, (240, 320, 3)), 0, 255).astype(np.uint8), portrait(0.3), 20 + 3 * i, 20)
              for i in range(20)]
    whole = write_clip(tmp_path / "whole.mp4", frames)
    cuts = []
    for full in (write_clip(tmp_path / "full.ts", frames), faststart_clip(tmp_path / "full.mp4", frames)):
        cut = tmp_path / f"cut{full.suffix}"
        cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
        cuts.append(cut)
    out = tmp_path / "o"
    code, said, err = run(["predict", *cuts, whole, "--out", out, "--model", media["model"], "--quiet"], capsys)
    assert code == 0, err
    page = (out / "report.html").read_text(encoding="utf-8")
    _, data = rows(out / "predictions.csv")
    for cut in cuts:
        s = json.loads((out / "summaries" / f"{cut.name}.json").read_text())
        assert 0 < s["frames_decoded"] < 20 and s["frames_processed"] == s["frames_decoded"]
        assert len([r for r in data if r["source"] == str(cut)]) == s["frames_with_face"] > 0
    s = json.loads((out / "summaries" / "cut.mp4.json").read_text())
    assert s["frames_declared"] == 20
    warning = s["decode_warning"]
    assert warning.startswith(f"decoding stopped after {s['frames_decoded']} of the 20 frames the file announces (")
    assert f"wildfer: warning: {cuts[1]}: {warning}" in err.splitlines()
    assert f"note: {warning}" in said and page.count(escape(warning)) == 2  # atop the page, and in its section
    s = json.loads((out / "summaries" / "whole.mp4.json").read_text())
    assert (s["frames_declared"], s["frames_decoded"], s["decode_warning"]) == (20, 20, None)
    assert "whole.mp4" not in err


@pytest.mark.shared_data
def test_the_issue_s_cut_download_is_warned_about(media, tmp_path, capsys):
    """issue 20's case: the first 200,000 bytes of WolfgangLanger_Pexels.mp4 (472 frames)."""
    clip = SHARED_VIDEOS / "WolfgangLanger_Pexels.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} is absent (../shared/data is not on this machine)")
    cut = tmp_path / "trunc.mp4"
    cut.write_bytes(clip.read_bytes()[:200_000])
    code, said, err = run(["predict", cut, "--out", tmp_path / "o", "--model", media["model"], "--quiet",
                           "--no-plots", "--detect-every", "10"], capsys)
    assert code == 0, err
    s = json.loads((tmp_path / "o" / "summaries" / "trunc.mp4.json").read_text())
    assert s["frames_declared"] == 472 and 0 < s["frames_decoded"] < 100
    assert err.startswith(f"wildfer: warning: {cut}: decoding stopped after {s['frames_decoded']} of the 472 frames")


def _sound(path: Path) -> tuple[str, np.ndarray, float]:
    """The first audio stream of ``path``: codec, samples as mono float32 at its rate, and that rate."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        codec, rate = a.codec_context.codec.canonical_name, a.codec_context.sample_rate
        parts, t0 = [], None
        for f in c.decode(a):
            t0 = float(f.pts * f.time_base) if t0 is None and f.pts is not None else t0
            parts.append(f.to_ndarray().astype(np.float32).reshape(len(f.layout.channels), -1).mean(0))
    x = np.concatenate(parts)
    x = x / 32768 if np.abs(x).max() > 2 else x  # s16 as floats
    return codec, np.concatenate([np.zeros(round((t0 or 0) * rate), np.float32), x]), rate


@pytest.mark.parametrize("name, codec, kept, start", [("aac.mp4", "aac", "aac", 0.5), ("pcm.mkv", "pcm_s16le", "aac", 0.0)],
                         ids=["copied", "re-encoded"])
def test_annotated_video_keeps_the_sound_in_place(media, tmp_path, capsys, name, codec, kept, start):
    """The annotated MP4 has the source's sound: copied (AAC) or re-encoded as AAC (PCM, which MP4
    does not hold), lasting as long as the pictures, a 440 Hz beep where it was relative to them
    (the first clip's pictures start 0.5 s into the file: the beep moves 0.5 s earlier)."""
    from pipeline_fixtures import SOUND_RATE, write_clip

    t = np.arange(2 * SOUND_RATE) / SOUND_RATE
    beep = (0.5 * np.sin(2 * np.pi * 440 * t) * ((t >= 0.8) & (t < 1.2))).astype(np.float32)
    frames = [paste(np.full((160, 192, 3), 90, np.uint8), portrait(0.2), 20 + i, 10) for i in range(20 - int(start * 10))]
    clip = write_clip(tmp_path / name, frames, sound=beep, audio_codec=codec, video_start_s=start)
    out = tmp_path / "out"
    code, _, err = run(["predict", clip, "--out", out, "--model", media["model"], "--annotate", "--quiet",
                        "--no-plots"], capsys)
    assert code == 0, err
    got, x, rate = _sound(out / "annotated" / f"{Path(name).stem}.mp4")
    assert got == kept
    with av.open(str(out / "annotated" / f"{Path(name).stem}.mp4")) as c:
        pictures = sum(1 for _ in c.decode(video=0)) / 10
    assert abs(len(x) / rate - pictures) < 0.1  # as long as the pictures (2 s, or 1.5 s from the offset)
    loud = np.flatnonzero(np.abs(x) > 0.1)
    assert abs(loud[0] / rate - (0.8 - start)) < 0.07 and abs(loud[-1] / rate - (1.2 - start)) < 0.07
    seg = x[loud[0]:loud[-1]]
    spectrum = np.abs(np.fft.rfft(seg))
    assert abs(np.argmax(spectrum) * rate / len(seg) - 440) < 10  # the beep itself, not noise


def test_progress_counts_sources_in_plain_lines_off_a_terminal(media, tmp_path, capsys):
    """stderr is not a terminal here (captured): progress comes as plain lines, no carriage
    return, counting photos; on a terminal it is a bar with the same count."""
    import io

    from wildfer.runners.progress import Progress

    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        Image.fromarray(portrait(0.3 + 0.05 * i)).save(d / f"p{i}.jpg")
    code, said, err = run(["predict", d, "--out", tmp_path / "o", "--model", media["model"], "--no-plots"], capsys)
    assert code == 0, err
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("wildfer: 1/3 photos, ") and lines[-1].startswith("wildfer: 3/3 photos, ")
    tty = io.StringIO()
    bar = Progress(106, "photos", stream=tty, tty=True)
    for _ in range(12):
        bar.advance()
    bar.close()
    assert "\r" in tty.getvalue() and "12/106 photos" in tty.getvalue()


def test_table_names_are_cut_with_an_ellipsis_and_never_alike(media, tmp_path, capsys):
    """Long names lose their middle (an ellipsis says so), never so that two read the same, and
    same-named files in two folders show their paths."""
    from wildfer.outputs.console import NAME_WIDTH, table_names

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    long = "a_very_long_photo_name_from_a_camera_export_"
    paths = [tmp_path / f"{long}0001.jpg", tmp_path / f"{long}0002.jpg", tmp_path / "a" / "x.jpg",
             tmp_path / "b" / "x.jpg"]
    for p in paths:
        Image.fromarray(portrait(0.3)).save(p)
    code, said, err = run(["predict", *paths, "--out", tmp_path / "o", "--model", media["model"], "--quiet"], capsys)
    assert code == 0, err
    shown = table_names(paths)
    assert len(set(shown)) == 4 and all(len(n) <= NAME_WIDTH for n in shown[:2]) and all("…" in n for n in shown[:2])
    assert shown[0].endswith("0001.jpg") and shown[2].endswith("/a/x.jpg") and shown[3].endswith("/b/x.jpg")
    for name in shown:
        assert any(line.startswith(name + " ") for line in said.splitlines()), name
    # names that would be alike once cut keep their whole length
    twins = [tmp_path / ("x" * 30 + "1" + "y" * 30 + ".jpg"), tmp_path / ("x" * 30 + "2" + "y" * 30 + ".jpg")]
    assert table_names(twins) == [p.name for p in twins]


def test_photo_detection_flags_reach_the_detector(media, tmp_path, capsys):
    """--photo-min-face and --photo-max-side, once only in report.html's settings, are flags."""
    Image.fromarray(portrait(0.5)).save(tmp_path / "face.jpg")
    found = {}
    for args in ([], ["--photo-min-face", "400"], ["--photo-max-side", "0"]):
        out = tmp_path / ("o" + "".join(args))
        code, said, err = run(["predict", tmp_path / "face.jpg", "--out", out, "--model", media["model"], "--quiet",
                               *args], capsys)
        assert code == 0, err
        found[tuple(args)] = len(json.loads((out / "summaries" / "face.jpg.json").read_text())["people"])
        page = (out / "report.html").read_text(encoding="utf-8")
        if args:
            assert f'<td>{args[0]}</td><td class="changed">{args[1]}</td>' in page  # the flag that set it
        # the model as asked for, and as it ran
        assert f'<td>--model</td><td class="changed">{media["model"]} (ran as {media["model"]}, torch, float32)' in page
    assert found == {(): 1, ("--photo-min-face", "400"): 0, ("--photo-max-side", "0"): 1}


def test_preprocess_writes_aligned_112px_frames_with_gaps(media, tmp_path, capsys):
    code, out, err = run(["preprocess", media["clip"], tmp_path, "--quiet"], capsys)
    assert code == 0, err
    folder = tmp_path / "cropped_aligned" / "two"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{i:05d}.jpg" for i in range(1, 7)]  # frames 7-9 have no face: no file
    with Image.open(folder / "00001.jpg") as im:
        assert im.size == (112, 112) and im.mode == "RGB"
    assert "two.mp4: 9 frames" in out
    # stderr to a log (a pipe here): the progress as plain lines, never a bar's carriage returns
    r = run_script(["preprocess", media["clip"], tmp_path / "again"], tmp_path)
    assert r.returncode == 0 and "\r" not in r.stderr and "wildfer: two 9/9 frames, " in r.stderr, r.stderr


def test_pipeline_never_imports_training_code():
    import subprocess
    import sys

    code = "import sys, wildfer.runners.run, wildfer.runners.preprocess; print(any(m.startswith('wildfer.train') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_demo_runs_on_the_shipped_sample_photo(media, tmp_path, capsys):
    code, out, err = run(["predict", "--demo", "--out", tmp_path, "--model", media["model"], "--quiet",
                          "--detect-every", "10", "--no-plots"], capsys)
    assert code == 0, err
    s = json.loads((tmp_path / "summaries" / "demo.mp4.json").read_text())
    assert len(s["people"]) == 2 and s["frames_without_face"] == 25


@pytest.mark.shared_data
@pytest.mark.parametrize("name,decoded", [("no_face.mp4", 95), ("face_noface.mov", 169), ("noface_face.mov", 169)])
def test_odd_real_clips(media, tmp_path, capsys, name, decoded):
    clip = SHARED_VIDEOS / name
    if not clip.is_file():
        pytest.skip(f"{clip} is absent (../shared/data is not on this machine)")
    code, out, err = run(["predict", clip, "--out", tmp_path, "--model", media["model"], "--quiet", "--stride", "12",
                          "--detect-every", "1", "--abaw"], capsys)
    assert code == 0, err
    s = json.loads((tmp_path / "summaries" / f"{name}.json").read_text())
    assert s["frames_decoded"] == decoded and s["frames_processed"] == -(-decoded // 12)
    faced = sorted({p["first_frame"] for p in s["people"]})
    lines = (tmp_path / "abaw" / f"{Path(name).stem}.txt").read_text().splitlines()
    assert len(lines) == 1 + decoded  # every decoded frame, whatever the metadata says (no_face.mp4: 98)
    # no_face.mp4 announces 98 frames, 3 of them an edit list's pre-roll (marked discarded): no warning
    assert s["decode_warning"] is None and s["frames_discarded"] == (3 if name == "no_face.mp4" else 0)
    assert err == ""
    if name == "no_face.mp4":
        assert s["people"] == [] and "no face found" in out
        assert lines[1:] == ["0"] * decoded  # no face at all: Neutral throughout, still one file
    else:
        assert s["people"] and 0 < s["frames_without_face"] < s["frames_processed"]
        main_person = s["people"][0]
        if name == "face_noface.mov":
            assert main_person["first_frame"] == 0 and main_person["last_frame"] < decoded - 12
        else:
            assert faced[0] > 0 and main_person["last_frame"] >= 12 * ((decoded - 1) // 12) - 12  # to the end


# The child runs the real console entry point, with the pipeline held after its third frame until
# a signal arrives: the interruption lands mid-video by construction, however fast the machine.
HELD = """
import faulthandler, signal, sys, time
import wildfer.runners.serial as serial
# Ctrl-C as a terminal delivers it: a SIGINT ignored by the test runner's environment would be
# inherited and make this process deaf to it. SIGUSR1 dumps every thread's stack (see the test).
signal.signal(signal.SIGINT, signal.default_int_handler)
faulthandler.register(signal.SIGUSR1)
flag, frames = sys.argv.pop(1), serial.iter_frames

def held(*args, **kwargs):
    for i, ff in enumerate(frames(*args, **kwargs)):
        yield ff
        if i == 2:
            open(flag, "w").close()
            while True:
                time.sleep(0.05)

serial.iter_frames = held
from wildfer.cli import main
sys.exit(main())
"""


def test_ctrl_c_exits_130_with_one_line(media, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from pipeline_fixtures import write_clip

    big = portrait(0.3)
    clip = write_clip(tmp_path / "long.mp4", [paste(np.full((240, 320, 3), 90, np.uint8), big, 10 + i % 60, 20)
                                              for i in range(30)])
    out, flag = tmp_path / "out", tmp_path / "held"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    proc = subprocess.Popen([sys.executable, "-c", HELD, str(flag), "predict", str(clip), "--out", str(out),
                             "--model", str(media["model"]), "--quiet", "--no-plots", "--batch-size", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t_end = time.time() + 120
    while time.time() < t_end and proc.poll() is None and not flag.exists():
        time.sleep(0.02)
    assert flag.exists(), proc.communicate()[1]  # held mid-video, waiting for the signal
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # where it hangs, then the failure shows it
        time.sleep(2)
        proc.kill()
        pytest.fail("no exit 60 s after Ctrl-C; its threads:\n" + proc.communicate()[1][-6000:])
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["wildfer: interrupted; what was finished is kept: run the same command "
                                           "with --resume to do the rest"]
    rows = (out / "predictions.csv").read_text().splitlines()
    assert 1 < len(rows) <= 1 + 3  # the rows of the frames before the hold, and no more
    assert not (out / "summaries").exists() and not (out / ".done").exists()
    again = [str(clip), "--out", str(out), "--model", str(media["model"]), "--quiet", "--no-plots", "--resume"]
    r = run_script(["predict", *again], tmp_path)
    assert r.returncode == 0 and "long.mp4" in r.stdout and (out / ".done").is_dir(), r.stderr
    # a finished run resumed says so, instead of an empty table
    r = run_script(["predict", *again], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(
        f"nothing to do: all 1 source(s) were finished by an earlier run into {out}, whose outputs are kept"), r.stdout
    assert "source " not in r.stdout  # no table header
