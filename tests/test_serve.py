"""``wildfer serve`` as a client sees it: a real uvicorn process on 127.0.0.1 (one for the whole
module), a real HTTP client (requests), real photos and clips. Every route, the token, the
limits, and more than 30 malformed uploads: each a 4xx with a JSON error, the server alive after,
nothing written outside ``--data``. (Jobs across a restart: tests/test_serve_jobs.py.)"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

import wildfer
from pipeline_fixtures import face_clip, paste, portrait
from serve_fixtures import TOKEN, Server, png_header_bomb, wav_bytes
from wildfer.cli import main

MAX_MB = 2


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve_media")
    canvas = np.full((420, 700, 3), 235, np.uint8)
    paste(canvas, portrait(0.5), 20, 60)
    paste(canvas, portrait(0.4)[:, ::-1], 420, 100)
    Image.fromarray(canvas).save(d / "pair.jpg", quality=92)
    Image.fromarray(portrait(0.4)).save(d / "one.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(d / "blank.ico")
    clip = face_clip(d / "clip.mp4", n_face=8, n_empty=2)
    return {"pair": d / "pair.jpg", "png": d / "one.png", "ico": d / "blank.ico", "clip": clip, "dir": d}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("serve"), "--max-upload-mb", str(MAX_MB), "--queue", "2",
               "--model", "default", "--model", "fast").start()
    yield s
    assert s.stop() == -15 and "Application shutdown complete" in s.read_log(), s.read_log()
    assert "Traceback" not in s.read_log(), s.read_log()


def files(name, data, ctype="application/octet-stream"):
    return {"file": (name, data, ctype)}


# --- every route ---------------------------------------------------------------------------------------

def test_analyze_gives_exactly_the_faces_of_the_python_api(server, media):
    for photo in (media["pair"], media["png"]):
        r = server.post("/v1/analyze", files=files(photo.name, photo.read_bytes(), "image/jpeg"))
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
        got = r.json()["faces"]
        # every field, every float, in the same order; source: the client's file name, never a server path
        want = [json.loads(json.dumps(dataclasses.asdict(f) | {"source": photo.name})) for f in wildfer.analyze(photo)]
        assert got == want and len(got) >= 1
    assert len(server.post("/v1/analyze", files=files("pair.jpg", media["pair"].read_bytes())).json()["faces"]) == 2


def test_analyze_annotate_returns_the_photo_with_its_faces_drawn(server, media):
    r = server.post("/v1/analyze?annotate=1", files=files("pair.jpg", media["pair"].read_bytes()))
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    drawn = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"), np.int16)
    orig = np.asarray(Image.open(media["pair"]).convert("RGB"), np.int16)
    assert drawn.shape == orig.shape
    for f in wildfer.analyze(media["pair"]):  # each box's top edge is drawn
        x0, y0, x1, _ = (int(v) for v in f.box)
        assert np.abs(drawn[y0, x0 + 5:x1 - 5] - orig[y0, x0 + 5:x1 - 5]).mean() > 30


def test_video_job_from_upload_to_outputs(server, media, tmp_path):
    r = server.post("/v1/videos?annotate=1", files=files("my clip.mp4", media["clip"].read_bytes(), "video/mp4"))
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}" and re.fullmatch(r"[0-9a-f]{32}", job["id"])
    assert job["state"] in ("queued", "running") and job["filename"] == "my clip.mp4" and job["frames_total"] == 10
    folder = server.data / "jobs" / job["id"]
    assert folder.is_dir() and (folder / "input.mp4").read_bytes() == media["clip"].read_bytes()
    early = server.get(f"/v1/jobs/{job['id']}/predictions.csv")
    assert early.status_code in (200, 409)  # 409 while it runs (unless it already finished)
    done = server.wait_job(job["id"])
    assert done["state"] == "done" and done["error"] is None, done
    assert done["frames_done"] == 10 and done["progress"] == 1.0 and done["attempts"] == 1 and done["errors"] == []
    # the same rows as `wildfer predict` on the same file; its source: the client's file name (a
    # label), where predict writes the path as given, and never the server's input.mp4
    assert main(["predict", str(media["clip"]), "--out", str(tmp_path / "ref"), "--quiet", "--no-plots"]) == 0
    ref = (tmp_path / "ref" / "predictions.csv").read_bytes().replace(f"{media['clip']},".encode(), b"my clip.mp4,")
    got = server.get(done["links"]["predictions.csv"])
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.content == ref and len(got.text.splitlines()) == 9  # 8 frames with a face
    summary = server.get(done["links"]["summary.json"]).json()
    assert summary["source"] == "my clip.mp4" and summary["frames_processed"] == 10
    report = server.get(done["links"]["report.html"])
    assert report.status_code == 200 and "default-src 'none'" in report.headers["content-security-policy"]
    assert '<section class="source"' in report.text and "<script" not in report.text
    assert "<h2>my clip.mp4</h2>" in report.text and "input.mp4</" not in report.text
    for link in re.findall(r'href="((?:plots|annotated)/[^"]+)"', report.text):  # report's links resolve
        assert server.get(f"/v1/jobs/{job['id']}/{link}").status_code == 200, link
    video = server.get(done["links"]["annotated.mp4"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4" and len(video.content) > 1000
    listed = server.get("/v1/jobs").json()["jobs"]
    assert [j["id"] for j in listed if j["id"] == job["id"]] and all(j["state"] in ("queued", "running", "done",
                                                                                   "failed") for j in listed)
    assert server.delete(f"/v1/jobs/{job['id']}").json() == {"id": job["id"], "deleted": True}
    assert server.get(f"/v1/jobs/{job['id']}").status_code == 404 and not folder.exists()
    assert server.delete(f"/v1/jobs/{job['id']}").status_code == 404


def test_page_health_and_openapi(server):
    page = server.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'type="file"' in html and "/v1/analyze" in html and "/v1/videos" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html) and "url(" not in html  # self-contained
    assert server.get("/healthz", auth=False).json()["ok"] is True
    spec = server.get("/openapi.json").json()
    assert {"/v1/analyze", "/v1/videos", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/report.html",
            "/v1/jobs/{job_id}/predictions.csv", "/v1/jobs/{job_id}/summary.json", "/healthz",
            "/"} <= set(spec["paths"])
    assert server.get("/docs").status_code == 200


def test_the_models_offered_are_listed_and_picked_by_query(server, media):
    listed = server.get("/v1/models").json()["models"]
    assert [(m["name"], m["default"]) for m in listed] == [("default", True), ("fast", False)]
    assert listed[1]["model"] == "fast-int8" and listed[1]["classes"] == wildfer.Recognizer(model="fast").class_names
    data = media["pair"].read_bytes()
    fast = server.post("/v1/analyze?model=fast", files=files("pair.jpg", data)).json()["faces"]
    want = [json.loads(json.dumps(dataclasses.asdict(f) | {"source": "pair.jpg"}))
            for f in wildfer.Recognizer(model="fast").analyze(media["pair"])]
    assert fast == want and fast != server.post("/v1/analyze", files=files("pair.jpg", data)).json()["faces"]
    r = server.post("/v1/videos?model=fast", files=files("clip.mp4", media["clip"].read_bytes()))
    assert r.status_code == 202 and r.json()["model"] == "fast"
    done = server.wait_job(r.json()["id"])
    assert done["state"] == "done" and server.get(done["links"]["summary.json"]).json()["model"] == "fast-int8"
    server.delete(f"/v1/jobs/{done['id']}")


def test_phone_photos_are_taken_upright_heic_included_and_48_megapixels_are_not_refused(server, media, tmp_path):
    from wildfer.images import ORIENTATION

    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways, shown upright: as a phone stores a portrait shot
    Image.open(media["pair"]).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "exif6.jpg", exif=exif, quality=95)
    Image.open(media["pair"]).save(tmp_path / "pair.heic")
    want = wildfer.analyze(media["pair"])
    for name in ("exif6.jpg", "pair.heic"):
        got = server.post("/v1/analyze", files=files(name, (tmp_path / name).read_bytes())).json()["faces"]
        assert len(got) == len(want) == 2, name
        assert np.abs(np.array([f["box"] for f in got]) - np.array([f.box for f in want])).max() < 6, name
    big = png_header_bomb(8000, 6000)  # 48 M pixels, a phone's full-resolution photo (all black)
    r = server.post("/v1/analyze", files=files("IMG_48MP.png", big))
    assert r.status_code == 200 and r.json() == {"faces": []}, r.text


def test_the_page_icon_needs_no_token_and_every_request_is_a_log_line(server):
    r = server.get("/favicon.ico", auth=False)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert server.get("/v1/jobs").status_code == 200
    server.get(f"/?token={TOKEN}", auth=False)
    log = server.read_log()
    assert re.search(r"INFO: 127\.0\.0\.1 GET /favicon\.ico 200 \d+ ms", log), log
    assert re.search(r"INFO: 127\.0\.0\.1 GET /v1/jobs 200 \d+ ms", log)
    assert TOKEN not in log  # the query, where a token may be, is never logged


# --- the token ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/v1/jobs", "/v1/models", "/v1/jobs/" + "0" * 32])
def test_every_route_but_healthz_and_the_page_needs_the_token(server, path):
    for headers in ({}, {"Authorization": "Bearer wrong-token-000"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        r = server.get(path, auth=False, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and "token" in r.json()["error"]
    assert server.get(path).status_code in (200, 404)


def test_token_protects_uploads_and_opens_the_page_once_by_query(server, media):
    r = server.post("/v1/analyze", auth=False, files=files("pair.jpg", media["pair"].read_bytes()))
    assert r.status_code == 401
    r = server.post("/v1/videos", auth=False, files=files("clip.mp4", media["clip"].read_bytes()))
    assert r.status_code == 401 and not list((server.data / "jobs").iterdir())
    # the page holds no data: it opens without the token (it asks for it, or takes it once from the
    # address) and sends it with its calls; the token in a query opens nothing else
    assert server.get(f"/?token={TOKEN}", auth=False).status_code == 200
    assert server.get("/", auth=False).status_code == 200
    assert server.get(f"/v1/jobs?token={TOKEN}", auth=False).status_code == 401


def test_a_non_local_host_needs_a_token(capsys, monkeypatch, tmp_path):
    from wildfer.serve.config import ServeConfig, resolve

    monkeypatch.delenv("WILDFER_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--data", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wildfer: error: --host 0.0.0.0 is reachable from other machines: give --token")
    assert len(err.splitlines()) == 1 and not (tmp_path / "d").exists()
    monkeypatch.setenv("WILDFER_TOKEN", "from-the-environment")
    assert resolve(ServeConfig(host="0.0.0.0")).token == "from-the-environment"
    assert resolve(ServeConfig(host="::1")).token == "from-the-environment"
    monkeypatch.delenv("WILDFER_TOKEN")
    assert resolve(ServeConfig(host="127.0.0.5")).token is None and resolve(ServeConfig(host="localhost")).token is None
    assert main(["serve", "--token", "short"]) == 2
    assert "--token must be at least 8" in capsys.readouterr().err


def test_a_port_in_use_is_a_one_line_error(server, capsys, tmp_path):
    assert main(["serve", "--port", str(server.port), "--data", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"wildfer: error: --host 127.0.0.1 --port {server.port}: cannot listen there "
                   "(Address already in use)"), err


# --- limits ---------------------------------------------------------------------------------------------

def test_photo_queue_bounded_503_and_all_else_answered(server, media):
    """--queue 2 and one model: at most 3 photos in the server; 10 at once get 200 or 503."""
    data = media["pair"].read_bytes()
    codes: list[int] = []

    def one():
        r = server.post("/v1/analyze", files=files("pair.jpg", data))
        codes.append(r.status_code)
        if r.status_code == 503:
            assert "try again later" in r.json()["error"] and r.headers["retry-after"] == "1"

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(codes)) == [200, 503] and codes.count(200) >= 3, codes
    assert server.alive()


# --- malformed uploads: each a 4xx with a JSON error, the server alive after ------------------------------

def _cases(media: dict) -> dict:
    jpeg, png, mp4 = media["pair"].read_bytes(), media["png"].read_bytes(), media["clip"].read_bytes()
    bomb = png_header_bomb(20_000, 20_000)
    boundary = "wildfer-test-boundary"

    def multipart(name: str, data: bytes) -> bytes:
        return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()

    def chunked(body: bytes):  # no Content-Length: the size is only known as it streams in
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    mp_type = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    big = os.urandom((MAX_MB + 1) * 1024 * 1024)
    A, V = "/v1/analyze", "/v1/videos"
    return {  # name: (route, requests kwargs, allowed statuses, a word of the reason)
        "zero-byte-photo": (A, {"files": files("empty.jpg", b"")}, {422}, "empty file (0 bytes)"),
        "zero-byte-video": (V, {"files": files("empty.mp4", b"")}, {422}, "empty file (0 bytes)"),
        "truncated-jpeg-half": (A, {"files": files("cut.jpg", jpeg[:len(jpeg) // 2])}, {422}, "not a readable image"),
        "truncated-jpeg-header": (A, {"files": files("cut.jpg", jpeg[:300])}, {422}, "not a readable image"),
        "jpeg-magic-only": (A, {"files": files("x.jpg", jpeg[:3])}, {422}, "not a readable image"),
        "truncated-png": (A, {"files": files("cut.png", png[:len(png) // 3])}, {422}, "not a readable image"),
        "truncated-mp4-half": (V, {"files": files("cut.mp4", mp4[:len(mp4) // 2])}, {422}, "not a readable video"),
        "truncated-mp4-head": (V, {"files": files("cut.mp4", mp4[:600])}, {422}, "not a readable video"),
        "bomb-png-20000x20000": (A, {"files": files("bomb.png", bomb)}, {413}, "pixels"),
        "bomb-png-annotate": (A + "?annotate=1", {"files": files("bomb.png", bomb)}, {413}, "pixels"),
        "bomb-png-to-videos": (V, {"files": files("bomb.png", bomb)}, {413, 415}, "bomb.png"),
        "json-body": (A, {"data": b'{"file": "x"}', "headers": {"Content-Type": "application/json"}}, {415},
                      "multipart/form-data"),
        "text-body": (A, {"data": jpeg, "headers": {"Content-Type": "text/plain"}}, {415}, "multipart/form-data"),
        "raw-jpeg-body": (A, {"data": jpeg, "headers": {"Content-Type": "image/jpeg"}}, {415}, "multipart/form-data"),
        "urlencoded-body": (V, {"data": {"file": "clip.mp4"}}, {415}, "multipart/form-data"),
        "no-content-type": (A, {"data": jpeg, "headers": {"Content-Type": ""}}, {415}, "multipart/form-data"),
        "video-to-photo-route": (A, {"files": files("clip.mp4", mp4, "image/jpeg")}, {415}, "POST it to /v1/videos"),
        "photo-to-video-route": (V, {"files": files("pair.jpg", jpeg, "video/mp4")}, {415}, "POST it to /v1/analyze"),
        "dotdot-name": (A, {"files": files("../../escape.jpg", jpeg)}, {422}, "holds a path"),
        "dotdot-name-video": (V, {"files": files("../../../escape.mp4", mp4)}, {422}, "holds a path"),
        "backslash-name": (A, {"files": files("..\\..\\escape.jpg", jpeg)}, {422}, "holds a path"),
        "absolute-name": (V, {"files": files("/tmp/escape.mp4", mp4)}, {422}, "holds a path"),
        "dotdot-alone": (A, {"files": files("..", jpeg)}, {422}, "holds a path"),
        "control-char-name": (A, {"files": files("a\x07b.jpg", jpeg)}, {422}, "control character"),
        "oversized-declared": (A, {"files": files("big.jpg", big)}, {413}, "limit of 2 MB"),
        "oversized-video": (V, {"files": files("big.mp4", big)}, {413}, "limit of 2 MB"),
        "oversized-chunked": (A, {"data": chunked(multipart("big.jpg", big)), "headers": mp_type}, {413},
                              "limit of 2 MB"),
        "no-file-field": (A, {"files": {"photo": ("pair.jpg", jpeg)}}, {422}, "field 'file'"),
        "form-field-not-file": (A, {"files": {"file": (None, b"just text")}}, {422}, "field 'file'"),
        "two-files": (A, {"files": [("file", ("a.jpg", jpeg)), ("file", ("b.jpg", jpeg))]}, {422}, "multipart"),
        "broken-multipart": (A, {"data": b"--nope\r\nContent-Disposition: form-data\r\n\r\nxx", "headers": mp_type},
                             {400, 422}, ""),
        "multipart-without-boundary": (A, {"data": jpeg, "headers": {"Content-Type": "multipart/form-data"}},
                                       {400, 422}, ""),
        # the type is read from the bytes: text is neither a photo nor a video, whatever its name says
        "text-named-jpg": (A, {"files": files("notes.jpg", b"not a photo\n" * 20)}, {415},
                           "notes.jpg: neither a photo nor a video (its bytes are of no format wildfer reads)"),
        "text-named-txt": (A, {"files": files("notes.txt", b"not a photo\n" * 20)}, {415},
                           "notes.txt: neither a photo nor a video (its bytes are of no format wildfer reads)"),
        "random-named-mp4": (V, {"files": files("noise.mp4", os.urandom(5000))}, {415}, "neither a photo nor a video"),
        "random-no-extension": (A, {"files": files("noise", os.urandom(5000))}, {415}, "neither a photo nor a video"),
        "ico-image": (A, {"files": files("blank.ico", media["ico"].read_bytes())}, {415}, "ICO images are not read"),
        "audio-named-mp4": (V, {"files": files("sound.mp4", wav_bytes())}, {415, 422}, "video"),
        "bad-annotate-value": (A + "?annotate=maybe", {"files": files("pair.jpg", jpeg)}, {422}, "annotate"),
        "misspelt-query-param": (A + "?anotate=1", {"files": files("pair.jpg", jpeg)}, {422},
                                 "unknown query parameter(s) anotate; POST /v1/analyze takes annotate, model"),
        "model-not-offered": (V + "?model=nosuch", {"files": files("clip.mp4", mp4)}, {422},
                              "model 'nosuch' is not offered by this server"),
        "job-id-traversal": ("/v1/jobs/..%2F..%2Fetc", None, {404}, ""),
        "job-id-not-hex": ("/v1/jobs/" + "g" * 32 + "/report.html", None, {404}, "no job"),
        "unknown-route": ("/v1/upload", {"files": files("pair.jpg", jpeg)}, {404}, ""),
        "wrong-method": ("/v1/jobs", {"files": files("pair.jpg", jpeg)}, {405}, ""),
    }


MALFORMED = ["zero-byte-photo", "zero-byte-video", "truncated-jpeg-half", "truncated-jpeg-header", "jpeg-magic-only",
             "truncated-png", "truncated-mp4-half", "truncated-mp4-head", "bomb-png-20000x20000", "bomb-png-annotate",
             "bomb-png-to-videos", "json-body", "text-body", "raw-jpeg-body", "urlencoded-body", "no-content-type",
             "video-to-photo-route", "photo-to-video-route", "dotdot-name", "dotdot-name-video", "backslash-name",
             "absolute-name", "dotdot-alone", "control-char-name", "oversized-declared", "oversized-video",
             "oversized-chunked", "no-file-field", "form-field-not-file", "two-files", "broken-multipart",
             "multipart-without-boundary", "text-named-jpg", "text-named-txt", "random-named-mp4",
             "random-no-extension", "ico-image", "audio-named-mp4", "bad-annotate-value", "misspelt-query-param",
             "model-not-offered", "job-id-traversal", "job-id-not-hex", "unknown-route", "wrong-method"]


@pytest.fixture(scope="module")
def cases(media):
    built = _cases(media)
    assert sorted(built) == sorted(MALFORMED) and len(built) >= 30
    return built


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_upload_is_a_4xx_with_a_json_error(server, cases, case):
    route, kwargs, allowed, needle = cases[case]
    if kwargs is None:
        r = server.get(route)
    else:
        r = server.post(route, **kwargs)
    assert r.status_code in allowed, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    reason = r.json()["error"]
    assert isinstance(reason, str) and reason and "\n" not in reason and needle in reason, reason
    assert "Traceback" not in reason and str(server.data) not in reason  # no server path in a reason
    assert server.alive()


def test_nothing_was_written_outside_data(server, media):
    """After every test above: the server's working folder and system temp folder are empty, the
    data folder holds only jobs/ and tmp/ (uploads are removed from tmp/ once answered), and no
    `escape.*` file exists anywhere the `../` names pointed."""
    assert server.alive()
    assert list(server.cwd.iterdir()) == [] and list(server.sys_tmp.iterdir()) == []
    assert sorted(p.name for p in server.data.iterdir()) == ["jobs", "tmp"]
    # every upload is gone once answered (what libraries leave in $TMPDIR, a dot file, is there too)
    assert [p.name for p in (server.data / "tmp").iterdir() if not p.name.startswith(".")] == []
    for d in (server.data, server.data.parent, server.data.parent.parent, Path("/tmp")):
        assert not list(d.glob("escape.*")), d
    for job in (server.data / "jobs").iterdir():  # only job folders, named by their id
        assert re.fullmatch(r"[0-9a-f]{32}", job.name) and (job / "job.json").is_file()


def test_the_server_modules_do_not_import_torch():
    """Inference is becoming torch-free: building the app imports FastAPI, not torch (the models
    load at start-up, through wildfer.Recognizer)."""
    import subprocess
    import sys

    code = ("import sys; from wildfer.serve.app import create_app; from wildfer.serve.config import ServeConfig; "
            "import wildfer.serve.runner; create_app(ServeConfig()); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}).stdout
    assert out.strip() == "False"
