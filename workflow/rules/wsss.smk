# WSSS (paper Sec. 3.5, Tables 4-5, Fig. 7): CAMs from a multi-label classifier (or made elsewhere), C2AM's
# background cues (pseudo labels from the maps -> cue model -> cues), the baselines (constant threshold, dense
# CRF, saliency cues), refinement + mIoU per split, the tables and the figure.
#
# Layout: results/cams/DATASET/CAM/...      CAM classifier, CAMs, threshold sweep, baseline refinements
#         results/saliency/DATASET/SAL/SPLIT saliency maps computed here
#         results/EXP/wsss/...               C2AM's cue labels, cue model, cues, +C2AM refinements


rule train_cam:
    """Multi-label CAM classifier on the image-level labels of a VOC-layout training split."""
    input:
        init=lambda w: f"{R}/init/{CFG['cams'][w.cam]['init']}.pt",
        data=data_input,
    output:
        model=kept(f"{R}/cams/{{dataset}}/{{cam}}/model.pt"),
    log:
        f"{R}/cams/{{dataset}}/{{cam}}/train.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/cams/{{dataset}}/{{cam}}/train.log"),
        data=data_flags,
        split=data_train_split,
        settings=settings("train_cam"),
        run=run_flags("train_cam"),
        checkpoint=run_file("{R}/cams/{dataset}/{cam}/checkpoint.pt"),
        jsonl=run_file("{R}/cams/{dataset}/{cam}/train_log.jsonl"),
    shell:
        "python -m stages.train_cam --init {input.init:q} {params.data} --split {params.split:q}"
        " --out-model {output.model:q} --checkpoint {params.checkpoint} --train-log {params.jsonl}"
        " {params.run} --threads {threads} {params.settings} 2> {log:q} || c2am_failed {log:q}"


rule make_cams:
    """Multi-scale + flip CAMs of a split (npz per image, per-class max normalised)."""
    input:
        model=f"{R}/cams/{{dataset}}/{{cam}}/model.pt",
        data=data_input,
    output:
        kept(directory(f"{R}/cams/{{dataset}}/{{cam}}/cams/{{split}}")),
    log:
        f"{R}/cams/{{dataset}}/{{cam}}/logs/make_cams_{{split}}.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/cams/{{dataset}}/{{cam}}/logs/make_cams_{{split}}.log"),
        data=data_flags,
        settings=settings("make_cams"),
        run=run_flags(),
    shell:
        "python -m stages.make_cams --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out-dir {output:q} {params.run} --threads {threads} --no-progress {params.settings}"
        " 2> {log:q} || c2am_failed {log:q}"


rule sweep_cam_threshold:
    """mIoU of the constant-background baseline per threshold on the training split; picks the threshold."""
    input:
        cams=cam_train_split_dir,
        data=data_input,
    output:
        f"{R}/cams/{{dataset}}/{{cam}}/sweep.json",
    log:
        f"{R}/cams/{{dataset}}/{{cam}}/logs/sweep.log",
    conda:
        ENV
    params:
        data=data_flags,
        split=data_train_split,
        settings=settings(("refine_cams", ["thresholds"])),
    shell:
        "python -m stages.sweep_cam_threshold --cams {input.cams:q} {params.data} --split {params.split:q}"
        " --out {output:q} {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule refine_baseline:
    """Pseudo masks + mIoU of the CAMs with a baseline background: constant threshold, dense CRF, saliency."""
    input:
        cams=lambda w: cams_dir(w.dataset, w.cam, w.split),
        background=baseline_inputs,
        data=data_input,
    output:
        masks=directory(f"{R}/cams/{{dataset}}/{{cam}}/refined/{{split}}/{{method}}"),
        metrics=f"{R}/cams/{{dataset}}/{{cam}}/metrics/{{split}}_{{method}}.json",
    log:
        f"{R}/cams/{{dataset}}/{{cam}}/logs/refine_{{split}}_{{method}}.log",
    conda:
        ENV
    threads: 4
    params:
        data=data_flags,
        background=baseline_args,
        settings=settings(("refine_cams", baseline_keys)),
    shell:
        "python -m stages.refine_cams --cams {input.cams:q} {params.data} --split {wildcards.split:q}"
        " {params.background} --out-dir {output.masks:q} --metrics {output.metrics:q} --threads {threads}"
        " {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule make_saliency:
    """Classical saliency maps of a split (PNG, 255 = salient)."""
    input:
        data=data_input,
    output:
        directory(f"{R}/saliency/{{dataset}}/{{sal}}/{{split}}"),
    log:
        f"{R}/saliency/{{dataset}}/{{sal}}/make_saliency_{{split}}.log",
    conda:
        ENV
    params:
        data=data_flags,
        method=lambda w: CFG["saliency"][w.sal]["method"],
    shell:
        "python -m stages.make_saliency --method {params.method} {params.data} --split {wildcards.split:q}"
        " --out-dir {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule make_cue_labels:
    """C2AM background pseudo labels of the training split (threshold + dense CRF), no labels read."""
    input:
        maps=lambda w: f"{R}/{w.exp}/maps/{train_split(w.exp)}",
        data=data_input,
    output:
        directory(f"{R}/{{exp}}/wsss/make_cue_labels"),
    log:
        f"{R}/{{exp}}/logs/make_cue_labels.log",
    conda:
        ENV
    params:
        data=data_flags,
        split=data_train_split,
        settings=settings("make_cue_labels"),
    shell:
        "python -m stages.make_cue_labels --maps {input.maps:q} {params.data} --split {params.split:q}"
        " --out-dir {output:q} {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule train_cue_model:
    """The background-cue network trained on C2AM's pseudo labels."""
    input:
        init=experiment_init,
        labels=f"{R}/{{exp}}/wsss/make_cue_labels",
        data=data_input,
    output:
        model=kept(f"{R}/{{exp}}/wsss/cue_model.pt"),
    log:
        f"{R}/{{exp}}/logs/train_cue_model.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/{{exp}}/logs/train_cue_model.log"),
        data=data_flags,
        split=data_train_split,
        settings=settings("train_cue_model"),
        run=run_flags("train_cue_model"),
        checkpoint=run_file("{R}/{exp}/wsss/cue_checkpoint.pt"),
        jsonl=run_file("{R}/{exp}/wsss/cue_train_log.jsonl"),
    shell:
        "python -m stages.train_cue_model --init {input.init:q} --labels {input.labels:q} {params.data}"
        " --split {params.split:q} --out-model {output.model:q} --checkpoint {params.checkpoint}"
        " --train-log {params.jsonl} {params.run} --threads {threads} {params.settings} 2> {log:q} || c2am_failed {log:q}"


