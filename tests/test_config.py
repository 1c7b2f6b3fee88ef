"""config.yaml validation: defaults, unknown keys, wrong types, cross references, flags."""

import copy
import re
import shlex

import pytest
import yaml

from c2am.config import ConfigError, load_config, setting_flags, settings_for, validate_config
from conftest import REPO


@pytest.fixture()
def raw():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_repository_config_is_valid():
    cfg = load_config(REPO / "config.yaml")
    assert cfg["active_experiments"] == ["demo_effl0", "demo_voc_effl0"]
    assert cfg["datasets"]["cub10"]["eval_split"] == "test"  # defaults filled in
    assert cfg["experiments"]["cub10_effl0"]["label"] is None and cfg["experiments"]["demo_effl0"]["preset"] is None


def test_settings_resolution_order(raw):
    raw["stages"]["train_c2am"]["alpha"] = 0.3
    raw["presets"]["cpu_cub"]["alpha"] = 0.4
    cfg = validate_config(raw)
    assert settings_for(cfg, "train_c2am", {"exp": "cub10_effl0"}).alpha == 0.4  # preset beats stages
    assert settings_for(cfg, "train_c2am", {"exp": "demo_effl0"}).alpha == 0.3  # no preset: stages
    raw["experiments"]["cub10_effl0"]["train_c2am"] = {"alpha": 0.5}
    assert settings_for(validate_config(raw), "train_c2am", {"exp": "cub10_effl0"}).alpha == 0.5
    assert settings_for(cfg, "train_c2am", {"exp": "cub10_effl0"}).crop == 224  # schema default


def test_unknown_key_names_key_place_and_suggestion(raw):
    raw["experiments"]["demo_effl0"]["train_c2am"]["epoch"] = 3
    with pytest.raises(ConfigError, match=r"unknown key 'epoch' \(did you mean 'epochs'\?\) under "
                                          r"experiments.demo_effl0.train_c2am"):
        validate_config(raw)


def test_wrong_type_names_key_and_expected_type(raw):
    raw["stages"]["extract_maps"]["batch_size"] = "big"
    with pytest.raises(ConfigError, match=r"stages.extract_maps.batch_size = 'big' has the wrong type; expected integer"):
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
    bad["stages"]["make_boxes"]["threshold"] = 1.5
    with pytest.raises(ConfigError, match="make_boxes.threshold"):
        validate_config(bad)


def stage_args(settings, **fixed):
    """The settings part of a rule's command: what the rule's settings() and run_flags() params put there."""
    what, how = setting_flags(settings, **fixed)
    return [*shlex.split(what), *shlex.split(how)]


def test_flags_round_trip_through_the_stage_parser():
    """A rule passes only the settings that differ from the schema's defaults; the stage merges the defaults back
    and gets the same typed settings."""
    from c2am.cli import settings_of
    from c2am.settings import C2AMTrainSettings
    from stages import train_c2am

    cfg = load_config(REPO / "config.yaml")
    settings = settings_for(cfg, "train_c2am", {"exp": "demo_effl0"}).replace(workers=1, compile=True)
    what, how = setting_flags(settings)
    assert what == "--crop 128 --epochs 6 --fg-rule-images 96 --lr 0.001 --resize 144"  # the demo's own values
    assert how == "--compile --workers 1"  # x-run-only: outside the tracked params
    args = train_c2am.parser().parse_args(
        ["--init", "x", "--dataset-format", "cub", "--dataset-root", "r", "--split", "train", "--out-model", "m",
         "--checkpoint", "c", "--train-log", "l", *stage_args(settings)])
    assert settings_of(args, C2AMTrainSettings) == settings
    assert setting_flags(C2AMTrainSettings.defaults()) == ("", "")  # all defaults: nothing on the command


def test_null_and_number_or_string_flags_round_trip():
    from c2am.cli import settings_of
    from c2am.settings import BoxSettings, ExtractSettings
    from stages import choose_threshold, extract_maps

    cfg = load_config(REPO / "config.yaml")
    ex = settings_for(cfg, "extract_maps", {"exp": "demo_effl0"})
    assert ex.crop is None
    args = extract_maps.parser().parse_args(["--model", "m", "--dataset-format", "cub", "--dataset-root", "r",
                                             "--split", "test", "--out-dir", "o", *stage_args(ex)])
    assert settings_of(args, ExtractSettings) == ex and args.crop is None and args.resize == 160
    bx = settings_for(cfg, "make_boxes", {"exp": "demo_effl0"}).replace(threshold=0.35)
    args = choose_threshold.parser().parse_args(["--maps", "m", "--dataset-format", "cub", "--dataset-root", "r",
                                                 "--split", "train", "--out", "o", *stage_args(bx)])
    assert settings_of(args, BoxSettings) == bx and args.threshold == 0.35
    args = choose_threshold.parser().parse_args(["--maps", "m", "--dataset-format", "cub", "--dataset-root", "r",
                                                 "--split", "train", "--out", "o", "--threshold", "auto"])
    assert settings_of(args, BoxSettings).threshold == "auto"


