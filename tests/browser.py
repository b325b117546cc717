"""Headless Chromium for tests (Debian packages chromium + chromium-driver)."""

from __future__ import annotations

import shutil

import pytest
from ci import on_ci


def chromium_driver(logs: bool = False):
    """A selenium Chrome driver on headless Chromium; skip if absent (fail in CI, see ci.on_ci).

    ``logs``: also record the console (``driver.get_log("browser")``) and the DevTools network
    events (``driver.get_log("performance")``), for tests that fail on any error or request."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        msg = "headless Chromium not installed (apt-get install chromium chromium-driver)"
        if on_ci():
            pytest.fail(msg + " - required under CI")
        pytest.skip(msg)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--window-size=1400,1000"):
        opts.add_argument(arg)
    if logs:
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)
