"""NEON AOP data: what NEON names things (:mod:`~aopflow.neon.naming`), how its HDF5 tiles are
laid out (:mod:`~aopflow.neon.reader`), and how to get them from the NEON Data API:
:mod:`~aopflow.neon.client` (HTTP, token, retries), :mod:`~aopflow.neon.listing` (the tiles of a
site-year), :mod:`~aopflow.neon.selection` (which tiles to take; no HTTP) and
:mod:`~aopflow.neon.download` (one verified, resumable download).
"""
