def c2am_train(wildcards):
    """The resolved c2am_train settings of the job's experiment."""
    return stage_settings(CFG, wildcards.exp, "c2am_train")


rule train_c2am:
    """C2AM on the unlabeled training split; resumes from results/EXP/c2am/checkpoint.pt after a kill."""
    input:
        init=lambda w: f"{R}/init/{experiment(w.exp)['init']}.pt",
        data=dataset_input,
    output:
        model=f"{R}/{{exp}}/c2am/model.pt",
    params:
        data=lambda w: dataset_flags(w.exp),
        split=lambda w: dataset(w.exp)["train_split"],
        settings=settings("c2am_train"),
        device=DEVICE,
        # torchrun when c2am_train.gpus x nodes > 1 (DDP, global-batch loss), plain python otherwise
        launch=lambda w: launch_command(PY, c2am_train(w)["gpus"], c2am_train(w)["nodes"]),
        # not outputs: Snakemake deletes outputs and logs before a job, and these must survive a kill so
        # that the re-run resumes (the JSONL is trimmed to the checkpoint, or started afresh)
        checkpoint=lambda w: shlex.quote(f"{R}/{w.exp}/c2am/checkpoint.pt"),
        jsonl=lambda w: shlex.quote(f"{R}/{w.exp}/c2am/train_log.jsonl"),
    log:
        f"{R}/{{exp}}/c2am/train.log",
    threads: 8
    resources:
        gpu=lambda w: GPU_JOB * c2am_train(w)["gpus"],
        nodes=lambda w: c2am_train(w)["nodes"],
    shell:
        "{params.launch} -m stages.train_c2am --init {input.init:q} {params.data} --split {params.split:q}"
        " --out-model {output.model:q} --checkpoint {params.checkpoint} --train-log {params.jsonl}"
        " --device {params.device} --threads {threads} {params.settings} 2> {log:q}"
