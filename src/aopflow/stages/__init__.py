"""Stage entry modules: ``rules/X.smk`` -> ``scripts/<rule>.py`` -> ``aopflow.stages.X``.

Each module turns files into files for one stage of the workflow and calls the algorithm
modules (see ``src/aopflow/README.md`` for the map).
"""
