"""NEON's ancillary layers: their names in both product revisions, and their no-data conventions.

The vocabulary of the layers, without any HDF5: :mod:`aopflow.neon.reader` finds and reads them
in a tile with it; the product table (:mod:`aopflow.products`), the config schema's choices and
the workflow's output names use it without opening a file.
"""

from __future__ import annotations

from aopflow.errors import NeonFormatError

#: Canonical ancillary layer name -> names it has in the two product revisions, in the order
#: they are looked up. Keys are the .002 spelling (the current product).
ANCILLARY_ALIASES: dict[str, tuple[str, ...]] = {
    "Acqusition_Date": ("Acqusition_Date", "Acquisition_Date"),
    "Aerosol_Optical_Thickness": ("Aerosol_Optical_Thickness", "Aerosol_Optical_Depth"),
    "Aspect": ("Aspect",),
    "Cast_Shadow": ("Cast_Shadow",),
    "Dark_Dense_Vegetation_Classification": ("Dark_Dense_Vegetation_Classification",),
    "Data_Selection_Index": ("Data_Selection_Index",),
    "Haze_Cloud_Water_Map": ("Haze_Cloud_Water_Map",),
    "Illumination_Factor": ("Illumination_Factor",),
    "Path_Length": ("Path_Length",),
    "Sky_View_Factor": ("Sky_View_Factor",),
    "Slope": ("Slope",),
    "Smooth_Surface_Elevation": ("Smooth_Surface_Elevation",),
    "Visibility_Index_Map": ("Visibility_Index_Map",),
    "Water_Vapor_Column": ("Water_Vapor_Column",),
    "Weather_Quality_Indicator": ("Weather_Quality_Indicator",),
    # The to-sensor angles live directly under Metadata, spelled differently per revision.
    "to-sensor_Azimuth_Angle": ("to-sensor_Azimuth_Angle", "to-sensor_azimuth_angle"),
    "to-sensor_Zenith_Angle": ("to-sensor_Zenith_Angle", "to-sensor_zenith_angle"),
}
#: Any revision's layer name, lower-cased -> its canonical name.
ALIAS_TO_CANONICAL = {a.lower(): k for k, names in ANCILLARY_ALIASES.items() for a in names}

#: No-data of ancillary layers that carry no ``Data_Ignore_Value`` attribute, where NEON's own
#: reader hard-codes one (NEON_FORMAT.md 1.5); other layers fall back to the reflectance's
#: ``Data_Ignore_Value`` (-9999).
ANCILLARY_NODATA: dict[str, float] = {
    "Data_Selection_Index": -1,
    "Acqusition_Date": 0,
}

#: 8-bit .001 layers in which NEON's writer stored the no-data -9999 as 241 (-9999 mod 256);
#: NEON's reader hard-codes 241 for exactly these. Applies only to a uint8 dataset without its
#: own ``Data_Ignore_Value``.
ANCILLARY_NODATA_UINT8: dict[str, int] = {
    "Cast_Shadow": 241,
    "Haze_Cloud_Water_Map": 241,
    "Illumination_Factor": 241,
    "Sky_View_Factor": 241,
    "Visibility_Index_Map": 241,
}

#: Weather_Quality_Indicator codes (.002): 1 <10 %, 2 10-50 %, 3 >50 % cloud cover. Every
#: other value (-9999 in int16/int32 layers, 0, 255, ...) is no data and becomes 0.
WQI_CODES: tuple[int, ...] = (1, 2, 3)
#: No-data of the Weather_Quality_Indicator codes aopflow writes (uint8).
WQI_NODATA = 0

#: .001 stop-light colours of Weather_Quality_Indicator -> .002 codes; anything else (black
#: background) becomes 0 = no data.
WQI_STOPLIGHT = {(0, 255, 0): 1, (255, 255, 0): 2, (255, 0, 0): 3}


def canonical_layer(name: str) -> str:
    """Return the canonical (.002) name of an ancillary layer given either revision's name."""
    try:
        return ALIAS_TO_CANONICAL[name.lower()]
    except KeyError:
        raise NeonFormatError(
            f"Unknown ancillary layer {name!r}; known layers: {sorted(ANCILLARY_ALIASES)}"
        ) from None


def layer_product_name(name: str) -> str:
    """Short product name used in output file names (``Weather_Quality_Indicator`` -> ``wqi``)."""
    canon = canonical_layer(name)
    return "wqi" if canon == "Weather_Quality_Indicator" else canon.lower().replace("-", "_")
