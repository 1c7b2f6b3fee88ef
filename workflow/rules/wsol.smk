def eval_split(exp_name):
    return dataset(exp_name)["eval_split"]


rule evaluate_wsol:
    """GT-known Loc (held-out threshold), authors' protocol, MaxBoxAccV2, PxAP, centre box."""
    input:
        maps=f"{R}/{{exp}}/maps/{{split}}",
        boxes=f"{R}/{{exp}}/boxes/{{split}}.parquet",
        data=dataset_input,
    output:
        f"{R}/{{exp}}/metrics/wsol_{{split}}.json",
    params:
        data=lambda w: dataset_flags(w.exp),
        settings=settings("wsol_eval"),
    log:
        f"{R}/{{exp}}/logs/evaluate_wsol_{{split}}.log",
    shell:
        "{PY} -m stages.evaluate_wsol --maps {input.maps:q} --boxes {input.boxes:q} {params.data}"
        " --split {wildcards.split:q} --out {output:q} {params.settings} > {log:q} 2>&1"


def figure_panels():
    panels = []
    for e in ACTIVE:
        ds, split = dataset(e), eval_split(e)
        panels.append("--panel " + " ".join(map(shlex.quote, (label(e), ds["format"], ds["root"], split,
                                                              f"{R}/{e}/maps/{split}",
                                                              f"{R}/{e}/boxes/{split}.parquet"))))
    return " ".join(panels)


rule figure_maps:
    """Images with their foreground maps, GT and C2AM boxes, one row per active experiment."""
    input:
        [f"{R}/{e}/maps/{eval_split(e)}" for e in ACTIVE],
        [f"{R}/{e}/boxes/{eval_split(e)}.parquet" for e in ACTIVE],
    output:
        report(f"{R}/figure_maps.png", caption="../report/figure_maps.rst", category="WSOL"),
    params:
        panels=figure_panels(),
        n_images=CFG["stages"].get("figure", {}).get("n_images", 8),
        seed=CFG["stages"].get("figure", {}).get("seed", 0),
    log:
        f"{R}/logs/figure_maps.log",
    shell:
        "{PY} -m stages.figure_maps {params.panels} --n_images {params.n_images} --seed {params.seed}"
        " --out {output:q} > {log:q} 2>&1"
