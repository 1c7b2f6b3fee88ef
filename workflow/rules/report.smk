# What `snakemake --report results/report.html` shows beside the tables and figures: training curves from the
# JSONL logs and the configuration of the run.


def training_logs():
    """(label, model file, JSONL log) of every trainer behind the active experiments' tables."""
    out = [(f"C2AM {e}", f"{R}/{e}/c2am/model.pt", f"{R}/{e}/c2am/train_log.jsonl") for e in ACTIVE]
    for e in ACTIVE:
        exp = experiment(e)
        for source in exp["pseudo_boxes"] if exp["localizers"] and exp["classifiers"] else []:
            for loc in exp["localizers"]:
                d = f"{R}/{e}/psol/{source}/{loc}"
                out.append((f"localizer {loc} on {source} boxes ({e})", f"{d}/model.pt", f"{d}/train_log.jsonl"))
        for cls in exp["classifiers"] if exp["localizers"] else []:
            d = f"{R}/classifiers/{exp['dataset']}/{cls}"
            out.append((f"classifier {cls} ({exp['dataset']})", f"{d}/model.pt", f"{d}/train_log.jsonl"))
        for cam in exp["cams"]:
            if not CFG["cams"][cam]["folder"]:
                d = f"{R}/cams/{exp['dataset']}/{cam}"
                out.append((f"CAM classifier {cam} ({exp['dataset']})", f"{d}/model.pt", f"{d}/train_log.jsonl"))
        if exp["cams"]:
            out.append((f"cue model ({e})", f"{R}/{e}/wsss/cue_model.pt", f"{R}/{e}/wsss/cue_train_log.jsonl"))
    return list({log: (lab, model, log) for lab, model, log in out}.values())


rule figure_training:
    """Training curves of every trainer of the active experiments (PNG)."""
    input:
        [model for _, model, _ in training_logs()],
    output:
        report(f"{R}/figure_training.png", caption="../report/training.rst", category="Training"),
    params:
        logs=" ".join("--log " + quoted(lab, log) for lab, _, log in training_logs()),
    log:
        f"{R}/logs/figure_training.log",
    shell:
        "{PY} -m stages.figure_training {params.logs} --out {output:q} > {log:q} 2>&1"


rule config_used:
    """The validated configuration of this run (YAML), for the report."""
    output:
        report(f"{R}/config_used.yaml", caption="../report/config.rst", category="Configuration"),
    params:
        text=yaml_dump(CFG),
    run:
        from c2am.io import write_text

        write_text(params.text, output[0])

