"""The repository is an installable package: a wheel builds (c2am, c2am.*, the top-level stages, the config schema
and the `c2am` console script), and, installed outside the repository, `c2am` runs from any folder: its help, a
stage's own help and check-config on the repository's config.yaml; an unknown command exits 2 naming the valid ones,
and `c2am segment` says it is not available where c2am.segment is missing. The modules of c2am/ and stages/ import
each other without cycles (scripts/code_scan.py's cycle finder, checked on a planted cycle too)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from c2am import command

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel --no-deps --no-build-isolation` of the repository. Built from a copy of what the build reads
    (pyproject.toml and the other top-level files, c2am/, stages/) so that setuptools' build/ and *.egg-info
    folders land in the temporary folder, not in the checkout."""
    src = tmp_path_factory.mktemp("src")
    for item in REPO.iterdir():
        if item.is_file():
            shutil.copy2(item, src / item.name)
    for package in ("c2am", "stages"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, dict, Path]:
    """The wheel installed with `pip install --no-deps --target DIR` (the dependencies are the running venv's);
    returns (DIR, the environment that imports from DIR only, a working folder outside the repository)."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}
    cwd = tmp_path_factory.mktemp("elsewhere")
    assert REPO not in cwd.parents and cwd != REPO
    return target, env, cwd


def _run(args, env, cwd):
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_wheel_holds_the_packages_the_schema_and_the_console_script(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("c2am/__init__.py", "c2am/command.py", "c2am/config.py", "c2am/config.schema.yaml",
                 "c2am/models/__init__.py", "stages/__init__.py", "stages/predict.py", "stages/train_c2am.py"):
        assert name in names, f"{name} is not in {wheel.name}"
    assert not any(n.startswith(("tests/", "workflow/", "bench/", "scripts/")) for n in names), sorted(names)
    entry_points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert len(entry_points) == 1, sorted(names)
    text = zipfile.ZipFile(wheel).read(entry_points[0]).decode()
    assert "[console_scripts]" in text and "c2am = c2am.command:main" in text, text


def test_the_installed_command_runs_outside_the_repository(installed):
    target, env, cwd = installed
    script = target / "bin" / "c2am"
    assert script.is_file(), sorted(p.name for p in (target / "bin").iterdir()) if (target / "bin").is_dir() else []

    where = _run([sys.executable, "-c", "import c2am, c2am.config, stages; "
                  "print(c2am.__file__, stages.__file__, c2am.config.SCHEMA_PATH, sep='\\n')"], env, cwd)
    assert where.returncode == 0, where.stderr
    lines = where.stdout.splitlines()
    assert all(Path(line).is_relative_to(target) for line in lines), (lines, target)  # not the checkout's
    assert Path(lines[2]).is_file()

    for args in ([str(script), "--help"], [sys.executable, "-m", "c2am.command", "--help"]):
        proc = _run(args, env, cwd)
        assert proc.returncode == 0, proc.stderr
        for word in ("check-config", "segment", "predict", "train-c2am", "make-boxes", "table-fg"):
            assert f"\n  {word} " in proc.stdout, (word, proc.stdout)

    proc = _run([str(script), "predict", "--help"], env, cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: c2am predict") and "--threshold-file" in proc.stdout, proc.stdout

    proc = _run([str(script), "train_c2am", "--definitely-not-a-flag"], env, cwd)
    assert proc.returncode == 2 and "usage: c2am train-c2am" in proc.stderr, proc.stderr


def test_check_config_of_the_installed_command(installed):
    target, env, cwd = installed
    script = str(target / "bin" / "c2am")
    proc = _run([script, "check-config", "--config", str(REPO / "config.yaml")], env, cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"ok: {REPO / 'config.yaml'}"), proc.stdout
    assert "demo_effl0: init effl0_imagenet" in proc.stdout and "dataset demo: cub at" in proc.stdout, proc.stdout

    overlay = cwd / "overlay.yaml"
    overlay.write_text("active_experiments: [demo_effl0, no_such_experiment]\n")
    proc = _run([script, "check-config", "--config", str(REPO / "config.yaml"), str(overlay)], env, cwd)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{overlay}: active_experiments lists 'no_such_experiment'" in proc.stderr, proc.stderr

    proc = _run([script, "check-config"], env, cwd)  # no config.yaml in this folder
    assert proc.returncode == 1 and "config file not found" in proc.stderr, proc.stderr


def test_an_unknown_command_exits_2_naming_the_valid_ones(capsys):
    assert command.main(["predictt"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'predictt'" in err and "did you mean 'predict'" in err, err
    valid = err.split("valid commands: ", 1)[1].split("\n")[0].split(", ")
    assert {"check-config", "segment", "predict", "train-c2am", "sweep-cam-threshold"} <= set(valid), valid
    assert len(valid) >= 2 + 35  # the tools and every module of the stages package


def test_stage_spellings_resolve_to_one_module():
    assert command.resolve_stage("train-c2am") == command.resolve_stage("train_c2am") == "train_c2am"
    assert command.resolve_stage("table-fg") == "table_fg" and command.resolve_stage("predict") == "predict"
    assert command.resolve_stage("segment") is None and command.resolve_stage("nope") is None


def test_segment_is_imported_only_when_asked_for(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "c2am.segment", None)  # as if the module were missing
    assert command.main(["--help"]) == 0
    assert "not available" in capsys.readouterr().out
    assert command.main(["segment", "--help"]) == 1
    assert "c2am segment: not available" in capsys.readouterr().err

    calls = []
    fake = type(sys)("c2am.segment")
    fake.main = lambda argv: calls.append(argv) or 3
    monkeypatch.setitem(sys.modules, "c2am.segment", fake)
    assert command.main(["segment", "a", "--b"]) == 3 and calls == [["a", "--b"]]


def _code_scan():
    """scripts/code_scan.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("code_scan", REPO / "scripts" / "code_scan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_modules_import_each_other_without_cycles():
    assert _code_scan().find_cycles(REPO) == []


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path, capsys):
    """pkg.a -> pkg.b at module level, pkg.b -> pkg.a inside a function; pkg.c only imports pkg.a."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("import os\n\n\ndef f():\n    from .a import x\n    return os, x\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    scan = _code_scan()
    cycles = scan.find_cycles(tmp_path, ("pkg",))
    assert [c["members"] for c in cycles] == [["pkg.a", "pkg.b"]]
    assert [(s["module"], s["imports"], s["line"]) for s in cycles[0]["cycle"]] == [("pkg.a", "pkg.b", 1),
                                                                                    ("pkg.b", "pkg.a", 5)]
    assert scan.longest_function(tmp_path, ("pkg",))["function"] == "pkg.b.f"

    assert scan.main(["--root", str(tmp_path), "--json"]) == 0  # no c2am/ or stages/ there: an empty scan
    result = json.loads(capsys.readouterr().out)
    assert result["import_cycles"] == [] and result["plumbing"]["total"] == 0
