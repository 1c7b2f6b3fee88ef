"""config.yaml: validation against c2am/config.schema.yaml, cross references, and the settings of a job.

What config.yaml sets for a section in a job's scope (`given_settings`) is
    stages.<section>  <-  presets[<experiment.preset>] (train_c2am only)  <-  experiments.<exp>.<section>
or, for a localizer / classifier / CAM recipe, stages.<kind>_train <- <kind>_presets[preset] <- <kind>s.NAME.settings.
The schema's defaults are merged in one place, the typed settings of c2am.settings (`settings_for`). A stage gets
the settings that differ from the defaults as command-line flags named like the config keys (`--batch-size`,
`setting_flags`) and turns them back into the same typed settings.
"""

from __future__ import annotations

import copy
import difflib
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .schema import SCHEMA_PATH, defaults_of as _defaults_of, load_schema, run_only_keys, section_defaults

REPO = Path(__file__).resolve().parents[1]
STAGES = ("train_c2am", "extract_maps", "make_boxes", "evaluate_wsol", "make_cue_labels", "train_cue_model",
          "predict_cues", "predict")  # per experiment
RECIPES = {"train_localizer": "localizer", "train_classifier": "classifier", "train_cam": "cam"}  # per recipe


class ConfigError(ValueError):
    """config.yaml is invalid; the message names the key and what is wrong."""


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(error: jsonschema.ValidationError, source: str) -> str:
    where = _where(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hints = []
        for key in extra:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return (f"{source}: unknown key {', '.join(hints)} under {where}; "
                f"allowed keys: {', '.join(allowed)}")
    if error.validator == "type":
        return (f"{source}: {where} = {error.instance!r} has the wrong type; "
                f"expected {error.validator_value}")
    if error.validator == "enum":
        return f"{source}: {where} = {error.instance!r} is not one of {error.validator_value}"
    if error.validator == "required":
        return f"{source}: {where}: {error.message}"
    return f"{source}: {where}: {error.message}"


def _from_repo(path: str) -> str:
    """Relative dataset roots and weight paths are relative to the repository root (where config.yaml is)."""
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (REPO / p).resolve())


_SOURCE = "\x00config\x00"  # stands for the file a key came from, in messages, until validate_config names it
_NAMED = re.compile(_SOURCE + r": (?:unknown key '(?P<unknown>[^']+)'.*? under (?P<under>[\w.\-]+)|(?P<path>[\w.\-]+))")


def validate_config(config: dict, source: str = "config.yaml", sources: list[tuple[str, dict]] | None = None) -> dict:
    """Validate, fill defaults and check cross references; returns a new dict. Raises ConfigError.

    `sources`: the (name, content) of every file or command line merged into `config`, in merge order (later
    wins); an error names the last one that set the offending key (else `source`)."""
    try:
        return _validate(config)
    except ConfigError as exc:
        raise ConfigError(_name_sources(str(exc), source, sources or [])) from None


def _set_by(sources: list[tuple[str, dict]], keys: list[str]) -> str | None:
    """The name of the last source that sets the longest prefix of `keys`."""
    missing = object()
    for depth in range(len(keys), 0, -1):
        for name, content in reversed(sources):
            node = content
            for key in keys[:depth]:
                node = node.get(key, missing) if isinstance(node, dict) else missing
            if node is not missing:
                return name
    return None


def _name_sources(message: str, default: str, sources: list[tuple[str, dict]]) -> str:
    def name(match: re.Match) -> str:
        if match["unknown"]:
            keys = [*match["under"].split("."), match["unknown"]]
        else:
            keys = match["path"].split(".")
        return match[0].replace(_SOURCE, _set_by(sources, keys) or default, 1)

    return _NAMED.sub(name, message).replace(_SOURCE, default)


# settings sections are named like the rules that use them; a config written for the earlier names gets told
RENAMED = {"c2am_train": "train_c2am", "extract": "extract_maps", "boxes": "make_boxes", "wsol_eval": "evaluate_wsol",
           "ddt": "ddt_boxes", "localizer_train": "train_localizer", "classifier_train": "train_classifier",
           "cam_train": "train_cam", "cam_infer": "make_cams", "cue_labels": "make_cue_labels",
           "cue_train": "train_cue_model", "refine": "refine_cams", "fg_eval": "evaluate_fg"}
