"""aopflow's mosaic against the library merge it stands in for, ``rasterio.merge.merge``.

``aopflow.stages.mosaic.mosaic`` copies each tile into its window of the output instead of
calling ``rasterio.merge.merge`` (why: ``docs/performance.md``). These tests prove the two give
the same values, transform and no-data on NEON-shaped sites: tiles that abut on one grid, a
missing tile (a gap), partial no-data, and tiles whose no-data values differ (each HDF5 layer
carries its own ``Data_Ignore_Value``). Where the two differ, the difference is intended and
pinned here: aopflow keeps the band descriptions and tags that ``rasterio.merge`` drops, stops
on a valid pixel equal to the mosaic's no-data (which ``rasterio.merge`` silently turns into
no-data), and stops on overlapping tiles (where ``rasterio.merge`` keeps the first tile's).
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.merge
from affine import Affine

from aopflow.errors import SiteError
from aopflow.raster import write_geotiff
from aopflow.stages.mosaic import mosaic

#: rasterio 1.4's merge (and the ``rasterio.windows`` helpers it calls) multiplies an Affine by
#: an Affine or a tuple, which affine 3 deprecates: that warning, from rasterio's own modules
#: only, is let through here (every other warning stays an error).
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Use `@` matmul instead of `\*` mul operator:PendingDeprecationWarning:rasterio\."
)

#: A 3 x 2 site of 8 x 6-pixel tiles at 10 m; tile (2, 1) is missing (a gap in the mosaic).
PIX, ROWS, COLS = 10.0, 6, 8
ORIGIN = (500000.0, 4100060.0)  # upper-left corner of the site
PRESENT = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1)]  # (column, row) of the tiles on disk


def _site(tmp_path, dtype, count, nodatas, fill):
    """Write the site's tiles (``PRESENT`` order), tile k with no-data ``nodatas[k]``; each tile
    has partial no-data (its first row's first three pixels, and tile 1 a whole no-data column).

    ``fill(k, shape)`` gives tile k's values. Returns the paths and each tile's array.
    """
    paths, arrays = [], []
    for k, (tc, tr) in enumerate(PRESENT):
        data = fill(k, (count, ROWS, COLS)).astype(dtype)
        nd = nodatas[k]
        data[:, 0, :3] = nd
        if k == 1:
            data[:, :, 5] = nd
        t = Affine(PIX, 0, ORIGIN[0] + tc * COLS * PIX, 0, -PIX, ORIGIN[1] - tr * ROWS * PIX)
        paths.append(write_geotiff(tmp_path / f"tile_{tc}_{tr}.tif", data, crs=32611, transform=t,
                                   nodata=nd, band_names=[f"b{i}" for i in range(1, count + 1)],
                                   tags={"product": "test"}))
        arrays.append(data)
    return paths, arrays


def _float_values(k, shape):
    rng = np.random.default_rng(k)
    return rng.uniform(-1, 1, shape)


def _int_values(k, shape):
    rng = np.random.default_rng(k)
    return rng.integers(1, 9000, shape)


def _class_values(k, shape):
    rng = np.random.default_rng(k)
    return rng.integers(1, 6, shape)  # class codes 1..5 (two tiles below use 0 as no-data)


CASES = {
    # float products (NDVI, abundances): NaN in most tiles, a number in others.
    "float32, NaN first": ("float32", 3, [np.nan, -9999.0, np.nan, 0.5, -9999.0], _float_values),
    "float32, number first": ("float32", 1, [-9999.0, np.nan, -1.5, np.nan, -9999.0], _float_values),
    # int16 ancillary layers: NEON's -9999 next to other conventions.
    "int16": ("int16", 2, [-9999, -1, -32768, -9999, 0], _int_values),
    # uint8 class maps: 255 (aopflow's) next to 0 (a layer that uses 0 as no-data).
    "uint8": ("uint8", 1, [255, 0, 255, 0, 255], _class_values),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
@pytest.mark.parametrize("cog", [False, True], ids=["geotiff", "cog"])
def test_mosaic_equals_rasterio_merge(tmp_path, case, cog):
    dtype, count, nodatas, fill = CASES[case]
    paths, _ = _site(tmp_path, dtype, count, nodatas, fill)
    ref, ref_transform = rasterio.merge.merge(paths)
    out = mosaic(paths, tmp_path / "m.tif", resampling="nearest", cog=cog)
    with rasterio.open(out) as m, rasterio.open(paths[0]) as first:
        ours = m.read()
        assert m.transform == ref_transform
        assert (m.width, m.height, m.count) == (3 * COLS, 2 * ROWS, count)
        assert m.dtypes[0] == dtype and m.crs == first.crs
        # The mosaic's no-data is the first tile's, as rasterio.merge's.
        assert m.nodata == first.nodata or (np.isnan(m.nodata) and np.isnan(first.nodata))
        nodata = m.nodata
    np.testing.assert_array_equal(ours, ref)  # NaN == NaN here
    # What equality means, counted by hand: the missing tile, every tile's no-data pixels
    # (whatever its own value) are the mosaic's no-data; nothing else is.
    if np.isnan(nodata):
        invalid = np.isnan(ours)
    else:
        invalid = ours == nodata
    gap = ROWS * COLS
    own_nodata = len(PRESENT) * 3 + ROWS  # every tile's 3 pixels of row 0; tile 1's column 5
    assert invalid.sum() == count * (gap + own_nodata)
    assert invalid[:, ROWS:, 2 * COLS:].all()  # the gap


def test_tile_order_does_not_change_the_values(tmp_path):
    # Abutting tiles: any order gives the same pixels; only the no-data value follows tile 0.
    paths, _ = _site(tmp_path, "int16", 1, [-9999, -1, -9999, -1, -9999], _int_values)
    a = mosaic(paths, tmp_path / "a.tif", cog=False)
    b = mosaic(paths[::-1], tmp_path / "b.tif", cog=False)  # first tile now has -9999 too
    with rasterio.open(a) as ma, rasterio.open(b) as mb:
        np.testing.assert_array_equal(ma.read(), mb.read())
        np.testing.assert_array_equal(mb.read(), rasterio.merge.merge(paths[::-1])[0])


def test_band_descriptions_and_tags_are_kept_which_rasterio_merge_drops(tmp_path):
    paths, _ = _site(tmp_path, "float32", 3, [np.nan] * 5, _float_values)
    ours = mosaic(paths, tmp_path / "m.tif", cog=True)
    theirs = tmp_path / "r.tif"
    rasterio.merge.merge(paths, dst_path=theirs)
    with rasterio.open(ours) as m, rasterio.open(theirs) as r:
        assert m.descriptions == ("b1", "b2", "b3")
        assert m.tags()["product"] == "test"
        # rasterio.merge writes the first tile's profile, but not its band descriptions or tags:
        # the endmember names of abundance.tif would be lost.
        assert r.descriptions == (None, None, None)
        assert "product" not in r.tags()
        np.testing.assert_array_equal(m.read(), r.read())


def test_valid_pixel_equal_to_the_mosaic_nodata_stops_where_rasterio_merge_loses_it(tmp_path):
    a = np.array([[1, -9999], [3, 4]], dtype=np.int16)
    b = np.array([[-1, -9999], [7, 8]], dtype=np.int16)  # -9999 is data here: b's no-data is -1
    pa = write_geotiff(tmp_path / "a.tif", a, crs=32611, transform=Affine(1, 0, 0, 0, -1, 2), nodata=-9999)
    pb = write_geotiff(tmp_path / "b.tif", b, crs=32611, transform=Affine(1, 0, 2, 0, -1, 2), nodata=-1)
    merged, _ = rasterio.merge.merge([pa, pb])
    # rasterio.merge copies b's valid -9999, which then reads as no-data: a value lost silently.
    np.testing.assert_array_equal(merged[0], [[1, -9999, -9999, -9999], [3, 4, 7, 8]])
    with pytest.raises(SiteError, match=r"b\.tif: has no-data -1.*-9999"):
        mosaic([pa, pb], tmp_path / "m.tif", cog=False)
    assert not (tmp_path / "m.tif").exists()


def test_overlapping_tiles_stop_where_rasterio_merge_keeps_the_first(tmp_path):
    t = Affine(1, 0, 0, 0, -1, 4)
    pa = write_geotiff(tmp_path / "a.tif", np.full((4, 4), 1, "float32"), crs=32611, transform=t,
                       nodata=np.nan)
    pb = write_geotiff(tmp_path / "b.tif", np.full((4, 4), 2, "float32"), crs=32611,
                       transform=t @ Affine.translation(2, 1), nodata=np.nan)
    merged, _ = rasterio.merge.merge([pa, pb])
    assert merged.shape == (1, 5, 6) and merged[0, 1, 2] == 1  # first tile wins the overlap
    with pytest.raises(SiteError, match=r"a\.tif and b\.tif overlap \(2 x 3 pixels"):
        mosaic([pa, pb], tmp_path / "m.tif", cog=False)
    assert not (tmp_path / "m.tif").exists()


@pytest.mark.parametrize("dtype,nodata", [("float32", np.nan), ("int16", -9999), ("uint8", 255)])
def test_blocks_no_tile_reaches_are_nodata(tmp_path, dtype, nodata):
    # 2 x 2 tiles of 300 x 300 pixels, the lower-right one missing: the mosaic's 256 x 256 blocks
    # there are never written, those across tile edges are written in parts.
    t = Affine(1.0, 0, 0, 0, -1.0, 600)
    paths = []
    for k, (c, r) in enumerate([(0, 0), (1, 0), (0, 1)]):
        data = np.full((2, 300, 300), k + 1, dtype)
        paths.append(write_geotiff(tmp_path / f"{c}_{r}.tif", data, crs=32611,
                                   transform=t @ Affine.translation(300 * c, 300 * r), nodata=nodata))
    ref, _ = rasterio.merge.merge(paths)
    with rasterio.open(mosaic(paths, tmp_path / "m.tif", resampling="nearest")) as m:
        ours = m.read()
    np.testing.assert_array_equal(ours, ref)
    gap = ours[:, 300:, 300:]
    assert (np.isnan(gap) if np.isnan(nodata) else gap == nodata).all()
    assert (ours[:, :300, :300] == 1).all() and (ours[:, 300:, :300] == 3).all()
