# Every helper the rules share: config lookups, the flags of a stage's command line, and the lists of table rows,
# figure panels and training logs. Rule files hold rules only.

import json
import re
import shlex

from c2am.config import cli_flags, global_settings, recipe_settings, stage_flags, stage_settings, wsss_label
from c2am.data.readers import FOLD_SPLIT, listing_fingerprint
from c2am.report import WsssColumn
from c2am.settings import ClassifierTrainSettings, CueTrainSettings, LocalizerTrainSettings
from c2am.training.launch import launch_command

R = CFG["results_dir"]
DEVICE = CFG["device"]
GPU_JOB = 0 if DEVICE == "cpu" else 1
ACTIVE = CFG["active_experiments"]
ENV = "../../envs/c2am.yaml"  # relative to workflow/rules/: the environment of every stage under --sdm conda
INFERENCE_ONLY = {
    "localizer": LocalizerTrainSettings.INFERENCE_ONLY,
    "classifier": ClassifierTrainSettings.INFERENCE_ONLY,
}


# ----------------------------------------------------------------------------------------------- lookups
def experiment(name):
    return CFG["experiments"][name]


def dataset(exp_name):
    return CFG["datasets"][experiment(exp_name)["dataset"]]


def label(exp_name):
    return experiment(exp_name)["label"] or exp_name


def eval_split(exp_name):
    return dataset(exp_name)["eval_split"]


def train_split(exp_name):
    return dataset(exp_name)["train_split"]


def quoted(*fields):
    return " ".join(shlex.quote(str(f)) for f in fields)


def yaml_dump(cfg):
    import yaml

    return yaml.safe_dump(json.loads(json.dumps(cfg)), sort_keys=False)


# ----------------------------------------------------------------------------------------------- kept outputs
def kept(path):
    """An expensive output (a model, a map folder, predictions) that Snakemake does not delete before its job runs
    and restores when the job fails (update()): a failed re-run loses nothing. The param
    `failure=last_failure(LOG)` goes with it, so that the next run retries a failed job."""
    return update(path)


class _NoFailure:
    """The `failure` param of a job whose log has no failure record: Snakemake leaves a value it cannot represent
    out of its params record, so the param changes no recorded job until a failure happens."""

    def __repr__(self):
        return "no failure"


def failure_record(log):
    """The failure record that c2am_failed (Snakefile) writes for LOG when a job fails: .LOG.failure beside it."""
    log = Path(log)
    return log.with_name(f".{log.name}.failure")


def last_failure(log):
    """The `failure` param that goes with a kept output, from the failure record of the job's log (written by
    c2am_failed with the time of the failed run). When a job fails, Snakemake restores its kept output
    and records the job's params as if it had finished, so the next identical run said "Nothing to be done" and
    took the previous output for one built with the new settings; the record written since makes the params
    differ, and the next run retries the job ("Params have changed ... run failed at ...")."""

    def param(wildcards):
        record = failure_record(log.format(**dict(wildcards.items())))
        return record.read_text().strip() if record.is_file() else _NoFailure()

    return param


# ----------------------------------------------------------------------------------------------- datasets
def _dataset_of(wildcards):
    """The dataset of a job: its `dataset` wildcard, or its experiment's."""
    if "dataset" in wildcards.keys():
        return CFG["datasets"][wildcards.dataset]
    return dataset(wildcards.exp)


def _generated(ds):
    """The folder a generated dataset (the demo) is built in, or nothing for a real dataset."""
    return [f"{R}/data/{ds['generate']}"] if ds["generate"] else []


def data_input(wildcards):
    """The demo dataset is built by a rule; real datasets are read where they are."""
    return _generated(_dataset_of(wildcards))


def data_flags(wildcards):
    ds = _dataset_of(wildcards)
    return f"--dataset-format {ds['format']} --dataset-root {shlex.quote(ds['root'])}"


def data_train_split(wildcards):
    return _dataset_of(wildcards)["train_split"]


