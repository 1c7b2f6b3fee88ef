rule make_demo_data:
    """The embedded default dataset (CUB and VOC layouts), generated deterministically."""
    output:
        directory(f"{R}/data/demo"),
    log:
        f"{R}/logs/make_demo_data.log",
    conda:
        ENV
    shell:
        "python -m stages.make_demo_data --out {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"
