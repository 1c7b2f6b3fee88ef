# Every helper the rules share: config lookups, the flags of a stage's command line, and the rows of the tables and
# figures (MANIFESTS: written as JSON by the rule `manifest`, read by the stages). Rule files hold rules only.

import json
import re
import shlex

from c2am.config import setting_flags, settings_for, wsss_label
from c2am.data.readers import FOLD_SPLIT, listing_fingerprint
from c2am.io import write_text
from c2am.report import WsssColumn
from c2am.settings import RefineSettings
from c2am.training.launch import launch_command

R = CFG["results_dir"]
DEVICE = CFG["device"]
GPU_JOB = 0 if DEVICE == "cpu" else 1
ACTIVE = CFG["active_experiments"]
ENV = "../../envs/c2am.yaml"  # relative to workflow/rules/: the environment of every stage under --sdm conda


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
def _section_flags(part, wildcards, fixed):
    """(what, how) flags of one part of settings(): a section name, or (section, keys) with keys a list or a
    function of the wildcards."""
    section, keys = part if isinstance(part, tuple) else (part, None)
    keys = keys(wildcards) if callable(keys) else keys
    return setting_flags(settings_for(CFG, section, dict(wildcards.items())), keys, **fixed)


def settings(*parts, **fixed):
    """The `settings` param (the one way settings reach a stage): the flags of the settings that differ from the
    schema's defaults, in the job's scope (its experiment, recipe or init: c2am.config.given_settings), of each
    section in `parts` (a name, or (name, keys) for some of its keys); `fixed`: values the rule itself sets. A
    setting left at its default adds nothing to the command, so commands stay short and a new setting with a
    default re-runs nothing. The x-run-only settings go to run_flags instead."""
    return lambda wildcards: " ".join(filter(None, (_section_flags(p, wildcards, fixed)[0] for p in parts)))


class RunFlags:
    """A param that Snakemake keeps out of its params record (it records builtin values only), formatted into the
    command as its flags: what changes how a job runs but not what it writes (--device, and the x-run-only
    settings: worker processes, inference batch sizes), so editing them re-runs nothing."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"run flags: {self.text}"


def run_flags(*parts, device=True):
    """The `run` param: --device (rules of stages that take one) and the x-run-only settings of `parts` that differ
    from the schema's defaults."""

    def param(wildcards):
        flags = [f"--device {DEVICE}"] if device else []
        flags += [_section_flags(p, wildcards, {})[1] for p in parts]
        return RunFlags(" ".join(filter(None, flags)))

    return param


def c2am_settings(wildcards):
    """The typed train_c2am settings of the job's experiment."""
    return settings_for(CFG, "train_c2am", {"exp": wildcards.exp})


def c2am_launch(wildcards):
    """torchrun when train_c2am.gpus x nodes > 1 (DDP, global-batch loss), plain python otherwise."""
    s = c2am_settings(wildcards)
    return launch_command("python", s.gpus, s.nodes)


def init_source_file(wildcards):
    """A local checkpoint is an input, so replacing the file re-runs the conversion."""
    if wildcards.init not in CFG["inits"]:
        raise WorkflowError(f"unknown init {wildcards.init!r}; config.yaml defines {sorted(CFG['inits'])}")
    path = CFG["inits"][wildcards.init].get("path")
    return [path] if path else []


def experiment_init(wildcards):
    return f"{R}/init/{experiment(wildcards.exp)['init']}.pt"


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
def figure_maps_rows():
    """One figure_maps panel per active experiment: its evaluation split, maps and boxes."""
    rows = []
    for e in ACTIVE:
        ds, split = dataset(e), eval_split(e)
        rows.append(
            {
                "label": label(e),
                "format": ds["format"],
                "root": ds["root"],
                "split": split,
                "maps": f"{R}/{e}/maps/{split}",
                "boxes": f"{R}/{e}/boxes/{split}.parquet",
            }
        )
    return rows


def ddt_root(exp_name):
    e = experiment(exp_name)
    return f"{R}/ddt/{e['dataset']}/{e['init']}"


def pseudo_boxes(wildcards):
    split = train_split(wildcards.exp)
    if wildcards.source == "c2am":
        return f"{R}/{wildcards.exp}/boxes/{split}.parquet"
    return f"{ddt_root(wildcards.exp)}/boxes/{split}.parquet"


