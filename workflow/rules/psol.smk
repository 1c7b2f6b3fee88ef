# WSOL comparisons: DDT boxes (baseline of Table 2), PSOL localizers trained on C2AM or DDT pseudo boxes,
# classifiers, their evaluation, and Tables 1-3.


rule ddt_boxes:
    """DDT projection maps and boxes of a split, from the init's backbone (per class, GT-known setting)."""
    input:
        init=f"{R}/init/{{init}}.pt",
        data=data_input,
    output:
        maps=kept(directory(f"{R}/ddt/{{dataset}}/{{init}}/maps/{{split}}")),
        boxes=f"{R}/ddt/{{dataset}}/{{init}}/boxes/{{split}}.parquet",
        summary=f"{R}/ddt/{{dataset}}/{{init}}/ddt_{{split}}.json",
    log:
        f"{R}/ddt/{{dataset}}/{{init}}/logs/ddt_boxes_{{split}}.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/ddt/{{dataset}}/{{init}}/logs/ddt_boxes_{{split}}.log"),
        data=data_flags,
        settings=settings("ddt_boxes"),
        run=run_flags("ddt_boxes"),
    shell:
        "python -m stages.ddt_boxes --init {input.init:q} {params.data} --split {wildcards.split:q}"
        " --out-maps {output.maps:q} --out-boxes {output.boxes:q} --summary {output.summary:q}"
        " {params.run} --threads {threads} {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule evaluate_ddt:
    """The evaluate_wsol metrics of DDT's boxes and projection maps."""
    input:
        maps=f"{R}/ddt/{{dataset}}/{{init}}/maps/{{split}}",
        boxes=f"{R}/ddt/{{dataset}}/{{init}}/boxes/{{split}}.parquet",
        data=data_input,
    output:
        f"{R}/ddt/{{dataset}}/{{init}}/metrics/wsol_{{split}}.json",
    log:
        f"{R}/ddt/{{dataset}}/{{init}}/logs/evaluate_wsol_{{split}}.log",
    conda:
        ENV
    params:
        data=data_flags,
        settings=settings("evaluate_wsol"),
    shell:
        "python -m stages.evaluate_wsol --maps {input.maps:q} --boxes {input.boxes:q} {params.data}"
        " --split {wildcards.split:q} --out {output:q} {params.settings} > {log:q} 2>&1 || c2am_failed {log:q}"


