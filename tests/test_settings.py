"""Defaults live only in the config schema: the typed settings match its sections key for key, library keyword
defaults equal the schema's, no library code falls back to a default of its own, and every stage takes a
hyphenated flag for each key of its settings sections."""

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from c2am.config import flag
from c2am.schema import section_defaults, section_props
from c2am.settings import (ALL, BoxSettings, C2AMTrainSettings, CamInferSettings, CamTrainSettings,
                           ClassifierTrainSettings, CueLabelSettings, CueTrainSettings, DDTSettings, ExtractSettings,
                           CrfSettings, FigureSettings, InitSettings, LocalizerTrainSettings, LoopSettings,
                           PredictCuesSettings, PredictPsolSettings, PredictSettings,
                           RefineSettings, SettingsError, TableSettings, WsolEvalSettings)
from conftest import REPO


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_settings_fields_are_the_schema_keys_and_have_no_defaults_of_their_own(cls):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == set(section_props(cls.SECTION))
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields.values())
    if cls is not InitSettings:  # backbone and source have no default: an init names them
        assert cls.defaults().to_dict() == section_defaults(cls.SECTION)


def test_every_trainer_has_the_loop_settings():
    loop = set(LoopSettings.REQUIRED_KEYS)
    assert len(loop) == 18
    for cls in (C2AMTrainSettings, LocalizerTrainSettings, ClassifierTrainSettings, CamTrainSettings,
                CueTrainSettings):
        assert issubclass(cls, LoopSettings) and loop <= {f.name for f in dataclasses.fields(cls)}


def test_a_settings_class_is_its_schema_section_and_refuses_a_section_without_its_required_keys():
    from c2am.settings import section

    assert [f.name for f in dataclasses.fields(FigureSettings)] == ["n_images", "seed"]
    assert C2AMTrainSettings.__annotations__["crop"] is int and PredictSettings.__annotations__["size"] == int | None

    class NotATrainer(LoopSettings):
        SECTION = "figure"

    with pytest.raises(TypeError, match=r"the schema section figure lacks \['epochs', 'batch_size'"):
        section(NotATrainer)


def test_settings_reject_unknown_keys_wrong_types_and_out_of_range_values():
    with pytest.raises(KeyError, match=r"unknown train_c2am settings \['epoch'\]"):
        C2AMTrainSettings.from_dict({"epoch": 3})
    with pytest.raises(SettingsError, match="train_c2am.epochs"):
        C2AMTrainSettings.from_dict({"epochs": "ten"})
    with pytest.raises(SettingsError, match="make_boxes.calib_fraction"):
        BoxSettings.from_dict({"calib_fraction": 0})
    with pytest.raises(KeyError, match=r"init settings need \['backbone', 'source'\]"):
        InitSettings.from_dict({})
    s = C2AMTrainSettings.from_dict({"epochs": 3})
    assert s.epochs == 3 and s.replace(alpha=0.5).alpha == 0.5 and s.alpha == 0.05


def _defaults(func) -> dict:
    return {k: p.default for k, p in inspect.signature(func).parameters.items() if p.default is not p.empty}


def test_library_keyword_defaults_equal_the_schema():
    from c2am.models.inits import build_init
    from c2am.wsss.cams import multiscale_cams
    from c2am.wsss import crf

    # the CRF functions take one CrfSettings and have no keyword defaults of their own
    assert not any(_defaults(f) for f in (crf.dense_crf, crf.crf_marginals, crf.crf_from_labels, crf.crf_from_scores,
                                          crf.crf_foreground))
    refine, make_cue_labels = section_defaults("refine_cams"), section_defaults("make_cue_labels")
    crf_keys = set(section_props("crf"))
    assert crf_keys == {f.name for f in dataclasses.fields(CrfSettings)} and len(crf_keys) == 7
    assert {k: refine[k] for k in crf_keys} == {k: make_cue_labels[k] for k in crf_keys} == section_defaults("crf")
    assert RefineSettings.defaults().crf() == CueLabelSettings.defaults().crf() == CrfSettings.defaults()
    psa = RefineSettings.defaults().crf(crf_bilateral_sxy=80)
    assert psa.crf_bilateral_sxy == 80 and psa.crf_bilateral_srgb == 5 and psa.crf_iterations == 10
    make_cams = section_defaults("make_cams")
    cams = _defaults(multiscale_cams)
    assert list(cams["scales"]) == make_cams["scales"] and cams["flip"] == make_cams["flip"]
    assert cams["amp"] == make_cams["amp"]
    init = section_defaults("init")
    assert _defaults(build_init) == {k: init[k] for k in ("path", "weights", "input_scaling", "seed", "tf_padding")}


