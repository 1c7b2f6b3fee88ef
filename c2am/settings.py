"""Typed settings of every stage, one frozen dataclass per section of the config schema.

The schema (c2am/config.schema.yaml) is the one place a setting is written down: `@section` gives a class one
field per key of its section, so a new setting is its schema entry and the code that reads it. Defaults live only
in the schema: `X.from_dict(values)` starts from the schema's defaults of its section, overlays `values`, rejects
unknown keys and checks types and bounds against the schema. A setting is spelled the same in config.yaml, on a
stage's command line (`--batch-size`) and in code (`settings.batch_size`).

    C2AMTrainSettings.from_dict({"epochs": 2})     # schema defaults for everything else
    LoopSettings                                   # the keys the one training loop reads (every trainer has them)
"""

from __future__ import annotations

import functools
import operator
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Mapping

import jsonschema

from .schema import section_defaults, section_props


class SettingsError(ValueError):
    """A setting of the wrong type or outside its range (the message names the key)."""


_TYPES = {"integer": int, "number": float, "string": str, "boolean": bool, "array": list, "object": dict,
          "null": type(None)}


def _annotation(spec: dict):
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    return functools.reduce(operator.or_, (_TYPES[t] for t in types))


def section(cls):
    """A frozen dataclass with one field per key of the schema section cls.SECTION (in the schema's order); a
    class that names REQUIRED_KEYS (e.g. the training loop's) must find them all in its section."""
    props = section_props(cls.SECTION)
    missing = [k for k in getattr(cls, "REQUIRED_KEYS", ()) if k not in props]
    if missing:
        raise TypeError(f"the schema section {cls.SECTION} lacks {missing}, which {cls.__name__} needs")
    cls.__annotations__ = {k: _annotation(v) for k, v in props.items()}
    return dataclass(frozen=True)(cls)


@dataclass(frozen=True)
class Settings:
    """Base of every section's settings: construction from the schema's defaults, dict round trip."""

    SECTION: ClassVar[str] = ""
    # keys that do not change what a trainer learns (left out of the resume fingerprint)
    NOT_LEARNED: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None):
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise KeyError(f"unknown {cls.SECTION} settings {unknown}; known: {sorted(known)}")
        merged = {**section_defaults(cls.SECTION), **values}
        missing = sorted(known - set(merged))
        if missing:
            raise KeyError(f"{cls.SECTION} settings need {missing} (no default in the schema)")
        schema = {"type": "object", "properties": section_props(cls.SECTION), "additionalProperties": False}
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(merged))
        if error is not None:
            key = ".".join(map(str, error.absolute_path))
            raise SettingsError(f"{cls.SECTION}.{key}: {error.message}")
        return cls(**merged)

    @classmethod
    def defaults(cls):
        return cls.from_dict({})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes})

    def learned(self) -> dict[str, Any]:
        """The settings that change the trained weights (what a checkpoint must match to be resumed)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.NOT_LEARNED}


# ----------------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class LoopSettings(Settings):
    """The keys the one training loop and trainer skeleton read (c2am.training.loop.fit, c2am.training.trainer):
    every trainer's section has them."""

    REQUIRED_KEYS: ClassVar[tuple[str, ...]] = (
        "epochs", "batch_size", "lr", "momentum", "weight_decay", "head_lr_mult", "schedule", "poly_power",
        "warmup_epochs", "grad_clip", "seed", "workers", "checkpoint_every_steps", "amp", "channels_last",
        "frozen_stages", "bn_mode", "train_bn_affine")
    NOT_LEARNED: ClassVar[tuple[str, ...]] = ("workers", "checkpoint_every_steps")


@section
class C2AMTrainSettings(LoopSettings):
    SECTION: ClassVar[str] = "train_c2am"
    # the foreground decision is taken after training; the process count may change on resume (the state is
    # global); torch.compile only changes speed
    NOT_LEARNED: ClassVar[tuple[str, ...]] = LoopSettings.NOT_LEARNED + ("fg_rule_images", "gpus", "nodes",
                                                                         "compile")


@dataclass(frozen=True)
class PooledTrainSettings(LoopSettings):
    """Settings shared by the trainers of a backbone + pooling + linear head (localizer, classifier, CAMs)."""

    REQUIRED_KEYS: ClassVar[tuple[str, ...]] = LoopSettings.REQUIRED_KEYS + ("crop", "scale_min", "hflip", "dropout")


