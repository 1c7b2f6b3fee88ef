"""Every snakemake command line of the README works: each is run as a dry run from the repository (in a scratch
working directory), so a command that the workflow no longer accepts fails here instead of in a user's hands
(e.g. `--configfile` before the target, which takes the target as a second config file)."""

import re
import shlex
import subprocess

import pytest

from conftest import COCO128, CUB10, MOBILENET_WEIGHTS, REPO, SNAKEMAKE, need

NEEDS_A_SITE_PROFILE = "--profile mysite"  # the SLURM recipe needs the user's own profile (tests/test_slurm.py runs it)


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    found = re.findall(r"^(?:\.venv/bin/)?snakemake [^\n#]*", text, flags=re.M)  # lines of code blocks
    found += re.findall(r"`((?:\.venv/bin/)?snakemake [^`]*)`", text)  # inline commands
    commands = {}
    for command in dict.fromkeys(c.strip() for c in found):
        if NEEDS_A_SITE_PROFILE in command or "RULE" in command or "TARGET" in command:
            continue
        commands.setdefault(_what_it_plans(command), command)  # one dry run per distinct plan (about 18 s each)
    return list(commands.values())


def _what_it_plans(command: str) -> tuple[str, ...]:
    """The command without what does not change its DAG: the program's path, the core count, -n and -p."""
    args = shlex.split(command)[1:]
    kept = [a for i, a in enumerate(args) if a not in ("-n", "-p", "--cores") and (i == 0 or args[i - 1] != "--cores")]
    return tuple(kept)


def test_the_readme_has_its_commands():
    commands = readme_commands()
    assert any("configs/cub10.yaml" in c for c in commands) and any("results/table6.csv" in c for c in commands)


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_dry_runs(command, tmp_path):
    args = shlex.split(command)[1:]
    if "configs/cub10_mnv2.yaml" in args:  # its MobileNetV2 experiment plans from a weights file in ../shared
        need(MOBILENET_WEIGHTS)
    if any(a.startswith("configs/cub10") for a in args):  # dataset roots are checked when the config is read
        need(CUB10)
    if "configs/coco128.yaml" in args:
        need(COCO128)
    if "--report" in args:  # building the report needs the results; its DAG is checked with -n
        args = [a for i, a in enumerate(args) if a != "--report" and args[i - 1] != "--report"]
    cmd = [SNAKEMAKE, *args, "-n", "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path)]
    if "--configfile" in args:  # the flags after the config files must not become config files
        i = args.index("--configfile")
        files = [str(REPO / a) if (REPO / a).is_file() else a for a in args[i + 1:]]
        cmd = [SNAKEMAKE, *args[:i], "-n", "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory",
               str(tmp_path), "--configfile", *files]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{command}\n{out[-3000:]}"
    assert "MissingInputException" not in out and "FileNotFoundError" not in out
