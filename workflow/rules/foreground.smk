# Foreground masks against the masks of VOC-layout datasets (results/table_fg.csv): C2AM's maps as predict
# thresholds them (c2am) and refines them (c2am_crf), C2AM self-trained (1 - the background cue of the cue model
# trained on C2AM's pseudo labels: cue, cue_crf), DDT with one group (no labels) and the saliency sources.
#
# Layout: results/EXP/fg/SPLIT_SOURCE.json        one evaluate_fg JSON per source and split
#         results/EXP/fg/ddt/maps/SPLIT           DDT projection maps with group_by all, from the experiment's init
#                                                 with the stages.ddt_boxes settings (448 px by default: on the demo's VOC
#                                                 layout DDT at the extraction size, 160, scored 29.0 fg IoU, at 448 58.0)


rule ddt_maps_all:
    """DDT projection maps of a split with one group for all images (the label-free DDT)."""
    input:
        init=lambda w: f"{R}/init/{experiment(w.exp)['init']}.pt",
        data=data_input,
    output:
        maps=kept(directory(f"{R}/{{exp}}/fg/ddt/maps/{{split}}")),
        boxes=f"{R}/{{exp}}/fg/ddt/boxes/{{split}}.parquet",
        summary=f"{R}/{{exp}}/fg/ddt/ddt_{{split}}.json",
    log:
        f"{R}/{{exp}}/logs/ddt_maps_all_{{split}}.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/{{exp}}/logs/ddt_maps_all_{{split}}.log"),
        data=data_flags,
        settings=settings("ddt_boxes", group_by="all"),
        run=run_flags("ddt_boxes"),
    shell:
        "python -m stages.ddt_boxes --init {input.init:q} {params.data} --split {wildcards.split:q}"
        " --out-maps {output.maps:q} --out-boxes {output.boxes:q} --summary {output.summary:q}"
        " {params.run} --threads {threads} {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule evaluate_fg:
    """Foreground-mask scores of one source (c2am, c2am_crf, cue, cue_crf, ddt or sal-NAME) on one split."""
    input:
        source=fg_source_dir,
        data=data_input,
    output:
        f"{R}/{{exp}}/fg/{{split}}_{{fgsource}}.json",
    log:
        f"{R}/{{exp}}/logs/evaluate_fg_{{split}}_{{fgsource}}.log",
    conda:
        ENV
    params:
        data=data_flags,
        source=fg_source_args,
        settings=settings("evaluate_fg"),
    shell:
        "python -m stages.evaluate_fg {params.source} {params.data} --split {wildcards.split:q} --no-progress"
        " {params.settings} --out {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule table_fg:
    """Foreground masks of C2AM (with and without predict's CRF) beside DDT (one group) and the saliency sources."""
    input:
        manifest=manifest("table_fg"),
        metrics=[row[split] for row in fg_rows() for split in ("train", "eval")],
    output:
        csv=report(f"{R}/table_fg.csv", caption="../report/table_fg.rst", category="Foreground"),
        md=f"{R}/table_fg.md",
    log:
        f"{R}/logs/table_fg.log",
    conda:
        ENV
    params:
        settings=settings("tables"),
    shell:
        "python -m stages.table_fg --manifest {input.manifest:q} {params.settings} --out {output.csv:q} > {log:q} 2>&1 || c2am_failed {log:q}"