def c2am_extra_data(wildcards):
    """The datasets of the experiment's c2am_extra_data (more unlabeled training images for C2AM)."""
    return [CFG["datasets"][name] for name in experiment(wildcards.exp)["c2am_extra_data"]]


def c2am_extra_input(wildcards):
    return [folder for ds in c2am_extra_data(wildcards) for folder in _generated(ds)]


def c2am_data_flags(wildcards):
    """data_flags plus one --extra-data per c2am_extra_data dataset (nothing more without them, so the rule's
    params, and hence its cached model, stay as they were)."""
    extra = [
        f" --extra-data {quoted(ds['format'], ds['root'], ds['train_split'])}" for ds in c2am_extra_data(wildcards)
    ]
    return data_flags(wildcards) + "".join(extra)


# ----------------------------------------------------------------------------------------------- settings
def settings(stage):
    """The resolved settings of `stage` for the job's experiment, as flags."""
    return lambda wildcards: stage_flags(CFG, wildcards.exp, stage)


def box_choice_flags(wildcards):
    """What choosing a box threshold reads: the boxes settings, and how the evaluation counts a box (IoU
    threshold, strictness; not the MaxBoxAcc sweep, so editing that does not re-choose the threshold)."""
    evaluation = stage_settings(CFG, wildcards.exp, "wsol_eval")
    return " ".join(
        [
            cli_flags(stage_settings(CFG, wildcards.exp, "boxes")),
            cli_flags({k: evaluation[k] for k in ("iou_threshold", "strict")}),
        ]
    )


def global_flags(stage):
    return cli_flags(global_settings(CFG, stage))


def c2am_train(wildcards):
    """The resolved c2am_train settings of the job's experiment."""
    return stage_settings(CFG, wildcards.exp, "c2am_train")


def c2am_launch(wildcards):
    """torchrun when c2am_train.gpus x nodes > 1 (DDP, global-batch loss), plain python otherwise."""
    s = c2am_train(wildcards)
    return launch_command("python", s["gpus"], s["nodes"])


def init_flags(wildcards):
    if wildcards.init not in CFG["inits"]:
        raise ValueError(f"unknown init {wildcards.init!r}; config.yaml defines {sorted(CFG['inits'])}")
    return cli_flags(CFG["inits"][wildcards.init])


def init_source_file(wildcards):
    """A local checkpoint is an input, so replacing the file re-runs the conversion."""
    path = CFG["inits"][wildcards.init]["path"]
    return [path] if path else []


def experiment_init(wildcards):
    return f"{R}/init/{experiment(wildcards.exp)['init']}.pt"


def cue_train_flags(wildcards):
    """The cue model's training flags (its test size goes to predict_cues only)."""
    s = stage_settings(CFG, wildcards.exp, "cue_train")
    return cli_flags({k: v for k, v in s.items() if k not in CueTrainSettings.INFERENCE_ONLY})


def recipe_flags(kind):
    """Training flags of a localizer / classifier / CAM recipe (inference sizes go to the predict rules only, so
    changing them re-runs prediction, not training)."""
    skip = INFERENCE_ONLY.get(kind, ())
    return lambda w: cli_flags({k: v for k, v in recipe_settings(CFG, kind, getattr(w, kind)).items() if k not in skip})


def inference_flags(kind):
    return lambda w: cli_flags({k: recipe_settings(CFG, kind, getattr(w, kind))[k] for k in INFERENCE_ONLY[kind]})


def recipe_init(kind):
    return lambda w: f"{R}/init/{CFG[f'{kind}s'][getattr(w, kind)]['init']}.pt"


def recipe_label(kind, name):
    entry = CFG[f"{kind}s"][name]
    return entry["label"] or CFG["inits"][entry["init"]]["backbone"]


def run_file(name):
    """A training rule's checkpoint or JSONL log (not outputs: Snakemake deletes outputs and logs before a job,
    and these must survive a kill so that the re-run resumes)."""
    return lambda w: shlex.quote(name.format(R=R, **dict(w.items())))


