# Figures of the site products (also shown in the HTML report).


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
