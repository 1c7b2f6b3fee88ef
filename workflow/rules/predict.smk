rule predict:
    """Foreground masks, boxes and previews of a configured image folder (predict_folders) with an experiment's model."""
    input:
        model=f"{R}/{{exp}}/c2am/model.pt",
        threshold=f"{R}/{{exp}}/boxes/threshold.json",
        mask_model=predict_mask_model,  # the cue model when predict.masks is self_trained, else nothing
    output:
        kept(directory(f"{R}/{{exp}}/predict/{{folder}}")),
    log:
        f"{R}/{{exp}}/logs/predict_{{folder}}.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/{{exp}}/logs/predict_{{folder}}.log"),
        images=lambda w: shlex.quote(CFG["predict_folders"][w.folder]),
        listing=lambda w: listing_fingerprint(CFG["predict_folders"][w.folder]),  # adding an image re-runs it
        settings=settings("predict", ("predict_cues", predict_mask_keys)),
        mask_model=predict_mask_flag,  # the cue model when predict.masks is self_trained
        run=run_flags("predict"),
    shell:
        "python -m stages.predict --model {input.model:q} --images {params.images} --threshold-file {input.threshold:q}"
        " --out-dir {output:q} {params.run} --threads {threads} --no-progress {params.settings} {params.mask_model}"
        " > {log:q} 2>&1 || c2am_failed {log:q}"


rule segment:
    """Your photos to masks, no labels: C2AM trained on segment.images, then predict with the self-trained masks;
    the gallery is results/NAME/predict/NAME/index.html."""
    input:
        segment_run,
    localrule: True
