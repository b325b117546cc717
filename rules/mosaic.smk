# Site mosaics: every per-tile product merged into one Cloud-Optimized GeoTIFF.
# Module: aopflow.stages.mosaic. Helpers in mosaic_common.smk.


include: "mosaic_common.smk"


rule mosaic:
    input:
        mosaic_inputs,
    output:
        f"{OUT}/mosaic/{{product}}.tif",
    log:
        f"{LOGS}/mosaic/{{product}}.log",
    benchmark:
        f"{BENCH}/mosaic/{{product}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        resampling=mosaic_resampling,
    script:
        "../scripts/mosaic.py"