# settings that moved to the section of the rule that reads them: (section, key) -> (its new section, its new key)
MOVED = {("train_cue_model", "test_size"): ("predict_cues", "test_size"),
         **{(f"train_{kind}", old): ("predict_psol", new) for kind in ("localizer", "classifier")
            for old, new in (("test_size", "test_size"), ("test_batch_size", "batch_size"))}}


def _mapping(node) -> dict:
    """A config node that should be a mapping, or {} (the schema check that follows names what is wrong)."""
    return node if isinstance(node, dict) else {}


def _section_places(config: dict) -> list[tuple[str, object]]:
    """(where, node) of every mapping of a config keyed by section names: stages, segment.recipe, segment.views
    (epochs by section) and experiments.E."""
    seg = _mapping(config.get("segment"))
    places = [("stages", config.get("stages")), ("segment.recipe", seg.get("recipe")), ("segment.views", seg.get("views"))]
    return places + [(f"experiments.{n}", e) for n, e in _mapping(config.get("experiments")).items()]


def _section_nodes(config: dict):
    """(where, scope, section, its settings) for every place of a config that sets a section's settings: stages.S,
    experiments.E.S, segment.recipe.S, and the recipes (localizers.NAME.settings, localizer_presets.NAME, ...);
    scope: where the section's settings are written now. (segment.views holds numbers: no settings.)"""
    for where, node in _section_places(config):
        for section, values in _mapping(node).items():
            yield f"{where}.{section}", where, section, values
    for kind in RECIPES.values():
        for name, entry in _mapping(config.get(f"{kind}s")).items():
            yield f"{kind}s.{name}.settings", "stages", f"train_{kind}", _mapping(entry).get("settings")
        for name, values in _mapping(config.get(f"{kind}_presets")).items():
            yield f"{kind}_presets.{name}", "stages", f"train_{kind}", values


def _moved_advice(scope: str, to: str, new: str, value) -> str:
    if to == "predict_psol" and new == "test_size":  # one value for every model: usually the crop is what was meant
        return (f"delete it: predict_psol.test_size null runs each localizer and classifier at its training crop; "
                f"stages.predict_psol: {{test_size: {value!r}}} would run every one of them at {value!r}")
    return f"write {scope}.{to}: {{{new}: {value!r}}}"


def _check_section_names(config: dict, source: str) -> None:
    """An earlier section name (stages.extract, experiments.E.c2am_train, ...) or a moved key
    (train_cue_model.test_size, train_localizer.test_size, ...) is an error naming the new one."""
    for where, node in _section_places(config):
        for key in _mapping(node):
            if key in RENAMED and not (key == "ddt" and where.startswith("experiments.")):  # experiments.E.ddt: rows
                raise ConfigError(f"{source}: {where}.{key} is now {where}.{RENAMED[key]} (settings sections are "
                                  f"named like the rules that use them)")
    for place, scope, section, values in _section_nodes(config):
        for key, value in _mapping(values).items():
            if (section, key) in MOVED:
                to, new = MOVED[section, key]
                raise ConfigError(f"{source}: {place}.{key}: {section}.{key} is now {to}.{new} "
                                  f"({_moved_advice(scope, to, new, value)}; settings live in the section of the "
                                  f"rule that reads them)")


