# What `snakemake --report results/report.html` shows beside the tables and figures: training curves from the
# JSONL logs and the configuration of the run.


rule figure_training:
    """Training curves of every trainer of the active experiments (PNG)."""
    input:
        [model for _, model, _ in training_logs()],
    output:
        report(f"{R}/figure_training.png", caption="../report/training.rst", category="Training"),
    log:
        f"{R}/logs/figure_training.log",
    conda:
        ENV
    params:
        logs=training_log_args(),
    shell:
        "python -m stages.figure_training {params.logs} --out {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule config_used:
    """The validated configuration of this run (YAML), for the report."""
    output:
        report(f"{R}/config_used.yaml", caption="../report/config.rst", category="Configuration"),
    log:
        f"{R}/logs/config_used.log",
    conda:
        ENV
    params:
        text=yaml_dump(CFG),
    shell:
        "printf '%s' {params.text:q} > {output:q} 2> {log:q} || c2am_failed {log:q}"
