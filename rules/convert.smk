# Per-tile HDF5 -> GeoTIFF conversion: ancillary layers and the RGB composite.
# Module: aopflow.stages.convert. Helpers (and rule all's per-tile targets) in convert_common.smk.


include: "convert_common.smk"


rule h5_to_ancillary:
    input:
        h5=h5_of_tile,
    output:
        f"{OUT}/tiles/{{tile}}/{{layer}}.tif",
    log:
        f"{LOGS}/h5_to_ancillary/{{tile}}_{{layer}}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=tile_mem_mb,
        runtime=10,
    params:
        layer=ancillary_layer_name,
    script:
        "../scripts/h5_to_ancillary.py"


rule h5_to_rgb:
    input:
        h5=h5_of_tile,
    output:
        f"{OUT}/tiles/{{tile}}/rgb.tif",
    log:
        f"{LOGS}/h5_to_rgb/{{tile}}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=tile_mem_mb,
        runtime=10,
    params:
        wavelengths_nm=config["rgb"]["wavelengths_nm"],
    script:
        "../scripts/h5_to_rgb.py"


rule h5_to_reflectance:
    input:
        h5=h5_of_tile,
        brdf=brdf_coefficients,
    output:
        f"{OUT}/tiles/{{tile}}/reflectance.tif",
    log:
        f"{LOGS}/h5_to_reflectance/{{tile}}.log",
    conda:
        CONDA_ENV
    # One thread: GDAL's write of the multiband GeoTIFF dominates; the read is a small part.
    threads: 1
    resources:
        mem_mb=tile_cube_mem_mb,
        runtime=30,
    params:
        clean=config["clean"],
    script:
        "../scripts/h5_to_reflectance.py"
