def init_flags(wildcards):
    if wildcards.init not in CFG["inits"]:
        raise ValueError(f"unknown init {wildcards.init!r}; config.yaml defines {sorted(CFG['inits'])}")
    return cli_flags(CFG["inits"][wildcards.init])


rule pretrain_init:
    """Backbone weights converted to the backbone's key space, with an exact key check."""
    output:
        pt=f"{R}/init/{{init}}.pt",
        summary=f"{R}/init/{{init}}.json",
    params:
        flags=init_flags,
    log:
        f"{R}/init/{{init}}.log",
    shell:
        "{PY} -m stages.pretrain_init {params.flags} --out {output.pt} > {log} 2>&1"