def table1_entries():
    """{experiment, dataset, source, localizer, classifier, metrics} per Table 1 row (labels of the experiment and
    of the recipes, the evaluate_psol JSON)."""
    out = []
    for e in ACTIVE:
        exp = experiment(e)
        for source in exp["pseudo_boxes"]:
            for loc in exp["localizers"]:
                for cls in exp["classifiers"]:
                    out.append(
                        {
                            "experiment": label(e),
                            "dataset": exp["dataset"],
                            "source": source,
                            "localizer": recipe_label("localizer", loc),
                            "classifier": recipe_label("classifier", cls),
                            "metrics": f"{R}/{e}/psol/{source}/{loc}/metrics_{cls}_{eval_split(e)}.json",
                        }
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


def wsol_rows():
    """The rows of Tables 2 and 3: {method, label, dataset, init, metrics} of each active experiment (C2AM), then
    of DDT per dataset x init (label None)."""
    rows = [
        {
            "method": "C2AM",
            "label": label(e),
            "dataset": experiment(e)["dataset"],
            "init": experiment(e)["init"],
            "metrics": wsol_metrics(e),
        }
        for e in ACTIVE
    ]
    ddt = [{"method": "DDT", "label": None, "dataset": d, "init": i, "metrics": m} for d, i, m in ddt_entries()]
    return rows + ddt


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
    """{label, root, split, metrics} of every fold experiment."""
    return [
        {"label": label(e), "root": dataset(e)["root"], "split": eval_split(e), "metrics": wsol_metrics(e)}
        for e in fold_experiments()
    ]


def figure_wsol_rows():
    """One figure_wsol panel per active experiment with a localizer and a classifier, from its first localizer
    and classifier: {label, format, root, split, classes, box_rows: [{name, boxes: [{name, color, path}]}]}."""
    rows = []
    for e in ACTIVE:
        exp = experiment(e)
        if not (exp["localizers"] and exp["classifiers"]):
            continue
        ds, split = dataset(e), eval_split(e)
        loc, cls = exp["localizers"][0], exp["classifiers"][0]
        classes = f"{R}/classifiers/{exp['dataset']}/{cls}/pred_{split}.parquet"
        pseudo = {
            "c2am": {"name": "C2AM", "color": "red", "path": f"{R}/{e}/boxes/{split}.parquet"},
            "ddt": {"name": "DDT", "color": "blue", "path": f"{ddt_root(e)}/boxes/{split}.parquet"},
        }
        sources = exp["pseudo_boxes"]
        located = [
            {**pseudo[s], "name": f"on {pseudo[s]['name']}", "path": f"{R}/{e}/psol/{s}/{loc}/boxes_{split}.parquet"}
            for s in sources
        ]
        box_rows = [
            {"name": "pseudo boxes", "boxes": [pseudo[s] for s in sources]},
            {"name": f"localizer {recipe_label('localizer', loc)}", "boxes": located},
        ]
        rows.append(
            {
                "label": label(e),
                "format": ds["format"],
                "root": ds["root"],
                "split": split,
                "classes": classes,
                "box_rows": box_rows,
            }
        )
    return rows


def figure_wsol_inputs():
    """The classifier predictions and box tables of figure_wsol's panels."""
    rows = figure_wsol_rows()
    return [r["classes"] for r in rows] + [b["path"] for r in rows for row in r["box_rows"] for b in row["boxes"]]


# ----------------------------------------------------------------------------------------------- WSSS
CRF_METHODS = list(settings_for(CFG, "refine_cams").crf_methods)


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


def baseline_keys(w):
    """The refine settings a baseline reads (so editing one re-runs the baselines that read it)."""
    return RefineSettings.keys_of(w.method)


def c2am_cue_dir(w):
    """c2am: the cue model's cues; c2am_raw: 1 - P of the C2AM maps directly (make_cues)."""
    return f"{R}/{w.exp}/wsss/cues/{w.split}" if w.cue == "c2am" else f"{R}/{w.exp}/raw_cues/{w.split}"


def wsss_cells(columns=None):
    """{experiment, cam, dataset, split, column, metrics} of every Table 4 / 5 cell (labels of the experiment and
    of the CAM source, the refine_cams JSON); only those of `columns` when given."""
    cells = []
    for e, cam in wsss_entries():
        ds_name = experiment(e)["dataset"]
        for split in wsss_splits(e):
            base = f"{R}/cams/{ds_name}/{cam}/metrics/{split}"
            sources = [(WsssColumn.CAMS, f"{base}_threshold.json")]
            sources += [(WsssColumn.CRF[m], f"{base}_{m}.json") for m in CRF_METHODS]
            sources += [
                (WsssColumn.saliency(wsss_label(CFG, "saliency", s)), f"{base}_sal-{s}.json")
                for s in experiment(e)["saliency"]
            ]
            sources += [
                (WsssColumn.C2AM_RAW, f"{R}/{e}/wsss/{cam}/metrics/{split}_c2am_raw.json"),
                (WsssColumn.C2AM, f"{R}/{e}/wsss/{cam}/metrics/{split}_c2am.json"),
            ]
            cells += [
                {
                    "experiment": label(e),
                    "cam": wsss_label(CFG, "cams", cam),
                    "dataset": ds_name,
                    "split": split,
                    "column": col,
                    "metrics": path,
                }
                for col, path in sources
            ]
    return [c for c in cells if columns is None or c["column"] in columns]


TABLE4_COLUMNS = (WsssColumn.CAMS, WsssColumn.C2AM)  # Table 4: the initial CAMs and +C2AM, per class


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


def table6_rows():
    """{study, value, experiment, metrics} per Table 6 row, in the config's order."""
    return [
        {"study": study, "value": str(value), "experiment": e, "metrics": wsol_metrics(e)}
        for study, value, e in sensitivity_rows()
    ]


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


def training_log_rows():
    """{label, log} of every trainer of training_logs(): figure_training's panels."""
    return [{"label": lab, "log": log} for lab, _, log in training_logs()]


# ----------------------------------------------------------------------------------------------- foreground masks
def predict_mask_model(w):
    """predict's mask model: the experiment's cue model when its predict.masks is self_trained."""
    return (
        [f"{R}/{w.exp}/wsss/cue_model.pt"]
        if settings_for(CFG, "predict", {"exp": w.exp}).masks == "self_trained"
        else []
    )


def predict_mask_flag(wildcards):
    """--mask-model with predict.masks self_trained. A function of the wildcards only: Snakemake leaves params
    computed from `input` out of its params check."""
    return "".join(f"--mask-model {shlex.quote(path)}" for path in predict_mask_model(wildcards))


def predict_mask_keys(wildcards):
    """The predict_cues keys predict reads: test_size, the mask model's, with predict.masks self_trained; none
    otherwise, so that editing predict_cues re-runs no predict whose masks are C2AM's."""
    return ["test_size"] if predict_mask_model(wildcards) else []


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
        side = settings_for(CFG, "predict", {"exp": w.exp}).refine_max_side
        return f"{flag} {folder} --refine crf --refine-max-side {side}"
    return f"{flag} {folder}"


def fg_rows():
    """{method, experiment, dataset, train, eval} of every Table fg row (the evaluate_fg JSONs of the training and
    the evaluation split)."""
    return [
        {
            "method": method,
            "experiment": label(e),
            "dataset": experiment(e)["dataset"],
            "train": f"{R}/{e}/fg/{train_split(e)}_{key}.json",
            "eval": f"{R}/{e}/fg/{eval_split(e)}_{key}.json",
        }
        for e in fg_experiments()
        for key, method in fg_sources(e)
    ]


# ----------------------------------------------------------------------------------------------- manifests
# The rows of each table and figure, by manifest name (c2am.tables.FIELDS): the `content` param of the rule
# `manifest`, which writes results/manifests/NAME.json; builtin values only, so that Snakemake records them and
# re-writes a manifest (and re-runs its table) when its rows change, and only then.
MANIFESTS = {
    "table1": table1_entries,
    "table2": wsol_rows,
    "table3": wsol_rows,
    "table4": lambda: wsss_cells(TABLE4_COLUMNS),
    "table5": wsss_cells,
    "table6": table6_rows,
    "table_fg": fg_rows,
    "table_folds": table_folds_rows,
    "figure_maps": figure_maps_rows,
    "figure_wsol": figure_wsol_rows,
    "figure_training": training_log_rows,
}


def manifest(name):
    """The manifest of table or figure `name` (an input of its rule)."""
    return f"{R}/manifests/{name}.json"


def manifest_content(wildcards):
    """{"rows": [...]}: what the rule `manifest` writes for wildcards.name."""
    return {"rows": MANIFESTS[wildcards.name]()}


def write_manifest(content, out):
    """The manifest JSON at `out`, written atomically."""
    write_text(json.dumps(content, indent=1) + "\n", out)