# ----------------------------------------------------------------------------------------------- WSOL
def figure_panels():
    panels = []
    for e in ACTIVE:
        ds, split = dataset(e), eval_split(e)
        panel = quoted(
            label(e), ds["format"], ds["root"], split, f"{R}/{e}/maps/{split}", f"{R}/{e}/boxes/{split}.parquet"
        )
        panels.append(f"--panel {panel}")
    return " ".join(panels)


def ddt_root(exp_name):
    e = experiment(exp_name)
    return f"{R}/ddt/{e['dataset']}/{e['init']}"


def pseudo_boxes(wildcards):
    split = train_split(wildcards.exp)
    if wildcards.source == "c2am":
        return f"{R}/{wildcards.exp}/boxes/{split}.parquet"
    return f"{ddt_root(wildcards.exp)}/boxes/{split}.parquet"


def table1_entries():
    """(experiment, dataset, source, localizer label, classifier label, metrics JSON) per Table 1 row."""
    out = []
    for e in ACTIVE:
        exp = experiment(e)
        for source in exp["pseudo_boxes"]:
            for loc in exp["localizers"]:
                for cls in exp["classifiers"]:
                    out.append(
                        (
                            label(e),
                            exp["dataset"],
                            source,
                            recipe_label("localizer", loc),
                            recipe_label("classifier", cls),
                            f"{R}/{e}/psol/{source}/{loc}/metrics_{cls}_{eval_split(e)}.json",
                        )
                    )
    return out


def ddt_entries():
    """(dataset, init, metrics JSON) of DDT for the active experiments that ask for DDT rows (deduplicated)."""
    seen = {}
    for e in ACTIVE:
        if experiment(e)["ddt"]:
            key = (experiment(e)["dataset"], experiment(e)["init"])
            seen.setdefault(key, f"{ddt_root(e)}/metrics/wsol_{eval_split(e)}.json")
    return [(*k, v) for k, v in seen.items()]


def wsol_metrics(e):
    return f"{R}/{e}/metrics/wsol_{eval_split(e)}.json"


def table2_rows():
    rows = [
        f"--row {quoted(label(e), experiment(e)['dataset'], experiment(e)['init'], wsol_metrics(e))}" for e in ACTIVE
    ]
    return " ".join(rows + [f"--ddt-row {quoted(*row)}" for row in ddt_entries()])


def table3_rows():
    rows = [
        f"--row {quoted('C2AM', label(e), experiment(e)['dataset'], experiment(e)['init'], wsol_metrics(e))}"
        for e in ACTIVE
    ]
    return " ".join(rows + [f"--row {quoted('DDT', '-', *row)}" for row in ddt_entries()])


def fold_experiments():
    """The active experiments evaluated on a held-out fold of a split (eval_split BASE-foldIofK)."""
    return [e for e in ACTIVE if (m := FOLD_SPLIT.match(eval_split(e))) is not None and not m["without"]]


def table_folds_inputs(wildcards):
    """The held-out metrics of the fold experiments; none active is an error that says where they come from."""
    if not fold_experiments():
        raise WorkflowError(
            "table_folds needs experiments evaluated on a held-out fold (eval_split BASE-foldIofK, "
            "e.g. --configfile configs/cub10.yaml configs/cub10_folds.yaml); none is active"
        )
    return [wsol_metrics(e) for e in fold_experiments()]


def table_folds_rows():
    return " ".join(
        f"--row {quoted(label(e), dataset(e)['root'], eval_split(e), wsol_metrics(e))}" for e in fold_experiments()
    )


