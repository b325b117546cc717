# Site mosaics aggregated to coarser resolutions: block mean (continuous) or majority (classes).
# Sentinel-2 products too, by name. Module: aopflow.stages.downscale. Helpers (downscale_source)
# in downscale_common.smk.


include: "downscale_common.smk"


rule downscale:
    input:
        downscale_source,
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