def test_crop_larger_than_resize_is_rejected(raw):
    raw["experiments"]["demo_effl0"]["extract_maps"]["crop"] = 200
    with pytest.raises(ConfigError, match="extract_maps.crop = 200 of experiment demo_effl0 is larger than extract_maps.resize"):
        validate_config(raw)


def test_localizer_and_classifier_recipes_resolve_in_order(raw):
    raw["stages"]["train_localizer"] = {"epochs": 3, "lr": 0.3}
    cfg = validate_config(raw)
    loc = settings_for(cfg, "train_localizer", {"localizer": "effl0_demo"})  # preset cpu_small; settings: epochs
    assert loc.lr == 0.05 and loc.epochs == 30 and loc.crop == 128 and loc.momentum == 0.9
    assert settings_for(cfg, "train_localizer", {"localizer": "r50_psol"}).lr == 0.002  # the PSOL preset
    assert settings_for(cfg, "train_classifier", {"classifier": "effb7_paper"}).crop == 448
    assert settings_for(cfg, "train_localizer").lr == 0.3  # no recipe in the job: stages.train_localizer
    assert settings_for(cfg, "ddt_boxes").resize == 448 and settings_for(cfg, "ddt_boxes").group_by == "class"
    assert cfg["experiments"]["cub10_mnv2"]["pseudo_boxes"] == ["c2am", "ddt"]  # default
    assert cfg["experiments"]["cub10_mnv2"]["localizers"] == []


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["experiments"]["demo_effl0"].update(localizers=["nope"]),
     "experiments.demo_effl0.localizers lists 'nope', which is not a key of localizers"),
    (lambda r: r["localizers"]["effl0_demo"].update(init="missing"),
     "localizers.effl0_demo.init = 'missing' is not a key of inits"),
    (lambda r: r["classifiers"]["effl0_demo"].update(preset="fast"),
     "classifiers.effl0_demo.preset = 'fast' is not a key of classifier_presets"),
    (lambda r: r["experiments"]["demo_effl0"].update(pseudo_boxes=["cam"]),
     "is not one of ['c2am', 'ddt']"),
    (lambda r: r["localizers"]["effl0_demo"]["settings"].update(lr="fast"),
     "localizers.effl0_demo.settings.lr = 'fast' has the wrong type"),
    (lambda r: r["stages"].update(ddt_boxes={"group": "class"}),
     "unknown key 'group' (did you mean 'group_by'?) under stages.ddt_boxes"),
    (lambda r: r["experiments"]["demo_effl0"].update(classifiers=["effl0_demo", "effl0_demo"]),
     "has non-unique elements"),
    (lambda r: r["localizers"]["effl0_demo"]["settings"].update(min_box_keep=0),
     "min_box_keep: 0 is less than or equal to the minimum of 0"),
])
def test_wsol_config_errors_name_the_key(raw, edit, message):
    edit(raw)
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert message in str(err.value)


def test_ddt_defaults_follow_the_dataset_layout(raw):
    raw["datasets"]["voc"] = {"format": "voc", "root": "data/VOC2012"}
    raw["experiments"]["voc_effl0"] = {"dataset": "voc", "init": "effl0_imagenet"}
    cfg = validate_config(raw)
    assert cfg["experiments"]["voc_effl0"]["ddt"] is False and cfg["experiments"]["voc_effl0"]["pseudo_boxes"] == ["c2am"]
    assert cfg["experiments"]["cub10_effl0"]["ddt"] is True
    raw["experiments"]["voc_effl0"]["ddt"] = True
    with pytest.raises(ConfigError, match="experiments.voc_effl0.ddt asks for DDT, which groups images by class"):
        validate_config(raw)
    raw["stages"]["ddt_boxes"]["group_by"] = "all"
    assert validate_config(raw)["experiments"]["voc_effl0"]["pseudo_boxes"] == ["c2am", "ddt"]


def test_experiment_level_evaluation_conflicts_with_shared_ddt_rows(raw):
    raw["experiments"]["cub10_effl0"]["evaluate_wsol"] = {"strict": True}
    with pytest.raises(ConfigError, match="its DDT rows .* use stages.evaluate_wsol"):
        validate_config(raw)
    raw["experiments"]["cub10_effl0"].update(ddt=False, pseudo_boxes=["c2am"])
    assert validate_config(raw)["experiments"]["cub10_effl0"]["evaluate_wsol"] == {"strict": True}


def test_c2am_extra_data_must_name_another_dataset(raw):
    raw["experiments"]["demo_effl0"]["c2am_extra_data"] = ["cub11"]
    with pytest.raises(ConfigError, match=r"experiments.demo_effl0.c2am_extra_data lists 'cub11', which is not a key "
                                          r"of datasets"):
        validate_config(raw)
    raw["experiments"]["demo_effl0"]["c2am_extra_data"] = ["demo"]
    with pytest.raises(ConfigError, match="which is the experiment's own dataset"):
        validate_config(raw)
    raw["experiments"]["demo_effl0"]["c2am_extra_data"] = ["demo_voc"]
    assert validate_config(raw)["experiments"]["demo_effl0"]["c2am_extra_data"] == ["demo_voc"]


