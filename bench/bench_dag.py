"""How long snakemake takes to plan a big site, and to decide a finished site has nothing to do.

    python bench/bench_dag.py [--repeats 3] [--noop-spectral] [--profile]

(a) Dry run (`snakemake -n`) of a 1,000-tile site; target < 30 s. Three sources:
    * `source: neon` with a listing (the issue's wording): tiles.csv of 1,000 tiles (40 x 25
      cells; written with aopflow.neon.listing.write_tile_listing, no file or network needed), so
      the DAG has every per-tile job (download_tile, h5_to_ancillary, h5_to_rgb, ndvi_tile,
      sample_tile, spectral_tile, classify_tile x 2) plus the site jobs;
    * `source: demo`, a 40 x 25 site: the same DAG with demo_tile instead of download_tile;
    * `source: local`, a folder of 1,000 tiny but valid NEON-format files (8 x 8 px, 60 bands,
      made once with aopflow.demo.aop.write_tile and cached in bench/out/dag_local_1000/):
      the same DAG without a download/generate job, with the parse-time scan of the folder.
    For scale, the floor: a bare Snakefile of the same shape (8 shell rules per tile with only
    input/output, one site job), i.e. what snakemake itself needs for that many jobs.
    Each line also gives the time per job beyond start-up.
(b) No-op rerun (`snakemake -n` after a completed run) of a 100-tile site; target < 10 s.
    The site (10 x 10 tiles of 8 x 8 px, 60 bands) is run for real once and kept in
    bench/out/dag_noop_100*/. By default with `spectral: false` (conversions, mosaics, zonal
    statistics and downscaling of WQI: ~300 jobs, a few minutes on 2 cores); --noop-spectral
    runs the full workflow instead (~1,000 jobs, much longer to build once).

Each figure is the median wall time of `python -m snakemake ...` over --repeats runs, as a user
sees it, next to the start-up cost of `python -m snakemake --version` (imports; note that the
SLURM executor plugin runs `scontrol show config` at import, which takes ~9 s when the SLURM
client is installed but no controller answers). --profile prints the 25 most expensive
functions of one 1,000-tile dry run (cProfile).
"""

from __future__ import annotations

import argparse
import io
import pstats
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import OUT, peak_rss_mb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import ROOT, WORKFLOW_FILES  # noqa: E402
from smk import write_config  # noqa: E402

from aopflow.demo.aop import SiteSpec, write_tile  # noqa: E402

DRY_TARGET_S = 30.0
NOOP_TARGET_S = 10.0
# 8 px of 100 m: the smallest tiles the schema allows, still 800 m of a 1 km cell.
TINY = {"pixels": 8, "pixel_size": 100.0, "bands": 60, "seed": 1}


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "2", *args]


