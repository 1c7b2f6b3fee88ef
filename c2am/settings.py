"""Typed settings of every stage, one dataclass per section of the config schema.

Defaults live only in c2am/config.schema.yaml: a dataclass here has no default values;
`X.from_dict(values)` starts from the schema's defaults of its section, overlays `values`, rejects unknown keys
and checks types and bounds against the schema. The field names are the schema's keys (a test checks that they
match exactly), so a setting is spelled the same in config.yaml, on a stage's command line (`--batch-size`) and
in code (`settings.batch_size`).

    C2AMTrainSettings.from_dict({"epochs": 2})     # schema defaults for everything else
    LoopSettings                                   # the knobs the one training loop reads (every trainer has them)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Mapping

import jsonschema

from .schema import section_defaults, section_props


class SettingsError(ValueError):
    """A setting of the wrong type or outside its range (the message names the key)."""


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
    """The knobs of the one training loop (c2am.training.loop.fit); every trainer's section has them."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    head_lr_mult: float
    schedule: str
    poly_power: float
    warmup_epochs: float
    grad_clip: float
    seed: int
    workers: int
    checkpoint_every_steps: int
    amp: bool
    channels_last: bool

    NOT_LEARNED: ClassVar[tuple[str, ...]] = ("workers", "checkpoint_every_steps")


@dataclass(frozen=True)
class C2AMTrainSettings(LoopSettings):
    SECTION: ClassVar[str] = "c2am_train"
    # the foreground decision is taken after training; the process count may change on resume (the state is
    # global); torch.compile only changes speed
    NOT_LEARNED: ClassVar[tuple[str, ...]] = LoopSettings.NOT_LEARNED + ("fg_rule_images", "gpus", "nodes",
                                                                         "compile")

    alpha: float
    loss_variant: str
    memory_size: int
    resize: int
    crop: int
    hflip: bool
    scale_min: float
    color_jitter: float
    head_init: str
    head_padding: str
    feature_stride: int
    frozen_stages: int
    bn_mode: str
    train_bn_affine: bool
    fg_rule_images: int
    compile: bool
    gpus: int
    nodes: int
    sync_bn: bool


@dataclass(frozen=True)
class PooledTrainSettings(LoopSettings):
    """Settings shared by the trainers of a backbone + pooling + linear head (localizer, classifier, CAMs)."""

    crop: int
    scale_min: float
    hflip: bool
    dropout: float
    frozen_stages: int
    bn_mode: str
    train_bn_affine: bool


@dataclass(frozen=True)
class LocalizerTrainSettings(PooledTrainSettings):
    SECTION: ClassVar[str] = "localizer_train"
    INFERENCE_ONLY: ClassVar[tuple[str, ...]] = ("test_size", "test_batch_size")  # read by predict_psol only
    NOT_LEARNED: ClassVar[tuple[str, ...]] = LoopSettings.NOT_LEARNED + INFERENCE_ONLY

    min_box_keep: float
    box_output: str
    test_size: int
    test_batch_size: int


@dataclass(frozen=True)
class ClassifierTrainSettings(PooledTrainSettings):
    SECTION: ClassVar[str] = "classifier_train"
    INFERENCE_ONLY: ClassVar[tuple[str, ...]] = ("test_size", "test_batch_size")
    NOT_LEARNED: ClassVar[tuple[str, ...]] = LoopSettings.NOT_LEARNED + INFERENCE_ONLY

    label_smoothing: float
    test_size: int
    test_batch_size: int


@dataclass(frozen=True)
class CamTrainSettings(PooledTrainSettings):
    SECTION: ClassVar[str] = "cam_train"

    output_stride: int


@dataclass(frozen=True)
class CueTrainSettings(LoopSettings):
    SECTION: ClassVar[str] = "cue_train"
    INFERENCE_ONLY: ClassVar[tuple[str, ...]] = ("test_size",)  # read by predict_cues only
    NOT_LEARNED: ClassVar[tuple[str, ...]] = LoopSettings.NOT_LEARNED + INFERENCE_ONLY

    crop: int
    scale_min: float
    hflip: bool
    head_width: int
    train_bn_affine: bool
    frozen_stages: int
    bn_mode: str
    test_size: int


