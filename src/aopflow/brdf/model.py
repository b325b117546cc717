"""The fitted BRDF and topographic model of a site (``brdf/coefficients.json``): read, write,
and the look-ups the correction needs (a line's group and C, a group's NDVI-binned
coefficients)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aopflow.errors import ConfigError
from aopflow.io import atomic_path
from aopflow.ndvi import NIR_NM, RED_NM

#: Format version of coefficients.json.
FORMAT = 1


@dataclass
class Group:
    """One fitting group (a flight day, or the site): its lines, reference solar zenith
    (degrees), NDVI bin ``edges`` (nb+1) and ``centres`` (nb), ``counts`` (nb) of samples and
    the kernel weights ``iso``, ``vol``, ``geo`` (nb, B)."""

    name: str
    lines: list[str]
    solar_zenith_ref: float
    edges: np.ndarray
    centres: np.ndarray
    counts: np.ndarray
    iso: np.ndarray
    vol: np.ndarray
    geo: np.ndarray


@dataclass
class Line:
    """A flight line: its group, date, solar angles (degrees), topographic C per band (B,)
    and the samples its C was fitted on (0: C taken from its group's lines)."""

    file: str
    group: str
    date: str
    solar_zenith: float
    solar_azimuth: float
    c: np.ndarray
    n_samples: int


@dataclass
class BrdfModel:
    """A site's correction. ``wavelengths`` (B,) nm of the fitted bands; ``geometric`` the Li
    form (:data:`aopflow.brdf.kernels.GEOMETRIC_KERNELS`), ``br``/``hb`` its crown shape;
    ``group_by`` "day" or "site"; ``topo`` whether SCS+C is applied; ``ndvi_min`` below which
    the BRDF factor is 1 (water, bare and built surfaces, as HyTools' apply mask);
    ``red_nm``/``nir_nm`` the NDVI's bands."""

    wavelengths: np.ndarray
    groups: dict[str, Group]
    lines: dict[str, Line]
    geometric: str = "li_sparse"
    br: float = 10.0
    hb: float = 2.0
    group_by: str = "day"
    topo: bool = True
    ndvi_min: float = 0.1
    red_nm: float = RED_NM
    nir_nm: float = NIR_NM
    info: dict = field(default_factory=dict)

    def line_params(self, file: str, date: str, tile: str = "") -> tuple[str, np.ndarray]:
        """(group name, C (B,)) of a flight line of a tile; a line the fit did not see takes
        its day's group (or the site group) and that group's mean C."""
        if file in self.lines:
            ln = self.lines[file]
            return ln.group, ln.c
        group = date if self.group_by == "day" and date in self.groups else ("site" if "site" in self.groups else None)
        if group is None:
            raise ConfigError(
                f"{tile}: flight line {file} (day {date}) is in no group of the BRDF coefficients "
                f"(groups {sorted(self.groups)}): the fit saw no samples of that day. Rerun the fit "
                "with this tile's samples (brdf/coefficients.json is out of date)."
            )
        cs = [self.lines[f].c for f in self.groups[group].lines if f in self.lines]
        return group, (np.mean(cs, axis=0) if cs else np.full(self.wavelengths.size, 1e5))

    def to_json(self) -> dict:
        g = {k: {"lines": v.lines, "solar_zenith_ref": v.solar_zenith_ref, "ndvi_edges": v.edges.tolist(),
                 "ndvi_centres": v.centres.tolist(), "sample_counts": v.counts.tolist(),
                 "coefficients": {"f_iso": v.iso.tolist(), "f_vol": v.vol.tolist(), "f_geo": v.geo.tolist()}}
             for k, v in self.groups.items()}
        lines = {k: {"group": v.group, "date": v.date, "solar_zenith": v.solar_zenith, "solar_azimuth": v.solar_azimuth,
                     "topo_c": v.c.tolist(), "topo_samples": v.n_samples} for k, v in self.lines.items()}
        return {"format": FORMAT,
                "model": {"type": "flex", "volume": "ross_thick", "geometric": self.geometric, "b/r": self.br,
                          "h/b": self.hb, "interp_kind": "linear", "topo": "scs+c" if self.topo else None,
                          "group_by": self.group_by, "ndvi_min": self.ndvi_min,
                          "ndvi_bands_nm": [self.red_nm, self.nir_nm]},
                "bands_nm": self.wavelengths.tolist(), "groups": g, "lines": lines, "info": self.info}

    @classmethod
    def from_json(cls, d: dict) -> BrdfModel:
        m = d["model"]
        groups = {k: Group(k, v["lines"], float(v["solar_zenith_ref"]), np.array(v["ndvi_edges"]),
                           np.array(v["ndvi_centres"]), np.array(v["sample_counts"]),
                           *(np.array(v["coefficients"][c]) for c in ("f_iso", "f_vol", "f_geo")))
                  for k, v in d["groups"].items()}
        lines = {k: Line(k, v["group"], v["date"], v["solar_zenith"], v["solar_azimuth"], np.array(v["topo_c"]),
                         int(v["topo_samples"])) for k, v in d["lines"].items()}
        red, nir = m["ndvi_bands_nm"]
        return cls(np.array(d["bands_nm"]), groups, lines, m["geometric"], m["b/r"], m["h/b"], m["group_by"],
                   m["topo"] is not None, m["ndvi_min"], red, nir, d.get("info", {}))


def write_model(model: BrdfModel, path: str | os.PathLike) -> Path:
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(model.to_json(), indent=1))
    return Path(path)


def read_model(path: str | os.PathLike) -> BrdfModel:
    try:
        d = json.loads(Path(path).read_text())
        if d.get("format") != FORMAT:
            raise KeyError(f"format {d.get('format')!r}, expected {FORMAT}")
        return BrdfModel.from_json(d)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a readable BRDF coefficients file ({exc}); delete it and rerun the fit.") from exc


#: Values of ``brdf.enabled``.
ENABLED_CHOICES = (True, False, "auto")


def correction_enabled(enabled, revision: str, where: str = "") -> bool:
    """Whether the correction runs for tiles of product ``revision`` ("001"/"002"):
    ``auto`` = on for .001 only; ``true`` on .002 tiles is a :class:`ConfigError` (NEON has
    corrected them already)."""
    if enabled not in ENABLED_CHOICES:
        raise ConfigError(f"brdf.enabled must be one of true, false, auto; got {enabled!r}")
    if enabled == "auto":
        return revision == "001"
    if enabled is True and revision != "001":
        raise ConfigError(
            f"brdf.enabled is true but {where or 'the tiles'} are DP3.30006.{revision} (bidirectional) "
            "reflectance, which NEON has already BRDF- and topographically corrected; correcting it "
            "again would distort it. Set brdf.enabled: auto (or false) for .002 tiles."
        )
    return bool(enabled)
