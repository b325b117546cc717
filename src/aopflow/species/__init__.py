"""Tree species from NEON's vegetation structure data (DP1.10098.001); see docs/species.md.

Modules: :mod:`~aopflow.species.tables` (the vst tables and the stem filters),
:mod:`~aopflow.species.locate` (stem coordinates), :mod:`~aopflow.species.crowns` (crown pixels),
:mod:`~aopflow.species.model` (classifiers and plot-grouped cross-validation),
:mod:`~aopflow.species.predict` (per-block prediction), :mod:`~aopflow.species.neon_source`
(the tables and plot points from the NEON Data API). Import from the modules: the model module
imports scikit-learn, which per-tile jobs that do not need it should not pay for.
"""
