# Sensitivity studies (paper Sec. 5.4): derived experiments BASE__STUDY-VALUE (see config.sensitivity) reuse every
# rule above; only the fg-rule ablation and the table are new.


def sensitivity_rows():
    """(study, value, experiment) per Table 6 row; the base experiment stands for its own values."""
    return CFG["sensitivity"]["rows"]


def sensitivity_base():
    base = CFG["sensitivity"]["experiment"]
    if base is None:
        raise WorkflowError("Table 6 needs an experiment: set sensitivity.experiment or active_experiments")
    return base


rule fg_rule_ablation:
    """GT-known Loc of an experiment's maps under three foreground-side rules, each with a held-out threshold."""
    input:
        train=lambda w: f"{R}/{w.exp}/maps/{dataset(w.exp)['train_split']}",
        eval=f"{R}/{{exp}}/maps/{{split}}",
    output:
        f"{R}/{{exp}}/metrics/fg_rule_{{split}}.json",
    params:
        data=lambda w: dataset_flags(w.exp),
        train_split=lambda w: dataset(w.exp)["train_split"],
        settings=settings("boxes"),
    log:
        f"{R}/{{exp}}/logs/fg_rule_ablation_{{split}}.log",
    shell:
        "{PY} -m stages.fg_rule_ablation --train-maps {input.train:q} --eval-maps {input.eval:q} {params.data}"
        " --train-split {params.train_split:q} --eval-split {wildcards.split:q} --out {output:q} {params.settings}"
        " > {log:q} 2>&1"


rule table6:
    """Table 6 + Fig. 8: GT-known Loc per alpha, head init, loss variant and foreground rule."""
    input:
        rows=lambda w: [f"{R}/{e}/metrics/wsol_{eval_split(e)}.json" for _, _, e in sensitivity_rows()],
        fg_rules=lambda w: f"{R}/{sensitivity_base()}/metrics/fg_rule_{eval_split(sensitivity_base())}.json",
    output:
        csv=report(f"{R}/table6.csv", caption="../report/table6.rst", category="Sensitivity"),
        md=f"{R}/table6.md",
        figure=report(f"{R}/figure8.png", caption="../report/figure8.rst", category="Sensitivity"),
    params:
        rows=lambda w: " ".join("--row " + quoted(study, value, f"{R}/{e}/metrics/wsol_{eval_split(e)}.json")
                                for study, value, e in sensitivity_rows()),
        decimals=TABLE_DECIMALS,
    log:
        f"{R}/logs/table6.log",
    shell:
        "{PY} -m stages.table6 {params.rows} --fg-rules {input.fg_rules:q} --decimals {params.decimals}"
        " --out {output.csv:q} --figure {output.figure:q} > {log:q} 2>&1"


rule predict:
    """Foreground masks, boxes and previews of a configured image folder (predict_folders) with an experiment's model."""
    input:
        model=f"{R}/{{exp}}/c2am/model.pt",
        threshold=f"{R}/{{exp}}/boxes/threshold.json",
    output:
        directory(f"{R}/{{exp}}/predict/{{folder}}"),
    params:
        images=lambda w: shlex.quote(CFG["predict_folders"][w.folder]),
        size=lambda w: stage_settings(CFG, w.exp, "extract")["resize"],
        device=DEVICE,
    log:
        f"{R}/{{exp}}/logs/predict_{{folder}}.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.predict --model {input.model:q} --images {params.images} --threshold-file {input.threshold:q}"
        " --size {params.size} --out-dir {output:q} --device {params.device} --threads {threads} --no-progress"
        " > {log:q} 2>&1"
