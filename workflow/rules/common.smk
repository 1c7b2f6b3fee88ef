# Helpers shared by the rules: experiment / dataset lookups and the dataset flags of a stage command.


def experiment(name):
    return CFG["experiments"][name]


def dataset(exp_name):
    return CFG["datasets"][experiment(exp_name)["dataset"]]


def dataset_flags(exp_name):
    ds = dataset(exp_name)
    return f"--dataset-format {ds['format']} --dataset-root {shlex.quote(ds['root'])}"


def label(exp_name):
    return experiment(exp_name)["label"] or exp_name


def dataset_input(wildcards):
    """The demo dataset is built by a rule; real datasets are read where they are."""
    ds = dataset(wildcards.exp)
    return [f"{R}/data/{ds['generate']}"] if ds["generate"] else []


def settings(stage):
    return lambda wildcards: cli_flags(stage_settings(CFG, wildcards.exp, stage))