def _validate(config: dict) -> dict:
    source = _SOURCE
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(config).__name__}")
    _check_section_names(config, source)
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        raise ConfigError("\n".join(_describe(e, source) for e in errors[:10]))
    cfg = copy.deepcopy(config)
    for key, spec in schema["properties"].items():
        if "default" in spec:
            cfg.setdefault(key, copy.deepcopy(spec["default"]))
    if Path(cfg["results_dir"].strip() or "/").resolve() == Path("/"):
        raise ConfigError(f"{source}: results_dir = {cfg['results_dir']!r} would write everything to the file "
                          f"system root; give a folder such as results")
    cfg["stages"] = {stage: dict(cfg["stages"].get(stage) or {}) for stage in schema["properties"]["stages"]["properties"]}
    defs = schema["$defs"]
    _add_segment_run(cfg, defs, source)
    for name, ds in cfg["datasets"].items():
        ds = {**_defaults_of(defs["dataset"]["properties"]), **ds}
        if "{results_dir}" in ds["root"]:
            ds["root"] = ds["root"].replace("{results_dir}", cfg["results_dir"])
        else:
            ds["root"] = _from_repo(ds["root"])
        cfg["datasets"][name] = ds
    for name, init in cfg["inits"].items():  # as given: InitSettings merges the schema's defaults
        if init.get("path"):
            cfg["inits"][name] = {**init, "path": _from_repo(init["path"])}
    for name, exp in cfg["experiments"].items():
        given = dict(exp)
        exp = cfg["experiments"][name] = {**_defaults_of(defs["experiment"]["properties"]), **exp}
        if exp["dataset"] not in cfg["datasets"]:
            raise ConfigError(f"{source}: experiments.{name}.dataset = {exp['dataset']!r} is not a key of "
                              f"datasets ({', '.join(cfg['datasets'])})")
        if exp["init"] not in cfg["inits"]:
            raise ConfigError(f"{source}: experiments.{name}.init = {exp['init']!r} is not a key of "
                              f"inits ({', '.join(cfg['inits'])})")
        for extra in exp["c2am_extra_data"]:
            if extra not in cfg["datasets"] or extra == exp["dataset"]:
                raise ConfigError(f"{source}: experiments.{name}.c2am_extra_data lists {extra!r}, which is "
                                  + ("the experiment's own dataset" if extra == exp["dataset"] else
                                     f"not a key of datasets ({', '.join(cfg['datasets'])})"))
        _wsol_defaults(cfg, name, exp, given, source)
        preset = exp["preset"]
        if preset is not None and preset not in cfg["presets"]:
            raise ConfigError(f"{source}: experiments.{name}.preset = {preset!r} is not a key of "
                              f"presets ({', '.join(cfg['presets']) or 'none defined'})")
    _resolve_psol_networks(cfg, source)
    _check_wsss(cfg, source)
    for name in cfg["active_experiments"]:
        if name not in cfg["experiments"]:
            raise ConfigError(f"{source}: active_experiments lists {name!r}, which is not a key of experiments")
    _check_datasets(cfg, config, source)
    for name, init in cfg["inits"].items():
        if init["source"] in ("moco", "detco", "file") and not init.get("path"):
            raise ConfigError(f"{source}: inits.{name}: source {init['source']} needs a `path`")
    for name, exp in cfg["experiments"].items():
        for stage in ("train_c2am", "extract_maps"):
            st = _settings_or_error(cfg, stage, {"exp": name}, source)
            if st.crop is not None and st.crop > st.resize:
                raise ConfigError(f"{source}: {stage}.crop = {st.crop} of experiment {name} is larger than "
                                  f"{stage}.resize = {st.resize}")
        threshold = _settings_or_error(cfg, "make_boxes", {"exp": name}, source).threshold
        if threshold != "auto" and not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
            raise ConfigError(f"{source}: make_boxes.threshold of experiment {name} must be 'auto' or a number in "
                              f"(0, 1), got {threshold!r}")
    cfg["predict_folders"] = {name: _from_repo(path) for name, path in cfg["predict_folders"].items()}
    _add_sensitivity_experiments(cfg, source)
    return cfg


