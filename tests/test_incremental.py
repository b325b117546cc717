"""Incremental reruns: after an edit, exactly the jobs that depend on it run again.

One tiny demo site (two of its four tiles) is run once; each test copies that completed run
(results, `.snakemake` metadata, modification times), makes one change and checks the exact
set of jobs that `snakemake -n` plans (with snakemake's `reason:`), that the real run executes
the same set, which product files it rewrote, and that a further dry run has nothing to do.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest
import yaml

from aopflow.demo.aop import write_tile
from aopflow.stages.demo import demo_spec, demo_tile_names

from smk import copy_run, job_reasons, jobs_of, new_workflow, snakemake, tiny_demo, update_config

pytestmark = pytest.mark.workflow

# Tiles of the tiny demo site (2 x 2 cells): the base run processes T1 and T2; T3 is added later.
T1, T2, T3 = "500000_4100000", "501000_4100000", "500000_4101000"
# Zonal statistics and downscaling of one product (the SAM classes) keep both stages in the
# DAG, and in the rerun sets below, at a fraction of the jobs of the defaults. Resolutions are
# multiples of the tiny site's 20 m pixels (the default 50 m is not).
STAGES = {"zonal": {"rasters": ["sam"]}, "downscale": {"products": ["sam"], "resolutions": [40]}}
SAM_DESCENDANTS = {("mosaic", "product=sam"), ("figure_classes", "classifier=sam"),
                   ("downscale", "product=sam, res=40"), ("zonal", "zname=sam"), ("all", "")}
SAM_FILES = {"mosaic/sam.tif", "figures/sam.png", "downscale/sam_40m.tif", "zonal/sam.gpkg", "zonal/sam.csv",
             "zonal/sam_arrays.npz", "figures/zonal_sam_bars.png", "figures/zonal_sam_hist.png"}
OUT = Path("results/DEMO/2024")
NOTHING = "Nothing to be done"


def job(rule: str, **wildcards: str) -> tuple[str, str]:
    """A job as :func:`smk.job_reasons` names it (wildcards in the rule's order)."""
    return rule, ", ".join(f"{k}={v}" for k, v in wildcards.items())


def products(wd: Path) -> dict[str, int]:
    """Modification time (ns) of every product file under the site's output folder.

    Logs and benchmark tables are left out: they are rewritten with their job, not products.
    """
    root = wd / OUT
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] not in ("logs", "benchmarks")
    }


def missing_files(wd: Path, cfg: Path) -> list[str]:
    """Files that ``snakemake --summary`` lists as missing."""
    summary = snakemake(wd, "--configfile", str(cfg), "--summary").stdout
    return [line.split("\t")[0] for line in summary.splitlines() if "\tmissing\t" in line]


