"""The spectral stage on tiles: pixel samples, site endmembers, and the per-tile chain.

A tile is read once, in row blocks of the kept bands (integers, never a float cube); each
block's valid pixels are unmixed and scored against the *site* endmembers straight from their
digital numbers in one fused pass (:class:`aopflow.spectral.dn_scores.DnScorer`), so class k
means the same material in every tile. The job's threads decode the cube's chunks, then score
blocks in parallel.
"""

from __future__ import annotations

import logging
import numbers
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
from threadpoolctl import threadpool_limits

from aopflow.brdf.apply import attach, correct_spectra, tile_correction
from aopflow.brdf.model import read_model
from aopflow.brdf.terms import KernelShape, write_tile_terms
from aopflow.candidates import SkewerCandidates, StreamingSample
from aopflow.clean import CleanSpec, tile_good_bands, valid_mask
from aopflow.errors import ConfigError, SiteError
from aopflow.io import atomic_path
from aopflow.ndvi import NIR_NM, RED_NM, normalized_difference
from aopflow.neon.reader import NeonTile, check_tile_in_cell
from aopflow.products import CLASS_NODATA
from aopflow.raster import write_geotiff
from aopflow.spectral import (
    UNMIX_FROM_GRAM,
    classify,
    extract_endmembers,
    read_endmember_csv,
    resample_spectra,
    write_endmember_csv,
)
from aopflow.spectral.dn_scores import DnScorer, pixel_matrix, valid_columns, valid_runs

log = logging.getLogger(__name__)


def _tile_seed(seed: int, tile_id: str) -> int:
    # A per-tile seed independent of the other tiles, so adding a tile changes no other sample.
    return zlib.crc32(f"{seed}:{tile_id}".encode())


