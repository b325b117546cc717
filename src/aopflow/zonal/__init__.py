"""Zonal statistics of site rasters at field plots (e.g. canopy height at buffered plot centres).

This replaces NEON's ``rasterstats`` tutorial (CHM statistics in 20 m discs around plot
centres) with a vectorised implementation that gives the same numbers. Modules:

* :mod:`~aopflow.zonal.plots`: read field plots (GeoPackage, Shapefile, GeoJSON or CSV);
  points become discs;
* :mod:`~aopflow.zonal.membership`: which pixels belong to which plot (pixel centres, or
  coverage fractions for exact statistics);
* :mod:`~aopflow.zonal.stats`: the statistics table and :func:`zonal_stats_array` (arrays);
* :mod:`~aopflow.zonal.windows`: :func:`zonal_stats_file` on GeoTIFFs (windowed reads) and the
  atomic writers :func:`write_zonal`, :func:`write_plot_arrays`;
* :mod:`~aopflow.zonal.figures`: bar charts and histograms per plot.

Import the public API from here (``from aopflow.zonal import zonal_stats_array``).
"""

from aopflow.zonal.plots import (  # noqa: F401
    BUFFER_QUAD_SEGS,
    PLOT_FORMATS,
    load_plots,
    read_plots,
)
from aopflow.zonal.stats import (  # noqa: F401
    MAX_CLASSES,
    RASTER_OUT_KEYS,
    READ_BYTES,
    STATS,
    parse_stats,
    percentile_name,
    zonal_stats_array,
)
from aopflow.zonal.windows import (  # noqa: F401
    RASTER_FILE_SUFFIXES,
    RASTER_NAME_PATTERN,
    plot_arrays_file,
    write_plot_arrays,
    write_zonal,
    zonal_rasters,
    zonal_stats_file,
)
