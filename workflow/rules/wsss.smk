# WSSS (paper Sec. 3.5, Tables 4-5, Fig. 7): CAMs from a multi-label classifier (or made elsewhere), C2AM's
# background cues (pseudo labels from the maps -> cue model -> cues), the baselines (constant threshold, dense
# CRF, saliency cues), refinement + mIoU per split, the tables and the figure.
#
# Layout: results/cams/DATASET/CAM/...      CAM classifier, CAMs, threshold sweep, baseline refinements
#         results/saliency/DATASET/SAL/SPLIT saliency maps computed here
#         results/EXP/wsss/...               C2AM's cue labels, cue model, cues, +C2AM refinements

REFINE = global_settings(CFG, "refine")
CRF_KEYS = {  # the refine settings each dense-CRF variant reads (so editing one re-runs that variant only)
    "crf_label": ("crf_iterations", "crf_gt_prob", "crf_gaussian_sxy", "crf_gaussian_compat", "crf_bilateral_sxy",
                  "crf_bilateral_srgb", "crf_bilateral_compat"),
    "crf_softmax": ("crf_iterations", "crf_gaussian_sxy", "crf_gaussian_compat", "crf_bilateral_compat",
                    "crf_softmax_bg_power"),
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


def cam_label(cam):
    return wsss_label(CFG, "cams", cam)


def saliency_label(sal):
    return wsss_label(CFG, "saliency", sal)


def wsss_data_input(w):
    ds = CFG["datasets"][w.dataset]
    return [f"{R}/data/{ds['generate']}"] if ds["generate"] else []


rule train_cam:
    """Multi-label CAM classifier on the image-level labels of a VOC-layout training split."""
    input:
        init=lambda w: f"{R}/init/{CFG['cams'][w.cam]['init']}.pt",
        data=wsss_data_input,
    output:
        model=f"{R}/cams/{{dataset}}/{{cam}}/model.pt",
    params:
        data=ddt_dataset_flags,
        split=lambda w: CFG["datasets"][w.dataset]["train_split"],
        settings=lambda w: cli_flags(recipe_settings(CFG, "cam", w.cam)),
        device=DEVICE,
        checkpoint=lambda w: shlex.quote(f"{R}/cams/{w.dataset}/{w.cam}/checkpoint.pt"),
        jsonl=lambda w: shlex.quote(f"{R}/cams/{w.dataset}/{w.cam}/train_log.jsonl"),
    log:
        f"{R}/cams/{{dataset}}/{{cam}}/train.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.train_cam --init {input.init:q} {params.data} --split {params.split:q}"
        " --out-model {output.model:q} --checkpoint {params.checkpoint} --train-log {params.jsonl}"
        " --device {params.device} --threads {threads} {params.settings} 2> {log:q}"


rule make_cams:
    """Multi-scale + flip CAMs of a split (npz per image, per-class max normalised)."""
    input:
        model=f"{R}/cams/{{dataset}}/{{cam}}/model.pt",
        data=wsss_data_input,
    output:
        directory(f"{R}/cams/{{dataset}}/{{cam}}/cams/{{split}}"),
    params:
        data=ddt_dataset_flags,
        settings=cli_flags(global_settings(CFG, "cam_infer")),
        device=DEVICE,
    log:
        f"{R}/cams/{{dataset}}/{{cam}}/logs/make_cams_{{split}}.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.make_cams --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out-dir {output:q} --device {params.device} --threads {threads} {params.settings} 2> {log:q}"


rule sweep_cam_threshold:
    """mIoU of the constant-background baseline per threshold on the training split; picks the threshold."""
    input:
        cams=lambda w: cams_dir(w.dataset, w.cam, CFG["datasets"][w.dataset]["train_split"]),
        data=wsss_data_input,
    output:
        f"{R}/cams/{{dataset}}/{{cam}}/sweep.json",
    params:
        data=ddt_dataset_flags,
        split=lambda w: CFG["datasets"][w.dataset]["train_split"],
        thresholds=cli_flags({"thresholds": REFINE["thresholds"]}),
    log:
        f"{R}/cams/{{dataset}}/{{cam}}/logs/sweep.log",
    shell:
        "{PY} -m stages.sweep_cam_threshold --cams {input.cams:q} {params.data} --split {params.split:q}"
        " --out {output:q} {params.thresholds} > {log:q} 2>&1"


def baseline_args(w):
    """refine_cams flags of a dataset-level baseline: threshold, crf_label, crf_softmax or sal-NAME."""
    if w.method.startswith("sal-"):
        return "--background saliency --cues " + shlex.quote(saliency_dir(w.dataset, w.method[4:], w.split))
    if w.method == "crf_softmax":  # no threshold: its background is (1 - max CAM) ** power
        return "--background crf_softmax"
    return f"--background {w.method} --sweep " + shlex.quote(f"{R}/cams/{w.dataset}/{w.cam}/sweep.json")


def baseline_inputs(w):
    if w.method.startswith("sal-"):
        return [saliency_dir(w.dataset, w.method[4:], w.split)]
    return [] if w.method == "crf_softmax" else [f"{R}/cams/{w.dataset}/{w.cam}/sweep.json"]


rule refine_baseline:
    """Pseudo masks + mIoU of the CAMs with a baseline background: constant threshold, dense CRF, saliency."""
    input:
        cams=lambda w: cams_dir(w.dataset, w.cam, w.split),
        background=baseline_inputs,
        data=wsss_data_input,
    output:
        masks=directory(f"{R}/cams/{{dataset}}/{{cam}}/refined/{{split}}/{{method}}"),
        metrics=f"{R}/cams/{{dataset}}/{{cam}}/metrics/{{split}}_{{method}}.json",
    params:
        data=ddt_dataset_flags,
        background=baseline_args,
        settings=lambda w: cli_flags({k: REFINE[k] for k in CRF_KEYS.get(w.method, ())}),
    log:
        f"{R}/cams/{{dataset}}/{{cam}}/logs/refine_{{split}}_{{method}}.log",
    threads: 4
    shell:
        "{PY} -m stages.refine_cams --cams {input.cams:q} {params.data} --split {wildcards.split:q}"
        " {params.background} --out-dir {output.masks:q} --metrics {output.metrics:q} --threads {threads}"
        " {params.settings} > {log:q} 2>&1"


rule make_saliency:
    """Classical saliency maps of a split (PNG, 255 = salient)."""
    input:
        data=wsss_data_input,
    output:
        directory(f"{R}/saliency/{{dataset}}/{{sal}}/{{split}}"),
    params:
        data=ddt_dataset_flags,
        method=lambda w: CFG["saliency"][w.sal]["method"],
    log:
        f"{R}/saliency/{{dataset}}/{{sal}}/make_saliency_{{split}}.log",
    shell:
        "{PY} -m stages.make_saliency --method {params.method} {params.data} --split {wildcards.split:q}"
        " --out-dir {output:q} > {log:q} 2>&1"


rule make_cue_labels:
    """C2AM background pseudo labels of the training split (threshold + dense CRF), no labels read."""
    input:
        maps=lambda w: f"{R}/{w.exp}/maps/{dataset(w.exp)['train_split']}",
        data=dataset_input,
    output:
        directory(f"{R}/{{exp}}/wsss/cue_labels"),
    params:
        data=lambda w: dataset_flags(w.exp),
        split=lambda w: dataset(w.exp)["train_split"],
        settings=settings("cue_labels"),
    log:
        f"{R}/{{exp}}/logs/make_cue_labels.log",
    shell:
        "{PY} -m stages.make_cue_labels --maps {input.maps:q} {params.data} --split {params.split:q}"
        " --out-dir {output:q} {params.settings} > {log:q} 2>&1"


rule train_cue_model:
    """The background-cue network trained on C2AM's pseudo labels."""
    input:
        init=lambda w: f"{R}/init/{experiment(w.exp)['init']}.pt",
        labels=f"{R}/{{exp}}/wsss/cue_labels",
        data=dataset_input,
    output:
        model=f"{R}/{{exp}}/wsss/cue_model.pt",
    params:
        data=lambda w: dataset_flags(w.exp),
        split=lambda w: dataset(w.exp)["train_split"],
        settings=lambda w: cli_flags({k: v for k, v in stage_settings(CFG, w.exp, "cue_train").items()
                                      if k != "test_size"}),
        device=DEVICE,
        checkpoint=lambda w: shlex.quote(f"{R}/{w.exp}/wsss/cue_checkpoint.pt"),
        jsonl=lambda w: shlex.quote(f"{R}/{w.exp}/wsss/cue_train_log.jsonl"),
    log:
        f"{R}/{{exp}}/logs/train_cue_model.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.train_cue_model --init {input.init:q} --labels {input.labels:q} {params.data}"
        " --split {params.split:q} --out-model {output.model:q} --checkpoint {params.checkpoint}"
        " --train-log {params.jsonl} --device {params.device} --threads {threads} {params.settings} 2> {log:q}"


rule predict_cues:
    """C2AM background cues of a split from the cue model (PNG, 255 = background)."""
    input:
        model=f"{R}/{{exp}}/wsss/cue_model.pt",
        data=dataset_input,
    output:
        directory(f"{R}/{{exp}}/wsss/cues/{{split}}"),
    params:
        data=lambda w: dataset_flags(w.exp),
        test_size=lambda w: stage_settings(CFG, w.exp, "cue_train")["test_size"],
        device=DEVICE,
    log:
        f"{R}/{{exp}}/logs/predict_cues_{{split}}.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.predict_cues --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out-dir {output:q} --test_size {params.test_size} --device {params.device} --threads {threads}"
        " 2> {log:q}"


def c2am_cue_dir(w):
    """c2am: the cue model's cues; c2am_raw: 1 - P of the C2AM maps directly (make_cues)."""
    return f"{R}/{w.exp}/wsss/cues/{w.split}" if w.cue == "c2am" else f"{R}/{w.exp}/cues/{w.split}"


rule refine_c2am:
    """Pseudo masks + mIoU of the CAMs refined with C2AM's background cues (+C2AM)."""
    input:
        cams=lambda w: cams_dir(experiment(w.exp)["dataset"], w.cam, w.split),
        cues=c2am_cue_dir,
        data=dataset_input,
    output:
        masks=directory(f"{R}/{{exp}}/wsss/{{cam}}/refined/{{split}}/{{cue}}"),
        metrics=f"{R}/{{exp}}/wsss/{{cam}}/metrics/{{split}}_{{cue}}.json",
    params:
        data=lambda w: dataset_flags(w.exp),
    log:
        f"{R}/{{exp}}/wsss/{{cam}}/logs/refine_{{split}}_{{cue}}.log",
    shell:
        "{PY} -m stages.refine_cams --cams {input.cams:q} {params.data} --split {wildcards.split:q}"
        " --background cue --cues {input.cues:q} --out-dir {output.masks:q} --metrics {output.metrics:q}"
        " > {log:q} 2>&1"


def wsss_cells():
    """(experiment label, CAM label, dataset, split, column, metrics JSON) of every Table 4 / 5 cell."""
    cells = []
    for e, cam in wsss_entries():
        ds_name = experiment(e)["dataset"]
        for split in wsss_splits(e):
            base = f"{R}/cams/{ds_name}/{cam}/metrics/{split}"
            columns = [("CAMs", f"{base}_threshold.json")]
            columns += [({"crf_label": "+dCRF", "crf_softmax": "+dCRF (softmax)"}[m], f"{base}_{m}.json")
                        for m in CRF_METHODS]
            columns += [(f"+saliency ({saliency_label(s)})", f"{base}_sal-{s}.json") for s in experiment(e)["saliency"]]
            columns += [("+C2AM (raw 1-P)", f"{R}/{e}/wsss/{cam}/metrics/{split}_c2am_raw.json"),
                        ("+C2AM", f"{R}/{e}/wsss/{cam}/metrics/{split}_c2am.json")]
            cells += [(label(e), cam_label(cam), ds_name, split, col, path) for col, path in columns]
    return cells


def wsss_cell_args(columns=None):
    return " ".join("--cell " + quoted(*c) for c in wsss_cells() if columns is None or c[4] in columns)


rule table4:
    """Paper Table 4: per-class IoU of the initial CAMs and of the CAMs refined with C2AM's cues."""
    input:
        [c[-1] for c in wsss_cells() if c[4] in ("CAMs", "+C2AM")],
    output:
        csv=report(f"{R}/table4.csv", caption="../report/table4.rst", category="WSSS"),
        md=f"{R}/table4.md",
    params:
        cells=wsss_cell_args(("CAMs", "+C2AM")),
        decimals=TABLE_DECIMALS,
    log:
        f"{R}/logs/table4.log",
    shell:
        "{PY} -m stages.table4 {params.cells} --decimals {params.decimals} --out {output.csv:q} > {log:q} 2>&1"


rule table5:
    """Paper Table 5: mIoU of CAMs, +dCRF, +saliency cues and +C2AM cues."""
    input:
        [c[-1] for c in wsss_cells()],
    output:
        csv=report(f"{R}/table5.csv", caption="../report/table5.rst", category="WSSS"),
        md=f"{R}/table5.md",
    params:
        cells=wsss_cell_args(),
        decimals=TABLE_DECIMALS,
    log:
        f"{R}/logs/table5.log",
    shell:
        "{PY} -m stages.table5 {params.cells} --decimals {params.decimals} --out {output.csv:q} > {log:q} 2>&1"


def figure_wsss_inputs():
    """Fig. 7 from the first active (experiment, CAM) pair, on its evaluation split."""
    e, cam = wsss_entries()[0]
    split = dataset(e)["eval_split"]
    base = f"{R}/cams/{experiment(e)['dataset']}/{cam}/refined/{split}"
    return {"initial": f"{base}/threshold", "cues": f"{R}/{e}/wsss/cues/{split}",
            "refined": f"{R}/{e}/wsss/{cam}/refined/{split}/c2am", "exp": e, "split": split}


rule figure_wsss:
    """Paper Fig. 7: initial CAM, C2AM background cue, refined CAM, ground truth."""
    input:
        lambda w: [v for k, v in figure_wsss_inputs().items() if k not in ("exp", "split")],
    output:
        report(f"{R}/figure7.png", caption="../report/figure7.rst", category="WSSS"),
    params:
        args=lambda w: (lambda f: f"{dataset_flags(f['exp'])} --split {f['split']} --initial {shlex.quote(f['initial'])}"
                        f" --cues {shlex.quote(f['cues'])} --refined {shlex.quote(f['refined'])}"
                        f" --title {shlex.quote(label(f['exp']))}")(figure_wsss_inputs()),
        settings=cli_flags(global_settings(CFG, "figure")),
    log:
        f"{R}/logs/figure7.log",
    shell:
        "{PY} -m stages.figure_wsss {params.args} --out {output:q} {params.settings} > {log:q} 2>&1"
