# Sensitivity studies (paper Sec. 5.4): derived experiments BASE__STUDY-VALUE (see config.sensitivity) reuse every
# rule above; only the fg-rule ablation and the table are new.


rule fg_rule_ablation:
    """GT-known Loc of an experiment's maps under three foreground-side rules, each with a held-out threshold."""
    input:
        train=lambda w: f"{R}/{w.exp}/maps/{train_split(w.exp)}",
        eval=f"{R}/{{exp}}/maps/{{split}}",
    output:
        f"{R}/{{exp}}/metrics/fg_rule_{{split}}.json",
    log:
        f"{R}/{{exp}}/logs/fg_rule_ablation_{{split}}.log",
    conda:
        ENV
    params:
        data=data_flags,
        train_split=data_train_split,
        settings=settings("make_boxes", ("evaluate_wsol", ["iou_threshold", "strict"])),
    shell:
        "python -m stages.fg_rule_ablation --train-maps {input.train:q} --eval-maps {input.eval:q} {params.data}"
        " --train-split {params.train_split:q} --eval-split {wildcards.split:q} --out {output:q} {params.settings}"
        " > {log:q} 2>&1 || c2am_failed {log:q}"


rule table6:
    """Table 6 + Fig. 8: GT-known Loc per alpha, head init, loss variant and foreground rule."""
    input:
        manifest=manifest("table6"),
        rows=lambda w: [row["metrics"] for row in table6_rows()],
        fg_rules=lambda w: f"{R}/{sensitivity_base()}/metrics/fg_rule_{eval_split(sensitivity_base())}.json",
    output:
        csv=report(f"{R}/table6.csv", caption="../report/table6.rst", category="Sensitivity"),
        md=f"{R}/table6.md",
        figure=report(f"{R}/figure8.png", caption="../report/figure8.rst", category="Sensitivity"),
    log:
        f"{R}/logs/table6.log",
    conda:
        ENV
    params:
        settings=settings("tables"),
    shell:
        "python -m stages.table6 --manifest {input.manifest:q} --fg-rules {input.fg_rules:q} {params.settings}"
        " --out {output.csv:q} --figure {output.figure:q} > {log:q} 2>&1 || c2am_failed {log:q}"
