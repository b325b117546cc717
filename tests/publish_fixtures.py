"""A small hand-made run folder ({outdir}/{site}/{year}) for the publish tests.

Rasters on a 40 x 30 grid of 10 m pixels in EPSG:32611 (a 2 x 1 tile site of 200 m tiles):
continuous NDVI with a NaN no-data corner, a 3-band RGB, a SAM class map (uint8, 255 no
data), a WQI, optionally a species class map (codes 1-3, 0 no data) with its class table, two
Sentinel-2 dates and their composite, a downscaled NDVI; plots, zonal tables, the time series.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

from aopflow.raster import write_cog

EPSG = 32611
X0, Y0, RES = 500000.0, 4100300.0, 10.0
ROWS, COLS = 30, 40
TRANSFORM = Affine(RES, 0, X0, 0, -RES, Y0)
PLOTS = {"P1": (500055.0, 4100155.0), "P2": (500305.0, 4100205.0)}


def _cog(path: Path, data, nodata, resampling="average", **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_cog(path, data, crs=EPSG, transform=kw.pop("transform", TRANSFORM), nodata=nodata,
              overview_resampling=resampling, **kw)


def make_run(root: Path, species: bool = False, seed: int = 0) -> list[Path]:
    """Write the run folder ``root`` and return its final products (the publish inputs)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ROWS, 0:COLS]
    ndvi = (0.2 + 0.6 * xx / COLS + 0.01 * rng.standard_normal((ROWS, COLS))).astype("float32")
    ndvi[:5, :6] = np.nan
    _cog(root / "mosaic/ndvi.tif", ndvi, np.nan)
    rgb = np.stack([0.05 + 0.2 * xx / COLS, 0.05 + 0.2 * yy / ROWS,
                    np.full((ROWS, COLS), 0.1)]).astype("float32")
    _cog(root / "mosaic/rgb.tif", rgb, np.nan, band_names=["band9_672.5nm", "band6_564.2nm",
                                                           "band3_456.0nm"])
    sam = np.where(xx < COLS // 2, 1, 2).astype("uint8")
    sam[yy > 25] = 0
    sam[:5, :6] = 255
    _cog(root / "mosaic/sam.tif", sam, 255, "nearest")
    wqi = np.where(xx < 20, 1, 3).astype("uint8")
    _cog(root / "mosaic/wqi.tif", wqi, 0, "nearest")
    _cog(root / "downscale/ndvi_20m.tif", ndvi[::2, ::2].copy(), np.nan,
         transform=TRANSFORM @ Affine.scale(2))
    for i, date in enumerate(["2024-06-15", "2024-08-04"]):
        d = (ndvi + 0.05 * i).astype("float32")
        _cog(root / f"s2/dates/{date}/ndvi.tif", d, np.nan)
        refl = np.stack([0.05 + 0 * ndvi, 0.3 + 0 * ndvi]).astype("float32")
        _cog(root / f"s2/dates/{date}/reflectance.tif", refl, np.nan, band_names=["red", "nir"])
        pd.DataFrame({"date": [date], "valid_fraction": [[0.9, 0.95][i]], "n_valid": [0],
                      "n_area_pixels": [0]}).to_csv(root / f"s2/dates/{date}/summary.csv",
                                                    index=False)
    # The composite varies north-south, the AOP NDVI east-west: the layers look different.
    median = (0.2 + 0.6 * yy / ROWS).astype("float32")
    median[:5, :6] = np.nan
    _cog(root / "s2/composite/ndvi_median.tif", median, np.nan)
    outs = sorted(root.glob("**/*.tif"))
    if species:
        sp = np.where(yy < 15, 1, np.where(xx < 20, 2, 3)).astype("uint8")
        _cog(root / "mosaic/species.tif", sp, 0, "nearest")
        pd.DataFrame({"code": [1, 2, 3], "label": ["Pinus ponderosa", "Quercus kelloggii",
                                                   "Abies concolor"]}).to_csv(
            root / "mosaic/species_classes.csv", index=False)
        outs += [root / "mosaic/species.tif", root / "mosaic/species_classes.csv"]

    wl = np.linspace(400, 2400, 5)
    pd.DataFrame({"wavelength_nm": wl, "grass": wl / 1e4, "soil": wl / 2e4}).to_csv(
        root / "endmembers.csv", index=False)
    outs.append(root / "endmembers.csv")
    plots = gpd.GeoDataFrame({"plotID": list(PLOTS)},
                             geometry=[shapely.Point(p).buffer(25) for p in PLOTS.values()],
                             crs=f"EPSG:{EPSG}")
    (root / "zonal").mkdir(parents=True, exist_ok=True)
    for name in ("ndvi", "sam"):
        plots.to_file(root / f"zonal/{name}.gpkg", driver="GPKG")
        outs.append(root / f"zonal/{name}.gpkg")
    pd.DataFrame({"plotID": ["P1", "P2"], "count": [19, 21], "mean": [0.3412345, 0.7123456],
                  "std": [0.01, 0.02]}).to_csv(root / "zonal/ndvi.csv", index=False)
    pd.DataFrame({"plotID": ["P1", "P2"], "frac_1": [1.0, 0.0], "frac_2": [0.0, 1.0],
                  "majority": [1, 2]}).to_csv(root / "zonal/sam.csv", index=False)
    (root / "s2/timeseries").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"plotID": ["P1", "P1", "P2", "P2"],
                  "date": ["2024-06-15", "2024-08-04"] * 2, "used": [True] * 4,
                  "mean": [0.34, 0.39, 0.71, 0.76]}).to_csv(root / "s2/timeseries/ndvi.csv",
                                                            index=False)
    outs += [root / "zonal/ndvi.csv", root / "zonal/sam.csv", root / "s2/timeseries/ndvi.csv"]
    pd.DataFrame({"tile": ["500000_4100000", "500200_4100000"], "epsg": [EPSG, EPSG],
                  "left": [X0, X0 + 200], "bottom": [Y0 - 300] * 2,
                  "right": [X0 + 200, X0 + 400], "top": [Y0] * 2}).to_csv(root / "tiles.csv",
                                                                         index=False)
    return outs
