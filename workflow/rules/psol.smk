# WSOL comparisons: DDT boxes (baseline of Table 2), PSOL localizers trained on C2AM or DDT pseudo boxes,
# classifiers, their evaluation, and Tables 1-3.

DDT_SETTINGS = cli_flags(global_settings(CFG, "ddt"))


def ddt_root(exp_name):
    e = experiment(exp_name)
    return f"{R}/ddt/{e['dataset']}/{e['init']}"


def ddt_dataset(wildcards):
    return CFG["datasets"][wildcards.dataset]


def ddt_dataset_input(wildcards):
    ds = ddt_dataset(wildcards)
    return [f"{R}/data/{ds['generate']}"] if ds["generate"] else []


def ddt_dataset_flags(wildcards):
    ds = ddt_dataset(wildcards)
    return f"--dataset-format {ds['format']} --dataset-root {shlex.quote(ds['root'])}"


rule ddt_boxes:
    """DDT projection maps and boxes of a split, from the init's backbone (per class, GT-known setting)."""
    input:
        init=f"{R}/init/{{init}}.pt",
        data=ddt_dataset_input,
    output:
        maps=directory(f"{R}/ddt/{{dataset}}/{{init}}/maps/{{split}}"),
        boxes=f"{R}/ddt/{{dataset}}/{{init}}/boxes/{{split}}.parquet",
        summary=f"{R}/ddt/{{dataset}}/{{init}}/ddt_{{split}}.json",
    params:
        data=ddt_dataset_flags,
        settings=DDT_SETTINGS,
        device=DEVICE,
    log:
        f"{R}/ddt/{{dataset}}/{{init}}/logs/ddt_boxes_{{split}}.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.ddt_boxes --init {input.init:q} {params.data} --split {wildcards.split:q}"
        " --out-maps {output.maps:q} --out-boxes {output.boxes:q} --summary {output.summary:q}"
        " --device {params.device} --threads {threads} {params.settings} > {log:q} 2>&1"


rule evaluate_ddt:
    """The evaluate_wsol metrics of DDT's boxes and projection maps."""
    input:
        maps=f"{R}/ddt/{{dataset}}/{{init}}/maps/{{split}}",
        boxes=f"{R}/ddt/{{dataset}}/{{init}}/boxes/{{split}}.parquet",
        data=ddt_dataset_input,
    output:
        f"{R}/ddt/{{dataset}}/{{init}}/metrics/wsol_{{split}}.json",
    params:
        data=ddt_dataset_flags,
        settings=cli_flags(global_settings(CFG, "wsol_eval")),
    log:
        f"{R}/ddt/{{dataset}}/{{init}}/logs/evaluate_wsol_{{split}}.log",
    shell:
        "{PY} -m stages.evaluate_wsol --maps {input.maps:q} --boxes {input.boxes:q} {params.data}"
        " --split {wildcards.split:q} --out {output:q} {params.settings} > {log:q} 2>&1"


def pseudo_boxes(wildcards):
    split = dataset(wildcards.exp)["train_split"]
    if wildcards.source == "c2am":
        return f"{R}/{wildcards.exp}/boxes/{split}.parquet"
    return f"{ddt_root(wildcards.exp)}/boxes/{split}.parquet"


INFERENCE_ONLY = ("test_size", "test_batch_size")


def recipe_flags(kind):
    """Training flags of a localizer / classifier recipe (inference sizes go to the predict rules only, so
    changing them re-runs prediction, not training)."""
    return lambda w: cli_flags({k: v for k, v in recipe_settings(CFG, kind, getattr(w, kind)).items()
                                if k not in INFERENCE_ONLY})


def inference_flags(kind):
    return lambda w: cli_flags({k: recipe_settings(CFG, kind, getattr(w, kind))[k] for k in INFERENCE_ONLY})


def recipe_init(kind):
    return lambda w: f"{R}/init/{CFG[kind + 's'][getattr(w, kind)]['init']}.pt"


rule train_localizer:
    """PSOL localizer on the training split's pseudo boxes (source c2am or ddt)."""
    input:
        init=recipe_init("localizer"),
        boxes=pseudo_boxes,
        data=dataset_input,
    output:
        model=f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/model.pt",
    params:
        data=lambda w: dataset_flags(w.exp),
        split=lambda w: dataset(w.exp)["train_split"],
        settings=recipe_flags("localizer"),
        device=DEVICE,
        checkpoint=lambda w: shlex.quote(f"{R}/{w.exp}/psol/{w.source}/{w.localizer}/checkpoint.pt"),
        jsonl=lambda w: shlex.quote(f"{R}/{w.exp}/psol/{w.source}/{w.localizer}/train_log.jsonl"),
    log:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/train.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.train_localizer --init {input.init:q} --pseudo-boxes {input.boxes:q} {params.data}"
        " --split {params.split:q} --out-model {output.model:q} --checkpoint {params.checkpoint}"
        " --train-log {params.jsonl} --device {params.device} --threads {threads} {params.settings} 2> {log:q}"


