"""Publishing a run's results: a STAC catalog of every product and an offline site map.

* :mod:`aopflow.publish.layout` - which file of a run is which STAC item / map layer (one
  table of path patterns, so new products appear by where the stages write them);
* :mod:`aopflow.publish.stac` - the self-contained STAC catalog (``stac/catalog.json``);
* :mod:`aopflow.publish.render` - overviews of rasters as small web-Mercator PNGs with their
  colour maps and legends;
* :mod:`aopflow.publish.sitemap` - the single-file offline HTML map (Leaflet, vendored).
"""
