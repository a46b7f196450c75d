"""Video jobs of ``wildfer serve`` across failures, on real uvicorn processes sharing one
``--data``: a server killed (SIGKILL) mid-job resumes the job when it starts again and gives the
rows ``wildfer predict`` gives; finished jobs stay listed; a job whose own process is killed
fails with the reason; the queue is bounded; DELETE stops a running job; a graceful stop
(SIGTERM) hands the running job to the next start."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

import numpy as np

from pipeline_fixtures import face_clip, paste, portrait, write_clip
from serve_fixtures import Server, job_processes, post_video
from wildfer.cli import main


def pacing_clip(path, n: int):
    """``n`` frames (10 fps) of the portrait walking left and right, 4 px a frame."""
    face, frames = portrait(0.3), []
    for i in range(n):
        canvas = np.full((240, 320, 3), 90, np.uint8)
        frames.append(paste(canvas, face, 10 + abs((4 * i) % 240 - 120), 20))
    return write_clip(path, frames)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("job_clips")
    return {"short": face_clip(d / "short.mp4", n_face=6, n_empty=2), "long": pacing_clip(d / "long.mp4", 180)}


def running(job: dict) -> bool:
    return job["state"] == "running" and job["frames_done"] > 0


def gone(pids: list[int], timeout: float = 10) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not any(os.path.exists(f"/proc/{p}") and "Z" not in open(f"/proc/{p}/stat").read().split()[2]
                   for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_a_killed_server_resumes_its_job_and_keeps_finished_ones(clips, tmp_path):
    a = Server(tmp_path, "--queue", "2").start()
    first = a.wait_job(post_video(a, clips["short"])["id"])
    assert first["state"] == "done"
    job = post_video(a, clips["long"])
    folder = a.data / "jobs" / job["id"]
    a.wait_job(job["id"], until=running)
    pids = job_processes(folder)
    assert len(pids) == 1
    a.proc.send_signal(signal.SIGKILL)  # no shutdown of any kind
    a.proc.wait(30)
    assert gone(pids), "the job's process outlived its server"
    b = Server(tmp_path, "--queue", "2").start()
    listed = {j["id"]: j for j in b.get("/v1/jobs").json()["jobs"]}
    assert listed[first["id"]]["state"] == "done"  # finished before the kill: still there, outputs too
    assert b.get(first["links"]["predictions.csv"]).status_code == 200
    assert listed[job["id"]]["state"] in ("queued", "running") and "interrupted" in listed[job["id"]]["note"]
    done = b.wait_job(job["id"])
    assert done["state"] == "done" and done["attempts"] == 2 and done["frames_done"] == 180, done
    assert main(["predict", str(clips["long"]), "--out", str(tmp_path / "ref"), "--quiet", "--no-plots"]) == 0
    # the job's rows name the video by the client's file name (a label), where predict writes the path
    ref = (tmp_path / "ref" / "predictions.csv").read_bytes().replace(f"{clips['long']},".encode(),
                                                                      f"{clips['long'].name},".encode())
    assert b.get(done["links"]["predictions.csv"]).content == ref  # every row, once
    assert b.get(done["links"]["report.html"]).status_code == 200
    assert b.stop() == -15 and "Traceback" not in b.read_log(), b.read_log()


def test_killed_job_fails_with_its_reason_queue_bounds_delete_stops_and_sigterm_hands_over(clips, tmp_path):
    s = Server(tmp_path, "--queue", "2").start()
    job = post_video(s, clips["long"])
    s.wait_job(job["id"], until=running)
    (pid,) = job_processes(s.data / "jobs" / job["id"])
    os.kill(pid, signal.SIGKILL)
    failed = s.wait_job(job["id"])
    assert failed["state"] == "failed" and "was killed by signal 9 before it finished" in failed["error"]
    assert failed["errors"] == [failed["error"]]
    assert s.get(f"/v1/jobs/{job['id']}/predictions.csv").status_code == 409

    # one running, two waiting (--queue 2): the next is refused, with nothing left behind
    ids = [post_video(s, clips["long"])["id"] for _ in range(3)]
    before = set(os.listdir(s.data / "jobs"))
    r = s.post("/v1/videos", files={"file": ("long.mp4", clips["long"].read_bytes())})
    assert r.status_code == 503 and "waiting already" in r.json()["error"] and r.headers["retry-after"] == "10"
    assert set(os.listdir(s.data / "jobs")) == before
    first = s.wait_job(ids[0], until=running)
    pids = job_processes(s.data / "jobs" / first["id"])
    assert s.delete(f"/v1/jobs/{ids[0]}").json()["deleted"] is True
    assert gone(pids) and not (s.data / "jobs" / ids[0]).exists()
    assert s.delete(f"/v1/jobs/{ids[2]}").status_code == 200  # a queued one
    nxt = s.wait_job(ids[1], until=running)  # the freed worker takes the next
    assert nxt["attempts"] == 1

    # SIGTERM: the running job stops and waits for the next start (not counted as an attempt)
    assert s.stop() == -15 and "Application shutdown complete" in s.read_log()
    t = Server(tmp_path, "--queue", "2").start()
    done = t.wait_job(ids[1])
    assert done["state"] == "done" and done["attempts"] == 1 and done["frames_done"] == 180, done
    assert {j["id"] for j in t.get("/v1/jobs").json()["jobs"]} == {job["id"], ids[1]}
    assert t.stop() == -15 and "Traceback" not in t.read_log(), t.read_log()