def timed(wd: Path, *args: str, timeout: float = 3600) -> tuple[float, str]:
    """Wall time of one snakemake call in ``wd`` and its output; fails loudly on error."""
    t0 = time.perf_counter()
    proc = subprocess.run(snakemake_cmd(*args), cwd=wd, check=False, capture_output=True, text=True,
                          timeout=timeout)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed in {wd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return dt, proc.stdout + proc.stderr


def median_of(repeats: int, wd: Path, *args: str) -> tuple[float, list[float], str]:
    times, text = [], ""
    for _ in range(repeats):
        dt, text = timed(wd, *args)
        times.append(dt)
    return statistics.median(times), times, text


def job_count(dry_output: str) -> int:
    m = re.search(r"^total\s+(\d+)\s*$", dry_output, re.MULTILINE)
    if not m:
        raise SystemExit(f"no job total in the dry-run output:\n{dry_output[-3000:]}")
    return int(m.group(1))


def workflow(name: str, **config) -> tuple[Path, Path]:
    """The current workflow copied into bench/out/<name>/wf/ with ``config`` merged in.

    Results and `.snakemake` metadata already there are kept (a completed site stays
    completed unless the workflow's code or config changed since).
    """
    import shutil

    wd = OUT / name / "wf"
    wd.mkdir(parents=True, exist_ok=True)
    for item in WORKFLOW_FILES:
        src, dst = ROOT / item, wd / item
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    return wd, write_config(wd, **config)


# The 1,000 tile ids (40 x 25 cells) of the listing and floor scenarios.
TILES_1000 = [f"{e}_{n}" for e in range(500000, 540000, 1000) for n in range(4100000, 4125000, 1000)]

# The floor: the per-tile job shape of aopflow's DAG with nothing but input, output and shell.
FLOOR_SNAKEFILE = """\
TILES = {tiles!r}
wildcard_constraints:
    tile=r"\\d{6}_\\d{7}",
    c="sam|sid",
rule all:
    input: expand("r/{tile}/{p}.tif", tile=TILES, p=["wqi", "rgb", "ndvi", "sam", "sid", "abundance"])
rule get:
    output: "h5/{tile}.h5"
    shell: "touch {output}"
rule ancillary:
    input: "h5/{tile}.h5"
    output: "r/{tile}/wqi.tif"
    shell: "touch {output}"
rule rgb:
    input: "h5/{tile}.h5"
    output: "r/{tile}/rgb.tif"
    shell: "touch {output}"
rule ndvi:
    input: "h5/{tile}.h5"
    output: "r/{tile}/ndvi.tif"
    shell: "touch {output}"
rule sample:
    input: "h5/{tile}.h5"
    output: "r/{tile}/sample.npz"
    shell: "touch {output}"
rule endmembers:
    input: expand("r/{tile}/sample.npz", tile=TILES)
    output: "endmembers.csv"
    shell: "touch {output}"
rule spectral:
    input: "h5/{tile}.h5", "endmembers.csv"
    output: "r/{tile}/abundance.tif", "r/{tile}/sam_score.tif", "r/{tile}/sid_score.tif"
    shell: "touch {output}"
rule classify:
    input: "r/{tile}/{c}_score.tif"
    output: "r/{tile}/{c}.tif"
    shell: "touch {output}"
"""


def floor_workflow() -> Path:
    wd = OUT / "dag_floor_1000"
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "Snakefile").write_text(FLOOR_SNAKEFILE.replace("{tiles!r}", repr(TILES_1000)))
    return wd


def neon_listing_1000(wd: Path, cfg: Path) -> None:
    """tiles.csv of a 1,000-tile NEON site where the listing checkpoint would write it."""
    import yaml

    from aopflow.neon.listing import TileFile, write_tile_listing

    c = yaml.safe_load(cfg.read_text())
    site, year = c["site"], c["year"]
    tiles = []
    for tid in TILES_1000:
        name = f"NEON_D00_{site}_DP3_{tid}_bidirectional_reflectance.h5"
        tiles.append(TileFile(tile=tid, name=name, url=f"https://example.invalid/{name}",
                              size=650_000_000, crc32c="00000000", month=f"{year}-07",
                              release="RELEASE-2026"))
    write_tile_listing(tiles, wd / c["outdir"] / site / str(year) / "tiles.csv")


def report_dry(label: str, med: float, all_t: list[float], out: str, startup: float) -> None:
    jobs = job_count(out)
    print(f"(a) dry run, 1,000 tiles, {label}: {jobs} jobs, median {med:.1f} s "
          f"{[round(t, 1) for t in all_t]}, {1000 * (med - startup) / jobs:.2f} ms per job beyond start-up "
          f"(target < {DRY_TARGET_S:.0f} s: {'OK' if med < DRY_TARGET_S else 'MISSED'})", flush=True)


def local_tiles_1000() -> Path:
    """1,000 tiny NEON-format tiles (40 x 25 cells), generated once."""
    spec = SiteSpec(site="BDAG", shape=(40, 25), **TINY)
    folder = OUT / "dag_local_1000" / "h5"
    done = folder / ".complete"
    if not done.exists():
        t0 = time.perf_counter()
        for tid in spec.tile_ids():
            write_tile(spec, tid, folder)
        done.write_text("1000\n")
        print(f"generated 1,000 tiles in {time.perf_counter() - t0:.0f} s ({folder})", flush=True)
    return folder