rule train_classifier:
    """Classifier fine-tuned on the image-level labels of a dataset's training split."""
    input:
        init=recipe_init("classifier"),
        data=ddt_dataset_input,
    output:
        model=f"{R}/classifiers/{{dataset}}/{{classifier}}/model.pt",
    params:
        data=ddt_dataset_flags,
        split=lambda w: CFG["datasets"][w.dataset]["train_split"],
        settings=recipe_flags("classifier"),
        device=DEVICE,
        checkpoint=lambda w: shlex.quote(f"{R}/classifiers/{w.dataset}/{w.classifier}/checkpoint.pt"),
        jsonl=lambda w: shlex.quote(f"{R}/classifiers/{w.dataset}/{w.classifier}/train_log.jsonl"),
    log:
        f"{R}/classifiers/{{dataset}}/{{classifier}}/train.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.train_classifier --init {input.init:q} {params.data} --split {params.split:q}"
        " --out-model {output.model:q} --checkpoint {params.checkpoint} --train-log {params.jsonl}"
        " --device {params.device} --threads {threads} {params.settings} 2> {log:q}"


rule predict_localizer:
    """Localizer boxes of a split (original pixels)."""
    input:
        model=f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/model.pt",
        data=dataset_input,
    output:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/boxes_{{split}}.parquet",
    params:
        data=lambda w: dataset_flags(w.exp),
        sizes=inference_flags("localizer"),
        device=DEVICE,
    log:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/predict_{{split}}.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.predict_psol --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out {output:q} {params.sizes} --device {params.device} --threads {threads} --no-progress > {log:q} 2>&1"


rule predict_classifier:
    """Top-5 classes of every image of a split."""
    input:
        model=f"{R}/classifiers/{{dataset}}/{{classifier}}/model.pt",
        data=ddt_dataset_input,
    output:
        f"{R}/classifiers/{{dataset}}/{{classifier}}/pred_{{split}}.parquet",
    params:
        data=ddt_dataset_flags,
        sizes=inference_flags("classifier"),
        device=DEVICE,
    log:
        f"{R}/classifiers/{{dataset}}/{{classifier}}/predict_{{split}}.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.predict_psol --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out {output:q} {params.sizes} --device {params.device} --threads {threads} --no-progress > {log:q} 2>&1"


rule evaluate_psol:
    """Top-1 / Top-5 / GT-known Loc of a localizer + classifier pair on a split."""
    input:
        boxes=f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/boxes_{{split}}.parquet",
        classes=lambda w: f"{R}/classifiers/{experiment(w.exp)['dataset']}/{w.classifier}/pred_{w.split}.parquet",
        data=dataset_input,
    output:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/metrics_{{classifier}}_{{split}}.json",
    params:
        data=lambda w: dataset_flags(w.exp),
        iou=lambda w: stage_settings(CFG, w.exp, "wsol_eval")["iou_threshold"],
        strict=lambda w: "--strict" if stage_settings(CFG, w.exp, "wsol_eval")["strict"] else "--no-strict",
    log:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/evaluate_{{classifier}}_{{split}}.log",
    shell:
        "{PY} -m stages.evaluate_psol --boxes {input.boxes:q} --classes {input.classes:q} {params.data}"
        " --split {wildcards.split:q} --iou_threshold {params.iou} {params.strict} --out {output:q} > {log:q} 2>&1"


def recipe_label(kind, name):
    entry = CFG[kind + "s"][name]
    return entry["label"] or CFG["inits"][entry["init"]]["backbone"]


def table1_entries():
    """(experiment, dataset, source, localizer label, classifier label, metrics JSON) per Table 1 row."""
    out = []
    for e in ACTIVE:
        exp = experiment(e)
        for source in exp["pseudo_boxes"]:
            for loc in exp["localizers"]:
                for cls in exp["classifiers"]:
                    out.append((label(e), exp["dataset"], source, recipe_label("localizer", loc),
                                recipe_label("classifier", cls),
                                f"{R}/{e}/psol/{source}/{loc}/metrics_{cls}_{eval_split(e)}.json"))
    return out


def ddt_entries():
    """(dataset, init, metrics JSON) of DDT for the active experiments that ask for DDT rows (deduplicated)."""
    seen = {}
    for e in ACTIVE:
        if experiment(e)["ddt"]:
            key = (experiment(e)["dataset"], experiment(e)["init"])
            seen.setdefault(key, f"{ddt_root(e)}/metrics/wsol_{eval_split(e)}.json")
    return [(*k, v) for k, v in seen.items()]