SETTINGS_KEYS = {key for cls in ALL for key in section_props(cls.SECTION)}
FALLBACK = re.compile(r"""\.get\(\s*["'](\w+)["']\s*,""")


def test_no_library_code_falls_back_to_a_default_of_its_own():
    """`x.get("batch_size", 16)` would train differently from the pipeline when the key is missing."""
    found = []
    for path in sorted((REPO / "c2am").rglob("*.py")) + sorted((REPO / "stages").glob("*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(REPO)}:{no}: {m.group(0)}" for m in FALLBACK.finditer(line)
                      if m.group(1) in SETTINGS_KEYS]
    assert not found, "\n".join(found)


STAGE_SECTIONS = {
    "pretrain_init": [InitSettings], "train_c2am": [C2AMTrainSettings], "extract_maps": [ExtractSettings],
    "choose_threshold": [BoxSettings, WsolEvalSettings], "make_boxes": [BoxSettings],
    "evaluate_wsol": [WsolEvalSettings], "fg_rule_ablation": [BoxSettings, WsolEvalSettings],
    "ddt_boxes": [DDTSettings], "train_localizer": [LocalizerTrainSettings],
    "train_classifier": [ClassifierTrainSettings], "predict_psol": [PredictPsolSettings],
    "evaluate_psol": [WsolEvalSettings],
    "train_cam": [CamTrainSettings], "make_cams": [CamInferSettings], "sweep_cam_threshold": [RefineSettings],
    "refine_cams": [RefineSettings], "make_cue_labels": [CueLabelSettings], "train_cue_model": [CueTrainSettings],
    "predict_cues": [PredictCuesSettings], "predict": [PredictSettings, PredictCuesSettings],
    "figure_maps": [FigureSettings], "figure_wsol": [FigureSettings],
    "figure_wsss": [FigureSettings], **{f"table{i}": [TableSettings] for i in range(1, 7)},
}


def _flags(parser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


@pytest.mark.parametrize("stage", sorted(p.stem for p in (REPO / "stages").glob("*.py") if p.stem != "__init__"))
def test_every_stage_takes_hyphenated_flags_only_and_one_per_setting(stage):
    import importlib

    module = importlib.import_module(f"stages.{stage}")
    flags = _flags(module.parser())
    assert not [f for f in flags if f.startswith("--") and "_" in f], f"underscores in {stage}'s flags"
    for cls in STAGE_SECTIONS.get(stage, []):
        missing = [flag(k) for k in section_props(cls.SECTION) if flag(k) not in flags]
        assert not missing, (stage, missing)
    # stages keep no module-level state filled by parser()
    tree = ast.parse(Path(module.__file__).read_text())
    assigned = {t.id for node in tree.body if isinstance(node, ast.AnnAssign | ast.Assign)
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    assert "KEYS" not in assigned
    assert module.__doc__ and "python -m stages." in module.__doc__, f"{stage}: no 'by hand' command in its docstring"


# config.yaml's `stages` values that deliberately differ from the schema's defaults, with the reason
CONFIG_STAGE_OVERRIDES: dict[tuple[str, str], str] = {}  # (stage, key) -> why config.yaml differs from the schema


def test_config_yaml_stages_repeat_the_schema_defaults_except_the_listed_overrides():
    """config.yaml shows the stage settings a user edits; a value there silently overrides the schema's default
    (make_boxes.calib_fraction 0.1 did for a day after the default became 1.0), so each one either equals the default
    or is listed above with its reason."""
    import yaml

    stages = yaml.safe_load((REPO / "config.yaml").read_text())["stages"]
    differing = {(stage, key) for stage, values in stages.items() for key, value in values.items()
                 if value != section_defaults(stage).get(key)}
    assert differing == set(CONFIG_STAGE_OVERRIDES), differing
