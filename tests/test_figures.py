"""aopflow.stages.figures: the figures show what the rasters hold (colours, legends, stretch)."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from affine import Affine
from matplotlib.colors import to_rgb

from aopflow.stages import figures

T = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4100000.0)


def colour_mask(png, hex_colour: str, tol: float = 0.02) -> np.ndarray:
    """Pixels of an RGB(A) PNG image with (almost exactly) this colour."""
    return np.all(np.abs(png[..., :3] - np.array(to_rgb(hex_colour))) < tol, axis=-1)


@pytest.fixture
def legends(monkeypatch):
    """Legend labels of every figure saved during the test (the real _save still writes)."""
    seen: list[list[str]] = []
    save = figures._save

    def recording_save(fig, path):
        seen.append([t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()])
        return save(fig, path)

    monkeypatch.setattr(figures, "_save", recording_save)
    return seen


def test_wqi_stop_light_colours_where_the_classes_are(write_tif, tmp_path):
    # West half code 1 (green), east half code 3 (red), a no-data band along the north edge.
    wqi = np.ones((40, 40), dtype=np.uint8)
    wqi[:, 20:] = 3
    wqi[:5] = 0
    tif = write_tif(tmp_path / "wqi.tif", wqi, transform=T, nodata=0)
    png = matplotlib.image.imread(figures.wqi_figure(tif, tmp_path / "wqi.png"))
    green = colour_mask(png, figures.WQI_COLORS[1][0])
    yellow = colour_mask(png, figures.WQI_COLORS[2][0])
    red = colour_mask(png, figures.WQI_COLORS[3][0])
    # The map: as many green as red pixels (equal halves), green west of red; yellow only
    # in its legend patch.
    assert green.sum() > 2000 and red.sum() > 2000
    assert abs(green.sum() - red.sum()) / red.sum() < 0.1
    assert np.nonzero(green)[1].mean() < np.nonzero(red)[1].mean()
    assert yellow.sum() < 0.05 * green.sum()
    # The 5 no-data rows of 40 are not painted: the same map without them has 40/35 the green.
    wqi[:5, :20], wqi[:5, 20:] = 1, 3
    tif = write_tif(tmp_path / "wqi_full.tif", wqi, transform=T, nodata=0)
    full = matplotlib.image.imread(figures.wqi_figure(tif, tmp_path / "wqi_full.png"))
    ratio = colour_mask(full, figures.WQI_COLORS[1][0]).sum() / green.sum()
    assert ratio == pytest.approx(40 / 35, rel=0.03)


def test_class_map_legend_names_the_classes(write_tif, tmp_path, legends):
    cls = np.zeros((30, 30), dtype=np.uint8)
    cls[:, 10:20], cls[:, 20:] = 1, 2
    cls[0, 0] = 255
    tif = write_tif(tmp_path / "sam.tif", cls, transform=T, nodata=255)
    png = matplotlib.image.imread(figures.class_figure(tif, tmp_path / "sam.png", "SAM", ["soil", "water"]))
    assert legends == [["0: unclassified", "1: soil", "2: water"]]
    # Class 1 and 2 in their colours, in equal areas, 1 west of 2.
    c1 = colour_mask(png, figures.CLASS_COLORS[0])
    c2 = colour_mask(png, figures.CLASS_COLORS[1])
    assert c1.sum() > 1000 and abs(c1.sum() - c2.sum()) / c2.sum() < 0.1
    assert np.nonzero(c1)[1].mean() < np.nonzero(c2)[1].mean()


def test_rgb_stretch_hand_computed():
    band = np.arange(101, dtype=float).reshape(1, 101)  # values 0..100
    rgb = np.stack([band, band * 2, np.full_like(band, 7.0)])
    rgb[:, 0, 100] = np.nan  # one no-data pixel (all bands)
    out = figures.stretch(rgb, pct=10)
    assert out.shape == (1, 101, 4)
    # Band 1 over its valid 0..99: 10th/90th percentiles 9.9 and 89.1 -> 0..1.
    np.testing.assert_allclose(out[0, [0, 9, 49, 90, 99], 0], [0, 0, (49 - 9.9) / 79.2, 1, 1], atol=1e-12)
    np.testing.assert_allclose(out[0, :100, 1], out[0, :100, 0], atol=1e-12)  # scale-free
    assert np.all(out[0, :100, 2] == 0)  # a constant band stays at its low end
    np.testing.assert_array_equal(out[0, :, 3], [1.0] * 100 + [0.0])  # no data is transparent
    assert not np.isnan(out).any()


def test_rgb_figure_uses_the_stretch(write_tif, tmp_path):
    # A west-east ramp in all three bands: the figure runs from black to white.
    ramp = np.tile(np.linspace(0.0, 0.5, 50, dtype=np.float32), (30, 1))
    tif = write_tif(tmp_path / "rgb.tif", np.stack([ramp] * 3), transform=T, nodata=np.nan)
    png = matplotlib.image.imread(figures.rgb_figure(tif, tmp_path / "rgb.png", pct=2))
    black = colour_mask(png, "#000000", tol=0.01)
    white = colour_mask(png, "#ffffff", tol=0.01)
    assert black.sum() > 50 and white.sum() > 50
    # The 2 % darkest columns are black and west of the 2 % brightest, white ones.
    assert np.nonzero(black)[1].mean() < np.nonzero(white)[1].mean()
