"""Read NEON AOP L3 reflectance tiles (DP3.30006.001 and .002) lazily, one open file per tile.

This module is the only place that knows the NEON HDF5 layout (``shared/NEON_FORMAT.md``):

* the single site group (``/<SITE>/Reflectance``), never a hard-coded site name;
* ``Reflectance_Data``: an integer cube ``(rows, cols, bands)``, scaled by ``Scale_Factor`` and
  with ``Data_Ignore_Value`` as no-data;
* the CRS from ``Coordinate_System/EPSG Code`` and the affine from ``Map_Info`` fields [3]-[6]
  (upper-left x/y and pixel size; fields [1]/[2] are the ENVI reference pixel, *not* the
  resolution);
* wavelengths, band windows (``Band_Window_1/2_Nanometers``) and ancillary rasters under both
  product revisions' names (the names and no-data conventions of the layers are
  :mod:`aopflow.neon.layers`).

Metadata may be stored as scalars or as 1-element arrays (files rewritten by hdf5r), and the cube
may have any integer dtype. Pixel data are decoded by :mod:`aopflow.neon.chunks` (raw chunks,
libdeflate, a thread pool of the job's ``threads``, straight into the output) when the cube's
filter pipeline is deflate/shuffle, else read with h5py hyperslab reads; either way reads are
grouped so each HDF5 chunk is decompressed once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from affine import Affine
from rasterio.crs import CRS

from aopflow.errors import NeonFormatError
from aopflow.neon import chunks as chunkdec
from aopflow.neon.geometry import TileGeometry, resolve_flight_lines
from aopflow.neon.geometry import scalar as _scalar
from aopflow.neon.layers import (
    ALIAS_TO_CANONICAL,
    ANCILLARY_ALIASES,
    ANCILLARY_NODATA,
    ANCILLARY_NODATA_UINT8,
    WQI_CODES,
    WQI_NODATA,
    WQI_STOPLIGHT,
    canonical_layer,
)
from aopflow.neon.naming import TILE_SIZE_M, revision_from_name, tile_cell
from aopflow.neon.naming import tile_id_from_name  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

#: Band windows used when a file lacks the ``Band_Window_*`` attributes (the values every
#: published tile carries).
DEFAULT_BAND_WINDOWS: tuple[tuple[float, float], ...] = ((1340.0, 1445.0), (1790.0, 1955.0))

def parse_map_info(map_info: str) -> tuple[float, float, float, float, int]:
    """Parse an ENVI ``Map_Info`` string into ``(ulx, uly, xres, yres, utm_zone)``.

    Fields after ``split(',')``: [0] projection name, [1]/[2] the ENVI reference pixel (1, 1 = the
    upper-left pixel corner, NOT the pixel size), [3]/[4] map x/y of that reference (upper-left
    corner), [5]/[6] pixel size x/y, [7] UTM zone.
    """
    parts = [p.strip() for p in map_info.split(",")]
    if len(parts) < 7:
        raise ValueError(f"Map_Info has {len(parts)} fields, expected at least 7: {map_info!r}")
    ref_x, ref_y = float(parts[1]), float(parts[2])
    ulx, uly = float(parts[3]), float(parts[4])
    xres, yres = float(parts[5]), float(parts[6])
    # A reference pixel other than (1, 1) shifts the corner (ENVI pixels are 1-based).
    ulx -= (ref_x - 1.0) * xres
    uly += (ref_y - 1.0) * yres
    zone = int(float(parts[7])) if len(parts) > 7 and parts[7] else 0
    return ulx, uly, xres, yres, zone


#: Default size of a block of pixels (MB of raw integers) handed out by
#: :meth:`NeonTile.iter_blocks`. Blocks of legacy cubes are new arrays; below glibc's largest
#: mmap threshold (32 MiB) a freed block comes back from the heap, already in memory, for the
#: next one, while a larger block is mapped and faulted in afresh each time (seven times the
#: page faults of a .001 whole-cube read with 96 MB blocks; the figures are in
#: docs/performance.md, "Block size").
BLOCK_MB = 32.0


@dataclass(frozen=True)
class TileMeta:
    """Everything about a tile except its pixels.

    ``shape`` is ``(rows, cols, bands)``; ``transform`` maps (col, row) to map x/y of the pixel's
    upper-left corner; ``bounds`` is ``(left, bottom, right, top)`` in metres.
    """

    path: Path
    site: str
    revision: str  # "001" (directional) or "002" (bidirectional)
    shape: tuple[int, int, int]
    dtype: np.dtype
    chunks: tuple[int, int, int] | None
    epsg: int
    transform: Affine
    wavelengths: np.ndarray  # (bands,) float64, nm
    fwhm: np.ndarray | None
    nodata: float
    scale_factor: float
    band_windows: tuple[tuple[float, float], ...]
    ancillary: tuple[str, ...] = field(default=())  # canonical names present
    compression: str | None = None  # HDF5 filter of the cube ("gzip", "lzf", ...), None = none
    compression_opts: int | None = None  # its level (gzip 0-9), where it has one
    shuffle: bool = False  # byte-shuffle filter before compression
    band_windows_in_file: bool = True  # False: the file has no Band_Window_* (defaults used)

    @property
    def crs(self) -> CRS:
        return CRS.from_epsg(self.epsg)

    @property
    def product(self) -> str:
        """NEON data product code, e.g. ``DP3.30006.002`` (bidirectional reflectance)."""
        return f"DP3.30006.{self.revision}"

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def cols(self) -> int:
        return self.shape[1]

    @property
    def bands(self) -> int:
        return self.shape[2]

    @property
    def res(self) -> tuple[float, float]:
        return (self.transform.a, -self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        return (left, top + self.transform.e * self.rows, left + self.transform.a * self.cols, top)

    def nearest_bands(self, wavelengths_nm: Sequence[float]) -> list[int]:
        """0-based indices of the bands whose centre wavelength is nearest each value (nm)."""
        wl = self.wavelengths
        out = []
        for w in wavelengths_nm:
            if not (wl.min() - 50 <= w <= wl.max() + 50):
                raise NeonFormatError(
                    f"{self.path}: requested wavelength {w} nm is outside the tile's range "
                    f"{wl.min():.1f}-{wl.max():.1f} nm"
                )
            out.append(int(np.argmin(np.abs(wl - w))))
        return out


class NeonTile:
    """An open NEON reflectance tile. Use as a context manager; the file stays open while in use.

    >>> with NeonTile("NEON_D17_SJER_DP3_257000_4111000_reflectance.h5") as t:
    ...     rgb = t.read_bands(t.meta.nearest_bands([669, 549, 474]))  # raw ints (rows, cols, 3)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        cache_mb: float | None = None,
        threads: int = 1,
        chunk_decoder: bool = True,
    ):
        """Open ``path``. ``threads``: decoder threads for pixel reads (the job's threads);
        ``chunk_decoder=False`` forces h5py's own reads (used to compare the two paths)."""
        self.path = Path(path)
        self.threads = max(1, int(threads))
        self._use_decoder = chunk_decoder
        self._decoder: chunkdec.ChunkReader | None = None
        self._decoder_planned = False
        #: A per-block correction of the pixels read (:meth:`set_correction`), or None.
        self.correction: BlockCorrection | None = None
        if not self.path.exists():
            raise NeonFormatError(f"{self.path}: file does not exist")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            size = self.path.stat().st_size
            raise NeonFormatError(
                f"{self.path}: not a readable HDF5 file ({size} bytes; {exc}). Expected a NEON AOP "
                "reflectance tile (.h5). The file may be truncated or an error page saved by a "
                "failed download: delete it and fetch it again."
            ) from exc
        try:
            self._site_group, site = self._find_site()
            self._refl_group = self._site_group["Reflectance"]
            self._cube = self._refl_group["Reflectance_Data"]
            self.meta = self._read_meta(site)
            if cache_mb is None:
                cache_mb = self._default_cache_mb()
            if cache_mb:
                # Re-open with a chunk cache sized for the layout (h5py's default is 1 MiB).
                self._f.close()
                self._f = h5py.File(
                    self.path, "r", rdcc_nbytes=int(cache_mb * 2**20), rdcc_nslots=100_003
                )
                self._site_group = self._f[site]
                self._refl_group = self._site_group["Reflectance"]
                self._cube = self._refl_group["Reflectance_Data"]
        except NeonFormatError:
            self._f.close()
            raise
        except (KeyError, ValueError, TypeError, OSError) as exc:
            self._f.close()
            raise NeonFormatError(
                f"{self.path}: not a NEON reflectance tile as expected ({exc}). Expected "
                "/<SITE>/Reflectance/Reflectance_Data with Metadata/Coordinate_System "
                "(EPSG Code, Map_Info) and Metadata/Spectral_Data/Wavelength (DP3.30006.001/.002)."
            ) from exc

    # -- context management -------------------------------------------------------------------
    def __enter__(self) -> NeonTile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        self._f.close()

    # -- metadata -------------------------------------------------------------------------------
    def _find_site(self) -> tuple[h5py.Group, str]:
        candidates = [
            name
            for name, obj in self._f.items()
            if isinstance(obj, h5py.Group) and "Reflectance" in obj
        ]
        if len(candidates) != 1:
            found = list(self._f.keys())
            what = "no" if not candidates else f"{len(candidates)}"
            raise NeonFormatError(
                f"{self.path}: found {what} site group with a 'Reflectance' member among "
                f"top-level items {found}; a NEON reflectance tile has exactly one "
                "(/<SITE>/Reflectance). Is this a radiance or lidar file?"
            )
        name = candidates[0]
        return self._f[name], name

    def _read_meta(self, site: str) -> TileMeta:
        cube = self._cube
        if cube.ndim != 3 or not np.issubdtype(cube.dtype, np.integer):
            raise NeonFormatError(
                f"{self.path}: Reflectance_Data has shape {cube.shape} and dtype {cube.dtype}; "
                "expected a 3-D integer cube (rows, cols, bands)."
            )
        md = self._refl_group["Metadata"]
        cs = md["Coordinate_System"]
        epsg = int(_scalar(cs["EPSG Code"][()]))
        ulx, uly, xres, yres, zone = parse_map_info(str(_scalar(cs["Map_Info"][()])))
        if xres <= 0 or yres <= 0:
            raise NeonFormatError(f"{self.path}: Map_Info pixel size {xres}x{yres} is not positive")
        if 32601 <= epsg <= 32660 and zone and epsg - 32600 != zone:
            log.warning("%s: EPSG %d disagrees with Map_Info zone %d", self.path, epsg, zone)
        transform = Affine(xres, 0.0, ulx, 0.0, -yres, uly)
        sd = md["Spectral_Data"]
        wl = np.asarray(sd["Wavelength"][()], dtype=np.float64).ravel()
        units = sd["Wavelength"].attrs.get("Units")
        if units is not None and "micro" in str(_scalar(units)).lower():
            wl = wl * 1000.0
        elif wl.max() < 100:  # pre-2016 files store micrometres without saying so
            wl = wl * 1000.0
        if wl.size != cube.shape[2]:
            raise NeonFormatError(
                f"{self.path}: {wl.size} wavelengths for {cube.shape[2]} bands in Reflectance_Data"
            )
        fwhm = np.asarray(sd["FWHM"][()], dtype=np.float64).ravel() if "FWHM" in sd else None
        attrs = cube.attrs
        nodata = float(_scalar(attrs["Data_Ignore_Value"])) if "Data_Ignore_Value" in attrs else -9999.0
        scale = float(_scalar(attrs["Scale_Factor"])) if "Scale_Factor" in attrs else 10000.0
        windows = []
        for key in ("Band_Window_1_Nanometers", "Band_Window_2_Nanometers"):
            if key in self._refl_group.attrs:
                lo, hi = np.asarray(self._refl_group.attrs[key], dtype=float).ravel()[:2]
                windows.append((float(lo), float(hi)))
        windows_in_file = bool(windows)
        if not windows:
            windows = list(DEFAULT_BAND_WINDOWS)
        anc = []
        if "Ancillary_Imagery" in md:
            anc += [ALIAS_TO_CANONICAL.get(k.lower(), k) for k in md["Ancillary_Imagery"].keys()]
        anc += [ALIAS_TO_CANONICAL[k.lower()] for k in md.keys() if k.lower().startswith("to-sensor")]
        revision = self._revision(md)
        return TileMeta(
            path=self.path,
            site=site,
            revision=revision,
            shape=tuple(int(s) for s in cube.shape),
            dtype=cube.dtype,
            chunks=tuple(cube.chunks) if cube.chunks else None,
            epsg=epsg,
            transform=transform,
            wavelengths=wl,
            fwhm=fwhm,
            nodata=nodata,
            scale_factor=scale,
            band_windows=tuple(windows),
            ancillary=tuple(sorted(set(anc))),
            compression=cube.compression,
            compression_opts=cube.compression_opts if isinstance(cube.compression_opts, int) else None,
            shuffle=bool(cube.shuffle),
            band_windows_in_file=windows_in_file,
        )

    def _revision(self, md: h5py.Group) -> str:
        if revision_from_name(self.path) is not None:
            return revision_from_name(self.path)
        anc = md.get("Ancillary_Imagery")
        if anc is not None:
            if "Acqusition_Date" in anc or "Aerosol_Optical_Thickness" in anc:
                return "002"
            wqi = anc.get("Weather_Quality_Indicator")
            if wqi is not None and wqi.ndim == 2:
                return "002"
        return "001"

    def _default_cache_mb(self) -> float:
        """Chunk cache size: a few chunks (at least 4 MiB).

        Reads are planned so that every chunk is decompressed once (row blocks aligned to the
        chunk height, band runs grouped by chunk depth), so a large cache buys nothing; a
        whole-cube cache (as HyTools suggests for per-band reads) would cost hundreds of MB.
        """
        chunks = self._cube.chunks
        if not chunks:
            return 0
        one = float(np.prod(chunks)) * self._cube.dtype.itemsize / 2**20
        return float(min(max(4 * one, 4.0), 64.0))

    # -- pixel access ---------------------------------------------------------------------------
    def _chunk_reader(self) -> chunkdec.ChunkReader | None:
        """The parallel chunk decoder for the cube, or None for h5py's path (planned once, on
        the first pixel read, with one log line saying which path and why)."""
        if not self._decoder_planned:
            self._decoder_planned = True
            if not self._use_decoder:
                reason = "chunk decoder disabled by the caller"
            else:
                try:
                    self._decoder, reason = chunkdec.plan(self._cube)
                except (OSError, ValueError, RuntimeError) as exc:  # unreadable index: h5py copes or reports
                    self._decoder, reason = None, f"chunk index unreadable ({exc})"
            if self._decoder is not None:
                log.info("%s: Reflectance_Data via aopflow chunk decoder (%s; %d threads)",
                         self.path.name, reason, self.threads)
            else:
                log.info("%s: Reflectance_Data via h5py (%s)", self.path.name, reason)
        return self._decoder

    def _decode_into(self, out: np.ndarray, sel: tuple) -> bool:
        """Fill ``out`` (dataset axis order, any strides) with the cube's ``sel`` by the chunk
        decoder; False (and h5py from now on) if there is none or a chunk fails to decode."""
        dec = self._chunk_reader()
        if dec is None:
            return False
        try:
            dec.read(out, sel, threads=self.threads)
            return True
        except chunkdec.ChunkDecodeError as exc:
            log.warning("%s: chunk decoder failed (%s); reading the rest with h5py", self.path.name, exc)
            self._decoder.close()
            self._decoder = None
            return False

    def _band_runs(self, bands: Sequence[int]) -> list[tuple[int, int]]:
        """Group sorted band indices into [start, stop) runs that share HDF5 chunks."""
        depth = self._cube.chunks[2] if self._cube.chunks else self.meta.bands
        runs: list[tuple[int, int]] = []
        for b in sorted(set(bands)):
            if runs and (b // depth == (runs[-1][1] - 1) // depth or b == runs[-1][1]):
                runs[-1] = (runs[-1][0], b + 1)
            else:
                runs.append((b, b + 1))
        return runs

    def _read(self, rows: slice, cols: slice, bands: Sequence[int]) -> np.ndarray:
        """Read ``bands`` of a window into one new integer array, without extra full copies.

        With the chunk decoder, the chunks holding the window's sorted unique bands are
        decoded straight into the output. On h5py's path, runs of bands that are read whole go
        straight into their slice of the output (``read_direct``); a run that also covers unwanted bands of the same chunks is read
        into a temporary of this window only and the wanted bands are copied out.
        """
        bands = [int(b) for b in bands]
        for b in bands:
            if not 0 <= b < self.meta.bands:
                raise IndexError(f"band index {b} outside 0..{self.meta.bands - 1}")
        order = sorted(set(bands))
        r0, r1, _ = rows.indices(self.meta.rows)
        c0, c1, _ = cols.indices(self.meta.cols)
        out = np.empty((r1 - r0, c1 - c0, len(order)), dtype=self._cube.dtype)
        if not self._decode_into(out, (slice(r0, r1), slice(c0, c1), order)):
            self._read_h5py(out, r0, r1, c0, c1, order)
        if bands == order:
            return out
        pos_of = {b: i for i, b in enumerate(order)}
        return out[:, :, [pos_of[b] for b in bands]]

    def _read_h5py(self, out: np.ndarray, r0: int, r1: int, c0: int, c1: int, order: list[int]) -> None:
        """h5py's path for :meth:`_read`: sorted unique bands ``order`` into ``out``."""
        pos = 0
        for a, b in self._band_runs(order):
            wanted = [x for x in order if a <= x < b]
            dest = np.s_[:, :, pos : pos + len(wanted)]
            if len(wanted) == b - a:
                self._cube.read_direct(out, np.s_[r0:r1, c0:c1, a:b], dest)
            else:
                tmp = self._cube[r0:r1, c0:c1, a:b]
                out[dest] = tmp[:, :, [x - a for x in wanted]]
            pos += len(wanted)

    def set_correction(self, correction: BlockCorrection | None) -> None:
        """Correct every block :meth:`read_bands` and :meth:`iter_blocks` return from now on.

        ``correction(rows, cols, bands, raw, keep)`` gets each window as read (``rows``/``cols``
        slices of the tile, the 0-based ``bands``, raw integers ``(rows, cols, bands)``) and
        returns the corrected integers of its first ``keep`` bands, a new C-contiguous
        ``(rows, cols, keep)`` array of the same dtype; the bands it needs besides the requested
        ones (``correction.extra_bands``, e.g. red and NIR for an NDVI) are appended to the read,
        in the same pass, so the cube is still read once. (The BRDF and
        topographic correction, :mod:`aopflow.brdf.apply`, is one.)
        """
        self.correction = correction

    def _corrected(self, rows: slice, cols: slice, bands: list[int], read) -> np.ndarray:
        corr = self.correction
        extra = [b for b in corr.extra_bands if b not in bands]
        allb = bands + extra
        return corr(rows, cols, allb, read(allb), len(bands))

    def read_bands(self, bands: Sequence[int], window: tuple[slice, slice] | None = None) -> np.ndarray:
        """Raw integer values ``(rows, cols, len(bands))`` of the given 0-based bands (corrected
        when a correction is set)."""
        rows, cols = window if window is not None else (slice(None), slice(None))
        if self.correction is not None:
            r0, r1, _ = rows.indices(self.meta.rows)
            c0, c1, _ = cols.indices(self.meta.cols)
            return self._corrected(slice(r0, r1), slice(c0, c1), [int(b) for b in bands],
                                   lambda bb: self._read(rows, cols, bb))
        return self._read(rows, cols, bands)

    def block_rows(self, n_bands: int, target_mb: float = BLOCK_MB, align: bool = True) -> int:
        """Rows per block, about ``target_mb`` of raw data; with ``align`` a multiple of the
        chunk height (so each chunk is read by one block)."""
        chunk_rows = self._cube.chunks[0] if self._cube.chunks else 1
        bytes_per_row = self.meta.cols * n_bands * self._cube.dtype.itemsize
        rows = max(1, int(target_mb * 2**20 // bytes_per_row))
        if align:
            rows = max(chunk_rows, rows // chunk_rows * chunk_rows)
        return min(rows, self.meta.rows)

    def iter_blocks(
        self, bands: Sequence[int], target_mb: float = BLOCK_MB
    ) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(row_slice, raw (rows, cols, len(bands)))`` blocks covering the tile once.

        Each HDF5 chunk is decompressed exactly once: for chunks spanning many rows (2022+
        band-per-chunk files) the selected bands are read whole, band by band, into one
        band-major integer array (never float), and handed out as row-block views
        ``(rows, cols, bands)`` (not contiguous; ``reshape`` copies a block at a time). With a
        correction set (:meth:`set_correction`) each block is corrected as it is read (a new
        C-contiguous array).
        """
        bands = [int(b) for b in bands]
        corr = self.correction
        if corr is None:
            yield from self._raw_blocks(bands, target_mb)
            return
        # The correction's extra bands are read with the block (same pass) and dropped.
        extra = [b for b in corr.extra_bands if b not in bands]
        for sl, raw in self._raw_blocks(bands + extra, target_mb):
            yield sl, corr(sl, slice(0, self.meta.cols), bands + extra, raw, len(bands))

    def _raw_blocks(self, bands: list[int], target_mb: float) -> Iterator[tuple[slice, np.ndarray]]:
        """:meth:`iter_blocks` without the correction."""
        chunk_rows = self._cube.chunks[0] if self._cube.chunks else 1
        rows_per_block = self.block_rows(len(bands), target_mb, align=False)
        if chunk_rows >= rows_per_block * 2:
            # Chunks much taller than a block (2022+ band-per-chunk files): read each band once.
            order = sorted(set(bands))
            whole = self._read_band_major(order)
            pick = None if order == bands else [order.index(b) for b in bands]
            for r0 in range(0, self.meta.rows, rows_per_block):
                sl = slice(r0, min(r0 + rows_per_block, self.meta.rows))
                blk = np.moveaxis(whole[:, sl, :], 0, -1)
                yield sl, (blk if pick is None else blk[:, :, pick])
            return
        rows_per_block = self.block_rows(len(bands), target_mb)
        for r0 in range(0, self.meta.rows, rows_per_block):
            sl = slice(r0, min(r0 + rows_per_block, self.meta.rows))
            yield sl, self._read(sl, slice(None), bands)

    def _read_band_major(self, bands: Sequence[int]) -> np.ndarray:
        """All of the given bands as a band-major integer array ``(len(bands), rows, cols)``.

        For band-per-chunk files each chunk is one contiguous band image; reading it into a
        contiguous slice is several times faster than scattering it into a pixel-major
        ``(rows, cols, bands)`` array (HDF5 would write every value with a stride).
        """
        whole = np.empty((len(bands), self.meta.rows, self.meta.cols), dtype=self._cube.dtype)
        for b in bands:
            if not 0 <= b < self.meta.bands:
                raise IndexError(f"band index {b} outside 0..{self.meta.bands - 1}")
        if list(bands) == sorted(set(bands)):
            # The decoder fills the band-major buffer through a (rows, cols, bands) view.
            if self._decode_into(whole.transpose(1, 2, 0), (slice(None), slice(None), list(bands))):
                return whole
        for i, b in enumerate(bands):
            # Same-shape (rows, cols, 1) selections in file and memory keep HDF5 on its fast
            # path; a 2-D memory selection of a 3-D file selection is ~5x slower (HDF5 2.0).
            self._cube.read_direct(whole[i].reshape(self.meta.rows, self.meta.cols, 1), np.s_[:, :, b : b + 1])
        return whole

    # -- acquisition geometry --------------------------------------------------------------------
    def read_geometry(self) -> TileGeometry:
        """Every pixel's sun, view and terrain angles and flight line (:class:`TileGeometry`).

        The line of a pixel is its ``Data_Selection_Index`` value, mapped to its Logs group by
        :func:`resolve_flight_lines`; view angles from both revisions' to-sensor names.
        """
        for layer in ("Data_Selection_Index", "to-sensor_Zenith_Angle", "to-sensor_Azimuth_Angle", "Slope", "Aspect"):
            if not self.has_layer(layer):
                raise NeonFormatError(
                    f"{self.path}: layer {layer!r} is missing, needed for BRDF and topographic "
                    "correction (present: " + (", ".join(self.meta.ancillary) or "none") + "); set "
                    "brdf.enabled: false for tiles without it."
                )
        ds = self._layer_dataset("Data_Selection_Index")
        line = ds[()].astype(np.int32)
        md = self._refl_group["Metadata"]
        lines = resolve_flight_lines(self.path, ds.attrs.get("Data_Files"), np.unique(line),
                                     md["Logs"] if "Logs" in md else None)
        sz = np.full(line.shape, np.nan, dtype=np.float32)
        sa = np.full(line.shape, np.nan, dtype=np.float32)
        for v, fl in lines.items():
            sel = line == v
            sz[sel], sa[sel] = fl.solar_zenith, fl.solar_azimuth
        line[line < 0] = -1

        def angles(name: str) -> np.ndarray:
            d = self._layer_dataset(name)
            arr = d[()].astype(np.float32)
            nd = _scalar(d.attrs["Data_Ignore_Value"]) if "Data_Ignore_Value" in d.attrs else -9999.0
            arr[(arr == nd) | (arr < -9000)] = np.nan
            if arr.shape != line.shape:
                raise NeonFormatError(f"{self.path}: layer {name!r} has shape {arr.shape}, expected {line.shape}")
            return arr

        return TileGeometry(line=line, solar_zenith=sz, solar_azimuth=sa,
                            view_zenith=angles("to-sensor_Zenith_Angle"), view_azimuth=angles("to-sensor_Azimuth_Angle"),
                            slope=angles("Slope"), aspect=angles("Aspect"), lines=lines)

    # -- ancillary layers ----------------------------------------------------------------------
    def has_layer(self, name: str) -> bool:
        return canonical_layer(name) in self.meta.ancillary

    def _layer_dataset(self, name: str) -> h5py.Dataset:
        canon = canonical_layer(name)
        md = self._refl_group["Metadata"]
        groups = [md["Ancillary_Imagery"]] if "Ancillary_Imagery" in md else []
        groups.append(md)
        for g in groups:
            for alias in ANCILLARY_ALIASES[canon]:
                if alias in g and isinstance(g[alias], h5py.Dataset):
                    return g[alias]
        raise NeonFormatError(
            f"{self.path}: ancillary layer {canon!r} is not in this file (present: "
            f"{list(self.meta.ancillary) or 'none'}). Remove it from config key "
            "'ancillary_layers' or use complete NEON tiles (subset files may lack "
            "Ancillary_Imagery)."
        )

    def layer_info(self, name: str) -> LayerInfo:
        """What :meth:`read_layer` will return for a layer, without reading its pixels."""
        canon = canonical_layer(name)
        ds = self._layer_dataset(canon)
        nodata, source = self._layer_nodata(canon, ds)
        return LayerInfo(
            name=canon,
            hdf5_path=ds.name,
            dtype=ds.dtype,
            shape=tuple(int(s) for s in ds.shape),
            nodata=nodata,
            nodata_source=source,
            chunks=tuple(ds.chunks) if ds.chunks else None,
            compression=ds.compression,
        )

    def _layer_nodata(self, canon: str, ds: h5py.Dataset) -> tuple[float | None, str]:
        """No-data of an ancillary dataset as written to its GeoTIFF, and where it came from.

        In order: Weather_Quality_Indicator codes have 0; the dataset's own
        ``Data_Ignore_Value``; NEON's convention for the layer (:data:`ANCILLARY_NODATA`,
        :data:`ANCILLARY_NODATA_UINT8`); the reflectance's ``Data_Ignore_Value``. A value the
        dataset's integer dtype cannot hold (-9999 in a uint8 layer) cannot mark any pixel, so
        the layer then has no no-data (None).
        """
        if canon == "Weather_Quality_Indicator":
            if ds.ndim == 3:
                return float(WQI_NODATA), "RGB stop-light read as codes 1-3; other colours are no data"
            return float(WQI_NODATA), "codes 1-3; every other value is no data"
        if "Data_Ignore_Value" in ds.attrs:
            value, source = float(_scalar(ds.attrs["Data_Ignore_Value"])), "Data_Ignore_Value"
        elif canon in ANCILLARY_NODATA:
            value, source = float(ANCILLARY_NODATA[canon]), "NEON convention for the layer"
        elif canon in ANCILLARY_NODATA_UINT8 and ds.dtype == np.uint8 and self.meta.nodata == -9999:
            value, source = float(ANCILLARY_NODATA_UINT8[canon]), "NEON's -9999 stored in 8 bits"
        else:
            value, source = float(self.meta.nodata), "reflectance Data_Ignore_Value"
        if np.issubdtype(ds.dtype, np.integer):
            info = np.iinfo(ds.dtype)
            if not (value.is_integer() and info.min <= value <= info.max):
                return None, f"{source} {value:g} does not fit {ds.dtype}"
        return value, source

    def read_layer(self, name: str) -> tuple[np.ndarray, float | None]:
        """Read an ancillary layer as a 2-D array ``(rows, cols)`` and its no-data value.

        ``Weather_Quality_Indicator`` is returned as uint8 codes 1/2/3, 0 = no data, for both
        revisions: the .001 RGB stop-light ``(rows, cols, 3)`` is converted to the .002 codes,
        and in a 2-D layer of any dtype every value other than 1, 2 or 3 (NEON's -9999 in
        int16/int32 layers, 0, 255, ...) and the layer's own ``Data_Ignore_Value`` become 0.
        Other layers keep their stored dtype and values (no cast); their no-data is described
        in :meth:`_layer_nodata`.
        """
        canon = canonical_layer(name)
        ds = self._layer_dataset(canon)
        nodata, _ = self._layer_nodata(canon, ds)
        arr = ds[()]
        if canon == "Weather_Quality_Indicator":
            arr = self._wqi_codes(arr, ds)
        if arr.ndim != 2 or arr.shape != (self.meta.rows, self.meta.cols):
            raise NeonFormatError(
                f"{self.path}: layer {canon!r} has shape {arr.shape}, expected "
                f"({self.meta.rows}, {self.meta.cols})"
            )
        return arr, nodata

    def _wqi_codes(self, arr: np.ndarray, ds: h5py.Dataset) -> np.ndarray:
        """Weather_Quality_Indicator as uint8 codes ``(rows, cols)``: 1, 2, 3, else 0.

        Values are compared, never cast, so -9999 cannot wrap to 241 (as ``astype(uint8)``
        would) and become a fourth class.
        """
        codes = np.zeros(arr.shape[:2], dtype=np.uint8)
        if arr.ndim == 3 and arr.shape[2] >= 3:  # .001 RGB stop-light
            for (r, g, b), code in WQI_STOPLIGHT.items():
                codes[(arr[..., 0] == r) & (arr[..., 1] == g) & (arr[..., 2] == b)] = code
            return codes
        if arr.ndim != 2:
            raise NeonFormatError(
                f"{self.path}: Weather_Quality_Indicator has shape {arr.shape}; expected "
                "(rows, cols) codes 1/2/3 (.002) or an RGB stop-light (rows, cols, 3) (.001)"
            )
        for code in WQI_CODES:
            codes[arr == code] = code
        if "Data_Ignore_Value" in ds.attrs:
            codes[arr == float(_scalar(ds.attrs["Data_Ignore_Value"]))] = WQI_NODATA
        other = arr[codes == WQI_NODATA]
        if other.size:
            values, counts = np.unique(other, return_counts=True)
            shown = ", ".join(f"{v:g} x{c}" for v, c in zip(values[:8].tolist(), counts[:8].tolist()))
            log.info(
                "%s: Weather_Quality_Indicator: %d pixels are no data (values %s%s)",
                self.path.name, other.size, shown, ", ..." if values.size > 8 else "",
            )
        return codes


class BlockCorrection:
    """What :meth:`NeonTile.set_correction` takes: ``extra_bands`` (0-based bands it needs
    besides those read) and ``__call__(rows, cols, bands, raw, keep) -> corrected raw`` of the
    first ``keep`` bands."""

    extra_bands: tuple[int, ...] = ()

    def __call__(self, rows: slice, cols: slice, bands: Sequence[int], raw: np.ndarray, keep: int) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class LayerInfo:
    """An ancillary layer as stored (``dtype``, ``shape``, HDF5 ``chunks``/``compression``) and
    the no-data :meth:`NeonTile.read_layer` gives it (``nodata``, ``nodata_source``)."""

    name: str  # canonical (.002) name
    hdf5_path: str
    dtype: np.dtype
    shape: tuple[int, ...]
    nodata: float | None
    nodata_source: str
    chunks: tuple[int, ...] | None = None
    compression: str | None = None


def read_meta(path: str | Path) -> TileMeta:
    """Open a tile, return its metadata and close it."""
    with NeonTile(path, cache_mb=0) as t:
        return t.meta


def check_tile_in_cell(meta: TileMeta, tile_id: str) -> None:
    """Raise if the tile's data extend outside the 1 km grid cell its file name names."""
    e, n, _, _ = tile_cell(tile_id)
    cell_m = TILE_SIZE_M
    left, bottom, right, top = meta.bounds
    tol = 1e-6 * cell_m
    if left < e - tol or bottom < n - tol or right > e + cell_m + tol or top > n + cell_m + tol:
        raise NeonFormatError(
            f"{meta.path}: data extent (left={left}, bottom={bottom}, right={right}, top={top}) "
            f"lies outside the {cell_m:g} m grid cell {tile_id} named by the file (expected within "
            f"x {e:g}-{e + cell_m:g}, y {n:g}-{n + cell_m:g}). The file name or its Map_Info is "
            "wrong; NEON names tiles by their lower-left corner."
        )
