"""Big messy folders (issue 27, items 5 and 6): a folder of real photos with a 0-byte, a cut and a
text ``.jpg`` among them goes through the installed ``wildfer predict`` whole: every readable photo
processed, each bad one named with its reason (stderr, closing line, report.html), exit 1; with
``--strict`` the first bad one stops the run. report.html's table of photos sorts and filters by
expression in headless chromium (no script in the page: radio buttons and CSS)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from pipeline_fixtures import SHARED, run_script

PHOTOS = SHARED / "faces" / "images"
N_GOOD = 14
BAD = {"cut.jpg": "not a readable image", "empty.jpg": "empty file (0 bytes)", "notes.jpg": "not a readable image"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    good = sorted(PHOTOS.glob("*.jpg"))[:N_GOOD]
    if len(good) < N_GOOD:
        pytest.skip(f"{PHOTOS} is absent (../shared is not on this machine)")
    d = tmp_path_factory.mktemp("big") / "photos"
    d.mkdir()
    for p in good:
        shutil.copy(p, d / p.name)
    data = good[0].read_bytes()
    (d / "cut.jpg").write_bytes(data[: len(data) // 3])  # a download cut off
    (d / "empty.jpg").write_bytes(b"")
    (d / "notes.jpg").write_text("not a photo\n")
    return d


@pytest.fixture(scope="module")
def run(folder):
    out = folder.parent / "out"
    r = run_script(["predict", folder, "--out", out, "--quiet", "--no-plots"], folder.parent)
    return r, out


def test_every_readable_photo_is_processed_and_each_bad_one_named(folder, run):
    r, out = run
    assert r.returncode == 1, r.stderr  # not 0: scripts can tell; not 2: the run was done
    with open(out / "predictions.csv", newline="") as f:
        sources = {Path(row["source"]).name for row in csv.DictReader(f)}
    good = {p.name for p in folder.iterdir()} - set(BAD)
    assert len(good) == N_GOOD and len(list((out / "summaries").iterdir())) == N_GOOD
    assert sources <= good and len(sources) >= N_GOOD - 3  # every readable photo ran (a few show no face)
    lines = r.stderr.strip().splitlines()
    for name, why in BAD.items():
        assert any(line.startswith(f"wildfer: warning: not read: {folder / name}: {why}") for line in lines), name
    assert lines[-1].startswith("wildfer: error: 3 input(s) could not be read, the rest are done (--resume ")
    assert f"{N_GOOD} photo(s)" in r.stdout and ", 3 failed;" in r.stdout.splitlines()[-1]
    report = (out / "report.html").read_text(encoding="utf-8")
    for name in BAD:
        assert f"{name}</a> failed: {folder / name}:" in report
    assert report.count('class="prow failed"') == 3


def test_strict_stops_at_the_first_bad_photo_before_any_work(folder, tmp_path):
    out = tmp_path / "out"
    r = run_script(["predict", folder, "--out", out, "--quiet", "--strict"], tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"wildfer: error: {folder / 'cut.jpg'}: not a readable image") and not out.exists()


def test_the_photo_table_sorts_and_filters_by_expression_in_a_browser(run):
    from browser_fixtures import browser

    drv = browser()
    from selenium.webdriver.common.by import By

    _, out = run
    rows = """return [...document.querySelectorAll(".ptable .prow:not(.head)")]
        .filter((r) => r.checkVisibility()).sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
        .map((r) => [r.querySelector("a.name").textContent, Number(r.children[1].textContent) || 0,
                     [...r.querySelectorAll(".chip")].map((c) => c.textContent), r.className]);"""
    try:
        drv.get((out / "report.html").as_uri())
        shown = drv.execute_script(rows)
        names = [s[0] for s in shown]  # input order, those that could not be read last
        assert len(shown) == N_GOOD + 3 and names == sorted(names[:N_GOOD]) + sorted(BAD)
        table_top = drv.execute_script('return document.querySelector(".ptable").getBoundingClientRect().top')
        first_card = drv.execute_script('return document.querySelector("section.source").getBoundingClientRect().top')
        assert table_top < first_card  # the table first, the cards behind it
        drv.find_element(By.CSS_SELECTOR, 'label[for="ps-faces"]').click()
        by_faces = [s[1] for s in drv.execute_script(rows)]
        assert by_faces == sorted(by_faces, reverse=True) and by_faces[0] >= 2
        label = drv.execute_script('return document.querySelector(\'label[for^="pf-c"]\').textContent')
        key = drv.execute_script('return document.querySelector(\'label[for^="pf-c"]\').htmlFor')
        drv.find_element(By.CSS_SELECTOR, f'label[for="{key}"]').click()
        only = drv.execute_script(rows)
        assert only and all(label in s[2] for s in only) and len(only) < N_GOOD + 3
        drv.find_element(By.CSS_SELECTOR, 'label[for="pf-failed"]').click()
        assert sorted(s[0] for s in drv.execute_script(rows)) == sorted(BAD)
    finally:
        drv.quit()
