# Stage species (module aopflow.stages.species; algorithms in aopflow.species): NEON's vegetation
# structure tables -> located stems -> crown pixels per tile -> a classifier validated on held-out
# plots -> per-tile species maps (merged by rules/mosaic.smk) and figures. Helpers in
# species_common.smk.


include: "species_common.smk"


if SPECIES["source"] == "demo":

    rule species_demo:
        output:
            **{
                t: f"{SPECIES_DEMO_DIR}/{SPECIES_TABLE_FILES[t]}"
                for t in SPECIES_TABLES
            },
            taxa=f"{SPECIES_DEMO_DIR}/taxa.csv",
            truth=list(species_demo_truth_files().values()),
        log:
            f"{LOGS}/species_demo.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=800,
            runtime=10,
        params:
            spec=config["demo"],
            site=config["site"],
            year=config["year"],
            truth=species_demo_truth_files(),
        script:
            "../scripts/species_demo.py"


if SPECIES["source"] == "neon":

    rule species_neon:
        output:
            **{
                t: f"{SPECIES_NEON_DIR}/{SPECIES_TABLE_FILES[t]}"
                for t in SPECIES_TABLES
            },
        log:
            f"{LOGS}/species_neon.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=60,
            neon_api=1,
        params:
            site=config["site"],
            year=config["year"],
            years=SPECIES["years"],
            api_url=config["neon"]["api_url"],
            include_provisional=config["neon"]["include_provisional"],
            cache=f"{SPECIES_NEON_DIR}/cache",
        script:
            "../scripts/species_neon.py"


if SPECIES["source"]:

    rule species_stems:
        input:
            unpack(species_table_files),
            h5=site_h5_files,
        output:
            csv=f"{SPECIES_DIR}/stems.csv",
            gpkg=f"{SPECIES_DIR}/stems.gpkg",
        log:
            f"{LOGS}/species_stems.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            species=SPECIES_STEM_PARAMS,
            aop_year=config["year"],
        script:
            "../scripts/species_stems.py"

    rule species_training:
        input:
            h5=h5_of_tile,
            stems=f"{SPECIES_DIR}/stems.csv",
            brdf=brdf_coefficients,
        output:
            f"{SPECIES_DIR}/training/{{tile}}.npz",
        log:
            f"{LOGS}/species_training/{{tile}}.log",
        benchmark:
            f"{BENCH}/species_training/{{tile}}.tsv"
        conda:
            CONDA_ENV
        threads: 2
        resources:
            mem_mb=tile_cube_mem_mb,
            runtime=20,
        params:
            clean=config["clean"],
            overlap=SPECIES["crown"]["overlap"],
        script:
            "../scripts/species_training.py"

    rule species_model:
        input:
            training=species_training_files,
            stems=f"{SPECIES_DIR}/stems.csv",
        output:
            model=f"{SPECIES_DIR}/model.joblib",
            metrics=f"{SPECIES_DIR}/cv_metrics.csv",
            confusion=f"{SPECIES_DIR}/cv_confusion.csv",
            classes=f"{SPECIES_DIR}/classes.csv",
        log:
            f"{LOGS}/species_model.log",
        benchmark:
            f"{BENCH}/species_model.tsv"
        conda:
            CONDA_ENV
        threads: 2
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            species=SPECIES_MODEL_PARAMS,
        script:
            "../scripts/species_model.py"

    rule species_predict:
        input:
            h5=h5_of_tile,
            model=f"{SPECIES_DIR}/model.joblib",
            brdf=brdf_coefficients,
        output:
            species=f"{OUT}/tiles/{{tile}}/species.tif",
            probability=f"{OUT}/tiles/{{tile}}/species_probability.tif",
        log:
            f"{LOGS}/species_predict/{{tile}}.log",
        benchmark:
            f"{BENCH}/species_predict/{{tile}}.tsv"
        conda:
            CONDA_ENV
        threads: 2
        resources:
            mem_mb=tile_cube_mem_mb,
            runtime=60,
        params:
            min_probability=SPECIES["min_probability"],
        script:
            "../scripts/species_predict.py"

    rule figure_species_map:
        input:
            mosaic=f"{OUT}/mosaic/species.tif",
            classes=f"{SPECIES_DIR}/classes.csv",
        output:
            report(
                f"{OUT}/figures/species.png",
                caption="../report/species_map.rst",
                category="Species",
            ),
        log:
            f"{LOGS}/figures/species.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        script:
            "../scripts/species_figure_map.py"

    rule figure_species_confusion:
        input:
            f"{SPECIES_DIR}/cv_confusion.csv",
        output:
            report(
                f"{OUT}/figures/species_confusion.png",
                caption="../report/species_confusion.rst",
                category="Species",
            ),
        log:
            f"{LOGS}/figures/species_confusion.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        script:
            "../scripts/species_figure_confusion.py"

    rule figure_species_f1:
        input:
            f"{SPECIES_DIR}/cv_metrics.csv",
        output:
            report(
                f"{OUT}/figures/species_f1.png",
                caption="../report/species_f1.rst",
                category="Species",
            ),
        log:
            f"{LOGS}/figures/species_f1.log",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        script:
            "../scripts/species_figure_f1.py"
