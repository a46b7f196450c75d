"""Live input: ``wildfer predict URL`` / ``--camera N`` and ``Recognizer.analyze_stream``. Debian's
ffmpeg streams a clip in real time (``-re``) to a loopback UDP port; wildfer reads it, rows appear
while it runs, and Ctrl-C or the stream's end leaves complete outputs. URLs that are not read,
and a camera that is not there, are one-line errors naming them as given."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import wildfer
from pipeline_fixtures import face_clip, ffmpeg
from serve_fixtures import free_port
from wildfer.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return face_clip(tmp_path_factory.mktemp("live") / "clip.mp4", n_face=40, n_empty=0)  # 4 s, 10 fps


def stream(clip: Path, port: int, loop: bool) -> subprocess.Popen:
    """ffmpeg sending ``clip`` in real time as MPEG-TS to udp://127.0.0.1:port (over and over with ``loop``)."""
    args = [ffmpeg(), "-nostdin", "-loglevel", "error", *(["-stream_loop", "-1"] if loop else []), "-re", "-i",
            str(clip), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-f", "mpegts",
            f"udp://127.0.0.1:{port}?pkt_size=1316"]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL)


class Predict:
    """``wildfer predict URL --out OUT`` as a process; ``ready`` is set once it reads the stream."""

    def __init__(self, url: str, out: Path, *args: str):
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen([sys.executable, "-m", "wildfer", "predict", url, "--out", str(out), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.ready, self.err = threading.Event(), []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.err.append(line)
            if "live: Ctrl-C stops" in line:
                self.ready.set()

    def wait(self, timeout: float = 300) -> tuple[int, str, str]:
        code = self.proc.wait(timeout)
        return code, self.proc.stdout.read(), "".join(self.err)


def rows(out: Path) -> list[list[str]]:
    try:
        with open(out / "predictions.csv", newline="") as f:
            return list(csv.reader(f))[1:]
    except FileNotFoundError:
        return []


def complete_outputs(out: Path, url: str, ended: str) -> dict:
    """Every output is there and whole: the CSV (each row complete), the summary with the live
    figures, the timeline plot, report.html with the stream's section."""
    table = list(csv.reader(open(out / "predictions.csv", newline="")))
    assert len(table) > 1 and all(len(r) == len(table[0]) for r in table)
    assert {r[0] for r in table[1:]} == {url}
    (summary,) = (out / "summaries").glob("*.json")
    s = json.loads(summary.read_text())
    live = s["live"]
    assert s["source"] == url and ended in live["ended"]
    assert live["frames_received"] == live["frames_processed"] + live["frames_skipped"]
    assert live["latency_s"]["frames"] == len(table) - 1 == s["frames_with_face"]
    # seconds; a sanity bound for a loaded machine (benchmarks/bench_live.py measures it: 0.27 s p50)
    assert 0 < live["latency_s"]["p50"] <= live["latency_s"]["p95"] < 5
    assert (out / "plots" / f"{summary.stem.removesuffix('.json')}.png").is_file()
    page = (out / "report.html").read_text()
    assert page.count('<section class="source"') == 1 and url in page
    return s


def test_udp_stream_rows_appear_while_it_runs_and_ctrl_c_writes_everything(clip, tmp_path):
    port, out = free_port(), tmp_path / "out"
    url = f"udp://127.0.0.1:{port}"
    run = Predict(url, out, "--stream-timeout", "5")
    sender = None
    try:
        assert run.ready.wait(400), "".join(run.err)
        sender = stream(clip, port, loop=True)
        t0 = time.monotonic()
        while not rows(out) and time.monotonic() - t0 < 120:
            time.sleep(0.1)
        first = len(rows(out))
        assert first > 0, "".join(run.err)
        t0 = time.monotonic()  # a face in every frame: rows keep coming, flushed, while it runs
        while len(rows(out)) < first + 5 and time.monotonic() - t0 < 60:
            time.sleep(0.1)
        assert len(rows(out)) >= first + 5
        run.proc.send_signal(signal.SIGINT)
        code, said, err = run.wait()
    finally:
        if sender is not None:
            sender.kill()
            sender.wait()
        if run.proc.poll() is None:
            run.proc.kill()
    assert code in (0, 130) and "Traceback" not in err, err
    s = complete_outputs(out, url, "stopped by Ctrl-C")
    assert f"live: {s['live']['frames_received']} frame(s) received" in said


def test_the_stream_s_end_writes_everything(clip, tmp_path):
    port, out = free_port(), tmp_path / "out"
    url = f"udp://127.0.0.1:{port}"
    run = Predict(url, out, "--stream-timeout", "2", "--abaw")
    try:
        assert run.ready.wait(400), "".join(run.err)
        sender = stream(clip, port, loop=False)
        assert sender.wait(60) == 0
        code, said, err = run.wait()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert code == 0 and "Traceback" not in err, err
    complete_outputs(out, url, "no frame for 2 s")
    assert (out / "abaw_predictions.txt").is_file()


def test_an_http_stream_read_to_its_end(clip, tmp_path):
    """ffmpeg as an HTTP server (``-listen 1``) on loopback: wildfer connects, reads it in real
    time, and stops when the server closes the stream."""
    port, out = free_port(), tmp_path / "out"
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([ffmpeg(), "-nostdin", "-loglevel", "quiet", "-re", "-i", str(clip), "-c:v", "libx264",
                               "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-f", "mpegts", "-listen",
                               "1", url], stdin=subprocess.DEVNULL)
    try:
        run = Predict(url, out, "--stream-timeout", "5")
        code, said, err = run.wait(120)
    finally:
        server.kill()
        server.wait()
    assert code == 0 and "Traceback" not in err, err
    complete_outputs(out, url, "the stream ended")


def test_analyze_stream_yields_frames_as_they_come(clip):
    ffmpeg()  # here, not in the sender's thread: a skip raised there would leave this test waiting for a stream
    port = free_port()
    rec = wildfer.Recognizer()
    results, sender = [], None

    def send_soon():  # the stream starts once analyze_stream listens (it opens the port)
        nonlocal sender
        time.sleep(1.0)
        sender = stream(clip, port, loop=True)

    threading.Thread(target=send_soon, daemon=True).start()
    try:
        t0 = time.monotonic()
        for r in rec.analyze_stream(f"udp://127.0.0.1:{port}"):
            results.append((time.monotonic(), r))
            if len(results) >= 15:
                break
    finally:
        if sender is not None:
            sender.kill()
            sender.wait()
    frames = [r.frame for _, r in results]
    assert frames == sorted(set(frames)) and sum(len(r.faces) == 1 for _, r in results) >= 12
    face = next(r.faces[0] for _, r in results if r.faces)
    assert isinstance(face, wildfer.Face) and face.label in rec.class_names and face.face_id == 0
    assert results[-1][0] - results[0][0] < 10 and time.monotonic() - t0 < 60
    assert not [t for t in threading.enumerate() if t.name == "wildfer-live"]  # the reading thread ended


# --- usage mistakes and URLs that are not read: one line naming them --------------------------------------

def one_line_error(args, capsys) -> str:
    assert main(["predict", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("wildfer: error: "), err
    return err


def test_urls_and_cameras_not_read_are_named_as_given(tmp_path, capsys, clip):
    out = str(tmp_path / "o")
    err = one_line_error(["ftp://example.com/a.mp4", "--out", out], capsys)
    assert "ftp://example.com/a.mp4: ftp:// URLs are not read" in err
    err = one_line_error(["http://127.0.0.1:1/a.jpg", "--out", out, "--quiet"], capsys)
    assert "http://127.0.0.1:1/a.jpg: cannot open the stream (ConnectionRefusedError" in err
    err = one_line_error(["rtsp://me:secret@127.0.0.1:1/cam", "--out", out, "--quiet"], capsys)
    assert "rtsp://me:***@127.0.0.1:1/cam: cannot open the stream" in err and "secret" not in err
    n = next(i for i in range(7, 64) if not Path(f"/dev/video{i}").exists())
    err = one_line_error(["--camera", str(n), "--out", out], capsys)
    assert f"camera {n} (/dev/video{n}): no such device" in err
    err = one_line_error(["udp://127.0.0.1:9", str(clip), "--out", out], capsys)
    assert "udp://127.0.0.1:9: a live stream is read alone" in err
    for flag in (["--annotate"], ["--resume"], ["--workers", "2"]):
        err = one_line_error(["udp://127.0.0.1:9", "--out", out, *flag], capsys)
        assert f"{flag[0]} needs video files; a live stream is read once" in err
    assert not Path(out).exists()  # nothing was started
    for url in ("https://example.com/a.jpg", "http://example.com/clip.mp4"):
        with pytest.raises(wildfer.WildferError, match=f"^{url}: a live stream or URL; Recognizer.analyze_stream"):
            wildfer.analyze(url)
    with pytest.raises(wildfer.WildferError, match=r"^ftp://example.com/a.jpg: ftp:// URLs are not read"):
        wildfer.analyze("ftp://example.com/a.jpg")
    with pytest.raises(wildfer.WildferError, match=f"camera {n} \\(/dev/video{n}\\): no such device"):
        wildfer.Recognizer().analyze_stream(n)
