"""Flight lines and acquisition geometry of a NEON reflectance tile, and the decoding of HDF5
metadata values (scalars or 1-element arrays, ``str`` or ``bytes``) that the reader shares.

The reader (:meth:`aopflow.neon.reader.NeonTile.read_geometry`) opens the layers; this module
maps ``Data_Selection_Index`` values to their flight lines and solar angles
(:func:`resolve_flight_lines`, the one place that knows that mapping) and holds the per-pixel
result (:class:`TileGeometry`). No file access here: the mapping takes the attribute's value
and the ``Logs`` group, so that it is tested on hand-made values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aopflow.errors import NeonFormatError


def scalar(value):
    """A scalar from a value stored as a scalar or a 1-element array; bytes decoded."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"expected one value, got shape {arr.shape}")
    v = arr.ravel()[0]
    if isinstance(v, bytes):
        return v.decode("ascii", errors="replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass(frozen=True)
class FlightLine:
    """One flight line contributing pixels to a tile: its ``Data_Selection_Index`` value,
    line file name, flight day (YYYYMMDD), acquisition time (HHMMSS, the .001 Logs group name)
    and the solar angles of its Logs group (degrees; azimuth clockwise from north)."""

    index: int
    file: str
    date: str
    time: str
    solar_zenith: float
    solar_azimuth: float


def attr_text(value) -> str:
    """An HDF5 string attribute (str, bytes, or a 1-element array of either) as ``str``."""
    arr = np.asarray(value)
    v = arr.ravel()[0] if arr.size == 1 else value
    return v.decode("ascii", errors="replace") if isinstance(v, bytes) else str(v)


def resolve_flight_lines(tile: str | Path, data_files, values: Sequence[int], logs) -> dict[int, FlightLine]:
    """Map ``Data_Selection_Index`` values to their flight lines and solar angles.

    The one place that knows the mapping (``shared/NEON_FORMAT.md`` 1.5-1.6, ``BRDF.md`` 1):
    value ``v`` -> ``Data_Files.split(",")[v]`` (whitespace stripped; the attribute may be
    ``str`` or ``bytes``) -> a line file name such as
    ``NEON_D02_SERC_DP1_20190604_150649_reflectance.h5`` whose ``split("_")[4]`` is the flight
    day and ``[5]`` the acquisition time HHMMSS = the group ``Metadata/Logs/<HHMMSS>`` holding
    ``Solar_Zenith_Angle`` and ``Solar_Azimuth_Angle`` (scalars, degrees).

    ``tile``: the tile's file, named in errors; ``data_files``: the attribute's value (None when
    the attribute is missing); ``values``: the index values present in the tile (no data -1 and
    negative values are skipped; the list may be longer than the tile's Logs, and only the
    values present are resolved); ``logs``: the ``Logs`` group (a mapping of group name ->
    group of datasets), or None when it is missing. Raises :class:`NeonFormatError` naming the
    tile, the value, the file name it gives and what is missing.
    """
    name = Path(tile).name
    wanted = sorted({int(v) for v in values if int(v) >= 0})
    if not wanted:
        return {}
    if data_files is None:
        raise NeonFormatError(
            f"{name}: Metadata/Ancillary_Imagery/Data_Selection_Index has no 'Data_Files' attribute, so "
            f"its values {wanted} cannot be mapped to flight lines and their solar angles. BRDF "
            "correction needs it (NEON .001 tiles carry it); set brdf.enabled: false for these tiles."
        )
    files = [f.strip() for f in attr_text(data_files).split(",")]
    if logs is None:
        raise NeonFormatError(
            f"{name}: no Metadata/Logs group: the solar angles of the flight lines {wanted} are "
            "missing. BRDF correction needs them; set brdf.enabled: false for these tiles."
        )
    out = {}
    for v in wanted:
        if v >= len(files):
            raise NeonFormatError(
                f"{name}: Data_Selection_Index value {v} is past the {len(files)} file names of its "
                f"Data_Files attribute ({files}); the tile's index and its line list disagree."
            )
        fname = files[v]
        parts = fname.split("_")
        day, hhmmss = (parts[4], parts[5]) if len(parts) > 5 else ("", "")
        if not (len(day) == 8 and day.isdigit() and len(hhmmss) == 6 and hhmmss.isdigit()):
            raise NeonFormatError(
                f"{name}: Data_Selection_Index value {v} names line file {fname!r}, which has no "
                "flight day and time (expected NEON_<DOM>_<SITE>_DP1_<YYYYMMDD>_<HHMMSS>_..., fields "
                "[4] and [5] after split('_'))."
            )
        if hhmmss not in logs:
            raise NeonFormatError(
                f"{name}: Data_Selection_Index value {v} names line file {fname!r}, but its Logs group "
                f"Metadata/Logs/{hhmmss} is missing (present: {sorted(logs.keys())})."
            )
        group = logs[hhmmss]
        angles = []
        for key in ("Solar_Zenith_Angle", "Solar_Azimuth_Angle"):
            if key not in group:
                raise NeonFormatError(
                    f"{name}: Metadata/Logs/{hhmmss} (line {fname!r}, Data_Selection_Index value {v}) "
                    f"has no {key}."
                )
            angles.append(float(scalar(group[key][()])))
        out[v] = FlightLine(v, fname, day, hhmmss, angles[0], angles[1])
    return out


@dataclass(frozen=True)
class TileGeometry:
    """Per-pixel acquisition geometry of a tile, all ``(rows, cols)``: ``line`` int32 (the
    ``Data_Selection_Index`` value, -1 = no data); float32 degrees ``solar_zenith``,
    ``solar_azimuth`` (of the pixel's line; NaN where no line), ``view_zenith``,
    ``view_azimuth`` (to-sensor, from the pixel to the sensor), ``slope``, ``aspect`` (the
    direction the slope faces), NaN = no data; ``lines``: value -> :class:`FlightLine`."""

    line: np.ndarray
    solar_zenith: np.ndarray
    solar_azimuth: np.ndarray
    view_zenith: np.ndarray
    view_azimuth: np.ndarray
    slope: np.ndarray
    aspect: np.ndarray
    lines: dict[int, FlightLine]

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``(k, 7)`` float32 of the pixels (rows, cols): solar zenith, solar azimuth, view
        zenith, view azimuth, slope, aspect, line value (the columns of :data:`GEOMETRY_COLUMNS`)."""
        cols_ = [getattr(self, c)[rows, cols] for c in GEOMETRY_COLUMNS[:-1]]
        return np.stack([*cols_, self.line[rows, cols].astype(np.float32)], axis=1).astype(np.float32)


#: Columns of :meth:`TileGeometry.at` (and of the geometry stored with pixel samples).
GEOMETRY_COLUMNS = ("solar_zenith", "solar_azimuth", "view_zenith", "view_azimuth", "slope", "aspect", "line")