@dataclass(frozen=True)
class InitSettings(Settings):
    """A backbone initialisation (an entry of config.yaml's `inits`), converted by pretrain_init."""

    SECTION: ClassVar[str] = "init"

    backbone: str
    source: str
    path: str | None
    weights: str
    input_scaling: str | None
    seed: int
    tf_padding: bool


# ----------------------------------------------------------------------------------------------- WSOL
@dataclass(frozen=True)
class ExtractSettings(Settings):
    SECTION: ClassVar[str] = "extract"

    resize: int
    crop: int | None
    scales: list[float]
    flip: bool
    batch_size: int
    workers: int
    shard_size: int
    amp: bool
    channels_last: bool
    compile: bool


@dataclass(frozen=True)
class BoxSettings(Settings):
    SECTION: ClassVar[str] = "boxes"

    normalization: str
    threshold: float | str
    threshold_grid_step: float
    calib_fraction: float
    calib_seed: int
    all_contours: bool
    upsample: bool


@dataclass(frozen=True)
class WsolEvalSettings(Settings):
    SECTION: ClassVar[str] = "wsol_eval"

    iou_threshold: float
    strict: bool
    maxboxacc_step: float
    maxboxacc_iou: list[float]


@dataclass(frozen=True)
class DDTSettings(Settings):
    SECTION: ClassVar[str] = "ddt"

    resize: int
    group_by: str
    output_stride: int
    batch_size: int
    workers: int
    cache_mb: int
    shard_size: int
    amp: bool
    channels_last: bool


@dataclass(frozen=True)
class PredictSettings(Settings):
    SECTION: ClassVar[str] = "predict"

    size: int | None  # None: the threshold file's maps recipe, else the model's (foreground.inference_recipe)
    scales: list[float] | None
    flip: bool | None
    batch_size: int
    workers: int
    previews: bool
    amp: bool
    refine: str
    refine_max_side: int
    masks: str


@dataclass(frozen=True)
class FgEvalSettings(Settings):
    SECTION: ClassVar[str] = "fg_eval"

    threshold: float


# ----------------------------------------------------------------------------------------------- WSSS
@dataclass(frozen=True)
class CamInferSettings(Settings):
    SECTION: ClassVar[str] = "cam_infer"

    scales: list[float]
    flip: bool
    amp: bool


@dataclass(frozen=True)
class CrfSettings(Settings):
    """One dense CRF (c2am.wsss.crf), the same keys in every section that runs one: cue_labels and refine set
    them; predict's CRF runs at the schema's defaults (CrfSettings.defaults())."""

    SECTION: ClassVar[str] = "crf"

    crf_iterations: int
    crf_gt_prob: float
    crf_gaussian_sxy: float
    crf_gaussian_compat: float
    crf_bilateral_sxy: float
    crf_bilateral_srgb: float
    crf_bilateral_compat: float

    def crf(self, **changes) -> "CrfSettings":
        """The CRF part of a section's settings (`changes`: CRF keys set otherwise, e.g. PSA's bilateral kernel)."""
        return CrfSettings(**{f.name: changes.get(f.name, getattr(self, f.name)) for f in fields(CrfSettings)})


@dataclass(frozen=True)
class CueLabelSettings(CrfSettings):
    SECTION: ClassVar[str] = "cue_labels"

    normalization: str
    threshold: float | None


@dataclass(frozen=True)
class RefineSettings(CrfSettings):
    SECTION: ClassVar[str] = "refine"

    thresholds: list[float]
    crf_softmax_bilateral_sxy: float
    crf_softmax_bilateral_srgb: float
    crf_softmax_bg_power: float
    crf_methods: list[str]

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
@dataclass(frozen=True)
class FigureSettings(Settings):
    SECTION: ClassVar[str] = "figure"

    n_images: int
    seed: int


@dataclass(frozen=True)
class TableSettings(Settings):
    SECTION: ClassVar[str] = "tables"

    decimals: int


ALL = (InitSettings, C2AMTrainSettings, LocalizerTrainSettings, ClassifierTrainSettings, CamTrainSettings,
       CueTrainSettings, ExtractSettings, BoxSettings, WsolEvalSettings, DDTSettings, PredictSettings, CamInferSettings,
       CrfSettings, CueLabelSettings, RefineSettings, FigureSettings, TableSettings, FgEvalSettings)
BY_SECTION = {cls.SECTION: cls for cls in ALL}

