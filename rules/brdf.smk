# BRDF and topographic correction of .001 tiles: per-tile samples (drawn by sample_tile in its
# read) -> one site-wide fit -> applied in every job that reads reflectance (docs/brdf.md).
# Module: aopflow.stages.brdf (algorithms in aopflow.brdf). Helpers in brdf_common.smk.


include: "brdf_common.smk"


rule brdf_fit:
    input:
        samples=brdf_site_samples,
    output:
        coefficients=f"{BRDF_DIR}/coefficients.json",
        figure=report(
            f"{BRDF_DIR}/diagnostics.png",
            caption="../report/brdf.rst",
            category="BRDF correction",
        ),
    log:
        f"{LOGS}/brdf_fit.log",
    benchmark:
        f"{BENCH}/brdf_fit.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=brdf_fit_mem_mb,
        runtime=30,
    params:
        fit=BRDF_FIT,
        red_nm=config["ndvi"]["red_nm"],
        nir_nm=config["ndvi"]["nir_nm"],
    script:
        "../scripts/brdf_fit.py"
