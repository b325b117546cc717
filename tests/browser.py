"""Headless Chromium for tests (Debian packages chromium + chromium-driver)."""

from __future__ import annotations

import shutil

import pytest
from ci import on_ci


def chromium_driver():
    """A selenium Chrome driver on headless Chromium; skip if absent (fail in CI, see ci.on_ci)."""
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
    return webdriver.Chrome(service=Service(driver), options=opts)