def figure_wsol_args():
    """Per active experiment with a localizer and a classifier: its first localizer and classifier."""
    args, inputs = [], []
    for e in ACTIVE:
        exp = experiment(e)
        if not (exp["localizers"] and exp["classifiers"]):
            continue
        ds, split = dataset(e), eval_split(e)
        loc, cls = exp["localizers"][0], exp["classifiers"][0]
        classes = f"{R}/classifiers/{exp['dataset']}/{cls}/pred_{split}.parquet"
        pseudo = {
            "c2am": ("C2AM", "red", f"{R}/{e}/boxes/{split}.parquet"),
            "ddt": ("DDT", "blue", f"{ddt_root(e)}/boxes/{split}.parquet"),
        }
        located = {
            s: (f"on {pseudo[s][0]}", pseudo[s][1], f"{R}/{e}/psol/{s}/{loc}/boxes_{split}.parquet")
            for s in exp["pseudo_boxes"]
        }
        sources = exp["pseudo_boxes"]
        localizer_row = f"localizer {recipe_label('localizer', loc)}"
        args.append(
            " ".join(
                [
                    "--panel",
                    quoted(label(e), ds["format"], ds["root"], split, classes),
                    "--row",
                    quoted("pseudo boxes", *("=".join(pseudo[s]) for s in sources)),
                    "--row",
                    quoted(localizer_row, *("=".join(located[s]) for s in sources)),
                ]
            )
        )
        inputs += [classes, *(pseudo[s][2] for s in sources), *(located[s][2] for s in sources)]
    return " ".join(args), inputs


# ----------------------------------------------------------------------------------------------- WSSS
REFINE = global_settings(CFG, "refine")
CRF_KEYS = {  # the refine settings each dense-CRF variant reads (so editing one re-runs that variant only)
    "crf_label": (
        "crf_iterations",
        "crf_gt_prob",
        "crf_gaussian_sxy",
        "crf_gaussian_compat",
        "crf_bilateral_sxy",
        "crf_bilateral_srgb",
        "crf_bilateral_compat",
    ),
    "crf_softmax": (
        "crf_iterations",
        "crf_gaussian_sxy",
        "crf_gaussian_compat",
        "crf_bilateral_compat",
        "crf_softmax_bilateral_sxy",
        "crf_softmax_bilateral_srgb",
        "crf_softmax_bg_power",
    ),
}
CRF_METHODS = list(REFINE["crf_methods"])


def wsss_entries():
    """(experiment, cam) pairs of the active experiments."""
    return [(e, cam) for e in ACTIVE for cam in experiment(e)["cams"]]


def wsss_splits(exp_name):
    ds = dataset(exp_name)
    return list(dict.fromkeys([ds["train_split"], ds["eval_split"]]))


def cams_dir(dataset_name, cam, split):
    folder = CFG["cams"][cam]["folder"]
    return folder or f"{R}/cams/{dataset_name}/{cam}/cams/{split}"


def saliency_dir(dataset_name, sal, split):
    folder = CFG["saliency"][sal]["folder"]
    return folder or f"{R}/saliency/{dataset_name}/{sal}/{split}"


def cam_train_split_dir(wildcards):
    return cams_dir(wildcards.dataset, wildcards.cam, CFG["datasets"][wildcards.dataset]["train_split"])


def baseline_args(w):
    """refine_cams flags of a dataset-level baseline: threshold, crf_label, crf_softmax or sal-NAME."""
    if w.method.startswith("sal-"):
        return f"--background saliency --cues {shlex.quote(saliency_dir(w.dataset, w.method[4:], w.split))}"
    if w.method == "crf_softmax":  # no threshold: its background is (1 - max CAM) ** power
        return "--background crf_softmax"
    return f"--background {w.method} --sweep {shlex.quote(f'{R}/cams/{w.dataset}/{w.cam}/sweep.json')}"


def baseline_inputs(w):
    if w.method.startswith("sal-"):
        return [saliency_dir(w.dataset, w.method[4:], w.split)]
    return [] if w.method == "crf_softmax" else [f"{R}/cams/{w.dataset}/{w.cam}/sweep.json"]


def baseline_settings(w):
    return cli_flags({k: REFINE[k] for k in CRF_KEYS.get(w.method, ())})


def c2am_cue_dir(w):
    """c2am: the cue model's cues; c2am_raw: 1 - P of the C2AM maps directly (make_cues)."""
    return f"{R}/{w.exp}/wsss/cues/{w.split}" if w.cue == "c2am" else f"{R}/{w.exp}/cues/{w.split}"


