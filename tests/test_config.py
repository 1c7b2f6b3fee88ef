"""config.yaml validation: defaults, unknown keys, wrong types, cross references, flags."""

import copy
import shlex
from dataclasses import asdict

import pytest
import yaml

from c2am.config import ConfigError, cli_flags, load_config, load_schema, stage_settings, validate_config
from c2am.train import TrainSettings
from conftest import REPO


@pytest.fixture()
def raw():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_repository_config_is_valid():
    cfg = load_config(REPO / "config.yaml")
    assert cfg["active_experiments"] == ["demo_effl0"]
    assert cfg["datasets"]["cub10"]["eval_split"] == "test"  # defaults filled in
    assert cfg["experiments"]["cub10_effl0"]["label"] is None and cfg["experiments"]["demo_effl0"]["preset"] is None


def test_schema_defaults_equal_the_training_dataclass_defaults():
    props = load_schema()["$defs"]["c2am_train_props"]
    assert {k: v["default"] for k, v in props.items()} == asdict(TrainSettings())


def test_settings_resolution_order(raw):
    raw["stages"]["c2am_train"]["alpha"] = 0.3
    raw["presets"]["cpu_cub"]["alpha"] = 0.4
    cfg = validate_config(raw)
    assert stage_settings(cfg, "cub10_effl0", "c2am_train")["alpha"] == 0.4  # preset beats stages
    assert stage_settings(cfg, "demo_effl0", "c2am_train")["alpha"] == 0.3  # no preset: stages
    raw["experiments"]["cub10_effl0"]["c2am_train"] = {"alpha": 0.5}
    assert stage_settings(validate_config(raw), "cub10_effl0", "c2am_train")["alpha"] == 0.5
    assert stage_settings(cfg, "cub10_effl0", "c2am_train")["crop"] == 224  # schema default


def test_unknown_key_names_key_place_and_suggestion(raw):
    raw["experiments"]["demo_effl0"]["c2am_train"]["epoch"] = 3
    with pytest.raises(ConfigError, match=r"unknown key 'epoch' \(did you mean 'epochs'\?\) under "
                                          r"experiments.demo_effl0.c2am_train"):
        validate_config(raw)


def test_wrong_type_names_key_and_expected_type(raw):
    raw["stages"]["extract"]["batch_size"] = "big"
    with pytest.raises(ConfigError, match=r"stages.extract.batch_size = 'big' has the wrong type; expected integer"):
        validate_config(raw)


def test_bad_enum_and_cross_references(raw):
    bad = copy.deepcopy(raw)
    bad["inits"]["r50_sup"]["backbone"] = "resnet18"
    with pytest.raises(ConfigError, match=r"inits.r50_sup.backbone = 'resnet18' is not one of"):
        validate_config(bad)
    bad = copy.deepcopy(raw)
    bad["experiments"]["demo_effl0"]["dataset"] = "nope"
    with pytest.raises(ConfigError, match=r"experiments.demo_effl0.dataset = 'nope' is not a key of datasets"):
        validate_config(bad)
    bad = copy.deepcopy(raw)
    bad["active_experiments"] = ["ghost"]
    with pytest.raises(ConfigError, match="active_experiments lists 'ghost'"):
        validate_config(bad)
    bad = copy.deepcopy(raw)
    bad["stages"]["boxes"]["threshold"] = 1.5
    with pytest.raises(ConfigError, match="boxes.threshold"):
        validate_config(bad)


def test_flags_round_trip_through_the_stage_parser():
    from stages import train_c2am

    cfg = load_config(REPO / "config.yaml")
    settings = stage_settings(cfg, "demo_effl0", "c2am_train")
    args = train_c2am.parser().parse_args(
        ["--init", "x", "--dataset-format", "cub", "--dataset-root", "r", "--split", "train", "--out-model", "m",
         "--checkpoint", "c", "--log", "l", *shlex.split(cli_flags(settings))])
    assert {k: getattr(args, k) for k in settings} == settings


def test_null_and_number_or_string_flags_round_trip():
    from stages import choose_threshold, extract_maps

    cfg = load_config(REPO / "config.yaml")
    ex = stage_settings(cfg, "demo_effl0", "extract")
    assert ex["crop"] is None
    args = extract_maps.parser().parse_args(["--model", "m", "--dataset-format", "cub", "--dataset-root", "r",
                                             "--split", "test", "--out-dir", "o", *shlex.split(cli_flags(ex))])
    assert args.crop is None and args.resize == 160
    bx = dict(stage_settings(cfg, "demo_effl0", "boxes"), threshold=0.35)
    args = choose_threshold.parser().parse_args(["--maps", "m", "--dataset-format", "cub", "--dataset-root", "r",
                                                 "--split", "train", "--out", "o", *shlex.split(cli_flags(bx))])
    assert args.threshold == 0.35


def test_crop_larger_than_resize_is_rejected(raw):
    raw["experiments"]["demo_effl0"]["extract"]["crop"] = 200
    with pytest.raises(ConfigError, match="extract.crop = 200 of experiment demo_effl0 is larger than extract.resize"):
        validate_config(raw)
