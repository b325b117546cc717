"""The site map in headless Chromium with the network off: no failed request and no console
error, every layer toggles (the screenshot changes, and changes back), a click on a plot opens
its popup with the plot's mean NDVI from zonal/ndvi.csv, the species layer has its legend."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aopflow.publish.sitemap import format_value, write_site_map
from browser import chromium_driver
from publish_fixtures import PLOTS, make_run

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site_map(tmp_path_factory):
    root = tmp_path_factory.mktemp("map") / "results" / "SITE" / "2024"
    inputs = make_run(root, species=True)
    html = write_site_map(inputs=inputs, root=root, html_path=root / "map.html", site="SITE",
                          year=2024, id_column="plotID", tiles_csv=root / "tiles.csv",
                          categorical=["species"], catalog=root / "stac/catalog.json")
    return root, html


@pytest.fixture(scope="module")
def page(site_map):
    root, html = site_map
    driver = chromium_driver(logs=True)
    try:
        # Network off for the page: any request beyond the file itself fails (and is caught).
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        driver.get(html.as_uri())
        wait_for(driver, "return !!(window.aopflowMap && window.aopflowMap.map)")
        time.sleep(0.5)
        yield driver, root
    finally:
        driver.quit()


def wait_for(driver, script, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script(script):
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def screenshot(driver) -> np.ndarray:
    png = driver.find_element("id", "map").screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def network_events(driver) -> list[dict]:
    return [json.loads(e["message"])["message"] for e in driver.get_log("performance")]


def page_problems(driver, page_url: str) -> dict[str, list]:
    """What went wrong since the last call: failed loads, requests beyond the page and data:
    URIs, console errors (the logs are drained by reading them)."""
    events = network_events(driver)
    requests = [e["params"]["request"]["url"] for e in events
                if e["method"] == "Network.requestWillBeSent"]
    assert requests, "the performance log recorded nothing: the check would be empty"
    return {
        "failed": [e["params"] for e in events if e["method"] == "Network.loadingFailed"],
        "outside": [u for u in requests if not u.startswith("data:") and u != page_url],
        "errors": [e for e in driver.get_log("browser") if e["level"] == "SEVERE"],
    }


def test_no_failed_request_and_no_console_error(page):
    driver, root = page
    problems = page_problems(driver, (root / "map.html").as_uri())
    assert problems == {"failed": [], "outside": [], "errors": []}, problems


def test_the_check_sees_a_request_and_an_error(page, tmp_path):
    """The same check on a copy of the map that asks for a remote image and logs an error."""
    driver, root = page
    bad = tmp_path / "bad.html"
    bad.write_text((root / "map.html").read_text().replace(
        "<body>", '<body><img src="https://tile.example.org/0/0/0.png">'
                  "<script>console.error('boom')</script>", 1))
    driver.get(bad.as_uri())
    wait_for(driver, "return !!(window.aopflowMap && window.aopflowMap.map)")
    time.sleep(0.5)
    problems = page_problems(driver, bad.as_uri())
    driver.get((root / "map.html").as_uri())  # back to the map for the next tests
    wait_for(driver, "return !!(window.aopflowMap && window.aopflowMap.map)")
    time.sleep(0.5)
    page_problems(driver, (root / "map.html").as_uri())
    assert problems["failed"] and problems["outside"] == ["https://tile.example.org/0/0/0.png"]
    assert any("boom" in e["message"] for e in problems["errors"])


def test_every_layer_toggles(page):
    driver, root = page
    labels = driver.find_elements("css selector", ".leaflet-control-layers-overlays label")
    names = [l.text.strip() for l in labels]
    assert {"rgb", "ndvi", "sam", "wqi", "species", "Sentinel-2 ndvi median", "ndvi (20 m)",
            "Tile grid", "Plots"} <= set(names), names
    # With the Sentinel-2 median (it covers the whole site) on, every other layer turned on
    # must still show: the layer turned on last is drawn on top.
    rasters = [l for l in labels if l.text.strip() not in ("Tile grid", "Plots")]
    shown = [l for l in rasters if l.find_element("css selector", "input").is_selected()]
    assert [l.text.strip() for l in shown] == ["rgb"]  # the map opens on the RGB
    shown[0].find_element("css selector", "input").click()
    cover = labels[names.index("Sentinel-2 ndvi median")].find_element("css selector", "input")
    cover.click()
    time.sleep(0.3)
    for label in labels:
        box = label.find_element("css selector", "input")
        before = screenshot(driver)
        box.click()
        time.sleep(0.3)
        toggled = screenshot(driver)
        box.click()
        time.sleep(0.3)
        back = screenshot(driver)
        changed = np.any(before != toggled, axis=-1).mean()
        # A raster covers the site (a large part of the map); the vectors are lines and discs.
        least = 0.001 if label.text.strip() in ("Tile grid", "Plots") else 0.05
        assert changed > least, f"layer {label.text!r}: {changed:.4%} of the pixels changed"
        assert np.any(back != toggled), f"layer {label.text!r}: did not toggle back"
    cover.click()
    shown[0].find_element("css selector", "input").click()


def test_species_legend_from_its_class_table(page):
    driver, root = page
    label = next(l for l in driver.find_elements("css selector",
                                                 ".leaflet-control-layers-overlays label")
                 if l.text.strip() == "species")
    label.find_element("css selector", "input").click()
    try:
        time.sleep(0.3)
        legend = driver.find_element("css selector", ".aopflow-legend").text
        table = pd.read_csv(root / "mosaic/species_classes.csv")
        for code, name in zip(table["code"], table["label"]):
            assert f"{code}: {name}" in legend, legend
    finally:
        label.find_element("css selector", "input").click()


def test_click_on_a_plot_shows_its_mean_ndvi(page):
    from selenium.webdriver.common.action_chains import ActionChains

    driver, root = page
    ndvi = pd.read_csv(root / "zonal/ndvi.csv", dtype={"plotID": str}).set_index("plotID")
    mapel = driver.find_element("id", "map")
    for plot in PLOTS:
        x, y = driver.execute_script(
            """const m = window.aopflowMap;
               let p = null;
               m.plots.eachLayer(l => { if (l.feature.properties.plotID === arguments[0]) p = l; });
               const c = m.map.latLngToContainerPoint(p.getBounds().getCenter());
               return [c.x, c.y];""", plot)
        size = mapel.size
        ActionChains(driver).move_to_element_with_offset(
            mapel, int(x - size["width"] / 2), int(y - size["height"] / 2)).click().perform()
        wait_for(driver, "const p = document.querySelector('.leaflet-popup-content');"
                         f"return p !== null && p.textContent.includes('plotID {plot}')")
        popup = driver.find_element("css selector", ".leaflet-popup-content")
        cell = popup.find_element("css selector",
                                  'tr[data-raster="ndvi"][data-stat="mean"] td:last-child')
        # The statistics table scrolls inside the popup (max-height 40vh): scroll the row into
        # view as a person would; Selenium's text is the visible text only.
        driver.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", cell)
        assert cell.text == format_value(float(ndvi.loc[plot, "mean"]))
        assert popup.find_elements("css selector", "svg.spark polyline")  # S2 NDVI sparkline
        driver.execute_script("window.aopflowMap.map.closePopup()")
        wait_for(driver, "return document.querySelector('.leaflet-popup-content') === null")