def quoted(*fields):
    return " ".join(map(shlex.quote, map(str, fields)))


TABLE_DECIMALS = CFG["stages"].get("tables", {}).get("decimals", 2)


rule table1:
    """Paper Table 1: Top-1 / Top-5 / GT-known Loc through PSOL's route (CSV + Markdown)."""
    input:
        [row[-1] for row in table1_entries()],
    output:
        csv=report(f"{R}/table1.csv", caption="../report/table1.rst", category="WSOL"),
        md=f"{R}/table1.md",
    params:
        rows=" ".join("--row " + quoted(*row) for row in table1_entries()),
        decimals=TABLE_DECIMALS,
    log:
        f"{R}/logs/table1.log",
    shell:
        "{PY} -m stages.table1 {params.rows} --decimals {params.decimals} --out {output.csv:q} > {log:q} 2>&1"


rule table2:
    """Paper Table 2: GT-known Loc of C2AM and DDT boxes per backbone x init x dataset (CSV + Markdown)."""
    input:
        [f"{R}/{e}/metrics/wsol_{eval_split(e)}.json" for e in ACTIVE],
        [row[-1] for row in ddt_entries()],
    output:
        csv=report(f"{R}/table2.csv", caption="../report/table2.rst", category="WSOL"),
        md=f"{R}/table2.md",
    params:
        rows=" ".join("--row " + quoted(label(e), experiment(e)["dataset"], experiment(e)["init"],
                                        f"{R}/{e}/metrics/wsol_{eval_split(e)}.json") for e in ACTIVE),
        ddt_rows=" ".join("--ddt-row " + quoted(*row) for row in ddt_entries()),
        decimals=TABLE_DECIMALS,
    log:
        f"{R}/logs/table2.log",
    shell:
        "{PY} -m stages.table2 {params.rows} {params.ddt_rows} --decimals {params.decimals} --out {output.csv:q}"
        " > {log:q} 2>&1"


rule table3:
    """Paper Table 3: MaxBoxAccV2 of C2AM (and DDT) maps per backbone (CSV + Markdown)."""
    input:
        [f"{R}/{e}/metrics/wsol_{eval_split(e)}.json" for e in ACTIVE],
        [row[-1] for row in ddt_entries()],
    output:
        csv=report(f"{R}/table3.csv", caption="../report/table3.rst", category="WSOL"),
        md=f"{R}/table3.md",
    params:
        rows=" ".join(
            ["--row " + quoted("C2AM", label(e), experiment(e)["dataset"], experiment(e)["init"],
                               f"{R}/{e}/metrics/wsol_{eval_split(e)}.json") for e in ACTIVE]
            + ["--row " + quoted("DDT", "-", *row) for row in ddt_entries()]),
        decimals=TABLE_DECIMALS,
    log:
        f"{R}/logs/table3.log",
    shell:
        "{PY} -m stages.table3 {params.rows} --decimals {params.decimals} --out {output.csv:q} > {log:q} 2>&1"


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
        pseudo = {"c2am": ("C2AM", "red", f"{R}/{e}/boxes/{split}.parquet"),
                  "ddt": ("DDT", "blue", f"{ddt_root(e)}/boxes/{split}.parquet")}
        located = {s: (f"on {pseudo[s][0]}", pseudo[s][1], f"{R}/{e}/psol/{s}/{loc}/boxes_{split}.parquet")
                   for s in exp["pseudo_boxes"]}
        sources = exp["pseudo_boxes"]
        args.append("--panel " + quoted(label(e), ds["format"], ds["root"], split, classes)
                    + " --row " + quoted("pseudo boxes", *("=".join(pseudo[s]) for s in sources))
                    + " --row " + quoted(f"localizer {recipe_label('localizer', loc)}",
                                         *("=".join(located[s]) for s in sources)))
        inputs += [classes, *(pseudo[s][2] for s in sources), *(located[s][2] for s in sources)]
    return " ".join(args), inputs


FIGURE_WSOL_PANELS, FIGURE_WSOL_INPUTS = figure_wsol_args()


rule figure_wsol:
    """Test images with GT, C2AM and DDT boxes, and the localizer's boxes trained on each (+ top-1 class)."""
    input:
        FIGURE_WSOL_INPUTS,
    output:
        report(f"{R}/figure_wsol.png", caption="../report/figure_wsol.rst", category="WSOL"),
    params:
        panels=FIGURE_WSOL_PANELS,
        n_images=CFG["stages"].get("figure", {}).get("n_images", 8),
        seed=CFG["stages"].get("figure", {}).get("seed", 0),
    log:
        f"{R}/logs/figure_wsol.log",
    shell:
        "{PY} -m stages.figure_wsol {params.panels} --n_images {params.n_images} --seed {params.seed}"
        " --out {output:q} > {log:q} 2>&1"
