"""The workflow follows Snakemake's conventions: `snakemake --lint` finds nothing (every rule has a log and names
the conda environment, helpers live in common.smk, no path built with '+'), `snakefmt --check` finds nothing to
reformat (line length and other settings: [tool.snakefmt] in pyproject.toml), and the environment file pins exactly
what requirements.txt pins."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO, SNAKEMAKE


def test_snakemake_lint_is_clean():
    proc = subprocess.run([SNAKEMAKE, "--lint", "--snakefile", str(REPO / "workflow" / "Snakefile")],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Congratulations, your workflow is in a good condition!" in out, out[-4000:]


SNAKEFMT = str(Path(sys.executable).parent / "snakefmt")  # pinned in requirements.txt (make setup installs it)


def test_snakefmt_finds_nothing_to_reformat():
    """`snakefmt --check workflow/` exits 0 (1: a file would change, 123: a file it cannot parse); run
    `snakefmt workflow/` to fix. It reads [tool.snakefmt] from pyproject.toml, found from the checked path."""
    sources = [REPO / "workflow" / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]
    proc = subprocess.run([SNAKEFMT, "--check", "--compact-diff", "workflow"], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakefmt would reformat (run `snakefmt workflow/`):\n{out[-4000:]}"
    # it checked every workflow file, not an empty selection
    assert re.search(rf"All {len(sources)} file\(s\) would be left unchanged", out), out[-2000:]


def test_conda_environment_pins_the_requirements():
    env = yaml.safe_load((REPO / "envs" / "c2am.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    requirements = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert pip == requirements
    assert "python=3.11" in env["dependencies"]


def test_every_rule_file_holds_rules_only_and_the_snakefile_sets_its_conventions():
    rules = REPO / "workflow" / "rules"
    for path in rules.glob("*.smk"):
        text = path.read_text()
        if path.name == "common.smk":
            assert not re.search(r"^(?:rule|checkpoint) \w+\s*:", text, flags=re.M), "common.smk defines a rule"
        else:
            assert "\ndef " not in text and not text.startswith("def "), f"{path.name} defines functions"
    snakefile = (REPO / "workflow" / "Snakefile").read_text()
    assert 'min_version("9.0")' in snakefile and "default_target: True" in snakefile


def test_planning_imports_neither_torch_nor_pandas():
    """Every snakemake call (each dry run, each SLURM job) parses the workflow: what it imports from the library
    must stay light (torch + torchvision cost several seconds a parse)."""
    import sys

    sources = [REPO / "workflow" / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]
    imports = [m for p in sources for m in re.findall(r"^(?:from c2am[\w.]* import [^\n]+|import c2am[^\n]*)",
                                                       p.read_text(), flags=re.M)]
    assert len(imports) >= 5, imports
    code = "\n".join(i.split("  #")[0] for i in imports)
    code += "\nimport sys\nheavy = {'torch', 'torchvision', 'pandas', 'cv2', 'matplotlib'} & set(sys.modules)\n"
    code += "assert not heavy, heavy"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


# the stages that hold no network: they read maps, boxes, CAMs, masks and images, and start without torch
STAGES_WITHOUT_A_NETWORK = (
    "choose_threshold", "evaluate_psol", "evaluate_wsol", "fg_rule_ablation", "figure_maps", "figure_training",
    "figure_wsol", "figure_wsss", "make_boxes", "make_cue_labels", "make_cues", "make_demo_data", "make_saliency",
    "refine_cams", "sweep_cam_threshold", "table1", "table2", "table3", "table4", "table5", "table6")


def test_stages_without_a_network_start_without_torch():
    """A stage process pays for what it imports (torch + torchvision: seconds each start, and a pipeline runs
    dozens of such jobs): the light stages must not import torch."""
    import sys

    code = "import importlib, sys\n"
    code += "".join(f"importlib.import_module('stages.{s}')\n" for s in STAGES_WITHOUT_A_NETWORK)
    code += "heavy = {'torch', 'torchvision'} & set(sys.modules)\nassert not heavy, heavy"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {p.stem for p in (REPO / "stages").glob("*.py")} >= set(STAGES_WITHOUT_A_NETWORK)
