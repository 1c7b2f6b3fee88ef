# What `snakemake --report results/report.html` shows beside the tables and figures: training curves from the
# JSONL logs and the configuration of the run.


rule figure_training:
    """Training curves of every trainer of the active experiments (PNG)."""
    input:
        manifest=manifest("figure_training"),
        models=[model for _, model, _ in training_logs()],
    output:
        report(f"{R}/figure_training.png", caption="../report/training.rst", category="Training"),
    log:
        f"{R}/logs/figure_training.log",
    conda:
        ENV
    shell:
        "python -m stages.figure_training --manifest {input.manifest:q} --out {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule manifest:
    """The rows of a table or figure as JSON (results/manifests/NAME.json, fields: c2am.tables.FIELDS), which its
    stage reads (--manifest). Its `content` param holds the rows, so the manifest, and then its table, is re-written
    when the rows change, and only then; a changed metrics file re-runs the table alone."""
    output:
        f"{R}/manifests/{{name}}.json",
    log:
        f"{R}/logs/manifest_{{name}}.log",
    wildcard_constraints:
        name="|".join(MANIFESTS),
    localrule: True
    params:
        content=manifest_content,
    run:
        write_manifest(params.content, output[0])


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