rule train_localizer:
    """PSOL localizer on the training split's pseudo boxes (source c2am or ddt)."""
    input:
        init=recipe_init("localizer"),
        boxes=pseudo_boxes,
        data=data_input,
    output:
        model=kept(f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/model.pt"),
    log:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/train.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/train.log"),
        data=data_flags,
        split=data_train_split,
        settings=settings("train_localizer"),
        run=run_flags("train_localizer"),
        checkpoint=run_file("{R}/{exp}/psol/{source}/{localizer}/checkpoint.pt"),
        jsonl=run_file("{R}/{exp}/psol/{source}/{localizer}/train_log.jsonl"),
    shell:
        "python -m stages.train_localizer --init {input.init:q} --pseudo-boxes {input.boxes:q} {params.data}"
        " --split {params.split:q} --out-model {output.model:q} --checkpoint {params.checkpoint}"
        " --train-log {params.jsonl} {params.run} --threads {threads} {params.settings} 2> {log:q} || c2am_failed {log:q}"


rule train_classifier:
    """Classifier fine-tuned on the image-level labels of a dataset's training split."""
    input:
        init=recipe_init("classifier"),
        data=data_input,
    output:
        model=kept(f"{R}/classifiers/{{dataset}}/{{classifier}}/model.pt"),
    log:
        f"{R}/classifiers/{{dataset}}/{{classifier}}/train.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        failure=last_failure(f"{R}/classifiers/{{dataset}}/{{classifier}}/train.log"),
        data=data_flags,
        split=data_train_split,
        settings=settings("train_classifier"),
        run=run_flags("train_classifier"),
        checkpoint=run_file("{R}/classifiers/{dataset}/{classifier}/checkpoint.pt"),
        jsonl=run_file("{R}/classifiers/{dataset}/{classifier}/train_log.jsonl"),
    shell:
        "python -m stages.train_classifier --init {input.init:q} {params.data} --split {params.split:q}"
        " --out-model {output.model:q} --checkpoint {params.checkpoint} --train-log {params.jsonl}"
        " {params.run} --threads {threads} {params.settings} 2> {log:q} || c2am_failed {log:q}"


rule predict_localizer:
    """Localizer boxes of a split (original pixels)."""
    input:
        model=f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/model.pt",
        data=data_input,
    output:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/boxes_{{split}}.parquet",
    log:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/predict_{{split}}.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        data=data_flags,
        settings=settings("predict_psol"),
        run=run_flags("predict_psol"),
    shell:
        "python -m stages.predict_psol --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out {output:q} {params.settings} {params.run} --threads {threads} --no-progress > {log:q} 2>&1 || c2am_failed {log:q}"


rule predict_classifier:
    """Top-5 classes of every image of a split."""
    input:
        model=f"{R}/classifiers/{{dataset}}/{{classifier}}/model.pt",
        data=data_input,
    output:
        f"{R}/classifiers/{{dataset}}/{{classifier}}/pred_{{split}}.parquet",
    log:
        f"{R}/classifiers/{{dataset}}/{{classifier}}/predict_{{split}}.log",
    conda:
        ENV
    threads: 8
    resources:
        gpu=GPU_JOB,
    params:
        data=data_flags,
        settings=settings("predict_psol"),
        run=run_flags("predict_psol"),
    shell:
        "python -m stages.predict_psol --model {input.model:q} {params.data} --split {wildcards.split:q}"
        " --out {output:q} {params.settings} {params.run} --threads {threads} --no-progress > {log:q} 2>&1 || c2am_failed {log:q}"


rule evaluate_psol:
    """Top-1 / Top-5 / GT-known Loc of a localizer + classifier pair on a split."""
    input:
        boxes=f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/boxes_{{split}}.parquet",
        classes=lambda w: f"{R}/classifiers/{experiment(w.exp)['dataset']}/{w.classifier}/pred_{w.split}.parquet",
        data=data_input,
    output:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/metrics_{{classifier}}_{{split}}.json",
    log:
        f"{R}/{{exp}}/psol/{{source}}/{{localizer}}/evaluate_{{classifier}}_{{split}}.log",
    conda:
        ENV
    params:
        data=data_flags,
        settings=settings("evaluate_wsol"),
    shell:
        "python -m stages.evaluate_psol --boxes {input.boxes:q} --classes {input.classes:q} {params.data}"
        " --split {wildcards.split:q} {params.settings} --out {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule table1:
    """Paper Table 1: Top-1 / Top-5 / GT-known Loc through PSOL's route (CSV + Markdown)."""
    input:
        manifest=manifest("table1"),
        metrics=[row["metrics"] for row in table1_entries()],
    output:
        csv=report(f"{R}/table1.csv", caption="../report/table1.rst", category="WSOL"),
        md=f"{R}/table1.md",
    log:
        f"{R}/logs/table1.log",
    conda:
        ENV
    params:
        settings=settings("tables"),
    shell:
        "python -m stages.table1 --manifest {input.manifest:q} {params.settings} --out {output.csv:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule table2:
    """Paper Table 2: GT-known Loc of C2AM and DDT boxes per backbone x init x dataset (CSV + Markdown)."""
    input:
        manifest=manifest("table2"),
        metrics=[row["metrics"] for row in wsol_rows()],
    output:
        csv=report(f"{R}/table2.csv", caption="../report/table2.rst", category="WSOL"),
        md=f"{R}/table2.md",
    log:
        f"{R}/logs/table2.log",
    conda:
        ENV
    params:
        settings=settings("tables"),
    shell:
        "python -m stages.table2 --manifest {input.manifest:q} {params.settings} --out {output.csv:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule table3:
    """Paper Table 3: MaxBoxAccV2 of C2AM (and DDT) maps per backbone (CSV + Markdown)."""
    input:
        manifest=manifest("table3"),
        metrics=[row["metrics"] for row in wsol_rows()],
    output:
        csv=report(f"{R}/table3.csv", caption="../report/table3.rst", category="WSOL"),
        md=f"{R}/table3.md",
    log:
        f"{R}/logs/table3.log",
    conda:
        ENV
    params:
        settings=settings("tables"),
    shell:
        "python -m stages.table3 --manifest {input.manifest:q} {params.settings} --out {output.csv:q} > {log:q} 2>&1 || c2am_failed {log:q}"


rule figure_wsol:
    """Test images with GT, C2AM and DDT boxes, and the localizer's boxes trained on each (+ top-1 class)."""
    input:
        manifest=manifest("figure_wsol"),
        boxes=figure_wsol_inputs(),
    output:
        report(f"{R}/figure_wsol.png", caption="../report/figure_wsol.rst", category="WSOL"),
    log:
        f"{R}/logs/figure_wsol.log",
    conda:
        ENV
    params:
        settings=settings("figure"),
    shell:
        "python -m stages.figure_wsol --manifest {input.manifest:q} {params.settings} --out {output:q} > {log:q} 2>&1 || c2am_failed {log:q}"