def rewritten(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {p for p, t in after.items() if before.get(p) != t}


def plan_run_check(wd: Path, cfg: Path, *targets: str) -> tuple[dict, set, set]:
    """Dry run, real run, dry run (of ``targets``, default: rule all). Returns (planned jobs ->
    reason, jobs run, files rewritten); checks that the run executed exactly the plan and
    left nothing to do."""
    # Targets go first: --configfile takes every following word up to the next option.
    plan = job_reasons(snakemake(wd, *targets, "--configfile", str(cfg), "-n").stdout)
    before = products(wd)
    run = snakemake(wd, *targets, "--configfile", str(cfg))
    ran = jobs_of(run.stdout + run.stderr)
    assert ran == set(plan), f"run {sorted(ran)} != plan {sorted(plan)}"
    after = snakemake(wd, "--configfile", str(cfg), "-n")
    assert NOTHING in after.stdout + after.stderr, after.stdout[-3000:]
    return plan, ran, rewritten(before, products(wd))


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A completed run of tiles T1 and T2 of the tiny demo site (the workflow directory)."""
    tmp = tmp_path_factory.mktemp("incremental")
    wd, cfg = new_workflow(tmp, **tiny_demo(tiles=[T1, T2], **STAGES))
    snakemake(wd, "--configfile", str(cfg))
    return wd


@pytest.fixture
def run_copy(base_run, tmp_path) -> tuple[Path, Path]:
    """An own copy of the base run: (workdir, its config file)."""
    wd = copy_run(base_run, tmp_path / "wf")
    return wd, wd / "test_config.yaml"


def test_second_run_runs_no_job(run_copy):
    wd, cfg = run_copy
    dry = snakemake(wd, "--configfile", str(cfg), "-n")
    assert NOTHING in dry.stdout + dry.stderr
    assert jobs_of(dry.stdout) == set()
    # --summary: every product of the run is listed, present and up to date.
    rows = [line.split("\t") for line in snakemake(wd, "--configfile", str(cfg), "--summary").stdout.splitlines()]
    header, rows = rows[0], rows[1:]
    status = {r[header.index("output_file")]: r[header.index("status")] for r in rows}
    before = products(wd)
    assert set(status) == {str(OUT / p) for p in before}
    assert set(status.values()) == {"ok"}, status
    run = snakemake(wd, "--configfile", str(cfg))
    assert NOTHING in run.stdout + run.stderr
    assert jobs_of(run.stdout + run.stderr) == set()
    assert products(wd) == before


@pytest.mark.parametrize(
    ("edit", "owner", "expected_jobs", "expected_files"),
    [
        # The SAM threshold is a param of classify_tile for classifier=sam only: SID classes,
        # the spectral chain and everything upstream stay.
        (
            {"classify": {"sam_max_angle": 0.05}},
            "classify_tile",
            {job("classify_tile", tile=T1, classifier="sam"), job("classify_tile", tile=T2, classifier="sam"),
             *SAM_DESCENDANTS},
            {f"tiles/{T1}/sam.tif", f"tiles/{T2}/sam.tif", *SAM_FILES},
        ),
        # The RGB bands are a param of h5_to_rgb only.
        (
            {"rgb": {"wavelengths_nm": [640, 550, 460]}},
            "h5_to_rgb",
            {job("h5_to_rgb", tile=T1), job("h5_to_rgb", tile=T2), job("mosaic", product="rgb"),
             job("figure_rgb"), job("all")},
            {f"tiles/{T1}/rgb.tif", f"tiles/{T2}/rgb.tif", "mosaic/rgb.tif", "figures/rgb.png"},
        ),
    ],
    ids=["classify.sam_max_angle", "rgb.wavelengths_nm"],
)
def test_param_edit_reruns_only_its_jobs(run_copy, edit, owner, expected_jobs, expected_files):
    wd, cfg = run_copy
    update_config(cfg, **edit)
    plan, _, files = plan_run_check(wd, cfg)
    assert set(plan) == expected_jobs, sorted(set(plan) ^ expected_jobs)
    for (rule, _), reason in plan.items():
        # The jobs that have the param rerun for it; the rest because their input changed.
        expected = "Params have changed since last execution" if rule == owner else "Input files updated by another job"
        assert reason.startswith(expected), (rule, reason)
    assert files == expected_files


def test_added_tile_runs_its_jobs_and_the_site_merges(run_copy):
    wd, cfg = run_copy
    update_config(cfg, tiles=[T1, T2, T3])
    plan, _, files = plan_run_check(wd, cfg)
    new_tile = {
        job("demo_tile", tile=T3), job("h5_to_ancillary", tile=T3, layer="wqi"), job("h5_to_rgb", tile=T3),
        job("ndvi_tile", tile=T3), job("sample_tile", tile=T3), job("spectral_tile", tile=T3),
        job("classify_tile", tile=T3, classifier="sam"), job("classify_tile", tile=T3, classifier="sid"),
    }
    site = {
        job("tile_listing"), job("site_endmembers"),
        *(job("mosaic", product=p) for p in ("rgb", "wqi", "abundance", "sam", "sid", "ndvi")),
        job("figure_rgb"), job("figure_wqi"), job("figure_endmembers"), job("figure_abundance"),
        job("figure_classes", classifier="sam"), job("figure_classes", classifier="sid"),
        job("figure_ndvi"), job("mean_abundance_table"), *SAM_DESCENDANTS,
    }
    # By design the endmembers are one set for the whole site, pooled from every tile's
    # sample: a new tile changes endmembers.csv, so the spectral chain (and the classes) of
    # the tiles already done run again against the new set, to keep class k the same
    # material in every tile. Their conversions and samples do not.
    # (With endmembers.library it does not: see the next test.)
    respectral = {
        job("spectral_tile", tile=t) for t in (T1, T2)
    } | {job("classify_tile", tile=t, classifier=c) for t in (T1, T2) for c in ("sam", "sid")}
    assert set(plan) == new_tile | site | respectral, sorted(set(plan) ^ (new_tile | site | respectral))
    assert "Set of input files has changed" in plan[job("site_endmembers")], plan[job("site_endmembers")]
    assert plan[job("spectral_tile", tile=T1)].startswith("Input files updated by another job"), plan
    for t in (T1, T2):
        for name in ("wqi.tif", "rgb.tif", "ndvi.tif", "sample.npz"):
            assert f"tiles/{t}/{name}" not in files
        assert not any(p.startswith("h5/") and t in p for p in files)
    assert {f"tiles/{T3}/{n}" for n in ("wqi.tif", "rgb.tif", "ndvi.tif", "sample.npz", "abundance.tif")} <= files


def test_with_a_library_an_added_tile_leaves_the_others_alone(run_copy):
    wd, cfg = run_copy
    library = wd / "library.csv"
    shutil.copy(wd / OUT / "endmembers.csv", library)
    update_config(cfg, endmembers={"library": str(library)})
    snakemake(wd, "--configfile", str(cfg))
    update_config(cfg, tiles=[T1, T2, T3])
    plan, _, files = plan_run_check(wd, cfg)
    # The library needs only the image's band set, taken from the first tile's sample: the new
    # tile is converted and unmixed, the site products merged; no other tile's job runs, and
    # the new tile's pixels are not even sampled.
    assert job("site_endmembers") not in plan and job("sample_tile", tile=T3) not in plan, sorted(plan)
    assert {j for j in plan if T1 in j[1] or T2 in j[1]} == set(), sorted(plan)
    assert {job("spectral_tile", tile=T3), job("mosaic", product="abundance")} <= set(plan)
    assert "endmembers.csv" not in files
    # The library file is an input: editing it reruns the endmembers and the spectral chain.
    library.write_text(library.read_text().replace("em1", "grass"))
    plan, _, files = plan_run_check(wd, cfg)
    reason = plan[job("site_endmembers")]
    assert reason.startswith("Updated input files:") and reason.endswith("library.csv"), reason
    assert {job("spectral_tile", tile=t) for t in (T1, T2, T3)} <= set(plan)
    assert "endmembers.csv" in files
    assert (wd / OUT / "endmembers.csv").read_text().splitlines()[0].split(",")[1] == "grass"
    # Extraction settings do not apply with a library: editing them reruns nothing.
    update_config(cfg, endmembers={"method": "atgp", "n": 2, "seed": 9, "sample_size": 50, "candidates": 10})
    dry = snakemake(wd, "--configfile", str(cfg), "-n")
    assert NOTHING in dry.stdout + dry.stderr, dry.stdout[-3000:]


def test_deleted_tile_output_is_regenerated_alone(run_copy):
    wd, cfg = run_copy
    deleted = OUT / "tiles" / T1 / "rgb.tif"
    (wd / deleted).unlink()
    assert missing_files(wd, cfg) == [str(deleted)]
    # A plain run (rule all asks for every per-tile GeoTIFF) makes it again, and then only
    # what is made from it: the RGB mosaic and its figure.
    plan, _, files = plan_run_check(wd, cfg)
    assert set(plan) == {job("h5_to_rgb", tile=T1), job("mosaic", product="rgb"), job("figure_rgb"), job("all")}
    assert plan[job("h5_to_rgb", tile=T1)] == f"Missing output files: {deleted}", plan
    assert files == {f"tiles/{T1}/rgb.tif", "mosaic/rgb.tif", "figures/rgb.png"}


def test_deleted_intermediate_file_is_not_remade_while_its_products_are_current(run_copy):
    wd, cfg = run_copy
    deleted = OUT / "tiles" / T2 / "sample.npz"
    (wd / deleted).unlink()
    assert missing_files(wd, cfg) == [str(deleted)]
    # The pixel sample is an intermediate file: snakemake does not rebuild it (nor anything
    # made from it) while the site endmembers made from it are present and up to date.
    plain = snakemake(wd, "--configfile", str(cfg), "-n")
    assert jobs_of(plain.stdout) == set() and NOTHING in plain.stdout + plain.stderr


# ---- a job killed with SIGKILL while it writes its output ----

# A one-tile site whose tile is big enough that writing its HDF5 file (gzip) takes a few
# seconds: a wide window to kill the demo_tile job mid-write, whatever the machine's load.
KILL_SITE = {"demo": {"shape": [1, 1], "pixels": 200, "pixel_size": 5.0, "bands": 426, "seed": 9,
                      "materials": ["vegetation", "soil", "water", "built", "dry_vegetation"]}}


def _writer_of(root_pid: int, part: Path) -> psutil.Process | None:
    """The process below ``root_pid`` that has ``part`` open (the job's Python process)."""
    try:
        procs = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for proc in procs:
        try:
            if any(Path(f.path) == part for f in proc.open_files()):
                return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a snakemake we started and every process below it (and nothing else)."""
    if proc.poll() is not None:
        return
    try:
        below = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        below = []
    for p in [psutil.Process(proc.pid), *below]:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)
    psutil.wait_procs(below, timeout=30)


# "job": the job's Python process dies (out of memory, a crash): snakemake sees the job fail.
# "workflow": snakemake dies with its job (the login node reboots): nothing records the failure,
# and the workflow folder stays locked.
@pytest.mark.parametrize("victim", ["job", "workflow"])
def test_job_killed_mid_write_leaves_no_output_and_reruns(tmp_path, victim):
    wd, cfg = new_workflow(tmp_path, **KILL_SITE)
    conf = yaml.safe_load(cfg.read_text())
    spec = demo_spec(conf["site"], conf["year"], conf["demo"])
    (tile, name), = demo_tile_names(spec).items()
    h5 = wd / OUT / "h5" / name
    target = str(h5.relative_to(wd))

    with open(tmp_path / "killed_run.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakemake", target, "--cores", "2", "--configfile", str(cfg)],
            cwd=wd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            # atomic_path writes to ".<name>.<random>.part.h5" beside the final file.
            deadline = time.monotonic() + 180
            writer = part = None
            while writer is None:
                assert proc.poll() is None, "snakemake ended before the job could be killed mid-write"
                assert time.monotonic() < deadline, "the demo_tile job did not start writing within 180 s"
                parts = list(h5.parent.glob(f".{name}.*.part*")) if h5.parent.is_dir() else []
                # Mid-write: the temporary file already holds data (the h5 is ~25 MB when done).
                if parts and parts[0].stat().st_size > 2**20:
                    part = parts[0]
                    writer = _writer_of(proc.pid, part)
                time.sleep(0.02)
            assert not h5.exists()
            if victim == "job":
                writer.kill()  # SIGKILL: no clean-up runs in the job
                returncode = proc.wait(timeout=120)
            else:
                _kill_tree(proc)
                returncode = proc.returncode
        finally:
            _kill_tree(proc)
    assert not writer.is_running()
    text = (tmp_path / "killed_run.log").read_text()
    assert returncode != 0
    if victim == "job":
        assert "died with <Signals.SIGKILL: 9>" in text and "Error in rule demo_tile" in text, text[-3000:]
    # Nothing under the final name. The temporary file stays (SIGKILL skips atomic_path's
    # clean-up); it has a hidden, random name that no later run reads or overwrites.
    assert not h5.exists()
    assert part.exists()

    dry = snakemake(wd, target, "--configfile", str(cfg), "-n").stdout
    ((planned, reason),) = job_reasons(dry).items()
    assert planned == job("demo_tile", tile=tile) and reason.startswith(f"Missing output files: {target}"), dry
    if victim == "workflow":
        # The dead snakemake still holds the folder's lock: a run refuses until --unlock.
        locked = snakemake(wd, target, "--configfile", str(cfg), check=False)
        assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
        snakemake(wd, target, "--configfile", str(cfg), "--unlock")
    snakemake(wd, target, "--configfile", str(cfg), "--rerun-incomplete")
    ref = write_tile(spec, tile, tmp_path / "ref")
    with h5py.File(h5, "r") as got, h5py.File(ref, "r") as want:
        path = f"{spec.site}/Reflectance/Reflectance_Data"
        np.testing.assert_array_equal(got[path][()], want[path][()])
    dry = snakemake(wd, target, "--configfile", str(cfg), "-n")
    assert NOTHING in dry.stdout + dry.stderr
