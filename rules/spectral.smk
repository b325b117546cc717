# Spectral classification: per-tile samples -> site endmembers -> per-tile abundances, SAM/SID
# scores and classes, NDVI.
# Module: aopflow.stages.spectral (algorithms in aopflow.spectral). Helpers in spectral_common.smk.


include: "spectral_common.smk"


rule sample_tile:
    input:
        h5=h5_of_tile,
    output:
        f"{OUT}/tiles/{{tile}}/sample.npz",
        **SAMPLE_BRDF_OUTPUT,
    log:
        f"{LOGS}/sample_tile/{{tile}}.log",
    conda:
        CONDA_ENV
    # Two threads decode the cube's chunks (the read is the whole job).
    threads: 2
    resources:
        mem_mb=tile_cube_mem_mb,
        runtime=20,
    params:
        clean=config["clean"],
        sampling=SAMPLING,
    script:
        "../scripts/sample_tile.py"


rule site_endmembers:
    input:
        samples=site_samples,
        library=ENDMEMBER_LIBRARY,
        brdf=brdf_coefficients,
    output:
        f"{OUT}/endmembers.csv",
    log:
        f"{LOGS}/site_endmembers.log",
    benchmark:
        f"{BENCH}/site_endmembers.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=endmember_mem_mb,
        runtime=60,
    params:
        extraction=EXTRACTION,
    script:
        "../scripts/site_endmembers.py"


rule spectral_tile:
    input:
        h5=h5_of_tile,
        endmembers=f"{OUT}/endmembers.csv",
        brdf=brdf_coefficients,
    output:
        abundance=f"{OUT}/tiles/{{tile}}/abundance.tif",
        sam=f"{OUT}/tiles/{{tile}}/sam_score.tif",
        sid=f"{OUT}/tiles/{{tile}}/sid_score.tif",
    log:
        f"{LOGS}/spectral_tile/{{tile}}.log",
    benchmark:
        f"{BENCH}/spectral_tile/{{tile}}.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=tile_cube_mem_mb,
        runtime=60,
    params:
        clean=config["clean"],
        unmix_method=config["unmix"]["method"],
    script:
        "../scripts/spectral_tile.py"


rule classify_tile:
    input:
        f"{OUT}/tiles/{{tile}}/{{classifier}}_score.tif",
    output:
        f"{OUT}/tiles/{{tile}}/{{classifier}}.tif",
    log:
        f"{LOGS}/classify_tile/{{tile}}_{{classifier}}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        thresholds=classifier_threshold,
        key=classifier_threshold_key,
    script:
        "../scripts/classify_tile.py"


rule ndvi_tile:
    input:
        h5=h5_of_tile,
        brdf=brdf_coefficients,
    output:
        **ndvi_tile_extracts(),
        ndvi=f"{OUT}/tiles/{{tile}}/ndvi.tif",
    log:
        f"{LOGS}/ndvi_tile/{{tile}}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=ndvi_tile_mem_mb,
        runtime=10,
    params:
        **NDVI_TILE_EXTRACT_PARAMS,
        red_nm=config["ndvi"]["red_nm"],
        nir_nm=config["ndvi"]["nir_nm"],
    script:
        "../scripts/ndvi_tile.py"