def profile_dry_run(wd: Path, cfg: Path) -> None:
    """cProfile of one dry run (in a subprocess, as the timed runs): the 25 most expensive
    functions, then the workflow's own parse-time helpers (rules/*.smk) and aopflow."""
    prof_file = wd / "dry_run.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof_file), "-m", "snakemake", "--cores", "2",
           "--configfile", str(cfg), "-n"]
    subprocess.run(cmd, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=3600)
    for title, pattern in [("most expensive functions (cumulative)", None),
                           ("the workflow's helpers (rules/*.smk) and aopflow", r"\.smk|aopflow")]:
        out = io.StringIO()
        stats = pstats.Stats(str(prof_file), stream=out).sort_stats("cumulative")
        stats.print_stats(*([pattern, 15] if pattern else [25]))
        text = out.getvalue()
        print(f"--- profile: {title}")
        print(text[text.find("   ncalls"):].rstrip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--noop-spectral", action="store_true", help="(b) with the full workflow")
    ap.add_argument("--profile", action="store_true", help="cProfile one 1,000-tile dry run")
    args = ap.parse_args()

    startup, startup_all, _ = median_of(args.repeats, OUT, "--version")
    print(f"start-up (python -m snakemake --version): median {startup:.1f} s {[round(t, 1) for t in startup_all]}")

    # (a) 1,000 tiles, neon source with a listing: nothing on disk but tiles.csv.
    wd, cfg = workflow("dag_neon_1000", site="BDAG", source="neon", zonal={"plots": None},
                       downscale={"resolutions": [200, 400]})
    neon_listing_1000(wd, cfg)
    med, all_t, out = median_of(args.repeats, wd, "--configfile", str(cfg), "-n")
    report_dry("source neon (listing)", med, all_t, out, startup)

    # (a) 1,000 tiles, demo source: nothing on disk, full fan-out.
    wd, cfg = workflow("dag_demo_1000", demo={"shape": [40, 25], **TINY},
                       downscale={"resolutions": [200, 400]})
    med, all_t, out = median_of(args.repeats, wd, "--configfile", str(cfg), "-n")
    report_dry("source demo", med, all_t, out, startup)
    if args.profile:
        profile_dry_run(wd, cfg)

    # (a) 1,000 tiles, local source: real files, scanned at parse time.
    h5_dir = local_tiles_1000()
    wd, cfg = workflow("dag_local_1000", site="BDAG", source="local", local={"h5_dir": str(h5_dir)},
                       zonal={"plots": None}, downscale={"resolutions": [200, 400]})
    med, all_t, out = median_of(args.repeats, wd, "--configfile", str(cfg), "-n")
    report_dry("source local", med, all_t, out, startup)

    # The floor: snakemake alone, same job shape, no log/resources/params/script/conda.
    med, all_t, out = median_of(args.repeats, floor_workflow(), "-n")
    report_dry("bare Snakefile of the same shape (floor)", med, all_t, out, startup)

    # (b) 100 tiles, completed once, then the no-op dry run.
    name = "dag_noop_100" + ("_spectral" if args.noop_spectral else "")
    extra = {} if args.noop_spectral else {"spectral": False, "zonal": {"rasters": ["wqi"]},
                                            "downscale": {"products": ["wqi"]}}
    extra["downscale"] = {**extra.get("downscale", {}), "resolutions": [200, 400]}
    wd, cfg = workflow(name, demo={"shape": [10, 10], **TINY}, **extra)
    _, out = timed(wd, "--configfile", str(cfg), "-n")
    if "Nothing to be done" not in out:
        jobs = job_count(out)
        print(f"(b) building the 100-tile site once: {jobs} jobs ...", flush=True)
        dt, _ = timed(wd, "--configfile", str(cfg), timeout=6 * 3600)
        print(f"(b) built in {dt:.0f} s ({dt / jobs:.2f} s per job on 2 cores)", flush=True)
    med, all_t, out = median_of(args.repeats, wd, "--configfile", str(cfg), "-n")
    if "Nothing to be done" not in out:
        raise SystemExit(f"(b) the completed site still has work to do:\n{out[-3000:]}")
    files = sum(1 for p in (wd / "results").rglob("*") if p.is_file())
    print(f"(b) no-op dry run, 100 tiles ({'full workflow' if args.noop_spectral else 'spectral: false'}, "
          f"{files} result files): median {med:.1f} s {[round(t, 1) for t in all_t]} "
          f"(target < {NOOP_TARGET_S:.0f} s: {'OK' if med < NOOP_TARGET_S else 'MISSED'})")
    print(f"peak RSS of this driver: {peak_rss_mb():.0f} MiB (snakemake runs in subprocesses)")


if __name__ == "__main__":
    main()
