rule train_c2am:
    """C2AM on the unlabeled training split; resumes from results/EXP/c2am/checkpoint.pt after a kill."""
    input:
        init=experiment_init,
        data=data_input,
        extra_data=c2am_extra_input,
    output:
        model=kept(f"{R}/{{exp}}/c2am/model.pt"),
    log:
        f"{R}/{{exp}}/c2am/train.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=lambda w: GPU_JOB * c2am_settings(w).gpus,
        nodes=lambda w: c2am_settings(w).nodes,
    params:
        failure=last_failure(f"{R}/{{exp}}/c2am/train.log"),
        data=c2am_data_flags,
        split=data_train_split,
        settings=settings("train_c2am"),
        run=run_flags("train_c2am"),
        launch=c2am_launch,
        checkpoint=run_file("{R}/{exp}/c2am/checkpoint.pt"),
        jsonl=run_file("{R}/{exp}/c2am/train_log.jsonl"),
    shell:
        "{params.launch} -m stages.train_c2am --init {input.init:q} {params.data} --split {params.split:q}"
        " --out-model {output.model:q} --checkpoint {params.checkpoint} --train-log {params.jsonl}"
        " {params.run} --threads {threads} {params.settings} 2> {log:q} || c2am_failed {log:q}"
