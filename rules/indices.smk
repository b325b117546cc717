# Spectral indices (docs/indices.md): per tile and index from the NDVI job's band extract (one
# read of the tile for NDVI and every index), per Sentinel-2 date and index, and a median
# composite per index. Module: aopflow.stages.indices. Helpers in indices_common.smk.


include: "indices_common.smk"


rule index_tile:
    input:
        f"{OUT}/tiles/{{tile}}/band_symbols.tif",
    output:
        f"{OUT}/tiles/{{tile}}/index_{{index}}.tif",
    log:
        f"{LOGS}/index_tile/{{tile}}_{{index}}.log",
    wildcard_constraints:
        index=_names_pattern(INDICES),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=tile_mem_mb,
        runtime=5,
    params:
        constants=index_constants,
    script:
        "../scripts/index_tile.py"


if S2["source"]:

    rule s2_index_date:
        input:
            f"{OUT}/s2/dates/{{date}}/reflectance.tif",
        output:
            f"{OUT}/s2/dates/{{date}}/index_{{index}}.tif",
        log:
            f"{LOGS}/s2_index_date/{{date}}_{{index}}.log",
        wildcard_constraints:
            index=_names_pattern(S2_INDICES),
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        params:
            assets=S2["bands"],
            constants=index_constants,
        script:
            "../scripts/s2_index_date.py"

    rule s2_index_composite:
        input:
            summary=f"{OUT}/s2/date_summary.csv",
            index=s2_index_files,
        output:
            f"{OUT}/s2/composite/index_{{index}}_median.tif",
        log:
            f"{LOGS}/s2_index_composite/{{index}}.log",
        wildcard_constraints:
            index=_names_pattern(S2_INDICES),
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        script:
            "../scripts/s2_index_composite.py"

    rule s2_index_composite_period:
        input:
            summary=f"{OUT}/s2/date_summary.csv",
            index=s2_index_period_files,
        output:
            f"{OUT}/s2/composite/{{s2period}}/index_{{index}}_median.tif",
        log:
            f"{LOGS}/s2_index_composite/{{s2period}}_{{index}}.log",
        wildcard_constraints:
            index=_names_pattern(S2_INDICES),
            s2period=PERIOD_LABEL_PATTERN,
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        script:
            "../scripts/s2_index_composite.py"
