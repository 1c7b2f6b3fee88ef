"""Every stage's --help prints (argparse formats help strings with %, which a schema description may hold), and
the config schema is a valid JSON schema whose entries hold only schema keywords (an unquoted description that
YAML cut at ': ' left a stray key)."""

import importlib
import pkgutil

import jsonschema
import pytest

import stages
from c2am.schema import load_schema

STAGES = sorted(m.name for m in pkgutil.iter_modules(stages.__path__))


def test_the_stage_list_is_complete():
    assert len(STAGES) >= 35 and {"predict", "make_boxes", "choose_threshold", "fg_rule_ablation"} <= set(STAGES)


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_prints_its_help(name):
    text = importlib.import_module(f"stages.{name}").parser().format_help()
    assert text.startswith("usage:") and "--help" in text


def test_a_percent_sign_in_a_setting_description_reaches_the_help_text():
    text = importlib.import_module("stages.make_boxes").parser().format_help()
    description = load_schema()["$defs"]["make_boxes"]["properties"]["calib_fraction"]["description"]
    assert "%" in description and "%" in " ".join(text.split())


KEYWORDS = {"type", "description", "default", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "items", "minItems", "maxItems", "uniqueItems", "properties", "additionalProperties", "required",
            "$ref", "$defs", "$schema", "title", "oneOf", "anyOf", "allOf", "not", "pattern", "minLength",
            "maxLength", "minProperties", "maxProperties", "patternProperties", "const", "propertyNames", "if",
            "then", "else", "examples", "format", "dependentRequired", "contains", "minContains", "maxContains",
            "x-run-only"}  # the project's one annotation (c2am.schema.run_only_keys)


def test_the_config_schema_meta_validates_and_holds_only_schema_keywords():
    schema = load_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    strays = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if where.endswith(("/properties", "/$defs", "/patternProperties")):
                    if where.endswith("/$defs") and isinstance(value, dict) and not KEYWORDS & value.keys():
                        walk(value, f"{where}/{key}/properties")  # a YAML anchor holding a properties map
                    else:
                        walk(value, f"{where}/{key}")  # names of settings, not keywords
                    continue
                if key not in KEYWORDS:
                    strays.append(f"{where}/{key}")
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}/{i}")

    walk(schema, "")
    assert not strays, strays
