"""Re-runs through Snakemake: every setting that changes an artifact re-runs the job that makes it and what depends
on it; a failed job keeps its previous output yet is retried by the next run; a second workflow on the same
results folder is refused before it touches anything.

The demo workflow (config.yaml: both demo experiments, Table 6's sensitivity experiments, a predict folder) is
'built' with empty stand-in outputs and `snakemake --touch`, which records each job's params as a real run does;
then one setting of each settings section is edited and `snakemake -n` must list exactly the expected rules. A
stage run on the stand-ins fails at once (an empty model file), which is how the failure tests fail a job."""

import re
import shutil
import subprocess
import sys

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from conftest import REPO, snakemake

TARGETS = ("all", "results/table6.csv", "results/figure_training.png", "results/demo_effl0/predict/photos",
           "results/demo_voc_effl0/predict/photos")

# the jobs that follow from a setting, built up along the demo's DAG ("all" is the default target's own job)
PREDICT = {"predict"}
BOXES = {"all", "choose_threshold", "make_boxes", "evaluate_wsol", "figure_maps", "table2", "table3", "fg_rule_ablation",
         "table6", "train_localizer", "predict_localizer", "evaluate_psol", "table1", "figure_wsol", "figure_training",
         *PREDICT}
MAPS = BOXES | {"extract_maps", "make_cues"}
C2AM = MAPS | {"train_c2am"}
CUES = {"all", "predict_cues", "refine_c2am", "table4", "table5", "figure_wsss", "evaluate_fg", "table_fg"}
CUE_MODEL = CUES | {"train_cue_model", "figure_training"}
CAMS = {"all", "make_cams", "sweep_cam_threshold", "refine_baseline", "refine_c2am", "table4", "table5", "figure_wsss"}
PSOL = {"all", "evaluate_psol", "table1", "figure_wsol", "figure_training"}

EDITS = {  # dotted key, value, the rules that must re-run
    "train_c2am (experiment)": ("experiments.demo_effl0.train_c2am.lr", 0.002, C2AM),
    "train_c2am (stages: both experiments)": ("stages.train_c2am.momentum", 0.8, C2AM | CUE_MODEL | {"make_cue_labels"}),
    "extract": ("experiments.demo_effl0.extract_maps.resize", 176, MAPS),
    "boxes": ("experiments.demo_effl0.make_boxes.threshold_grid_step", 0.1, BOXES),
    "evaluate_wsol": ("stages.evaluate_wsol.maxboxacc_step", 0.02,
                  {"all", "evaluate_wsol", "evaluate_ddt", "evaluate_psol", "table1", "table2", "table3", "table6"}),
    "ddt": ("stages.ddt_boxes.resize", 160, PSOL | {"ddt_boxes", "evaluate_ddt", "table2", "table3", "train_localizer",
                                              "predict_localizer", "ddt_maps_all", "evaluate_fg", "table_fg"}),
    "train_localizer": ("localizers.effl0_demo.settings.lr", 0.003, PSOL | {"train_localizer", "predict_localizer"}),
    "train_classifier": ("classifiers.effl0_demo.settings.lr", 0.003, PSOL | {"train_classifier", "predict_classifier"}),
    "train_cam": ("cams.effl0_cam_demo.settings.epochs", 7, CAMS | {"train_cam", "figure_training"}),
    "make_cams": ("stages.make_cams.flip", False, CAMS),
    "make_cue_labels": ("experiments.demo_voc_effl0.make_cue_labels.threshold", 0.4, CUE_MODEL | {"make_cue_labels"}),
    "train_cue_model": ("experiments.demo_voc_effl0.train_cue_model.epochs", 9, CUE_MODEL),
    "predict_cues.test_size": ("experiments.demo_voc_effl0.predict_cues.test_size", 192, CUES),
    "predict_psol.test_size": ("stages.predict_psol.test_size", 96, PSOL - {"figure_training"} | {"predict_localizer",
                                                                                              "predict_classifier"}),
    "refine": ("stages.refine_cams.crf_iterations", 5, {"all", "refine_baseline", "table5"}),
    "figure": ("stages.figure.n_images", 6, {"all", "figure_maps", "figure_wsol", "figure_wsss"}),
    "tables": ("stages.tables.decimals", 3, {"all", "table1", "table2", "table3", "table4", "table5", "table6", "table_fg"}),
    "predict.size": ("experiments.demo_effl0.predict.size", 192, PREDICT),
    "predict.refine": ("experiments.demo_effl0.predict.refine", "none", PREDICT),
    "predict (stages)": ("stages.predict.previews", False, PREDICT),
    "evaluate_fg": ("stages.evaluate_fg.threshold", 0.4, {"all", "evaluate_fg", "table_fg"}),
    # how a job runs, not what it writes (the device, x-run-only settings): nothing re-runs
    "device": ("device", "auto", set()),
    "train_c2am.workers": ("experiments.demo_effl0.train_c2am.workers", 1, set()),
    "train_c2am.checkpoint_every_steps": ("stages.train_c2am.checkpoint_every_steps", 50, set()),
    "extract_maps.batch_size": ("experiments.demo_effl0.extract_maps.batch_size", 4, set()),
    "ddt_boxes.cache_mb": ("stages.ddt_boxes.cache_mb", 64, set()),
    "predict.workers": ("stages.predict.workers", 0, set()),
    "predict_psol.batch_size": ("stages.predict_psol.batch_size", 8, set()),
    "predict_psol.workers": ("stages.predict_psol.workers", 0, set()),
    # a setting given at its schema default changes no command
    "train_c2am.seed at its default": ("stages.train_c2am.seed", 0, set()),
}


