"""The page of ``wildfer serve`` in a real browser: Debian's chromium, headless, driven by
Selenium through Debian's chromium-driver (no browser download). A person's steps: open the page
(with the token, once, in the address), drop photos (the file chooser), see each photo annotated
with a row per face; drop a video, see its progress, then its report."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

import wildfer
from pipeline_fixtures import SHARED, face_clip, paste, portrait
from serve_fixtures import TOKEN, Server

SHARED_PHOTO = SHARED / "faces" / "images" / "deepface_couple.jpg"  # two people, 2280x1588


def browser():
    """Headless chromium under chromedriver, or a skip (a failure under .ci/run) if either is missing."""
    exe, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if exe is None or driver is None:
        if os.environ.get("WILDFER_REQUIRE_CHROMIUM"):
            pytest.fail("WILDFER_REQUIRE_CHROMIUM is set (.ci/run) but chromium or chromium-driver is missing")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never fetch a driver, use this one
    opts = webdriver.ChromeOptions()
    opts.binary_location = exe
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--window-size=1200,1000"):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver))


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
        report: (s.querySelector("iframe.report") || {}).srcdoc || ""}));"""
    WebDriverWait(page, timeout, 0.2).until(
        lambda d: len(r := d.execute_script(probe)) >= n and all(x["state"] != "working" for x in r))
    return page.execute_script(probe)


def test_dropped_photos_show_their_faces(page, tmp_path):
    paths = photos(tmp_path)
    drop(page, paths)
    seen = {r["name"]: r for r in wait_results(page, len(paths))}
    assert set(seen) == {p.name for p in paths}
    for p in paths:
        r = seen[p.name]
        assert r["state"] == "done" and r["error"] is None, r
        want = wildfer.analyze(p)
        assert r["faces"] == [[str(f.face_id), f.label] for f in want] and len(want) >= 2
        ((w, h, shown),) = r["images"]  # the annotated photo, decoded and laid out
        assert (w, h) == Image.open(p).size and shown > 100


def test_a_dropped_video_shows_its_report(page, tmp_path):
    clip = face_clip(tmp_path / "clip.mp4", n_face=6, n_empty=2)
    before = len(page.execute_script('return document.querySelectorAll("section.result")'))
    drop(page, [clip])
    (r,) = [x for x in wait_results(page, before + 1) if x["name"] == "clip.mp4"]
    assert r["kind"] == "video" and r["state"] == "done" and r["error"] is None, r
    assert '<section class="source"' in r["report"] and 'data-face-id="0"' in r["report"]
