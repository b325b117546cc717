# Figures of the site products (also shown in the HTML report).
# Module: aopflow.stages.figures. rule all's figures in figures_common.smk.


include: "figures_common.smk"


rule figure_wqi:
    input:
        f"{OUT}/mosaic/wqi.tif",
    output:
        report(
            f"{OUT}/figures/wqi.png",
            caption="../report/wqi.rst",
            category="Site overview",
        ),
    log:
        f"{LOGS}/figures/wqi.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/figure_wqi.py"


rule figure_rgb:
    input:
        f"{OUT}/mosaic/rgb.tif",
    output:
        report(
            f"{OUT}/figures/rgb.png",
            caption="../report/rgb.rst",
            category="Site overview",
        ),
    log:
        f"{LOGS}/figures/rgb.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        stretch_percent=config["rgb"]["stretch_percent"],
    script:
        "../scripts/figure_rgb.py"


rule figure_endmembers:
    input:
        f"{OUT}/endmembers.csv",
    output:
        report(
            f"{OUT}/figures/endmembers.png",
            caption="../report/endmembers.rst",
            category="Spectral classification",
        ),
    log:
        f"{LOGS}/figures/endmembers.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/figure_endmembers.py"


rule figure_abundance:
    input:
        f"{OUT}/mosaic/abundance.tif",
    output:
        report(
            f"{OUT}/figures/abundance.png",
            caption="../report/abundance.rst",
            category="Spectral classification",
        ),
    log:
        f"{LOGS}/figures/abundance.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    script:
        "../scripts/figure_abundance.py"


rule figure_classes:
    input:
        classes=f"{OUT}/mosaic/{{classifier}}.tif",
        endmembers=f"{OUT}/endmembers.csv",
    output:
        report(
            f"{OUT}/figures/{{classifier}}.png",
            caption="../report/classes.rst",
            category="Spectral classification",
            labels={"classifier": "{classifier}"},
        ),
    log:
        f"{LOGS}/figures/{{classifier}}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/figure_classes.py"


rule figure_ndvi:
    input:
        f"{OUT}/mosaic/ndvi.tif",
    output:
        report(
            f"{OUT}/figures/ndvi.png",
            caption="../report/ndvi.rst",
            category="Spectral classification",
        ),
    log:
        f"{LOGS}/figures/ndvi.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/figure_ndvi.py"


rule figure_index:
    input:
        f"{OUT}/mosaic/index_{{index}}.tif",
    output:
        report(
            f"{OUT}/figures/index_{{index}}.png",
            caption="../report/index.rst",
            category="Spectral indices",
            subcategory="{index}",
            labels={"index": "{index}"},
        ),
    log:
        f"{LOGS}/figures/index_{{index}}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/figure_index.py"


rule mean_abundance_table:
    input:
        f"{OUT}/mosaic/abundance.tif",
    output:
        csv=report(
            f"{OUT}/tables/mean_abundance.csv",
            caption="../report/mean_abundance.rst",
            category="Spectral classification",
        ),
        png=report(
            f"{OUT}/figures/mean_abundance.png",
            caption="../report/mean_abundance.rst",
            category="Spectral classification",
        ),
    log:
        f"{LOGS}/figures/mean_abundance.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/mean_abundance_table.py"
