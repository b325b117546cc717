"""Per-tile HDF5 -> GeoTIFF conversion: ancillary layers and an RGB composite of reflectance."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aopflow.errors import NeonFormatError
from aopflow.neon.layers import canonical_layer
from aopflow.neon.reader import NeonTile, check_tile_in_cell
from aopflow.raster import geotiff_array, write_geotiff

log = logging.getLogger(__name__)

#: The tutorial's true-colour bands 58/34/19 (1-based) sit at about these wavelengths.
DEFAULT_RGB_NM = (669.0, 549.0, 474.0)


def scale_reflectance(raw: np.ndarray, nodata: float, scale: float) -> np.ndarray:
    """Raw integer reflectance -> float32 reflectance (0..1, values > 1 kept), no-data -> NaN."""
    out = raw.astype(np.float32)
    out *= np.float32(1.0 / scale)
    out[raw == nodata] = np.nan
    return out


def ancillary_to_geotiff(
    h5_path: str | os.PathLike, layer: str, out_path: str | os.PathLike, tile_id: str | None = None
) -> Path:
    """Write one ancillary layer of a tile as a single-band GeoTIFF with the tile's CRS/transform.

    Weather_Quality_Indicator is written as codes 1/2/3 (uint8, 0 = no data) for both revisions,
    whatever the stored dtype and no-data (-9999, 0, 255). Other layers keep their values and
    dtype (a dtype GeoTIFF lacks is converted only where no value changes) and get the
    no-data :meth:`NeonTile.read_layer` reports (the layer's ``Data_Ignore_Value``, else
    NEON's convention or the reflectance's). With ``tile_id``, the tile's extent is checked
    against the 1 km cell of that name.
    """
    with NeonTile(h5_path, cache_mb=0) as tile:
        if tile_id:
            check_tile_in_cell(tile.meta, tile_id)
        info = tile.layer_info(layer)
        arr, nodata = tile.read_layer(layer)
        meta = tile.meta
    canon = canonical_layer(layer)
    arr = geotiff_array(arr, f"{meta.path}: layer {canon}")
    log.info("%s: layer %s %s %s (stored %s), nodata %s (%s)", meta.path.name, canon, arr.shape,
             arr.dtype, info.dtype, nodata, info.nodata_source)
    return write_geotiff(
        out_path, arr, crs=meta.epsg, transform=meta.transform, nodata=nodata,
        band_names=[canon], tags={"source": meta.path.name, "layer": canon},
    )


def rgb_to_geotiff(
    h5_path: str | os.PathLike,
    out_path: str | os.PathLike,
    wavelengths_nm: Sequence[float] = DEFAULT_RGB_NM,
    tile_id: str | None = None,
    threads: int = 1,
) -> Path:
    """Write a 3-band float32 reflectance GeoTIFF of the bands nearest ``wavelengths_nm``.

    Only those bands are read from the file (only the chunks holding them are decoded, by
    ``threads`` threads), never the whole cube.
    """
    if len(wavelengths_nm) != 3:
        raise NeonFormatError(f"rgb.wavelengths_nm needs 3 values (R, G, B), got {list(wavelengths_nm)}")
    with NeonTile(h5_path, threads=threads) as tile:
        meta = tile.meta
        if tile_id:
            check_tile_in_cell(meta, tile_id)
        bands = meta.nearest_bands(wavelengths_nm)
        raw = tile.read_bands(bands)
    refl = scale_reflectance(raw, meta.nodata, meta.scale_factor)
    names = [f"band{b + 1}_{meta.wavelengths[b]:.1f}nm" for b in bands]
    log.info("%s: RGB bands %s", meta.path.name, names)
    return write_geotiff(
        out_path, np.moveaxis(refl, -1, 0), crs=meta.epsg, transform=meta.transform,
        nodata=float("nan"), band_names=names, tags={"source": meta.path.name},
    )


def reflectance_to_geotiff(
    h5_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    clean: dict | None = None,
    tile_id: str | None = None,
    threads: int = 1,
    brdf: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
) -> Path:
    """Write the cleaned reflectance cube as a multiband GeoTIFF, streamed in row blocks.

    Bands inside the water-vapour windows and the last noisy bands are dropped (``clean``
    as in :class:`aopflow.clean.CleanSpec`); values stay the file's integers with no-data
    -9999, and each band carries GDAL scale ``1 / Scale_Factor`` (so GDAL/rasterio users get
    reflectance with ``scale``) and its wavelength in the band description. Storing integers
    keeps the file the size of the HDF5 cube instead of twice that as float32. ``threads``:
    the job's threads, used to decode the cube. ``brdf``: the site's BRDF coefficients (each
    block corrected in its digital numbers as read, :func:`aopflow.brdf.apply.attach`), or None.
    """
    import rasterio

    from aopflow.brdf.apply import attach
    from rasterio.windows import Window

    from aopflow.clean import CleanSpec, tile_good_bands
    from aopflow.io import atomic_path
    from aopflow.raster import GTIFF_OPTS

    spec = CleanSpec.from_config(clean)
    with NeonTile(h5_path, threads=threads) as tile:
        meta = tile.meta
        if tile_id:
            check_tile_in_cell(meta, tile_id)
        attach(tile, brdf)
        bands = tile_good_bands(meta, spec)
        with atomic_path(out_path) as tmp:
            with rasterio.open(
                tmp, "w", width=meta.cols, height=meta.rows, count=bands.size, dtype=meta.dtype,
                crs=meta.crs, transform=meta.transform, nodata=meta.nodata,
                **{**GTIFF_OPTS, "interleave": "pixel", "predictor": 2},
            ) as dst:
                for sl, raw in tile.iter_blocks(bands, target_mb=32):
                    win = Window(0, sl.start, meta.cols, sl.stop - sl.start)
                    dst.write(np.moveaxis(raw, -1, 0), window=win)
                dst.scales = [1.0 / meta.scale_factor] * bands.size
                for i, b in enumerate(bands, 1):
                    dst.set_band_description(i, f"{meta.wavelengths[b]:.2f} nm")
                dst.update_tags(source=meta.path.name, wavelength_nm=",".join(f"{meta.wavelengths[b]:.3f}" for b in bands))
    log.info("%s: cleaned reflectance, %d of %d bands", meta.path.name, bands.size, meta.bands)
    return Path(out_path)
