rule extract_maps:
    """Foreground maps of a split at the test recipe (float16 shards + manifest)."""
    input:
        model=f"{R}/{{exp}}/c2am/model.pt",
        data=dataset_input,
    output:
        directory(f"{R}/{{exp}}/maps/{{split}}"),
    params:
        data=lambda w: dataset_flags(w.exp),
        settings=settings("extract"),
        device=DEVICE,
    log:
        f"{R}/{{exp}}/logs/extract_maps_{{split}}.log",
    threads: 8
    resources:
        gpu=GPU_JOB,
    shell:
        "{PY} -m stages.extract_maps --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out-dir {output:q} --device {params.device} --threads {threads} {params.settings}"
        " > {log:q} 2>&1"


rule choose_threshold:
    """Box threshold from the calibration part of the training split (never the evaluation split)."""
    input:
        maps=lambda w: f"{R}/{w.exp}/maps/{dataset(w.exp)['train_split']}",
        data=dataset_input,
    output:
        f"{R}/{{exp}}/boxes/threshold.json",
    params:
        data=lambda w: dataset_flags(w.exp),
        split=lambda w: dataset(w.exp)["train_split"],
        settings=settings("boxes"),
    log:
        f"{R}/{{exp}}/logs/choose_threshold.log",
    shell:
        "{PY} -m stages.choose_threshold --maps {input.maps:q} {params.data} --split {params.split:q}"
        " --out {output:q} {params.settings} > {log:q} 2>&1"


rule make_boxes:
    """Class-agnostic boxes (parquet, original pixels) of a split at the chosen threshold."""
    input:
        maps=f"{R}/{{exp}}/maps/{{split}}",
        threshold=f"{R}/{{exp}}/boxes/threshold.json",
    output:
        f"{R}/{{exp}}/boxes/{{split}}.parquet",
    params:
        settings=settings("boxes"),
    log:
        f"{R}/{{exp}}/logs/make_boxes_{{split}}.log",
    shell:
        "{PY} -m stages.make_boxes --maps {input.maps:q} --threshold-file {input.threshold:q} --out {output:q}"
        " {params.settings} > {log:q} 2>&1"


rule make_cues:
    """Background cues (1 - foreground map) as uint8 PNGs at original size."""
    input:
        maps=f"{R}/{{exp}}/maps/{{split}}",
    output:
        directory(f"{R}/{{exp}}/cues/{{split}}"),
    log:
        f"{R}/{{exp}}/logs/make_cues_{{split}}.log",
    shell:
        "{PY} -m stages.make_cues --maps {input.maps:q} --out-dir {output:q} > {log:q} 2>&1"
