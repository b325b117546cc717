"""Which spectral indices aopflow computes, from which band symbols, with which constants.

The catalogue is Awesome Spectral Indices through its Python library ``spyndex`` (Montero et
al. 2023, "A standardized catalogue of spectral indices to advance the use of remote sensing in
Earth system research", Scientific Data 10:197, doi:10.1038/s41597-023-02096-0): every index's
formula, its band symbols (``N``, ``R``, ``S1``...), and its constants (``L``, ``g``, ``C1``,
``C2``, ``gamma``...) with their default values. spyndex reads its catalogue from the JSON its
package ships (never from the internet unless asked with ``online=True``, which aopflow never
does).

Indices NEON publishes that spyndex lacks come from :data:`OWN_INDICES`, each with its paper:

* ``PRI`` photochemical reflectance index ``(R531 - R570) / (R531 + R570)`` (Gamon, Penuelas
  and Field 1992, Remote Sensing of Environment 41:35-44, doi:10.1016/0034-4257(92)90059-S;
  NEON DP3.30026.001);
* ``WBI`` water band index ``R900 / R970`` (Penuelas, Filella, Biel, Serrano and Save 1993,
  International Journal of Remote Sensing 14(10):1887-1905, doi:10.1080/01431169308954010;
  NEON DP3.30019.001).

Their symbols (``R531``...) are narrow bands (:data:`OWN_SYMBOLS`), which Sentinel-2 does not
have. A name spyndex knows means spyndex's index (an own entry is only used for names spyndex
lacks; ``tests/test_indices.py`` fails when spyndex gains one, so the entry is reviewed), with
one exception, :data:`CORRECTED`:

* ``ARVI``: spyndex 0.12 ships ``(N-(R-gamma*(R-B)))/(N+(R-gamma*(R-B)))``, whose red-blue term
  ``R - gamma (R - B)`` has the sign of the correction flipped (with gamma = 1 it is just B).
  Kaufman and Tanre (1992, IEEE TGRS 30(2):261-270, doi:10.1109/36.134076) define
  ``rb = R - gamma (B - R)``, NEON's DP3.30026.001 uses ``2 R - B`` (gamma = 1), and the
  catalogue fixed it upstream after spyndex 0.12 (awesome-spectral-indices issue #132). aopflow
  computes Kaufman and Tanre's formula with spyndex's gamma; a test fails once spyndex ships the
  fix, so that this correction is then removed.

The no-data rule (as the NDVI rule, :mod:`aopflow.ndvi`): an index is no data where any of its
band reflectances is negative or not finite, and where the formula gives a non-finite value
(both bands of a normalized difference zero, a ratio over zero).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from aopflow.errors import ConfigError

#: Pattern of an index name (also the ``{index}`` wildcard and ``index_{NAME}`` products).
INDEX_NAME_PATTERN = r"[A-Za-z0-9]+"

#: NEON's vegetation (DP3.30026.001) and water (DP3.30019.001) indices: the default list.
NEON_INDICES = ("NDVI", "EVI", "ARVI", "PRI", "SAVI", "NDWI", "NDII", "MSI", "NMDI", "WBI")

#: Narrow-band symbols of :data:`OWN_INDICES`: symbol -> (min, max) nm (centre +- 5 nm).
OWN_SYMBOLS: dict[str, tuple[float, float]] = {
    "R531": (526.0, 536.0),
    "R570": (565.0, 575.0),
    "R900": (895.0, 905.0),
    "R970": (965.0, 975.0),
}


@dataclasses.dataclass(frozen=True)
class OwnIndex:
    """An index spyndex lacks: formula text, band symbols, callable and reference."""

    name: str
    long_name: str
    formula: str
    bands: tuple[str, ...]
    fn: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    reference: str
    constants: tuple[str, ...] = ()  # spyndex constants it uses (their defaults apply)


#: Indices spyndex lacks (see the module docstring for the papers).
OWN_INDICES: dict[str, OwnIndex] = {
    "PRI": OwnIndex("PRI", "Photochemical Reflectance Index", "(R531-R570)/(R531+R570)",
                    ("R531", "R570"), lambda p: (p["R531"] - p["R570"]) / (p["R531"] + p["R570"]),
                    "https://doi.org/10.1016/0034-4257(92)90059-S"),
    "WBI": OwnIndex("WBI", "Water Band Index", "R900/R970", ("R900", "R970"),
                    lambda p: p["R900"] / p["R970"], "https://doi.org/10.1080/01431169308954010"),
}

#: spyndex indices whose shipped formula is wrong, computed by aopflow's (module docstring):
#: name -> (the formula spyndex ships, the correct index).
CORRECTED: dict[str, tuple[str, OwnIndex]] = {
    "ARVI": ("(N-(R-gamma*(R-B)))/(N+(R-gamma*(R-B)))",
             OwnIndex("ARVI", "Atmospherically Resistant Vegetation Index",
                      "(N-(R-gamma*(B-R)))/(N+(R-gamma*(B-R)))", ("N", "R", "B"),
                      lambda p: ((p["N"] - (p["R"] - p["gamma"] * (p["B"] - p["R"])))
                                 / (p["N"] + (p["R"] - p["gamma"] * (p["B"] - p["R"])))),
                      "https://doi.org/10.1109/36.134076", ("gamma",))),
}


def load_spyndex():
    import spyndex  # imported on use: 0.2 s, and only the jobs that compute indices need it

    return spyndex


@dataclasses.dataclass(frozen=True)
class IndexSpec:
    """One index as aopflow computes it.

    ``bands``: its reflectance band symbols (spyndex's ``N``, ``R``... or :data:`OWN_SYMBOLS`);
    ``constants``: constant name -> value (spyndex's defaults, overridden by
    ``index_constants``); ``wavelengths``: the ``lambdaX`` constants, filled from the mapped
    band's centre at compute time; ``source``: ``spyndex`` or ``aopflow``.
    """

    name: str
    long_name: str
    formula: str
    bands: tuple[str, ...]
    constants: Mapping[str, float]
    wavelengths: tuple[str, ...]
    reference: str
    source: str


def band_symbols() -> dict[str, tuple[float, float]]:
    """Every reflectance band symbol aopflow maps: symbol -> (min, max) wavelength nm.

    spyndex's optical symbols (all but the thermal ``T``, ``T1``, ``T2``) and
    :data:`OWN_SYMBOLS`. Fixed, whatever indices are configured, so that adding an index never
    changes the per-tile band extract (``docs/indices.md``)."""
    sp = load_spyndex()
    out = {k: (float(b.min_wavelength), float(b.max_wavelength)) for k, b in sp.bands.items()
           if float(b.max_wavelength) <= 2600}
    out.update(OWN_SYMBOLS)
    return out


def catalogue_names() -> list[str]:
    """Every index name accepted: spyndex's and :data:`OWN_INDICES`."""
    return sorted(set(load_spyndex().indices) | set(OWN_INDICES))


def index_spec(name: str, constants: Mapping[str, float] | None = None) -> IndexSpec:
    """The :class:`IndexSpec` of ``name``.

    Args:
        name: an index name of :func:`catalogue_names` (case-sensitive, as spyndex).
        constants: overrides of spyndex's constant defaults for this index (``index_constants``).

    Raises:
        ConfigError: unknown name (with close matches), an index aopflow cannot compute (radar
            or thermal bands, kernel indices, a constant without default and no override), or an
            override naming a constant the index does not use.
    """
    sp = load_spyndex()
    constants = dict(constants or {})
    if name not in sp.indices and name in OWN_INDICES:
        own = OWN_INDICES[name]
        if constants:
            raise ConfigError(f"index_constants.{name}: {name} has no constants (formula "
                              f"{own.formula}); remove the entry.")
        return IndexSpec(name, own.long_name, own.formula, own.bands, {}, (), own.reference, "aopflow")
    if name not in sp.indices:
        near = difflib.get_close_matches(name, catalogue_names(), n=3)
        hint = f" Did you mean {', '.join(near)}?" if near else ""
        raise ConfigError(
            f"indices: {name!r} is not a spectral index of spyndex "
            f"{getattr(sp, '__version__', '')} (Awesome Spectral Indices) nor of aopflow's own "
            f"table ({', '.join(OWN_INDICES)}).{hint} Names are case-sensitive; the catalogue: "
            f"https://awesome-ee-spectral-indices.readthedocs.io.")
    if name in CORRECTED and sp.indices[name].formula == CORRECTED[name][0]:
        own = CORRECTED[name][1]
        consts = {c: float(constants.pop(c, sp.constants[c].default)) for c in own.constants}
        if constants:
            raise ConfigError(f"index_constants.{name}: {sorted(constants)} not used by {name} "
                              f"(formula {own.formula}; its constants: {sorted(consts)}).")
        return IndexSpec(name, own.long_name, own.formula, own.bands, consts, (), own.reference,
                         "aopflow")
    idx = sp.indices[name]
    symbols = band_symbols()
    bands, consts, wl = [], {}, []
    for term in idx.bands:
        if term in symbols:
            bands.append(term)
        elif term in sp.constants:
            m = re.fullmatch(r"lambda(\w+)", term)
            if term in constants:
                consts[term] = float(constants.pop(term))
            elif m and m.group(1) in symbols:
                wl.append(term)  # the mapped band's centre wavelength
            elif sp.constants[term].default is None:
                raise ConfigError(
                    f"indices: {name} needs the constant {term} ({sp.constants[term].description}), "
                    f"which has no default; set index_constants: {{{name}: {{{term}: <value>}}}} or "
                    f"drop {name}.")
            else:
                consts[term] = float(sp.constants[term].default)
        else:
            raise ConfigError(
                f"indices: {name} ({idx.long_name}) uses {term!r}, which is not an optical "
                f"reflectance band aopflow maps (radar, thermal or kernel terms are not); drop "
                f"{name} from indices.")
    if constants:
        raise ConfigError(
            f"index_constants.{name}: {sorted(constants)} not used by {name} (formula "
            f"{idx.formula}; its constants: {sorted(consts) or 'none'}).")
    return IndexSpec(name, idx.long_name, idx.formula, tuple(bands), consts, tuple(wl),
                     idx.reference, "spyndex")


def check_indices(names: Iterable[str], constants: Mapping[str, Mapping[str, float]] | None = None
                  ) -> list[IndexSpec]:
    """Specs of every configured index; ConfigError for an unknown or uncomputable one, or a
    bad ``index_constants`` entry. An entry for an index not in the list is checked too but
    otherwise unused (Snakemake merges a user's config file into the shipped one key by key,
    so the shipped entries stay when a user lists other indices)."""
    names = list(names)
    constants = dict(constants or {})
    for extra in sorted(set(constants) - set(names)):
        index_spec(extra, constants[extra])
    return [index_spec(n, constants.get(n)) for n in names]


def compute_index(spec: IndexSpec, bands: Mapping[str, np.ndarray],
                  wavelengths: Mapping[str, float] | None = None) -> np.ndarray:
    """The index from reflectance arrays, with the no-data rule (module docstring).

    Args:
        spec: the index (:func:`index_spec`).
        bands: symbol -> reflectance (unitless, e.g. 0.05; not DN: constants such as EVI's
            ``L`` = 1 assume reflectance), arrays of one shape (any), float32 or float64; NaN
            = no data.
        wavelengths: symbol -> centre wavelength (nm) of the mapped band, for ``lambdaX``
            constants.

    Returns:
        float32 array of the inputs' shape, NaN where no data. spyndex's formula is evaluated
        by ``spyndex.computeIndex`` (own indices by their formula) in the inputs' float type.
    """
    missing = [b for b in spec.bands if b not in bands]
    if missing:
        raise ConfigError(f"index {spec.name}: bands {missing} not supplied (have {sorted(bands)}).")
    arrs = {b: np.asarray(bands[b]) for b in spec.bands}
    first = arrs[spec.bands[0]]
    work = np.result_type(*[a.dtype for a in arrs.values()], np.float32)
    arrs = {b: a.astype(work, copy=False) for b, a in arrs.items()}
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ok = np.ones(first.shape, dtype=bool)
        for a in arrs.values():
            ok &= np.isfinite(a) & (a >= 0)
        if spec.source == "aopflow":
            own = OWN_INDICES.get(spec.name) or CORRECTED[spec.name][1]
            val = own.fn({**arrs, **{k: work.type(v) for k, v in spec.constants.items()}})
        else:
            params = {**arrs, **{k: work.type(v) for k, v in spec.constants.items()}}
            for term in spec.wavelengths:
                sym = term[len("lambda"):]
                w = (wavelengths or {}).get(sym)
                if w is None or not math.isfinite(w):
                    raise ConfigError(f"index {spec.name}: no wavelength for {term}.")
                params[term] = work.type(w)
            val = load_spyndex().computeIndex(spec.name, params)
        val = np.asarray(val, dtype=work)
        out = np.where(ok & np.isfinite(val), val, np.nan)
    return out.astype(np.float32, copy=False)