def test_only_settings_that_differ_from_the_defaults_reach_the_command(raw):
    """A setting at its schema default adds no flag (so a new setting with a default changes no command and re-runs
    nothing); setting one adds exactly its flag."""
    cfg = validate_config(raw)
    extract = setting_flags(settings_for(cfg, "extract_maps", {"exp": "demo_effl0"}))
    assert extract == ("--crop none --resize 160", "--batch-size 16")
    assert setting_flags(settings_for(cfg, "predict", {"exp": "demo_effl0"})) == ("", "")
    raw["experiments"]["demo_effl0"]["extract_maps"]["scales"] = [1.0, 1.5]
    raw["experiments"]["demo_effl0"].setdefault("predict", {})["flip"] = True
    cfg = validate_config(raw)
    flags = setting_flags(settings_for(cfg, "extract_maps", {"exp": "demo_effl0"}))[0]
    assert flags == "--crop none --resize 160 --scales 1.0 1.5"
    assert setting_flags(settings_for(cfg, "predict", {"exp": "demo_effl0"})) == ("--flip", "")
    raw["experiments"]["demo_effl0"]["extract_maps"]["resize"] = 480  # the default, given explicitly: no flag
    cfg = validate_config(raw)
    assert setting_flags(settings_for(cfg, "extract_maps", {"exp": "demo_effl0"}))[0] == "--crop none --scales 1.0 1.5"


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["stages"].update(extract={"resize": 320}), "stages.extract is now stages.extract_maps"),
    (lambda r: r["experiments"]["demo_effl0"].update(c2am_train={"epochs": 2}),
     "experiments.demo_effl0.c2am_train is now experiments.demo_effl0.train_c2am"),
    (lambda r: r["stages"].update(ddt={"resize": 320}), "stages.ddt is now stages.ddt_boxes"),
])
def test_an_earlier_section_name_says_the_new_one(raw, edit, message):
    edit(raw)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(raw)
    raw["experiments"]["demo_effl0"].pop("c2am_train", None)
    raw["stages"].pop("extract", None), raw["stages"].pop("ddt", None)
    raw["experiments"]["demo_effl0"]["ddt"] = False  # an experiment's ddt is its DDT rows, not a section
    assert validate_config(raw)["experiments"]["demo_effl0"]["ddt"] is False


@pytest.mark.parametrize("place", ["stages", "experiments.demo_voc_effl0", "segment.recipe"])
def test_a_moved_setting_says_its_new_section(raw, place):
    """train_cue_model.test_size is read by predict_cues only: it lives in predict_cues, and a config that still
    sets it under train_cue_model is told where it went (wherever it sets it)."""
    node = raw
    for key in place.split("."):
        node = node.setdefault(key, {})
    node.setdefault("train_cue_model", {})["test_size"] = 192
    with pytest.raises(ConfigError, match=re.escape(f"{place}.train_cue_model.test_size: train_cue_model.test_size "
                                                    f"is now predict_cues.test_size")) as err:
        validate_config(raw)
    assert f"{place}.predict_cues: {{test_size: 192}}" in str(err.value)
    node["predict_cues"] = {"test_size": node["train_cue_model"].pop("test_size")}
    cfg = validate_config(raw)
    if place != "segment.recipe":  # the recipe becomes an experiment only with segment.images set
        job = {"exp": "demo_voc_effl0"} if place.startswith("experiments") else {}
        assert settings_for(cfg, "predict_cues", job).test_size == 192


@pytest.mark.parametrize("place, section, key, new", [
    ("localizer_presets.cpu_small", "train_localizer", "test_size", "test_size"),
    ("localizers.effl0_demo.settings", "train_localizer", "test_batch_size", "batch_size"),
    ("classifiers.effl0_demo.settings", "train_classifier", "test_size", "test_size"),
    ("stages.train_classifier", "train_classifier", "test_batch_size", "batch_size")])
def test_the_psol_test_settings_moved_to_predict_psol_wherever_a_recipe_sets_them(raw, place, section, key, new):
    """The localizer's and classifier's test size and batch are read by predict_psol only: a recipe, preset or
    stages section that still sets them is told to write stages.predict_psol."""
    node = raw
    for part in place.split("."):
        node = node.setdefault(part, {})
    node[key] = 96
    advice = ("delete it: predict_psol.test_size null runs each localizer and classifier at its training crop"
              if new == "test_size" else "write stages.predict_psol: {batch_size: 96}")
    with pytest.raises(ConfigError, match=re.escape(f"{place}.{key}: {section}.{key} is now predict_psol.{new} "
                                                    f"({advice}")):
        validate_config(raw)
    del node[key]
    raw["stages"]["predict_psol"] = {new: 96}
    assert getattr(settings_for(validate_config(raw), "predict_psol"), new) == 96


@pytest.mark.parametrize("key", ["localizers", "localizer_presets", "experiments", "segment"])
def test_a_list_where_a_mapping_belongs_is_a_config_error_not_a_crash(raw, key):
    raw[key] = ["x"]
    with pytest.raises(ConfigError, match=key):
        validate_config(raw)