def job_list(proc) -> set[str]:
    """The rules of `snakemake -n`'s job stats table (empty when nothing is to be done)."""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return set()
    table = out[out.index("Job stats:"):]
    table = table[:table.index("\ntotal")]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M)}


def overlay(path, photos, edit=None):
    """The overlay of these runs: CPU, a predict folder, and `edit` (dotted key, value)."""
    cfg = {"device": "cpu", "predict_folders": {"photos": str(photos)}}
    if edit:
        dotted, value = edit
        node = cfg
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A work folder in which the demo workflow counts as built: every output a stand-in, params recorded."""
    work = tmp_path_factory.mktemp("built")
    (work / "photos").mkdir()
    cv2.imwrite(str(work / "photos" / "a.png"), np.full((8, 8, 3), 128, np.uint8))
    base = overlay(work / "base.yaml", work / "photos")
    dry = snakemake(work, "-n", *TARGETS, configfiles=(base,))
    for line in job_outputs(dry.stdout):
        path = work / line
        if path.suffix:  # every file output has a suffix, every folder output none
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
    touched = snakemake(work, "--touch", "--forceall", *TARGETS, configfiles=(base,))
    assert touched.returncode == 0, touched.stderr[-3000:]
    assert job_list(snakemake(work, "-n", *TARGETS, configfiles=(base,))) == set()
    return work


def job_outputs(text: str):
    for m in re.finditer(r"^\s+output: (.*)$", text, re.M):
        yield from (p.replace(" (update)", "").strip() for p in m.group(1).split(", "))


@pytest.mark.parametrize("section", list(EDITS))
def test_editing_a_setting_reruns_the_jobs_that_use_it(built, section, tmp_path):
    dotted, value, expected = EDITS[section]
    edited = overlay(tmp_path / "edited.yaml", built / "photos", (dotted, value))
    jobs = job_list(snakemake(built, "-n", *TARGETS, configfiles=(edited,)))
    assert jobs == expected, f"editing {dotted}: missing {sorted(expected - jobs)}, extra {sorted(jobs - expected)}"


def test_every_rule_with_a_kept_output_has_the_failure_param_of_its_log():
    """A kept (update()) output is restored when its job fails; the `failure` param, read from the job's log's
    failure record, is what makes the next run retry the job, so every such rule needs it, on its own log."""
    rules = [b for f in sorted((REPO / "workflow" / "rules").glob("*.smk"))
             for b in re.split(r"(?m)^(?=rule )", f.read_text())]
    rules = [b for b in rules if b.startswith("rule ")]
    kept = [b for b in rules if "kept(" in b]
    assert len(kept) == 11 and not any("update(" in b for b in rules)  # models, map folders, CAMs, cues, predictions
    for block in kept:
        log = re.search(r"(?m)^    log:\n        (f\".*\"),$", block).group(1)
        assert f"        failure=last_failure({log}),\n" in block, block.splitlines()[0]


def work_copy(built, tmp_path):
    """A copy of the built work folder (times and Snakemake's records kept)."""
    return Path(shutil.copytree(built, tmp_path / "wf", symlinks=True))


@pytest.mark.parametrize("target, rule, edit", [
    ("results/demo_effl0/c2am/model.pt", "train_c2am", ("experiments.demo_effl0.train_c2am.lr", 0.002)),
    ("results/demo_effl0/maps/train", "extract_maps", ("experiments.demo_effl0.extract_maps.resize", 176)),
])
def test_a_failed_job_keeps_its_previous_output_and_the_next_run_retries_it(built, tmp_path, target, rule, edit):
    """Snakemake restores a failed job's kept output and forgets the job's recorded params: without the done
    record, the next identical command said 'Nothing to be done' and the previous output passed for one built
    with the new settings."""
    work = work_copy(built, tmp_path)
    previous = work / target / "previous.npy" if rule == "extract_maps" else work / target
    previous.write_bytes(b"previous result")
    edited = overlay(tmp_path / "edited.yaml", built / "photos", edit)
    failed = snakemake(work, target, configfiles=(edited,))
    assert failed.returncode != 0
    assert "Restored previous version" in failed.stdout + failed.stderr
    assert previous.read_bytes() == b"previous result"  # nothing already produced is lost
    again = snakemake(work, "-n", target, configfiles=(edited,))
    assert rule in job_list(again)  # the next identical command retries the job, and says why
    assert re.search(r"reason: Params have changed since last execution.*now: .*'run failed at 20\d\d-", again.stdout)
    downstream = snakemake(work, "-n", "results/table2.csv", configfiles=(edited,))
    assert rule in job_list(downstream)  # nothing downstream is built from the previous output


HOLD = """import sys, time
sys.path.insert(0, sys.argv[1])
from c2am.io import hold_workflow_lock
hold_workflow_lock(sys.argv[2])
print("held", flush=True)
time.sleep(120)
"""


def snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("nolock", [False, True])
def test_a_second_workflow_on_the_same_results_dir_is_refused_and_touches_nothing(built, tmp_path, nolock):
    """Under --nolock, a second run's job truncated the running job's log and restored its model.pt while it was
    still training; without --nolock, Snakemake's own lock lets two workflows on different experiments of one
    results folder run. Both are refused before any job is prepared."""
    work = work_copy(built, tmp_path)
    edited = overlay(tmp_path / "edited.yaml", built / "photos", ("experiments.demo_effl0.train_c2am.lr", 0.002))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(REPO), str(work / "results")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(work / "results")
        second = snakemake(work, *(["--nolock"] if nolock else []), "results/demo_effl0/predict/photos",
                           configfiles=(edited,))
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode != 0
    out = second.stdout + second.stderr
    assert f"another workflow is running on results (pid {holder.pid} on" in out
    assert "--config results_dir=OTHER" in out
    assert snapshot(work / "results") == before
    assert not list((work / ".snakemake").glob("backups/**/*.pt"))
    after = snakemake(work, "-n", "results/demo_effl0/predict/photos", configfiles=(edited,))
    assert "train_c2am" in job_list(after)  # the lock went with its holder