def _add_segment_run(cfg: dict, defs: dict, source: str) -> None:
    """With segment.images set: a folder dataset, an experiment (segment.recipe, its training epochs from
    segment.views and the number of photos) and a predict folder, each named segment.name."""
    seg = {**_defaults_of(load_schema()["properties"]["segment"]["properties"]), **cfg["segment"]}
    seg["views"] = {**_defaults_of(load_schema()["properties"]["segment"]["properties"]["views"]["properties"]),
                    **seg["views"]}
    cfg["segment"] = seg
    if seg["images"] is None:
        return
    name, images = seg["name"], _from_repo(seg["images"])
    for section in ("datasets", "experiments", "predict_folders"):
        if name in cfg[section]:
            raise ConfigError(f"{source}: segment.name = {name!r} is already a key of {section}: give the "
                              f"segment run another name")
    from .data.readers import folder_images  # the config module stays importable without the data readers

    if Path(images).is_file():
        raise ConfigError(f"{source}: segment.images = {images} is a file, not a folder: give the folder of photos")
    results = Path(cfg["results_dir"]).absolute()
    if results == Path(images) or Path(images) in results.parents:
        raise ConfigError(f"{source}: segment.images = {images} holds the results folder {results}: the run would "
                          f"train on its own outputs and predict could not write there; give the photo folder itself")
    try:
        photos = len(folder_images(images))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{source}: segment.images: {exc}") from None
    if not photos:
        raise ConfigError(f"{source}: segment.images: no image files under {images} (hidden files are skipped)")
    recipe = copy.deepcopy(seg["recipe"])
    if "dataset" in recipe:
        raise ConfigError(f"{source}: segment.recipe.dataset: the segment run's dataset is segment.images")
    experiment = {"label": f"C2AM ({name})", **recipe, "dataset": name}
    for stage in ("train_c2am", "train_cue_model"):
        experiment[stage] = {**experiment.get(stage, {}), "epochs": max(1, round(seg["views"][stage] / photos))}
    errors = sorted(jsonschema.Draft202012Validator({**load_schema(), **defs["experiment"]}).iter_errors(experiment),
                    key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        raise ConfigError(f"{source}: segment.recipe{''.join(f'.{k}' for k in e.absolute_path)}: {e.message}")
    cfg["datasets"][name] = {"format": "folder", "root": images, "train_split": "all", "eval_split": "all"}
    cfg["experiments"][name] = experiment
    cfg["predict_folders"][name] = images


def _check_datasets(cfg: dict, raw: dict, source: str) -> None:
    """What would otherwise fail only when a job runs: split names (a fold BASE-foldIofK needs I < K, K >= 2, and a
    split BASE that the layout has) and the root of every dataset an active experiment reads (its own or its
    c2am_extra_data), unless the pipeline generates it. Datasets no active experiment uses may point nowhere (a
    config lists datasets a machine may not have)."""
    from .data.readers import FOLD_SPLIT

    used: dict[str, list[str]] = {}
    for exp in cfg["active_experiments"]:
        for ds in (cfg["experiments"][exp]["dataset"], *cfg["experiments"][exp]["c2am_extra_data"]):
            used.setdefault(ds, []).append(exp)
    for name, ds in cfg["datasets"].items():
        given = raw["datasets"][name]["root"] if name in raw.get("datasets", {}) else ds["root"]
        if name in used and not ds["generate"] and not Path(ds["root"]).exists():
            exps = used[name]
            raise ConfigError(
                f"{source}: datasets.{name}.root = {given!r} does not exist ({ds['root']}"
                f"{'; relative roots are relative to the repository root' if not Path(given).is_absolute() else ''})"
                f"; the {ds['format']} dataset {name!r} is read by active experiment{'s' if len(exps) > 1 else ''} "
                f"{', '.join(exps)}. Put the data there, correct the root, or leave "
                f"{'them' if len(exps) > 1 else 'it'} out of active_experiments")
        for key in ("train_split", "eval_split"):
            split = ds[key]
            base = split
            m = FOLD_SPLIT.match(split)
            if m is not None:
                fold, folds, base = int(m["fold"]), int(m["folds"]), m["base"]
                if folds < 2 or fold >= folds:
                    raise ConfigError(
                        f"{source}: datasets.{name}.{key} = {split!r} names fold {fold} of {folds}, but "
                        + ("a split needs at least 2 folds" if folds < 2 else
                           f"the folds of {folds} are numbered 0 to {folds - 1}")
                        + " (BASE-foldIofK / BASE-without-foldIofK with 0 <= I < K)")
            problem = _missing_split(ds, base)
            if problem:
                raise ConfigError(f"{source}: datasets.{name}.{key} = {split!r}: {problem}")


def _missing_split(ds: dict, split: str) -> str | None:
    """Why dataset `ds` has no split `split` (checked on disk for VOC / ImageNet roots that exist), or None."""
    from .data.readers import CUB_SPLITS

    if ds["format"] == "cub":
        if split not in CUB_SPLITS:
            return f"a CUB dataset has the splits {', '.join(CUB_SPLITS)} (and folds of them, e.g. train-fold0of3)"
        return None
    root = Path(ds["root"])
    if ds["generate"] or not root.is_dir():
        return None
    if ds["format"] == "voc":
        lists = [root / "ImageSets" / sub / f"{split}.txt" for sub in ("Segmentation", "Main")]
        if not any(p.is_file() for p in lists):
            return f"the VOC dataset has no split list {lists[0]} (nor {lists[1]})"
    elif ds["format"] == "imagenet":
        if not (root / split).is_dir() and not (root / "metadata" / "ILSVRC" / split / "image_ids.txt").is_file():
            return (f"the ImageNet dataset has no folder {root / split} (nor "
                    f"{root / 'metadata' / 'ILSVRC' / split / 'image_ids.txt'})")
    return None


SENSITIVITY_STUDIES = ("alpha", "head_init", "loss_variant")


def _add_sensitivity_experiments(cfg: dict, source: str) -> None:
    """Fill `sensitivity` defaults and add one derived experiment per (study, value) that differs from the base
    experiment: a copy with that train_c2am setting changed, named BASE__STUDY-VALUE, never active. The table's
    rows are listed in cfg['sensitivity']['rows'] as (study, value, experiment name)."""
    defaults = _defaults_of(load_schema()["properties"]["sensitivity"]["properties"])
    sens = cfg["sensitivity"] = {**defaults, **(cfg.get("sensitivity") or {})}
    base = sens["experiment"] or (cfg["active_experiments"] or [None])[0]
    sens["experiment"], sens["rows"] = base, []
    if base is None:
        return
    if base not in cfg["experiments"]:
        raise ConfigError(f"{source}: sensitivity.experiment = {base!r} is not a key of experiments")
    resolved = settings_for(cfg, "train_c2am", {"exp": base})
    for study in SENSITIVITY_STUDIES:
        for value in dict.fromkeys(sens[study]):
            name = base
            if value != getattr(resolved, study):
                name = f"{base}__{study}-{value}"
                exp = copy.deepcopy(cfg["experiments"][base])
                exp["train_c2am"] = {**(exp.get("train_c2am") or {}), study: value}
                exp.update(label=f"{exp['label'] or base} {study}={value}", localizers=[], classifiers=[], cams=[],
                           saliency=[])
                cfg["experiments"][name] = exp
            sens["rows"].append((study, value, name))


def _wsol_defaults(cfg: dict, name: str, exp: dict, given: dict, source: str) -> None:
    """DDT needs class labels (one co-localisation group per class): on by default for labelled layouts (CUB,
    ImageNet), off for VOC and image folders; asking for it there without `stages.ddt_boxes.group_by: all` is an error.
    DDT rows are scored with stages.evaluate_wsol, so an experiment may not score its own rows differently."""
    fmt = cfg["datasets"][exp["dataset"]]["format"]
    group_by = settings_for(cfg, "ddt_boxes").group_by
    labelled = fmt in ("cub", "imagenet") or group_by == "all"
    if exp["ddt"] is None:
        exp["ddt"] = labelled
    if exp["pseudo_boxes"] is None:
        exp["pseudo_boxes"] = ["c2am", "ddt"] if labelled else ["c2am"]
    uses_ddt = exp["ddt"] or "ddt" in exp["pseudo_boxes"]
    if uses_ddt and not labelled:
        key = "ddt" if given.get("ddt") else "pseudo_boxes"
        raise ConfigError(f"{source}: experiments.{name}.{key} asks for DDT, which groups images by class, but "
                          f"dataset {exp['dataset']!r} ({fmt} layout) has no single class label per image; "
                          f"set stages.ddt_boxes.group_by: all, or drop DDT from this experiment")
    if uses_ddt and exp.get("evaluate_wsol"):
        raise ConfigError(f"{source}: experiments.{name}.evaluate_wsol overrides the evaluation, but its DDT rows "
                          f"(shared by every experiment on the same dataset and init) use stages.evaluate_wsol; move "
                          f"the setting to stages.evaluate_wsol or set experiments.{name}.ddt: false and pseudo_boxes: "
                          f"[c2am]")


def _resolve_psol_networks(cfg: dict, source: str) -> None:
    """Fill the localizers / classifiers with schema defaults and check what they and the experiments name."""
    defs = load_schema()["$defs"]
    for kind in ("localizer", "classifier"):
        for name, entry in cfg[f"{kind}s"].items():
            entry = cfg[f"{kind}s"][name] = {**_defaults_of(defs[kind]["properties"]), **entry}
            if entry["init"] not in cfg["inits"]:
                raise ConfigError(f"{source}: {kind}s.{name}.init = {entry['init']!r} is not a key of inits "
                                  f"({', '.join(cfg['inits'])})")
            presets = cfg[f"{kind}_presets"]
            if entry["preset"] is not None and entry["preset"] not in presets:
                raise ConfigError(f"{source}: {kind}s.{name}.preset = {entry['preset']!r} is not a key of "
                                  f"{kind}_presets ({', '.join(presets) or 'none defined'})")
        for name, exp in cfg["experiments"].items():
            for key in exp[f"{kind}s"]:
                if key not in cfg[f"{kind}s"]:
                    raise ConfigError(f"{source}: experiments.{name}.{kind}s lists {key!r}, which is not a key of "
                                      f"{kind}s ({', '.join(cfg[f'{kind}s']) or 'none defined'})")


def _check_wsss(cfg: dict, source: str) -> None:
    """CAM and saliency sources: exactly one origin each, references that exist; WSSS needs VOC-layout masks."""
    defs = load_schema()["$defs"]
    for name, cam in cfg["cams"].items():
        cam = cfg["cams"][name] = {**_defaults_of(defs["cam_source"]["properties"]), **cam}
        if (cam["init"] is None) == (cam["folder"] is None):
            raise ConfigError(f"{source}: cams.{name} needs exactly one of `init` (train a CAM classifier here) or "
                              f"`folder` (CAMs made elsewhere)")
        if cam["folder"] is not None:
            if cam["preset"] or cam.get("settings"):
                raise ConfigError(f"{source}: cams.{name} reads CAMs from a folder; preset and settings do not apply")
            cam["folder"] = _from_repo(cam["folder"])
        elif cam["init"] not in cfg["inits"]:
            raise ConfigError(f"{source}: cams.{name}.init = {cam['init']!r} is not a key of inits "
                              f"({', '.join(cfg['inits'])})")
        if cam["preset"] is not None and cam["preset"] not in cfg["cam_presets"]:
            raise ConfigError(f"{source}: cams.{name}.preset = {cam['preset']!r} is not a key of cam_presets "
                              f"({', '.join(cfg['cam_presets']) or 'none defined'})")
    for name, sal in cfg["saliency"].items():
        sal = cfg["saliency"][name] = {**_defaults_of(defs["saliency_source"]["properties"]), **sal}
        if (sal["method"] is None) == (sal["folder"] is None):
            raise ConfigError(f"{source}: saliency.{name} needs exactly one of `method` or `folder`")
        if sal["folder"] is not None:
            sal["folder"] = _from_repo(sal["folder"])
    for name, exp in cfg["experiments"].items():
        for kind in ("cams", "saliency"):
            for key in exp[kind]:
                if key not in cfg[kind]:
                    raise ConfigError(f"{source}: experiments.{name}.{kind} lists {key!r}, which is not a key of "
                                      f"{kind} ({', '.join(cfg[kind]) or 'none defined'})")
        fmt = cfg["datasets"][exp["dataset"]]["format"]
        if (exp["cams"] or exp["saliency"]) and fmt != "voc":
            raise ConfigError(f"{source}: experiments.{name} lists cams / saliency (WSSS), which need a VOC-layout "
                              f"dataset with segmentation masks; dataset {exp['dataset']!r} is {fmt}")
        for kind in ("cams", "saliency"):
            names = [wsss_label(cfg, kind, k) for k in exp[kind]]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ConfigError(f"{source}: experiments.{name}.{kind} has entries with the same table label "
                                  f"{repeated}; give them distinct `label`s")
        if exp["saliency"] and not exp["cams"]:
            raise ConfigError(f"{source}: experiments.{name}.saliency needs at least one entry in cams to refine")


def wsss_label(cfg: dict, kind: str, name: str) -> str:
    """Table label of a CAM source (default: its backbone, or its key) or a saliency source (default: method)."""
    entry = cfg[kind][name]
    if entry["label"]:
        return entry["label"]
    if kind == "cams":
        return cfg["inits"][entry["init"]]["backbone"] if entry["init"] else name
    return entry["method"] or name


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that rejects a key given twice in one mapping (PyYAML keeps the last one silently)."""


def _mapping_without_repeats(loader: _StrictLoader, node, deep: bool = False):
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice (first on line "
                                                                f"{seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)


def read_config_file(path: str | Path) -> dict:
    """One config file (config.yaml or an overlay): a YAML mapping, every key once. Errors name the file and
    the line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        content = yaml.load(path.read_text(), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    if content is None:
        raise ConfigError(f"{path}: the file is empty; a config file is a mapping of keys (see config.yaml)")
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(content).__name__}")
    return content


def load_config(*paths: str | Path, extra: tuple[str, dict] | None = None) -> dict:
    """config.yaml and overlays merged as Snakemake merges --configfile (later files win, mappings deeply), then
    `extra` (a name and a mapping, e.g. what a command line sets), validated; errors name the source of the key."""
    sources = [(str(p), read_config_file(p)) for p in paths] + ([extra] if extra else [])
    merged: dict = {}
    for _, content in sources:
        _merge(merged, copy.deepcopy(content))
    return validate_config(merged, sources[-1][0], sources)


def _merge(base: dict, overlay: dict) -> None:
    """Snakemake's update_config: nested mappings are merged, everything else replaced."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def given_settings(cfg: dict, section: str, job: dict | None = None) -> dict:
    """What the config sets for `section` in a job's scope, without the schema's defaults. `job` holds the job's
    wildcards: `exp` (the sections of STAGES), `localizer` / `classifier` / `cam` (their *_train section), `init`
    (an entry of inits); without them, stages.<section> alone."""
    job = job or {}
    if section == "init":
        return dict(cfg["inits"][job["init"]])
    values = dict(cfg["stages"].get(section) or {})
    if section in RECIPES and RECIPES[section] in job:
        kind = RECIPES[section]
        entry = cfg[f"{kind}s"][job[kind]]
        if entry.get("preset"):
            values.update(cfg[f"{kind}_presets"][entry["preset"]])
        values.update(entry.get("settings") or {})
    elif section in STAGES and job.get("exp"):
        exp = cfg["experiments"][job["exp"]]
        if section == "train_c2am" and exp["preset"]:
            values.update(cfg["presets"][exp["preset"]])
        values.update(exp.get(section) or {})
    return values


def settings_for(cfg: dict, section: str, job: dict | None = None):
    """The typed settings (c2am.settings) of `section` in a job's scope: the schema's defaults <- given_settings."""
    from .settings import BY_SECTION

    return BY_SECTION[section].from_dict(given_settings(cfg, section, job))


def _settings_or_error(cfg: dict, section: str, job: dict, source: str):
    from .settings import SettingsError

    try:
        return settings_for(cfg, section, job)
    except SettingsError as exc:
        raise ConfigError(f"{source}: {exc} (experiment {job['exp']})") from None


def flag(key: str) -> str:
    """The command-line flag of a settings key: `batch_size` -> `--batch-size`."""
    return "--" + key.replace("_", "-")


def setting_flags(settings, keys=None, **fixed) -> tuple[str, str]:
    """(what, how): the flags of typed `settings` whose values differ from the schema's defaults, split into those
    that change what a stage writes and those of `x-run-only` keys (how it runs). `keys`: only these keys;
    `fixed`: values set by the rule itself (e.g. DDT's group_by all)."""
    section = settings.SECTION
    values = {**settings.to_dict(), **fixed}
    defaults, run_only = section_defaults(section), run_only_keys(section)
    changed = {k: v for k, v in values.items() if (keys is None or k in keys) and v != defaults.get(k, object())}
    return (cli_flags({k: v for k, v in changed.items() if k not in run_only}),
            cli_flags({k: v for k, v in changed.items() if k in run_only}))


def cli_flags(settings: dict[str, Any]) -> str:
    """`--key value` flags (hyphenated), booleans as `--key` / `--no-key`, None as `--key none`, shell-quoted."""
    parts: list[str] = []
    for key in sorted(settings):
        value, name = settings[key], flag(key)
        if isinstance(value, bool):
            parts.append(name if value else f"--no-{name[2:]}")
        elif value is None:
            parts += [name, "none"]
        elif isinstance(value, (list, tuple)):
            parts += [name, *(shlex.quote(str(v)) for v in value)]
        else:
            parts += [name, shlex.quote(str(value))]
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """`python -m c2am.config [OVERLAY ...]`: check config.yaml with overlays before a run (Snakemake itself reads
    --configfile files before the workflow, and says neither the file nor the line of an empty or broken one)."""
    import sys

    paths = [REPO / "config.yaml", *(argv if argv is not None else sys.argv[1:])]
    try:
        cfg = load_config(*paths)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ok: {' + '.join(map(str, paths))}; active experiments: {', '.join(cfg['active_experiments']) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
