"""The real pipeline on a real SLURM cluster, through the workflow's SLURM profile.

The cluster is a single-node SLURM 22.05 with accounting (slurmdbd + MariaDB) and one fake GPU, started on this
machine by scripts/slurm/start_local_cluster.sh (.ci/run starts it; the fixture starts it when it is down). The
test skips only where that cannot happen: not root, or no apt-get/dpkg. Everything else that goes wrong fails.
"""

import os
import re
import shutil
import subprocess
import time

import pandas as pd
import pytest
import yaml

import expected_demo as want
from conftest import REPO, SNAKEMAKE

START = REPO / "scripts" / "slurm" / "start_local_cluster.sh"
TARGET = "results/demo_effl0/metrics/wsol_test.json"


def _cluster_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0 and any(s in proc.stdout for s in ("idle", "mix", "alloc"))


@pytest.fixture(scope="module")
def slurm_cluster():
    if _cluster_up():
        return
    if os.geteuid() != 0:
        pytest.skip("no local SLURM cluster running, and starting one needs root (scripts/slurm/start_local_cluster.sh)")
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        pytest.skip("no local SLURM cluster running, and no apt-get/dpkg to install one")
    proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{START} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert _cluster_up()


def _sacct(since: str) -> pd.DataFrame:
    fields = ["JobID", "JobName", "Comment", "State", "ExitCode", "Partition", "Account", "AllocTRES", "Elapsed"]
    proc = subprocess.run(["sacct", "-X", "-n", "-P", "-S", since, "--format", ",".join(fields)],
                          capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("|") for line in proc.stdout.splitlines() if line.strip()]
    return pd.DataFrame(rows, columns=fields)


def test_pipeline_runs_on_slurm_through_the_profile(slurm_cluster, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # the site profile a user keeps outside the repository (account and partition of the local cluster)
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text(yaml.safe_dump({"default-resources": {
        "slurm_account": "local", "slurm_partition": "local", "runtime": 30, "mem_mb": 2000}}))
    # device auto: the GPU stages ask SLURM for the (fake) GPU; torch finds no CUDA and runs them on the CPU
    overrides = tmp_path / "slurm.yaml"
    overrides.write_text(yaml.safe_dump({"device": "auto"}))
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 2))
    prefix = f"c2amtest{os.getpid()}"
    cmd = ["timeout", "-k", "20", "1200", SNAKEMAKE, "--snakefile", str(REPO / "workflow" / "Snakefile"),
           "--directory", str(work), "--profile", str(site),
           "--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm"),
           "--max-threads", "2", "--slurm-init-seconds-before-status-checks", "2",
           "--seconds-between-status-checks", "2",
           "--slurm-jobname-prefix", prefix, "--slurm-keep-successful-logs", TARGET,
           "--configfile", str(REPO / "tests" / "data" / "tiny_demo.yaml"), str(overrides)]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - started
    assert proc.returncode == 0, f"exit {proc.returncode} after {wall:.0f} s\n{proc.stderr[-5000:]}"
    out = proc.stdout + proc.stderr
    # the slurm executor ran this workflow (its run ID carries our prefix) and sbatch accepted every job: one
    # "submitted with SLURM jobid" line per job, whose ids are checked against SLURM's accounting below
    assert f"SLURM run ID: {prefix}_" in out, out[-3000:]
    submitted = dict(re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.?$", out, re.M))
    assert len(submitted) == 8, out[-3000:]

    metrics = yaml.safe_load((work / TARGET).read_text())  # JSON is YAML
    # the tiny demo's C2AM boxes on its 48 test images: the same run as tests/test_workflow.py's, so the same band
    # (tests/expected_demo.py: measured 85.42 %, within 3 images); a fraction here, a percentage in the tables
    assert metrics["images"] == want.N_TEST and want.on_image_grid(100 * metrics["gt_known_loc"])
    assert 100 * metrics["gt_known_loc"] == pytest.approx(want.TABLE2["C2AM"]["GT-known Loc"], abs=want.BAND_IMAGES)

    jobs = _sacct(since)
    ours = jobs[jobs["JobName"].str.startswith(prefix)]
    print(f"SLURM run: {wall:.0f} s wall, GT-known Loc {100 * metrics['gt_known_loc']:.2f} %, submitted {submitted}\n"
          + ours.to_string(index=False))
    rules = sorted(c.removeprefix("rule_").split("_wildcards_")[0] for c in ours["Comment"])
    assert rules == ["choose_threshold", "evaluate_wsol", "extract_maps", "extract_maps", "make_boxes",
                     "make_demo_data", "pretrain_init", "train_c2am"], ours
    # the jobs SLURM accounted for are the ones snakemake submitted, and each left its SLURM log (kept on success)
    assert sorted(ours["JobID"]) == sorted(submitted), (ours, submitted)
    for log in submitted.values():
        assert (work / log).is_file(), log  # the log path printed is absolute or relative to the work folder
    assert (ours["State"] == "COMPLETED").all() and (ours["ExitCode"] == "0:0").all(), ours
    assert (ours["Partition"] == "local").all() and (ours["Account"] == "local").all(), ours
    # the GPU stages were given the (fake) GPU and the CPUs of their threads; the others no GPU
    on_gpu = sorted(c.removeprefix("rule_").split("_wildcards_")[0]
                    for c, tres in zip(ours["Comment"], ours["AllocTRES"]) if "gres/gpu=1" in tres)
    assert on_gpu == ["extract_maps", "extract_maps", "train_c2am"], ours
