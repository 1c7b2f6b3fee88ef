# C2AM's maps, boxes and their evaluation (Tables 2-3, the maps figure).


rule extract_maps:
    """Foreground maps of a split at the test recipe (float16 shards + manifest)."""
    input:
        model=f"{R}/{{exp}}/c2am/model.pt",
        data=data_input,
    output:
        kept(directory(f"{R}/{{exp}}/maps/{{split}}")),
    log:
        f"{R}/{{exp}}/logs/extract_maps_{{split}}.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/{{exp}}/logs/extract_maps_{{split}}.log"),
        data=data_flags,
        settings=settings("extract_maps"),
        run=run_flags("extract_maps"),
    shell:
        "python -m stages.extract_maps --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out-dir {output:q} {params.run} --threads {threads} {params.settings}"
        " > {log:q} 2>&1 || c2am_failed {log:q}"


rule choose_threshold:
    """Box threshold chosen on the training split's GT boxes (never the evaluation split), or the fixed one."""
    input:
        maps=lambda w: f"{R}/{w.exp}/maps/{train_split(w.exp)}",
        data=data_input,
    output:
        f"{R}/{{exp}}/boxes/threshold.json",
    log:
        f"{R}/{{exp}}/logs/choose_threshold.log",
    conda:
        ENV
    params:
        data=data_flags,
        split=data_train_split,
        settings=settings("make_boxes", ("evaluate_wsol", ["iou_threshold", "strict"])),
    shell:
        "python -m stages.choose_threshold --maps {input.maps:q} {params.data} --split {params.split:q}"
        " --out {output:q} {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule make_boxes:
    """Class-agnostic boxes (parquet, original pixels) of a split at the chosen threshold."""
    input:
        maps=f"{R}/{{exp}}/maps/{{split}}",
        threshold=f"{R}/{{exp}}/boxes/threshold.json",
    output:
        f"{R}/{{exp}}/boxes/{{split}}.parquet",
    log:
        f"{R}/{{exp}}/logs/make_boxes_{{split}}.log",
    conda:
        ENV
    params:
        settings=settings("make_boxes"),
    shell:
        "python -m stages.make_boxes --maps {input.maps:q} --threshold-file {input.threshold:q} --out {output:q}"
        " {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule make_cues:
    """Background cues (1 - foreground map) as uint8 PNGs at original size."""
    input:
        maps=f"{R}/{{exp}}/maps/{{split}}",
    output:
        directory(f"{R}/{{exp}}/raw_cues/{{split}}"),
    log:
        f"{R}/{{exp}}/logs/make_cues_{{split}}.log",
    conda:
        ENV
    shell:
        "python -m stages.make_cues --maps {input.maps:q} --out-dir {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule evaluate_wsol:
    """GT-known Loc (held-out threshold), authors' protocol, MaxBoxAccV2, PxAP, centre box."""
    input:
        maps=f"{R}/{{exp}}/maps/{{split}}",
        boxes=f"{R}/{{exp}}/boxes/{{split}}.parquet",
        data=data_input,
    output:
        f"{R}/{{exp}}/metrics/wsol_{{split}}.json",
    log:
        f"{R}/{{exp}}/logs/evaluate_wsol_{{split}}.log",
    conda:
        ENV
    params:
        data=data_flags,
        settings=settings("evaluate_wsol"),
    shell:
        "python -m stages.evaluate_wsol --maps {input.maps:q} --boxes {input.boxes:q} {params.data}"
        " --split {wildcards.split:q} --out {output:q} {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule figure_maps:
    """Images with their foreground maps, GT and C2AM boxes, one row per active experiment."""
    input:
        manifest=manifest("figure_maps"),
        maps=[row["maps"] for row in figure_maps_rows()],
        boxes=[row["boxes"] for row in figure_maps_rows()],
    output:
        report(f"{R}/figure_maps.png", caption="../report/figure_maps.rst", category="WSOL"),
    log:
        f"{R}/logs/figure_maps.log",
    conda:
        ENV
    params:
        settings=settings("figure"),
    shell:
        "python -m stages.figure_maps --manifest {input.manifest:q} {params.settings} --out {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule table_folds:
    """A recipe's held-out fold scores, per fold and pooled (experiments whose eval_split is BASE-foldIofK)."""
    input:
        manifest=manifest("table_folds"),
        metrics=table_folds_inputs,
    output:
        csv=report(f"{R}/table_folds.csv", caption="../report/table_folds.rst", category="WSOL"),
        md=f"{R}/table_folds.md",
    log:
        f"{R}/logs/table_folds.log",
    conda:
        ENV
    params:
        settings=settings("tables"),
    shell:
        "python -m stages.table_folds --manifest {input.manifest:q} {params.settings} --out {output.csv:q} > {log:q} 2>&1 || c2am_failed {log:q}"
