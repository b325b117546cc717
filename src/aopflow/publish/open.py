"""``python -m aopflow.publish.open [CONFIG.yaml ...]``: open a run's site map (``make map``).

The map's path is ``{outdir}/{site}/{year}/map.html`` from the workflow's config files (later
files override earlier ones, as snakemake's ``--configfile``; ``config/config.yaml`` first).
It is opened in the default web browser; the path is printed too, for machines without one.
"""

from __future__ import annotations

import sys
import webbrowser
from collections.abc import Sequence
from pathlib import Path

import yaml

from aopflow.errors import ConfigError

DEFAULT_CONFIG = Path("config/config.yaml")


def map_path(configfiles: Sequence[str | Path] = ()) -> Path:
    """``{outdir}/{site}/{year}/map.html`` of the merged config files (relative to the cwd)."""
    cfg: dict = {}
    for f in [DEFAULT_CONFIG, *map(Path, configfiles)]:
        if not f.exists():
            raise ConfigError(f"{f}: config file not found; run from the workflow's folder or "
                              "pass the config file you ran snakemake with.")
        cfg.update(yaml.safe_load(f.read_text()) or {})
    return Path(str(cfg.get("outdir", "results"))) / str(cfg["site"]) / str(cfg["year"]) / "map.html"


def main(argv: Sequence[str] | None = None) -> int:
    path = map_path(sys.argv[1:] if argv is None else argv)
    if not path.exists():
        print(f"{path}: no map yet; build it with `make map` (snakemake publish_map)",
              file=sys.stderr)
        return 1
    print(path)
    webbrowser.open(path.resolve().as_uri())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