def wsss_cells():
    """(experiment label, CAM label, dataset, split, column, metrics JSON) of every Table 4 / 5 cell."""
    cells = []
    for e, cam in wsss_entries():
        ds_name = experiment(e)["dataset"]
        for split in wsss_splits(e):
            base = f"{R}/cams/{ds_name}/{cam}/metrics/{split}"
            columns = [(WsssColumn.CAMS, f"{base}_threshold.json")]
            columns += [(WsssColumn.CRF[m], f"{base}_{m}.json") for m in CRF_METHODS]
            columns += [
                (WsssColumn.saliency(wsss_label(CFG, "saliency", s)), f"{base}_sal-{s}.json")
                for s in experiment(e)["saliency"]
            ]
            columns += [
                (WsssColumn.C2AM_RAW, f"{R}/{e}/wsss/{cam}/metrics/{split}_c2am_raw.json"),
                (WsssColumn.C2AM, f"{R}/{e}/wsss/{cam}/metrics/{split}_c2am.json"),
            ]
            cells += [(label(e), wsss_label(CFG, "cams", cam), ds_name, split, col, path) for col, path in columns]
    return cells


TABLE4_COLUMNS = (WsssColumn.CAMS, WsssColumn.C2AM)  # Table 4: the initial CAMs and +C2AM, per class


def wsss_cell_args(columns=None):
    return " ".join(f"--cell {quoted(*c)}" for c in wsss_cells() if columns is None or c[4] in columns)


def figure_wsss_inputs():
    """Fig. 7 from the first active (experiment, CAM) pair, on its evaluation split."""
    e, cam = wsss_entries()[0]
    split = eval_split(e)
    base = f"{R}/cams/{experiment(e)['dataset']}/{cam}/refined/{split}"
    return {
        "initial": f"{base}/threshold",
        "cues": f"{R}/{e}/wsss/cues/{split}",
        "refined": f"{R}/{e}/wsss/{cam}/refined/{split}/c2am",
        "exp": e,
        "split": split,
    }


def figure_wsss_args(wildcards):
    f = figure_wsss_inputs()
    ds = dataset(f["exp"])
    return (
        f"--dataset-format {ds['format']} --dataset-root {shlex.quote(ds['root'])} --split {f['split']}"
        f" --initial {shlex.quote(f['initial'])} --cues {shlex.quote(f['cues'])}"
        f" --refined {shlex.quote(f['refined'])} --title {shlex.quote(label(f['exp']))}"
    )


# ----------------------------------------------------------------------------------------------- sensitivity
def sensitivity_rows():
    """(study, value, experiment) per Table 6 row; the base experiment stands for its own values."""
    return CFG["sensitivity"]["rows"]


def sensitivity_base():
    base = CFG["sensitivity"]["experiment"]
    if base is None:
        raise WorkflowError("Table 6 needs an experiment: set sensitivity.experiment or active_experiments")
    return base


def table6_rows(wildcards):
    return " ".join(f"--row {quoted(study, value, wsol_metrics(e))}" for study, value, e in sensitivity_rows())


# ----------------------------------------------------------------------------------------------- report
def training_logs():
    """(label, model file, JSONL log) of every trainer behind the active experiments' tables."""
    out = [(f"C2AM {e}", f"{R}/{e}/c2am/model.pt", f"{R}/{e}/c2am/train_log.jsonl") for e in ACTIVE]
    for e in ACTIVE:
        exp = experiment(e)
        for source in exp["pseudo_boxes"] if exp["localizers"] and exp["classifiers"] else []:
            for loc in exp["localizers"]:
                d = f"{R}/{e}/psol/{source}/{loc}"
                out.append((f"localizer {loc} on {source} boxes ({e})", f"{d}/model.pt", f"{d}/train_log.jsonl"))
        for cls in exp["classifiers"] if exp["localizers"] else []:
            d = f"{R}/classifiers/{exp['dataset']}/{cls}"
            out.append((f"classifier {cls} ({exp['dataset']})", f"{d}/model.pt", f"{d}/train_log.jsonl"))
        for cam in exp["cams"]:
            if not CFG["cams"][cam]["folder"]:
                d = f"{R}/cams/{exp['dataset']}/{cam}"
                out.append((f"CAM classifier {cam} ({exp['dataset']})", f"{d}/model.pt", f"{d}/train_log.jsonl"))
        if exp["cams"]:
            out.append((f"cue model ({e})", f"{R}/{e}/wsss/cue_model.pt", f"{R}/{e}/wsss/cue_train_log.jsonl"))
    return list({log: (lab, model, log) for lab, model, log in out}.values())


