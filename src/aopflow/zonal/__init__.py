"""Zonal statistics engine: plot membership, grouped statistics, plot files, windowed I/O.

Import the public API from here (``from aopflow.zonal import zonal_stats_array``).
"""

from aopflow.zonal.engine import (  # noqa: F401
    percentile_name,
    parse_stats,
    zonal_stats_array,
    read_plots,
    zonal_stats_file,
    plot_arrays_file,
    write_zonal,
    write_plot_arrays,
    PLOT_FORMATS,
    BUFFER_QUAD_SEGS,
    RASTER_OUT_KEYS,
    READ_BYTES,
    MAX_CLASSES,
)