@section
class LocalizerTrainSettings(PooledTrainSettings):
    SECTION: ClassVar[str] = "train_localizer"


@section
class ClassifierTrainSettings(PooledTrainSettings):
    SECTION: ClassVar[str] = "train_classifier"


@section
class PredictPsolSettings(Settings):
    """The localizer's and classifier's prediction (stage predict_psol, rules predict_localizer and
    predict_classifier)."""

    SECTION: ClassVar[str] = "predict_psol"


@section
class CamTrainSettings(PooledTrainSettings):
    SECTION: ClassVar[str] = "train_cam"


@section
class CueTrainSettings(LoopSettings):
    SECTION: ClassVar[str] = "train_cue_model"


@section
class InitSettings(Settings):
    """A backbone initialisation (an entry of config.yaml's `inits`), converted by pretrain_init."""

    SECTION: ClassVar[str] = "init"


# ----------------------------------------------------------------------------------------------- WSOL
@section
class ExtractSettings(Settings):
    SECTION: ClassVar[str] = "extract_maps"


@section
class BoxSettings(Settings):
    SECTION: ClassVar[str] = "make_boxes"


@section
class WsolEvalSettings(Settings):
    SECTION: ClassVar[str] = "evaluate_wsol"


@section
class DDTSettings(Settings):
    SECTION: ClassVar[str] = "ddt_boxes"


@section
class PredictSettings(Settings):
    SECTION: ClassVar[str] = "predict"


@section
class FgEvalSettings(Settings):
    SECTION: ClassVar[str] = "evaluate_fg"


# ----------------------------------------------------------------------------------------------- WSSS
@section
class CamInferSettings(Settings):
    SECTION: ClassVar[str] = "make_cams"


@section
class CrfSettings(Settings):
    """One dense CRF (c2am.wsss.crf), the same keys in every section that runs one: make_cue_labels and refine set
    them; predict's CRF runs at the schema's defaults (CrfSettings.defaults())."""

    SECTION: ClassVar[str] = "crf"

    def crf(self, **changes) -> "CrfSettings":
        """The CRF part of a section's settings (`changes`: CRF keys set otherwise, e.g. PSA's bilateral kernel)."""
        return CrfSettings(**{f.name: changes.get(f.name, getattr(self, f.name)) for f in fields(CrfSettings)})


@section
class CueLabelSettings(CrfSettings):
    SECTION: ClassVar[str] = "make_cue_labels"


@section
class PredictCuesSettings(Settings):
    """The cue model's prediction: rule predict_cues, and predict's masks self_trained (run the same way)."""

    SECTION: ClassVar[str] = "predict_cues"


@section
class RefineSettings(CrfSettings):
    SECTION: ClassVar[str] = "refine_cams"

    @staticmethod
    def keys_of(method: str) -> list[str]:
        """The settings a refinement method of refine_cams reads (none for threshold, cue and saliency)."""
        shared = ["crf_iterations", "crf_gaussian_sxy", "crf_gaussian_compat", "crf_bilateral_compat"]
        if method == "crf_label":
            return shared + ["crf_gt_prob", "crf_bilateral_sxy", "crf_bilateral_srgb"]
        if method == "crf_softmax":
            return shared + ["crf_softmax_bilateral_sxy", "crf_softmax_bilateral_srgb", "crf_softmax_bg_power"]
        return []


# ----------------------------------------------------------------------------------------------- outputs
@section
class FigureSettings(Settings):
    SECTION: ClassVar[str] = "figure"


@section
class TableSettings(Settings):
    SECTION: ClassVar[str] = "tables"


ALL = (InitSettings, C2AMTrainSettings, LocalizerTrainSettings, ClassifierTrainSettings, PredictPsolSettings,
       CamTrainSettings, CueTrainSettings, ExtractSettings, BoxSettings, WsolEvalSettings, DDTSettings,
       PredictSettings, CamInferSettings, CrfSettings, CueLabelSettings, PredictCuesSettings, RefineSettings,
       FigureSettings, TableSettings, FgEvalSettings)
BY_SECTION = {cls.SECTION: cls for cls in ALL}

