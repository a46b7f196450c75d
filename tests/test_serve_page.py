"""The page of ``wildfer serve`` in a real browser: Debian's chromium, headless, driven by
Selenium through Debian's chromium-driver (no browser download). A person's steps: open the page
(with the token, once, in the address), drop photos (the file chooser), see each photo annotated
with a row per face; drop a video, see its progress, then its report."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

import wildfer
from browser_fixtures import browser
from pipeline_fixtures import SHARED, face_clip, paste, portrait
from serve_fixtures import TOKEN, Server

SHARED_PHOTO = SHARED / "faces" / "images" / "deepface_couple.jpg"  # two people, 2280x1588


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("page")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def page(server):
    drv = browser()
    drv.set_script_timeout(600)
    drv.get(f"{server.url}/?token={TOKEN}")
    yield drv
    drv.quit()


def photos(tmp_path):
    canvas = np.full((420, 700, 3), 235, np.uint8)
    paste(canvas, portrait(0.5), 20, 60)
    paste(canvas, portrait(0.4)[:, ::-1], 420, 100)
    Image.fromarray(canvas).save(tmp_path / "pair.jpg")
    out = [tmp_path / "pair.jpg"]
    if SHARED_PHOTO.is_file():
        out.append(SHARED_PHOTO)
    return out


def drop(page, paths) -> None:
    """Choose files as a person would in the page's file chooser (what a drop hands over too)."""
    from selenium.webdriver.common.by import By

    page.find_element(By.ID, "files").send_keys("\n".join(str(p.resolve()) for p in paths))


def wait_results(page, n: int, timeout: float = 600) -> list[dict]:
    """The page's results once ``n`` are shown and none is still working (the time-out is an
    upper bound for a loaded machine: a video job there can take minutes to start)."""
    from selenium.webdriver.support.ui import WebDriverWait

    probe = """return [...document.querySelectorAll("section.result")].map((s) => ({
        name: s.querySelector("h2").textContent, kind: s.dataset.kind, state: s.dataset.state,
        error: (s.querySelector(".error") || {}).textContent || null,
        faces: [...s.querySelectorAll("tr.face")].map((r) => [r.dataset.faceId, r.dataset.label]),
        images: [...s.querySelectorAll("img.annotated")].map((i) => [i.naturalWidth, i.naturalHeight,
                                                                     i.getBoundingClientRect().width]),
        boxes: [...s.querySelectorAll("svg.boxes rect")].length,
        players: [...s.querySelectorAll("video")].map((v) => [v.readyState, v.duration]),
        report: (s.querySelector("iframe.report") || {}).srcdoc || ""}));"""
    WebDriverWait(page, timeout, 0.2).until(
        lambda d: len(r := d.execute_script(probe)) >= n and all(x["state"] != "working" for x in r))
    return page.execute_script(probe)


def test_dropped_photos_show_their_faces(page, server, tmp_path):
    paths = photos(tmp_path)
    drop(page, paths)
    seen = {r["name"]: r for r in wait_results(page, len(paths))}
    assert set(seen) == {p.name for p in paths}
    for p in paths:
        r = seen[p.name]
        assert r["state"] == "done" and r["error"] is None, r
        want = wildfer.analyze(p)
        assert r["faces"] == [[str(f.face_id), f.label] for f in want] and len(want) >= 2
        ((w, h, shown),) = r["images"]  # the photo, decoded and laid out, its faces' boxes drawn over it
        assert (w, h) == Image.open(p).size and shown > 100 and r["boxes"] == len(want)
    # each photo analysed once (the boxes are drawn from its faces), and the browser asked for no icon
    log = server.read_log()
    assert log.count("POST /v1/analyze 200") == len(paths), log
    assert "favicon" not in log


def test_a_dropped_video_shows_its_report_with_one_working_player(page, tmp_path):
    clip = face_clip(tmp_path / "clip.mp4", n_face=6, n_empty=2)
    before = len(page.execute_script('return document.querySelectorAll("section.result")'))
    drop(page, [clip])
    (r,) = [x for x in wait_results(page, before + 1) if x["name"] == "clip.mp4"]
    assert r["kind"] == "video" and r["state"] == "done" and r["error"] is None, r
    assert '<section class="source"' in r["report"] and 'data-face-id="0"' in r["report"]
    assert "<video" not in r["report"] and "the annotated video plays above" in r["report"]  # no dead player
    ((ready, duration),) = r["players"]
    assert ready >= 1 and duration == pytest.approx(0.8, abs=0.15)  # the one above: its metadata read


def test_a_reload_shows_the_photos_analysed_and_every_job(page, server):
    """After the two tests above: the same tab reloaded (no token in the address now) shows the
    photos it analysed and the server's jobs, without analysing anything again."""
    before = {r["name"]: r for r in wait_results(page, 1)}
    posts = server.read_log().count("POST /v1/")
    page.refresh()
    after = {r["name"]: r for r in wait_results(page, len(before))}
    assert set(after) == set(before) and all(r["state"] == "done" for r in after.values()), after
    for name, r in after.items():
        assert r["faces"] == before[name]["faces"] and r["kind"] == before[name]["kind"], name
        if r["kind"] == "photo":
            ((w, h, shown),) = r["images"]  # the small copy the tab kept, boxes over it
            assert shown > 100 and r["boxes"] == len(r["faces"])
        else:
            assert 'data-face-id="0"' in r["report"] and r["players"][0][0] >= 1
    assert server.read_log().count("POST /v1/") == posts
