"""What the demo generates: the scenes (:class:`S2Scene`) and the generator's options
(:class:`S2DemoSpec`, the ``sentinel2.demo`` config section)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from aopflow.demo.sentinel2.encoding import baseline_for_date, boa_offset
from aopflow.errors import ConfigError

#: Collection id of the demo items (Earth Search v1's L2A collection).
COLLECTION = "sentinel-2-l2a"


@dataclass(frozen=True)
class S2Scene:
    """One generated L2A item.

    ``zone``: UTM zone of the tile (None = the site's). ``cloud_fraction``: fraction of the
    valid area in SCL 8/9/10 (becomes ``eo:cloud_cover``). ``clouds_over_site``: put the
    clouds on the site (a scene under the cloud threshold whose site area is mostly masked).
    ``swath``: ``(side, position)``: no data east (``"east"``) or west (``"west"``) of a slanted
    line crossing the site's southern edge at ``site xmin + position * site width`` (site CRS);
    ``("none", 0)`` for no edge. ``baseline``: processing baseline (None = from the date).
    ``defective``: a few saturated/defective pixels (SCL 1).
    ``dn_offset``: the reflectance offset the DNs are really encoded with (None = the
    baseline's BOA offset); ``stated_offset``: the offset written into ``raster:bands`` (None =
    ``dn_offset``). They differ in an item with wrong offset metadata (Earth Search
    earth-search#66/#71): ``dn_offset=0.0, stated_offset=-0.1`` on a baseline >= 04.00 is an
    item whose DNs are already harmonized but whose metadata says -0.1;
    ``stated_offset=0.0`` on such a baseline is the opposite (DNs with the +1000 offset,
    metadata 0).
    """

    date: str
    platform: str = "sentinel-2a"
    zone: int | None = None
    cloud_fraction: float = 0.0
    clouds_over_site: bool = False
    swath: tuple[str, float] = ("east", 1.8)
    baseline: str | None = None
    defective: bool = False
    time: str = "18:42:31.024"
    dn_offset: float | None = None
    stated_offset: float | None = None

    @property
    def day(self) -> dt.date:
        return dt.date.fromisoformat(self.date)

    @property
    def processing_baseline(self) -> str:
        return self.baseline or baseline_for_date(self.day)

    @property
    def encoding_offset(self) -> float:
        """The offset the DNs are encoded with: ``dn_offset``, else the baseline's."""
        return boa_offset(self.processing_baseline) if self.dn_offset is None else float(self.dn_offset)

    @property
    def metadata_offset(self) -> float:
        """The offset written into the assets' ``raster:bands``."""
        return self.encoding_offset if self.stated_offset is None else float(self.stated_offset)


#: The default demo: seven dates in 2024-04-01/2024-10-31 (all baseline >= 04.00), eight items.
DEFAULT_SCENES: tuple[S2Scene, ...] = (
    S2Scene("2024-04-18", "sentinel-2a", cloud_fraction=0.03, defective=True),
    S2Scene("2024-05-23", "sentinel-2b", cloud_fraction=0.12),
    # Two tiles on one date: the site's zone (no data over the east 40 % of the site) and the
    # neighbouring zone (no data over the west 40 % of it); together they cover the site.
    S2Scene("2024-06-15", "sentinel-2b", swath=("east", 0.6)),
    S2Scene("2024-06-15", "sentinel-2b", zone=-1, swath=("west", 0.4), time="18:42:35.610"),
    S2Scene("2024-07-10", "sentinel-2a", cloud_fraction=0.62),  # above the 30 % threshold
    S2Scene("2024-08-04", "sentinel-2b", cloud_fraction=0.01),
    S2Scene("2024-09-13", "sentinel-2a", cloud_fraction=0.12, clouds_over_site=True),
    S2Scene("2024-10-18", "sentinel-2b", cloud_fraction=0.04, swath=("west", -0.6)),
)

#: A scene before baseline 04.00 (offset 0), for tests that need both encodings.
PRE04_SCENE = S2Scene("2021-07-20", "sentinel-2a", cloud_fraction=0.02)


@dataclass(frozen=True)
class S2DemoSpec:
    """Options of the demo scene generator (the ``sentinel2.demo`` config section).

    ``zone=-1`` in a scene means "the site's zone minus one" (resolved here). ``margin_m``:
    how far scenes extend beyond the site (m). ``noise``: sensor noise SD (reflectance).
    ``drop_raster_bands``: item ids whose assets get no ``raster:bands`` (readers must fall
    back to ``s2:processing_baseline``). ``include_pre04``: add :data:`PRE04_SCENE`.
    """

    seed: int = 7
    scenes: tuple[S2Scene, ...] = DEFAULT_SCENES
    margin_m: float = 4000.0
    noise: float = 0.002
    include_pre04: bool = False
    drop_raster_bands: tuple[str, ...] = ()
    collection: str = COLLECTION

    CONFIG_KEYS = ("seed", "margin_m", "noise", "include_pre04", "drop_raster_bands")

    @classmethod
    def from_config(cls, demo: Mapping | None) -> S2DemoSpec:
        """From the ``sentinel2.demo`` mapping (keys: seed, margin_m, noise, include_pre04,
        drop_raster_bands; all optional)."""
        demo = dict(demo or {})
        unknown = sorted(set(demo) - set(cls.CONFIG_KEYS))
        if unknown:
            raise ConfigError(
                f"sentinel2.demo: unknown key(s) {unknown}; allowed: {list(cls.CONFIG_KEYS)}"
            )
        kw: dict = {}
        if "seed" in demo:
            kw["seed"] = int(demo["seed"])
        if "margin_m" in demo:
            kw["margin_m"] = float(demo["margin_m"])
        if "noise" in demo:
            kw["noise"] = float(demo["noise"])
        if "include_pre04" in demo:
            kw["include_pre04"] = bool(demo["include_pre04"])
        if demo.get("drop_raster_bands"):
            kw["drop_raster_bands"] = tuple(str(v) for v in demo["drop_raster_bands"])
        spec = cls(**kw)
        spec.validate()
        return spec

    def all_scenes(self) -> tuple[S2Scene, ...]:
        return (PRE04_SCENE, *self.scenes) if self.include_pre04 else tuple(self.scenes)

    def validate(self) -> None:
        if self.margin_m < 500:
            raise ConfigError(f"sentinel2.demo.margin_m must be >= 500 m, got {self.margin_m:g}")
        if not 0 <= self.noise < 0.1:
            raise ConfigError(f"sentinel2.demo.noise must be in [0, 0.1), got {self.noise:g}")
        for s in self.all_scenes():
            if not 0 <= s.cloud_fraction < 1:
                raise ConfigError(f"demo scene {s.date}: cloud_fraction must be in [0, 1)")
            if s.swath[0] not in ("east", "west", "none"):
                raise ConfigError(f"demo scene {s.date}: swath side must be east, west or none")
            boa_offset(s.processing_baseline)
