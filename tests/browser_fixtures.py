"""Debian's chromium, headless, driven by Selenium through Debian's chromium-driver (no browser
download): the browser of the page and report tests."""

from __future__ import annotations

import os
import shutil

import pytest


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
