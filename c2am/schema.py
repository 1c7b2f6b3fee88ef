"""The config schema (c2am/config.schema.yaml, shipped with the package): the one place where every setting's type,
bounds, default and description are written down. config.py validates config.yaml against it; settings.py builds
the typed settings of each section from it; cli.py builds each stage's flags from it.

A settings property may carry `x-run-only: true`: it changes how a stage runs (worker processes, an inference batch
size), never what the stage writes, so editing it re-runs nothing (see run_only_keys).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().with_name("config.schema.yaml")


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The parsed schema, read once per process (callers must not modify it)."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def section_props(section: str) -> dict:
    """The schema's property specs of a settings section (e.g. "train_c2am"): type, bounds, default, description."""
    defs = load_schema()["$defs"]
    if f"{section}_props" not in defs:
        raise KeyError(f"the schema has no settings section {section!r}")
    return defs[f"{section}_props"]


def defaults_of(props: dict) -> dict:
    """The defaults of a mapping of property specs (keys without a default are left out)."""
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if isinstance(v, dict) and "default" in v}


def section_defaults(section: str) -> dict:
    """The schema's defaults of a settings section: the only place defaults are written down."""
    return defaults_of(section_props(section))


def run_only_keys(section: str) -> frozenset[str]:
    """The keys of a section marked `x-run-only` (they change how a stage runs, not what it writes)."""
    return frozenset(k for k, v in section_props(section).items() if v.get("x-run-only"))