def sample_tile(
    h5_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    tile_id: str,
    clean: Mapping | None = None,
    n_samples: int = 2000,
    n_candidates: int = 200,
    seed: int = 0,
    threads: int = 1,
    brdf_samples: int = 0,
    brdf_geometric: str = "li_sparse",
    brdf_terms_path: str | os.PathLike | None = None,
) -> Path:
    """Sample a tile's valid, cleaned pixels and find its candidate-pure pixels -> ``.npz``.

    One read of the cube (row blocks of the kept bands) feeds both selections
    (:mod:`aopflow.candidates`):

    * ``pixels`` (k, B) float32 reflectance, ``rows``/``cols`` (k,): a uniform random sample
      of k = min(``n_samples``, valid pixels) valid pixels;
    * ``candidates`` (c, B) float32, ``candidate_rows``/``candidate_cols`` (c,): pixels
      extreme along ``ceil(n_candidates / 2)`` random skewers, searched over *all* valid
      pixels, c <= ``n_candidates`` - the pure pixels of rare materials (a small pond or
      roof) that the random sample is likely to miss.

    Also ``wavelengths`` (B,) nm of the kept bands and ``tile``. Both selections are
    reproducible from ``seed`` and the tile id (and independent of the other tiles).
    ``threads``: the job's threads, used to decode the cube.

    With ``brdf_samples`` > 0 (the BRDF correction is on), the same read also draws the BRDF
    fit's sample (:func:`aopflow.stages.brdf.brdf_fit`): ``brdf_pixels`` (m, B) float32, a third
    independent uniform sample of m = min(``brdf_samples``, valid) pixels, uncorrected, with
    ``brdf_geometry`` (m, 6) (solar zenith/azimuth, view zenith/azimuth, slope, aspect, degrees),
    ``brdf_line`` (m,) (index into the tile's ``line_files``/``line_dates``/``line_sun``) and
    ``brdf_wqi`` (m,) codes; and the geometry and line of the endmember pixels and candidates
    (``pixels_geometry``, ``pixels_line``, ``candidates_geometry``, ``candidates_line``), so the
    site endmembers can be drawn from corrected spectra without a second read.

    With ``brdf_terms_path`` (and ``brdf_samples``), the tile's per-pixel correction terms
    (kernels of the ``brdf_geometric`` form, incidence terms, lines) are written there from
    the same geometry read (:func:`aopflow.brdf.terms.write_tile_terms`): the jobs that
    correct the tile load them instead of reading its geometry and computing them again.
    """
    spec = CleanSpec.from_config(clean)
    for key, value in (("endmembers.sample_size", n_samples), ("endmembers.candidates", n_candidates)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ConfigError(f"{key} must be an integer >= 0; got {value!r}")
    tseed = _tile_seed(seed, tile_id)
    with NeonTile(h5_path, threads=threads) as tile:
        meta = tile.meta
        check_tile_in_cell(meta, tile_id)
        bands = tile_good_bands(meta, spec)
        kw = dict(scale=meta.scale_factor, nodata=meta.nodata)
        sample = StreamingSample(n_samples, bands.size, seed=tseed, **kw)
        skewers = SkewerCandidates(bands.size, n_candidates, seed=[tseed, 1], **kw)
        brdf_sample = StreamingSample(brdf_samples, bands.size, seed=[tseed, 2], **kw) if brdf_samples else None
        # With a library neither is asked for: then only the band set is needed, not the cube.
        read = n_samples > 0 or n_candidates > 0 or brdf_samples > 0
        blocks = tile.iter_blocks(bands) if read else iter(())
        # The geometry (and the tile's terms file) in a thread while the cube is read.
        geometry = _background(_geometry_and_terms, tile, brdf_terms_path, brdf_geometric) if brdf_sample is not None else None
        try:
            # BLAS stays single-threaded: the rule gives this job one core.
            with threadpool_limits(limits=1):
                for sl, raw in blocks:
                    # No-data is screened on the skewers' bands only (a pass over every band would
                    # cost more than the skewers); NEON marks a pixel no-data in all its bands, and
                    # a kept pixel with a no-data band elsewhere is dropped when its spectrum is read.
                    valid = valid_mask(raw, meta.nodata, bands=skewers.sel)
                    first = sl.start * meta.cols
                    sample.update(raw, valid, first)
                    skewers.update(raw, valid, first)
                    if brdf_sample is not None:
                        brdf_sample.update(raw, valid, first)
        except BaseException:
            if geometry is not None:
                geometry.exception()  # the tile stays open until the thread is done
            raise
        extra = {}
        if geometry is not None:
            extra = _brdf_sample_arrays(tile, geometry.result(), brdf_sample, sample, skewers)
    pixels, pos = sample.result()
    cand, cpos = skewers.result()
    rows, cols = np.divmod(pos, meta.cols)
    crows, ccols = np.divmod(cpos, meta.cols)
    if read and sample.n_valid == 0:
        log.warning("%s: tile %s has no valid pixels; its sample is empty", meta.path.name, tile_id)
    with atomic_path(out_path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, pixels=pixels, wavelengths=meta.wavelengths[bands], rows=rows, cols=cols,
                     candidates=cand, candidate_rows=crows, candidate_cols=ccols, tile=tile_id, **extra)
    log.info("%s: sampled %d of %d valid pixels and %d candidate-pure pixels (%d skewers), %d bands",
             tile_id, pixels.shape[0], sample.n_valid, cand.shape[0], skewers.n_skewers, bands.size)
    return Path(out_path)


def _background(fn, *args) -> Future:
    """``fn(*args)`` in a thread of its own; its future."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)


def _geometry_and_terms(tile: NeonTile, terms_path: str | os.PathLike | None, geometric: str):
    """The tile's geometry, and its terms file written to ``terms_path`` (if given)."""
    geom = tile.read_geometry()
    if terms_path:
        write_tile_terms(tile, terms_path, KernelShape(geometric=geometric), geom)
    return geom


def _brdf_sample_arrays(tile: NeonTile, geom, brdf_sample: StreamingSample, sample: StreamingSample,
                        skewers: SkewerCandidates) -> dict[str, np.ndarray]:
    """The BRDF arrays of :func:`sample_tile`'s npz from the tile's geometry ``geom``."""
    values = sorted(geom.lines)
    index = {v: i for i, v in enumerate(values)}
    wqi = tile.read_layer("Weather_Quality_Indicator")[0] if tile.has_layer("Weather_Quality_Indicator") else None
    cols = tile.meta.cols
    out: dict[str, np.ndarray] = {
        "line_files": np.array([geom.lines[v].file for v in values], dtype=str),
        "line_dates": np.array([geom.lines[v].date for v in values], dtype=str),
        "line_sun": np.array([[geom.lines[v].solar_zenith, geom.lines[v].solar_azimuth] for v in values],
                             dtype=np.float64).reshape(-1, 2),
    }

    def at(pos):
        r, c = np.divmod(pos, cols)
        g = geom.at(r, c)
        line = np.array([index.get(int(v), -1) for v in g[:, 6]], dtype=np.int64)
        return g[:, :6], line, r, c

    px, pos = brdf_sample.result()
    g, line, r, c = at(pos)
    out.update(brdf_pixels=px, brdf_geometry=g, brdf_line=line,
               brdf_wqi=(wqi[r, c] if wqi is not None else np.zeros(pos.size, np.uint8)).astype(np.uint8))
    for name, sel in (("pixels", sample), ("candidates", skewers)):
        g, line, _, _ = at(sel.result()[1])
        out[f"{name}_geometry"], out[f"{name}_line"] = g, line
    return out


def site_endmembers(
    sample_paths: Sequence[str | os.PathLike],
    out_csv: str | os.PathLike,
    *,
    method: str = "nfindr",
    n: int = 5,
    seed: int = 0,
    library: str | None = None,
    brdf: str | os.PathLike | None = None,
) -> Path:
    """One endmember set for the whole site -> CSV (``wavelength_nm``, ``em1``..``emn``).

    Every tile's random sample and its candidate-pure pixels (:func:`sample_tile`) are
    pooled and ``method`` (N-FINDR, ATGP or PPI) extracts ``n`` endmembers; or, with
    ``library``, a user's reference spectra are resampled to the image's kept bands instead.
    The pool holds at most ``tiles x (sample_size + candidates)`` pixels. With ``brdf`` (the
    site's ``coefficients.json``) the sampled spectra are corrected first, with the geometry
    stored beside them, as the per-tile chain corrects the pixels it scores.
    """
    model = read_model(brdf) if brdf else None
    samples, wl = [], None
    n_random = n_cand = 0
    for p in sample_paths:
        with np.load(p) as z:
            if wl is None:
                wl = z["wavelengths"]
            elif z["wavelengths"].shape != wl.shape or np.max(np.abs(z["wavelengths"] - wl)) > 0.5:
                raise SiteError(
                    f"{p}: the tile's kept bands differ from the first tile's "
                    f"({z['wavelengths'].size} vs {wl.size} bands). Tiles of one site must share a "
                    "band set; process different sensors/years as separate sites."
                )
            # Samples written before candidates existed have none.
            sets = ["pixels", "candidates"] if "candidates" in z.files else ["pixels"]
            if model is not None:
                if "pixels_geometry" not in z.files:
                    raise SiteError(f"{p}: no pixel geometry in this tile sample (drawn with brdf off); rerun sample_tile.")
                lines = list(zip(z["line_files"].tolist(), z["line_dates"].tolist()))
            for key in sets:
                X = z[key]
                if model is not None:
                    X = correct_spectra(model, X, z["wavelengths"], z[f"{key}_geometry"], z[f"{key}_line"], lines)
                samples.append(X)
            n_random += z["pixels"].shape[0]
            if "candidates" in z.files:
                n_cand += z["candidates"].shape[0]
    if wl is None:
        raise SiteError("site_endmembers: no tile samples (is the tile list empty?)")
    if library:
        lib_wl, lib_E, names = read_endmember_csv(library)
        E = resample_spectra(lib_wl, lib_E, wl)
        log.info("library %s: %d spectra resampled to %d bands", library, len(names), wl.size)
    else:
        X = np.concatenate(samples) if samples else np.empty((0, wl.size), np.float32)
        if X.shape[0] == 0:
            raise SiteError("site_endmembers: every tile is all no-data; nothing to extract from.")
        log.info("extracting %d endmembers with %s from %d pixels (%d sampled, %d candidate-pure)",
                 n, method, X.shape[0], n_random, n_cand)
        E = extract_endmembers(X, method, n, seed=seed)
        names = [f"em{i + 1}" for i in range(E.shape[0])]
    write_endmember_csv(out_csv, wl, E, names)
    return Path(out_csv)


def _endmembers_for(meta_wl: np.ndarray, csv_path) -> tuple[np.ndarray, list[str]]:
    wl, E, names = read_endmember_csv(csv_path)
    if wl.shape != meta_wl.shape or np.max(np.abs(wl - meta_wl)) > 0.5:
        E = resample_spectra(wl, E, meta_wl)
    return E.astype(np.float32), names


def spectral_tile(
    h5_path: str | os.PathLike,
    endmembers_csv: str | os.PathLike,
    *,
    tile_id: str,
    abundance_path: str | os.PathLike,
    sam_path: str | os.PathLike,
    sid_path: str | os.PathLike,
    clean: Mapping | None = None,
    unmix_method: str = "fcls",
    threads: int = 2,
    block_mb: float = 32.0,
    brdf: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
) -> dict[str, Path]:
    """Read a tile once and write abundances and SAM/SID scores against the site endmembers.

    Outputs (same grid as the tile, float32, NaN = no data): ``abundance`` (band i =
    endmember i) and, for SAM and SID, a score raster with band i = the angle (radians) /
    divergence to endmember i. Thresholds are applied later (:func:`classify_scores`), so a
    threshold edit does not recompute the chain. With ``brdf`` (the site's coefficients, or
    them and the tile's terms file from :func:`sample_tile`) each
    block is BRDF- and topographically corrected as it is read, in the scoring thread that
    takes it (:func:`aopflow.brdf.apply.tile_correction`).
    """
    if unmix_method not in UNMIX_FROM_GRAM:
        raise ConfigError(f"Unknown method {unmix_method!r} for unmix.method; must be one of {sorted(UNMIX_FROM_GRAM)}")
    spec = CleanSpec.from_config(clean)
    unmix_fn = UNMIX_FROM_GRAM[unmix_method]
    # The job's threads decode the cube's chunks, then compute the blocks (clean, unmix, SAM, SID).
    with NeonTile(h5_path, threads=threads) as tile:
        meta = tile.meta
        check_tile_in_cell(meta, tile_id)
        # The BRDF correction of each block as read, in the scoring threads (one thread each),
        # while the block is in cache: half the cost of correcting in the reader's thread.
        # Its geometry is read in the background while the first blocks are decoded.
        corr = tile_correction(tile, brdf, threads=1, background=True)
        bands = tile_good_bands(meta, spec)
        read = corr.bands_to_read(bands) if corr is not None else list(bands)
        E, names = _endmembers_for(meta.wavelengths[bands], endmembers_csv)
        n = E.shape[0]
        E64 = E.astype(np.float64)
        G = E64 @ E64.T
        rows, cols = meta.rows, meta.cols
        # Band-major (n, rows, cols), as the GeoTIFFs are written (a pixel-major array costs
        # GDAL a strided copy per write).
        abund = np.full((n, rows, cols), np.nan, dtype=np.float32)
        scores = {k: np.full((n, rows, cols), np.nan, dtype=np.float32) for k in ("sam", "sid")}

        scorer = DnScorer(E, meta.scale_factor)

        def work(sl: slice, raw: np.ndarray) -> int:
            if corr is not None:
                # In place: the block is this job's own (no second block-sized array).
                raw = corr(sl, slice(0, meta.cols), read, raw, bands.size, overwrite=True)
            valid = valid_mask(raw, meta.nodata)
            if not valid.any():
                return 0
            # Pixels as the reader laid them out (band-major views of a 2022+ cube, pixel-major
            # blocks of a legacy one): one fused pass gives the unmixing products, SAM and SID.
            dn, band_axis = pixel_matrix(raw)
            runs = None
            if not valid.all():
                runs = valid_runs(valid)
                if len(runs) * 64 > valid.size:  # scattered no-data: copy the valid pixels out
                    dn, runs = valid_columns(dn, valid.ravel(), band_axis), None
            b, sam_blk, sid_blk = scorer(dn, band_axis, runs)
            abund[:, sl][:, valid] = unmix_fn(G, b).T
            scores["sam"][:, sl][:, valid] = sam_blk.T
            scores["sid"][:, sl][:, valid] = sid_blk.T
            return b.shape[0]

        # Parallelism comes from blocks in threads (the kernel and unmixing are NumPy ufuncs and
        # BLAS, which release the GIL); BLAS inside each block stays single-threaded (nested
        # BLAS threads oversubscribe the cores a job was given).
        with threadpool_limits(limits=1):
            n_valid = _sum_over_blocks(work, tile.iter_blocks(read, target_mb=block_mb / max(threads, 1)), threads)
    if n_valid == 0:
        log.warning("%s: tile %s is entirely no-data; writing no-data outputs", meta.path.name, tile_id)
    log.info("%s: %d valid pixels, %d bands, %d endmembers", tile_id, n_valid, bands.size, n)
    kw = dict(crs=meta.epsg, transform=meta.transform, nodata=float("nan"), threads=threads)
    out = {
        "abundance": write_geotiff(abundance_path, abund, band_names=names, **kw),
        # The score rasters are read back only by classify_scores: scratch compression.
        "sam": write_geotiff(sam_path, scores["sam"], scratch=True,
                             band_names=[f"angle_rad_{m}" for m in names], tags={"endmembers": ",".join(names)}, **kw),
        "sid": write_geotiff(sid_path, scores["sid"], scratch=True,
                             band_names=[f"divergence_{m}" for m in names], tags={"endmembers": ",".join(names)}, **kw),
    }
    return out


def _sum_over_blocks(work: Callable[[slice, np.ndarray], int], blocks, threads: int) -> int:
    """Sum of ``work(row_slice, raw)`` over ``blocks``: in turn with one thread (a worker would
    be a second busy thread), else in a pool of ``threads`` with at most ``threads + 1`` blocks
    in flight (bounded memory)."""
    if threads <= 1:
        return sum(work(sl, raw) for sl, raw in blocks)
    total = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending = []
        for sl, raw in blocks:
            pending.append(pool.submit(work, sl, raw))
            while len(pending) > threads:
                total += pending.pop(0).result()
        return total + sum(f.result() for f in pending)


def classify_scores(
    score_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    thresholds: float | Sequence[float] | None,
    key: str,
) -> Path:
    """Class map (uint8: 1..n, 0 unclassified, 255 no data) from a per-endmember score raster.

    Thresholds (one number, or one per endmember, in the scores' units) are applied by
    :func:`aopflow.spectral.classify`, exactly as on in-memory scores.
    """
    with rasterio.open(score_path) as src:
        scores = src.read()
        names = src.tags().get("endmembers", "").split(",")
        crs, transform = src.crs, src.transform
    n, rows, cols = scores.shape
    # Every pixel through classify (all-NaN pixels come out 0), then no-data where all are NaN;
    # no copy of the valid pixels.
    out = classify(scores.reshape(n, -1).T, thresholds, key=key)
    out[np.isnan(scores).all(axis=0).ravel()] = CLASS_NODATA
    return write_geotiff(out_path, out.reshape(rows, cols), crs=crs, transform=transform, nodata=CLASS_NODATA,
                         band_names=["class"], tags={"classes": ",".join(names), "threshold": str(thresholds)})


def ndvi_tile(
    h5_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    tile_id: str | None = None,
    red_nm: float = RED_NM,
    nir_nm: float = NIR_NM,
    threads: int = 1,
    index_bands_path: str | os.PathLike | None = None,
    s2_bands_path: str | os.PathLike | None = None,
    s2_assets: Sequence[str] = (),
    clean: Mapping | None = None,
    brdf: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
) -> Path:
    """NDVI ``(rows, cols)`` float32 (NaN = no data) of the bands nearest ``red_nm``/``nir_nm``,
    and, in the same read, the band extracts the indices and the Sentinel-2 comparison use.

    The project's NDVI rule (:func:`aopflow.ndvi.normalized_difference`, ``docs/ndvi.md``):
    (NIR - red) / (NIR + red), no data where either reflectance is negative (dark water and
    shadow pixels whose noise goes below zero), both are zero, or either is the tile's
    no-data value; so every value is in [-1, 1]. It is computed on the integer DNs: the
    reflectance scale factor cancels and there is no offset.

    With ``index_bands_path``: ``(S, rows, cols)`` raw DNs (the cube's integer type and no-data
    value; tag ``scale_factor``: reflectance = DN / scale_factor) of every band symbol of
    :func:`aopflow.indices.band_symbols` (a fixed set, whatever indices are configured), each
    the cleaned band nearest the symbol's centre (:func:`aopflow.indices.aop_symbol_bands`; a
    symbol without one is all no-data and listed in the tag ``missing_symbols``); the per-index
    jobs read it.

    With ``s2_bands_path`` and ``s2_assets`` (``sentinel2.bands``): the layers of
    :func:`aopflow.indices.srf.s2_band_layers` (per asset the nearest band and the
    band-equivalent reflectance through each sensor's SRF), float32 reflectance, NaN where a
    band used is no data.

    One read of the union of the bands needed, in row blocks (integers; float32 only per
    block). ``threads``: the job's threads, used to decode the bands' chunks. ``brdf``: the
    site's BRDF coefficients (the bands are corrected as read), or None."""
    from aopflow.indices import aop_symbol_bands, symbol_centres
    from aopflow.indices.srf import s2_band_layers

    with NeonTile(h5_path, threads=threads) as tile:
        meta = tile.meta
        if tile_id:
            check_tile_in_cell(meta, tile_id)
        attach(tile, brdf)
        red_b, nir_b = meta.nearest_bands([red_nm, nir_nm])
        need = {red_b, nir_b}
        sym_bands, s2_layers = {}, []  # s2_layers: (name, band indices, weights)
        if index_bands_path or s2_bands_path:
            kept = tile_good_bands(meta, CleanSpec.from_config(clean))
        missing: dict[str, str] = {}
        if index_bands_path:
            every = list(symbol_centres())
            found = aop_symbol_bands(meta.wavelengths, kept, every, source=meta.path.name, missing=missing)
            sym_bands = {s: found.get(s) for s in every}  # None: no band (written as no data)
            need |= {b for b in found.values()}
            for why in missing.values():
                log.warning("%s", why)
        if s2_bands_path:
            s2_layers = s2_band_layers(meta.wavelengths, kept, s2_assets, source=meta.path.name)
            for _, idx, _ in s2_layers:
                need |= set(int(i) for i in idx)
        order = sorted(need)
        pos = {b: i for i, b in enumerate(order)}
        rows, cols = meta.rows, meta.cols
        ndvi = np.full((rows, cols), np.nan, dtype=np.float32)
        # The symbols' raw DNs (exact, half the bytes of float32); the index jobs scale them.
        symbols = np.empty((len(sym_bands), rows, cols), dtype=meta.dtype) if sym_bands else None
        s2 = np.full((len(s2_layers), rows, cols), np.nan, dtype=np.float32) if s2_layers else None
        scale = np.float32(1.0 / meta.scale_factor)  # NEON: reflectance = DN / Scale_Factor (10000)
        for sl, raw in tile.iter_blocks(order):
            red, nir = raw[..., pos[red_b]], raw[..., pos[nir_b]]
            blk = normalized_difference(nir, red)
            blk[(red == meta.nodata) | (nir == meta.nodata)] = np.nan  # also a non-negative no-data value
            ndvi[sl] = blk
            if symbols is not None:
                for k, b in enumerate(sym_bands.values()):
                    symbols[k, sl] = meta.nodata if b is None else raw[..., pos[b]]
            if s2 is not None:
                for k, (_, idx, w) in enumerate(s2_layers):
                    sub = raw[..., [pos[int(i)] for i in idx]]
                    bad = (sub == meta.nodata).any(axis=-1)
                    val = (sub.astype(np.float32) @ w.astype(np.float32)) * scale
                    val[bad] = np.nan
                    s2[k, sl] = val
    kw = dict(crs=meta.epsg, transform=meta.transform, nodata=float("nan"))
    if symbols is not None:
        wl = meta.wavelengths
        write_geotiff(index_bands_path, symbols, crs=meta.epsg, transform=meta.transform,
                      nodata=meta.nodata, scratch=True, band_interleaved=True,
                      band_names=[f"{s} ({'none' if b is None else f'{wl[b]:.1f} nm'})"
                                  for s, b in sym_bands.items()],
                      tags={"symbols": ",".join(sym_bands), "scale_factor": repr(float(meta.scale_factor)),
                            "wavelengths_nm": ",".join("nan" if b is None else f"{wl[b]:.2f}"
                                                       for b in sym_bands.values()),
                            "missing_symbols": ",".join(missing)})
    if s2 is not None:
        write_geotiff(s2_bands_path, s2, **kw, band_names=[n for n, _, _ in s2_layers],
                      tags={"layers": ",".join(n for n, _, _ in s2_layers)})
    log.info("%s: NDVI from bands %.0f/%.0f nm; %d bands read in one pass (%d index symbols, "
             "%d Sentinel-2 band layers)", tile_id or meta.path.name, meta.wavelengths[nir_b],
             meta.wavelengths[red_b], len(order), len(sym_bands), len(s2_layers))
    return write_geotiff(out_path, ndvi, **kw,
                         band_names=[f"NDVI ({meta.wavelengths[nir_b]:.0f}, {meta.wavelengths[red_b]:.0f} nm)"])


def n_endmembers(csv_path) -> int:
    return len(read_endmember_csv(csv_path)[2])

