"""aopflow: NEON AOP hyperspectral tiles to site-wide analysis-ready products."""
__version__ = "0.1.0"
