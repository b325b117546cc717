# Site mosaics aggregated to coarser resolutions: block mean (continuous) or majority (classes).
# Module: aopflow.stages.downscale.


rule downscale:
    input:
        f"{OUT}/mosaic/{{product}}.tif",
    output:
        f"{OUT}/downscale/{{product}}_{{res}}m.tif",
    log:
        f"{LOGS}/downscale/{{product}}_{{res}}m.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        method=downscale_method,
    script:
        "../scripts/downscale.py"
