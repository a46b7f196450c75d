"""``wildfer predict --workers N`` on real clips and a photo, with the shipped model and MTCNN:
the same outputs as one process, bad sources counted the same way, a killed run resumed."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline_fixtures import face_clip, paste, portrait, same_outputs, table, write_clip
from wildfer.cli import main

# --no-plots: matplotlib's import would cost each worker seconds and plots are tested elsewhere.
ARGS = ["--quiet", "--no-plots", "--abaw", "--detect-every", "2", "--batch-size", "4"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A clip of 6 frames, a photo, clips of 10 (two people) and 8 frames: longest-first order
    (c, d, a, b) differs from input order."""
    d = tmp_path_factory.mktemp("workers")
    Image.fromarray(portrait(0.5)).save(d / "b.jpg")
    sources = [face_clip(d / "a.mp4", n_face=5, n_empty=1), d / "b.jpg",
               face_clip(d / "c.mp4", n_face=8, n_empty=2, two=True), face_clip(d / "d.mp4", n_face=7, n_empty=1)]
    return {"dir": d, "sources": sources}


def run(args, capsys) -> tuple[int, str, str]:
    code = main(["predict", *(str(a) for a in args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def reference(media, tmp_path_factory):
    """One uninterrupted ``--workers 1`` run over the sources: (output folder, stdout)."""
    out = tmp_path_factory.mktemp("ref")
    buf = io.StringIO()  # capsys is per test; this fixture is shared by the module
    with contextlib.redirect_stdout(buf):
        code = main(["predict", *map(str, media["sources"]), "--out", str(out), *ARGS, "--workers", "1"])
    assert code == 0
    return out, buf.getvalue()


def test_two_workers_write_what_one_writes(media, reference, tmp_path, capsys):
    ref, ref_out = reference
    code, out, err = run([*media["sources"], "--out", tmp_path, *ARGS, "--workers", "2"], capsys)
    assert code == 0, err
    same_outputs(ref, tmp_path)
    rows = (tmp_path / "predictions.csv").read_text().splitlines()[1:]
    sources = [r.split(",")[0] for r in rows]
    assert sources == sorted(sources) and set(sources) == {str(p) for p in media["sources"]}  # input order, not finishing order
    assert table(out) == table(ref_out)
    assert sorted(p.stem for p in (tmp_path / ".done").glob("*.json")) == ["a", "b", "c", "d"]


def test_bad_sources_are_counted_and_reported_as_with_one_process(media, tmp_path, capsys, monkeypatch):
    """A video whose middle is zeros (rows up to the damage, noted) and one replaced by garbage
    after the up-front check (as when a file changes during a long run: no rows, failed, exit 1)."""
    import wildfer.runners.run as run_mod

    d = tmp_path / "in"
    d.mkdir()
    frames = [paste(np.full((240, 320, 3), 90, np.uint8), portrait(0.3), 20 + i, 20) for i in range(16)]
    data = write_clip(d / "cut.mp4", frames).read_bytes()
    n = len(data) // 3  # the index (moov) at the end survives, so the file opens; decoding breaks off
    (d / "cut.mp4").write_bytes(data[:n] + bytes(n) + data[2 * n:])
    probe = run_mod.probe

    def probe_then_spoil(src):
        n = probe(src)
        if src.path.name == "gone.mp4":
            src.path.write_text("no longer a video\n" * 50)
        return n

    monkeypatch.setattr(run_mod, "probe", probe_then_spoil)
    results = {}
    for workers in (1, 2):
        shutil.copy(media["sources"][0], d / "gone.mp4")
        out = tmp_path / f"w{workers}"
        inputs = [media["sources"][0], d / "gone.mp4", d / "cut.mp4", media["sources"][1]]
        results[workers] = run([*inputs, "--out", out, *ARGS, "--workers", workers], capsys)
    (c1, o1, e1), (c2, o2, e2) = results[1], results[2]
    assert c1 == c2 == 1  # done, but not everything was read: scripts can tell it from success (0)
    assert e1 == e2 and "Traceback" not in e2
    warning, failed, error = e2.strip().splitlines()  # the video that decoded short, the failed one, the count
    assert warning.startswith(f"wildfer: warning: {d / 'cut.mp4'}: decoding stopped after ")
    assert failed.startswith(f"wildfer: warning: not read: {d / 'gone.mp4'}: not a readable video")
    assert error.startswith("wildfer: error: 1 input(s) could not be read, the rest are done") and "gone.mp4" in error
    assert table(o1) == table(o2)
    assert "gone.mp4" in o2 and "failed: " in o2 and "decoding stopped after" in o2
    assert "from 3 source(s), 1 face(s) in 1 photo(s) (0 without a face), 1 cut short (decoding stopped early), 1 failed;" \
        in o2.strip().splitlines()[-1]
    w1, w2 = tmp_path / "w1", tmp_path / "w2"
    assert (w1 / "predictions.csv").read_bytes() == (w2 / "predictions.csv").read_bytes()
    names = {r.split(",")[0] for r in (w2 / "predictions.csv").read_text().splitlines()[1:]}
    assert names == {str(media["sources"][0]), str(d / "cut.mp4"), str(media["sources"][1])}  # the failed one: no row
    assert sorted(p.stem for p in (w2 / ".done").glob("*.json")) == ["a", "b", "cut"]  # --resume retries gone

    # Unreadable already at the start: named, the other processed, exit 1; with --strict one line
    # naming the file before any work (exit 2), workers or not.
    for workers in (1, 2):
        code, said, err = run([media["sources"][0], d / "gone.mp4", "--out", tmp_path / f"x{workers}", *ARGS,
                               "--workers", workers], capsys)
        assert code == 1 and f"not read: {d / 'gone.mp4'}: not a readable video" in err and "1 failed" in said
        code, _, err = run([media["sources"][0], d / "gone.mp4", "--out", tmp_path / f"s{workers}", *ARGS,
                            "--workers", workers, "--strict"], capsys)
        assert code == 2 and "gone.mp4: not a readable video" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / f"s{workers}").exists()


def test_killed_run_resumes_to_the_uninterrupted_result(media, reference, tmp_path, capsys):
    ref, _ = reference
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    # A session of its own, so that SIGKILL reaches the parent, the fork server and the workers.
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from wildfer.cli import main; sys.exit(main())",
                             "predict", *map(str, media["sources"]), "--out", str(out), *ARGS, "--workers", "2"],
                            env=env, stderr=subprocess.PIPE, start_new_session=True)
    done_dir, t_end = out / ".done", time.time() + 120
    while time.time() < t_end and proc.poll() is None and not (done_dir.is_dir() and any(done_dir.glob("*.json"))):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    finished = sorted(p.stem for p in done_dir.glob("*.json"))
    assert 1 <= len(finished) < 4  # killed part-way
    # Rows are copied in strictly in input order: predictions.csv holds a prefix of a, b, c, d, and
    # the other finished sources' rows wait in their parts. (Longest first, c and d start and a
    # has not finished when the first marker appears, so usually nothing is copied in yet.)
    merged = list(dict.fromkeys(r.split(",")[0] for r in (out / "predictions.csv").read_text().splitlines()[1:]))
    assert merged == ["a", "b", "c", "d"][:len(merged)] and set(merged) <= set(finished)
    assert all((out / ".parts" / f"{n}.csv").is_file() for n in set(finished) - set(merged))
    shutil.copytree(out, tmp_path / "out1")

    def summary_times(folder: Path) -> dict[str, int]:
        return {n: next((folder / "summaries").glob(f"{n}.*.json")).stat().st_mtime_ns for n in finished}

    kept = summary_times(out)
    for folder, workers in ((out, 2), (tmp_path / "out1", 1)):  # resume with workers or without
        code, said, err = run([*media["sources"], "--out", folder, *ARGS, "--workers", workers, "--resume"], capsys)
        assert code == 0, err
        assert f"{len(finished)} source(s) finished by an earlier run were kept" in said
        assert f"from {4 - len(finished)} source(s)" in said  # only the others were processed
        assert summary_times(folder) == kept  # finished sources not redone
        same_outputs(ref, folder)
