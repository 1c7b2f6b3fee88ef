rule pretrain_init:
    """Backbone weights converted to the backbone's key space, with an exact key check."""
    input:
        init_source_file,
    output:
        pt=f"{R}/init/{{init}}.pt",
        summary=f"{R}/init/{{init}}.json",
    log:
        f"{R}/init/{{init}}.log",
    conda:
        ENV
    params:
        settings=settings("init"),
    shell:
        "python -m stages.pretrain_init {params.settings} --out {output.pt:q} > {log:q} 2>&1 || c2am_failed {log:q}"