rule predict_cues:
    """C2AM background cues of a split from the cue model (PNG, 255 = background)."""
    input:
        model=f"{R}/{{exp}}/wsss/cue_model.pt",
        data=data_input,
    output:
        kept(directory(f"{R}/{{exp}}/wsss/cues/{{split}}")),
    log:
        f"{R}/{{exp}}/logs/predict_cues_{{split}}.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/{{exp}}/logs/predict_cues_{{split}}.log"),
        data=data_flags,
        settings=settings("predict_cues"),
        run=run_flags(),
    shell:
        "python -m stages.predict_cues --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out-dir {output:q} {params.settings} {params.run} --threads {threads}"
        " --no-progress 2> {log:q} || c2am_failed {log:q}"


rule refine_c2am:
    """Pseudo masks + mIoU of the CAMs refined with C2AM's background cues (+C2AM)."""
    input:
        cams=lambda w: cams_dir(experiment(w.exp)["dataset"], w.cam, w.split),
        cues=c2am_cue_dir,
        data=data_input,
    output:
        masks=directory(f"{R}/{{exp}}/wsss/{{cam}}/refined/{{split}}/{{cue}}"),
        metrics=f"{R}/{{exp}}/wsss/{{cam}}/metrics/{{split}}_{{cue}}.json",
    log:
        f"{R}/{{exp}}/wsss/{{cam}}/logs/refine_{{split}}_{{cue}}.log",
    conda:
        ENV
    params:
        data=data_flags,
    shell:
        "python -m stages.refine_cams --cams {input.cams:q} {params.data} --split {wildcards.split:q}"
        " --background cue --cues {input.cues:q} --out-dir {output.masks:q} --metrics {output.metrics:q}"
        " > {log:q} 2>&1 || c2am_failed {log:q}"


rule table4:
    """Paper Table 4: per-class IoU of the initial CAMs and of the CAMs refined with C2AM's cues."""
    input:
        manifest=manifest("table4"),
        metrics=[c["metrics"] for c in wsss_cells(TABLE4_COLUMNS)],
    output:
        csv=report(f"{R}/table4.csv", caption="../report/table4.rst", category="WSSS"),
        md=f"{R}/table4.md",
    log:
        f"{R}/logs/table4.log",
    conda:
        ENV
    params:
        settings=settings("tables"),
    shell:
        "python -m stages.table4 --manifest {input.manifest:q} {params.settings} --out {output.csv:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule table5:
    """Paper Table 5: mIoU of CAMs, +dCRF, +saliency cues and +C2AM cues."""
    input:
        manifest=manifest("table5"),
        metrics=[c["metrics"] for c in wsss_cells()],
    output:
        csv=report(f"{R}/table5.csv", caption="../report/table5.rst", category="WSSS"),
        md=f"{R}/table5.md",
    log:
        f"{R}/logs/table5.log",
    conda:
        ENV
    params:
        settings=settings("tables"),
    shell:
        "python -m stages.table5 --manifest {input.manifest:q} {params.settings} --out {output.csv:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule figure_wsss:
    """Paper Fig. 7: initial CAM, C2AM background cue, refined CAM, ground truth."""
    input:
        lambda w: [v for k, v in figure_wsss_inputs().items() if k not in ("exp", "split")],
    output:
        report(f"{R}/figure7.png", caption="../report/figure7.rst", category="WSSS"),
    log:
        f"{R}/logs/figure7.log",
    conda:
        ENV
    params:
        args=figure_wsss_args,
        settings=settings("figure"),
    shell:
        "python -m stages.figure_wsss {params.args} --out {output:q} {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"
