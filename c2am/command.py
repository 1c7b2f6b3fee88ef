"""`c2am`: one command for the pipeline's stages and tools, from any folder once the package is installed.

    c2am --help                          the commands and every stage
    c2am STAGE ARGS...                   run stage STAGE exactly as `python -m stages.STAGE ARGS...` does
                                         (`c2am predict --help`; `train-c2am` and `train_c2am` are the same stage)
    c2am check-config [OVERLAY.yaml ...] validate ./config.yaml (or --config PATH) with the overlays merged on top as
                                         `snakemake --configfile` merges them; print the active experiments
    c2am segment ARGS...                 c2am.segment (when this installation has it)

The stages are the modules of the `stages` package, found with pkgutil; a stage's one-line summary is the first
line of its docstring. Nothing heavy (torch) is imported until a stage runs.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import pkgutil
import runpy
import sys
from pathlib import Path

PROG = "c2am"
TOOLS = {
    "check-config": "validate config.yaml (+ overlays) as the workflow does; list the active experiments",
    "segment": "your photos to masks, boxes and a gallery: C2AM trained on a folder, no labels (needs the clone)",
}


def _docstring_head(origin: str | None) -> tuple[str | None, str]:
    """(the name a stage's docstring starts with, e.g. "c2am-train", or None; the rest of its first line)."""
    try:
        doc = ast.get_docstring(ast.parse(Path(origin).read_text(encoding="utf-8"))) if origin else None
    except (OSError, SyntaxError, ValueError):
        doc = None
    first = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    name, sep, rest = first.partition(": ")
    if sep and name and " " not in name:
        return name, rest.strip()
    return None, first


def stages() -> dict[str, dict]:
    """{module name: {"summary": ..., "aliases": {...}}} of every module of the `stages` package."""
    import stages as package

    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.ispkg or info.name.startswith("_"):
            continue
        spec = info.module_finder.find_spec(f"stages.{info.name}")
        doc_name, summary = _docstring_head(getattr(spec, "origin", None))
        aliases = {info.name, info.name.replace("_", "-")}
        if doc_name:
            aliases |= {doc_name, doc_name.replace("-", "_")}
        found[info.name] = {"summary": summary, "aliases": aliases}
    return found


def resolve_stage(name: str, found: dict[str, dict] | None = None) -> str | None:
    """The module name of stage `name` (any of its spellings), or None."""
    found = stages() if found is None else found
    for module, entry in found.items():
        if name in entry["aliases"]:
            return module
    return None


def _segment_available() -> bool:
    if "c2am.segment" in sys.modules:
        return sys.modules["c2am.segment"] is not None
    try:
        return importlib.util.find_spec("c2am.segment") is not None
    except (ImportError, ValueError):
        return False


def help_text(found: dict[str, dict]) -> str:
    width = 24

    def row(name: str, text: str) -> str:
        text = text if len(text) <= 96 - width else text[:93 - width].rstrip(" ,;(") + "..."
        return f"  {name:<{width - 3}} {text}" if len(name) < width - 3 else f"  {name}\n  {'':<{width - 3}} {text}"

    tools = dict(TOOLS)
    if not _segment_available():
        tools["segment"] = "not available in this installation (no c2am.segment module)"
    lines = [f"usage: {PROG} COMMAND [ARGS...]   ({PROG} COMMAND --help for its own flags)", "",
             "C2AM pipeline: run a stage or a tool from any folder.", "", "commands:"]
    lines += [row(name, text) for name, text in tools.items()]
    lines += ["", "stages (each exactly as `python -m stages.NAME`; hyphens or underscores):"]
    lines += [row(module.replace("_", "-"), entry["summary"]) for module, entry in found.items()]
    return "\n".join(lines) + "\n"


def valid_commands(found: dict[str, dict]) -> list[str]:
    return [*TOOLS, *(module.replace("_", "-") for module in found)]


def run_stage(module: str, argv: list[str]) -> int:
    """Run stages.MODULE as its `__main__` (what `python -m stages.MODULE` runs, its `main(run, parser())`), with
    `c2am NAME` as the program name of its usage and errors."""
    saved = sys.argv
    sys.argv = [f"{PROG} {module.replace('_', '-')}", *argv]
    try:
        runpy.run_module(f"stages.{module}", run_name="__main__", alter_sys=False)
    finally:
        sys.argv = saved
    return 0


def check_config(argv: list[str]) -> int:
    """Load config.yaml and the overlays with c2am.config.load_config (the reader and validator the Snakefile
    uses, merging as Snakemake merges --configfile), then list the active experiments and their datasets."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"{PROG} check-config",
        description="Validate config.yaml with overlays merged on top in order (as `snakemake --configfile A B` "
                    "does), with the workflow's own checks; print the active experiments and their datasets. "
                    "Relative dataset roots and weight paths are taken relative to the folder of --config (the "
                    "repository root, where config.yaml is). Exit status 1 with the error on a bad config.")
    parser.add_argument("overlays", nargs="*", metavar="OVERLAY.yaml", help="--configfile files, in order")
    parser.add_argument("--config", default="config.yaml", help="the base config [default: ./config.yaml]")
    args = parser.parse_args(argv)

    from c2am import config as c2am_config

    base = Path(args.config).expanduser().resolve()
    if not base.is_file():
        print(f"error: config file not found: {base} (run from the repository root, where config.yaml is, or "
              f"give --config PATH)", file=sys.stderr)
        return 1
    # the repository root of this config: what relative roots resolve against (the Snakefile's REPO)
    saved, c2am_config.REPO = c2am_config.REPO, base.parent
    try:
        cfg = c2am_config.load_config(base, *args.overlays)
    except c2am_config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        c2am_config.REPO = saved
    print(f"ok: {' + '.join([str(base), *args.overlays])}")
    active = cfg["active_experiments"]
    print(f"active experiments ({len(active)}):" if active else "active experiments: none")
    for name in active:
        exp = cfg["experiments"][name]
        used = [exp["dataset"], *exp["c2am_extra_data"]]
        print(f"  {name}: init {exp['init']}")
        for i, ds_name in enumerate(used):
            ds = cfg["datasets"][ds_name]
            role = "dataset" if i == 0 else "extra data"
            generated = f", generated ({ds['generate']})" if ds.get("generate") else ""
            print(f"    {role} {ds_name}: {ds['format']} at {ds['root']}{generated}")
    return 0


def segment(argv: list[str]) -> int:
    """c2am.segment's main(argv), imported only when asked for."""
    try:
        module = importlib.import_module("c2am.segment")
    except ModuleNotFoundError as exc:
        what = "this installation has no c2am.segment module" if exc.name == "c2am.segment" else str(exc)
        print(f"{PROG} segment: not available ({what})", file=sys.stderr)
        return 1
    status = module.main(argv)
    return status if isinstance(status, int) else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    found = stages()
    if not argv:
        sys.stderr.write(help_text(found))
        return 2
    command, rest = argv[0], argv[1:]
    if command in ("-h", "--help", "help"):
        sys.stdout.write(help_text(found))
        return 0
    if command == "--version":
        from c2am import __version__

        print(f"{PROG} {__version__}")
        return 0
    if command == "check-config":
        return check_config(rest)
    if command == "segment":
        return segment(rest)
    module = resolve_stage(command, found)
    if module is not None:
        return run_stage(module, rest)
    valid = valid_commands(found)
    close = difflib.get_close_matches(command.replace("_", "-"), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    print(f"{PROG}: unknown command {command!r}{hint}; valid commands: {', '.join(valid)}\n"
          f"({PROG} --help says what each does)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
