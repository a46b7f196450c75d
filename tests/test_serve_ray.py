"""``wildfer serve --ray local`` on a real local Ray cluster: video jobs go through
``predict --ray`` and give the rows of one process."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

from pipeline_fixtures import face_clip
from serve_fixtures import Server, post_video
from wildfer.cli import main


def test_ray_sends_video_jobs_through_predict_ray(tmp_path):
    """--ray local: the server starts one local Ray cluster, and each job's ``predict --ray``
    joins it; the rows are those of one process."""
    pytest.importorskip("ray", reason="the ray extra is not installed")
    clip = face_clip(tmp_path / "short.mp4", n_face=6, n_empty=2)
    s = Server(tmp_path, "--ray", "local", own_tmpdir=False).start(timeout=400)
    done = s.wait_job(post_video(s, clip)["id"])
    assert done["state"] == "done", done
    assert main(["predict", str(clip), "--out", str(tmp_path / "ref"), "--quiet", "--no-plots"]) == 0
    # the job's rows name the video by the client's file name (a label), where predict writes the path
    ref = (tmp_path / "ref" / "predictions.csv").read_bytes().replace(f"{clip},".encode(), b"short.mp4,")
    assert s.get(done["links"]["predictions.csv"]).content == ref
    log = (s.data / "jobs" / done["id"] / "runner.log").read_text()
    assert s.stop() == -15 and "Traceback" not in s.read_log() + log, s.read_log() + log
