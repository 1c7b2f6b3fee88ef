def init_flags(wildcards):
    if wildcards.init not in CFG["inits"]:
        raise ValueError(f"unknown init {wildcards.init!r}; config.yaml defines {sorted(CFG['inits'])}")
    return cli_flags(CFG["inits"][wildcards.init])


def init_source_file(wildcards):
    """A local checkpoint is an input, so replacing the file re-runs the conversion."""
    path = CFG["inits"][wildcards.init]["path"]
    return [path] if path else []


rule pretrain_init:
    """Backbone weights converted to the backbone's key space, with an exact key check."""
    input:
        init_source_file,
    output:
        pt=f"{R}/init/{{init}}.pt",
        summary=f"{R}/init/{{init}}.json",
    params:
        flags=init_flags,
    log:
        f"{R}/init/{{init}}.log",
    shell:
        "{PY} -m stages.pretrain_init {params.flags} --out {output.pt:q} > {log:q} 2>&1"
