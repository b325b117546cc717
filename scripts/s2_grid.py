"""Write the Sentinel-2 site grid (grid.json) from the site's tile listing."""
from aopflow.stages.sentinel2 import make_grid
from aopflow.smk import run

i, p = snakemake.input, snakemake.params
run(snakemake, make_grid, i.tiles, snakemake.output[0], resolution=p.resolution, area=p.area,
    plots_path=i.get("plots"), plots_buffer_m=p.plots_buffer_m, aop_pixel_size=p.aop_pixel_size,
    epsg_from_h5=i.get("h5"), plots_options=p.plots_options)