def training_log_args():
    return " ".join(f"--log {quoted(lab, log)}" for lab, _, log in training_logs())


# ----------------------------------------------------------------------------------------------- foreground masks
def predict_mask_model(w):
    """predict's mask model: the experiment's cue model when its predict.masks is self_trained."""
    return (
        [f"{R}/{w.exp}/wsss/cue_model.pt"] if stage_settings(CFG, w.exp, "predict")["masks"] == "self_trained" else []
    )


def predict_flags(wildcards):
    """predict's settings as flags, plus the mask model of predict.masks self_trained. A function of the wildcards
    only: Snakemake leaves params computed from `input` out of its params check, so a changed setting would not
    re-run predict."""
    mask_model = "".join(f" --mask-model {shlex.quote(path)}" for path in predict_mask_model(wildcards))
    return f"{stage_flags(CFG, wildcards.exp, 'predict')}{mask_model}"


def segment_run(_):
    """The predict folder of the segment run (config segment: images, name)."""
    if CFG["segment"]["images"] is None:
        raise WorkflowError(
            "segment: no photo folder given: run `make segment IMAGES=DIR` or `c2am segment DIR`, "
            "or set segment.images in a --configfile overlay"
        )
    name = CFG["segment"]["name"]
    return f"{R}/{name}/predict/{name}"


def fg_experiments():
    """Active experiments on a VOC-layout dataset (masks to score foreground against)."""
    return [e for e in ACTIVE if dataset(e)["format"] == "voc"]


def fg_sources(exp_name):
    """(source key, method label) of Table fg's rows for an experiment: C2AM's maps, the cue model trained on C2AM's
    pseudo labels (C2AM self-trained), each also refined by predict's CRF, DDT and the saliency sources."""
    sources = [
        ("c2am", "C2AM"),
        ("c2am_crf", "C2AM + CRF"),
        ("cue", "C2AM self-trained (cue model)"),
        ("cue_crf", "C2AM self-trained + CRF"),
        ("ddt", "DDT (one group)"),
    ]
    return sources + [
        (f"sal-{s}", f"saliency: {CFG['saliency'][s]['label'] or s}") for s in experiment(exp_name)["saliency"]
    ]


def fg_source_dir(w):
    if w.fgsource.startswith("sal-"):
        return saliency_dir(experiment(w.exp)["dataset"], w.fgsource[4:], w.split)
    if w.fgsource == "ddt":
        return f"{R}/{w.exp}/fg/ddt/maps/{w.split}"
    if w.fgsource.startswith("cue"):
        return f"{R}/{w.exp}/wsss/cues/{w.split}"
    return f"{R}/{w.exp}/maps/{w.split}"


def fg_source_args(w):
    """evaluate_fg flags of a source: the folder, and for c2am_crf / cue_crf predict's refinement of this experiment."""
    folder = shlex.quote(fg_source_dir(w))
    if w.fgsource.startswith("sal-"):
        return f"--saliency {folder}"
    flag = "--cues" if w.fgsource.startswith("cue") else "--maps"
    if w.fgsource.endswith("_crf"):
        side = stage_settings(CFG, w.exp, "predict")["refine_max_side"]
        return f"{flag} {folder} --refine crf --refine-max-side {side}"
    return f"{flag} {folder}"


def fg_rows():
    """(method, experiment label, dataset, train JSON, eval JSON) of every Table fg row."""
    return [
        (
            method,
            label(e),
            experiment(e)["dataset"],
            f"{R}/{e}/fg/{train_split(e)}_{key}.json",
            f"{R}/{e}/fg/{eval_split(e)}_{key}.json",
        )
        for e in fg_experiments()
        for key, method in fg_sources(e)
    ]
