"""Sentinel-2 L2A from a STAC API: site grid (grid), search (search), scale/offset (scaling),
per-date loading and cloud masking onto the site grid (load)."""
