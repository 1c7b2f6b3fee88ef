"""Messages that must name the file or the setting and say what is wrong (issue: unclear messages): oversized
settings, unreadable checkpoints (never torch's advice to load with weights_only=False), NaN weights, bad fold
split names and missing dataset roots (at validation, so `snakemake -n` says it), one CUB image under two ids."""

from __future__ import annotations

import copy
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from c2am.config import ConfigError, load_config, validate_config
from c2am.schema import load_schema
from c2am.data.readers import read_cub
from c2am.io import torch_load_plain
from c2am.models.inits import InitError, build_init, load_init
from c2am.settings import PredictSettings, SettingsError
from conftest import COCO128, CUB10, REPO, edited_config, need, snakemake

CUB_FILES = {
    "images.txt": "1 001.Alpha/a_0001.jpg\n2 001.Alpha/a_0002.jpg\n3 001.Alpha/a_0001.jpg\n",
    "bounding_boxes.txt": "1 0 0 5 5\n2 0 0 5 5\n3 0 0 5 5\n",
    "train_test_split.txt": "1 1\n2 0\n3 0\n",
    "image_class_labels.txt": "1 1\n2 1\n3 1\n",
    "classes.txt": "1 001.Alpha\n",
}


@pytest.fixture()
def raw():
    return yaml.safe_load((REPO / "config.yaml").read_text())


# ----------------------------------------------------------------------------------------------- sizes
SIZE_KEYS = ("resize", "crop", "size", "test_size", "refine_max_side", "batch_size",
             "shard_size", "cache_mb", "memory_size", "head_width")


def test_predict_size_100000_is_refused_by_the_schema_naming_the_setting(raw):
    bad = copy.deepcopy(raw)
    bad["stages"]["predict"] = {"size": 100000}
    with pytest.raises(ConfigError, match=r"config\.yaml: stages\.predict\.size: 100000 is greater than the maximum "
                                          r"of 2048"):
        validate_config(bad)
    bad = copy.deepcopy(raw)
    bad["experiments"]["demo_effl0"]["predict"] = {"size": 100000}
    with pytest.raises(ConfigError, match=r"experiments\.demo_effl0\.predict\.size: 100000 is greater"):
        validate_config(bad)
    with pytest.raises(SettingsError, match="predict.size: 100000 is greater than the maximum of 2048"):
        PredictSettings.from_dict({"size": 100000})  # the stage's own command line (--size 100000)


def test_every_size_like_setting_has_an_upper_bound_stated_in_its_description():
    unbounded = []
    for section, props in load_schema()["$defs"].items():
        if not section.endswith("_props"):
            continue
        for key, spec in props.items():
            if key in SIZE_KEYS:
                if "maximum" not in spec or str(spec["maximum"]) not in spec.get("description", ""):
                    unbounded.append(f"{section[:-6]}.{key}")
            if key == "scales" and "maximum" not in spec["items"]:
                unbounded.append(f"{section[:-6]}.{key}")
    assert not unbounded, f"settings without a stated upper bound: {unbounded}"


def test_the_shipped_configs_validate_within_the_size_bounds():
    from c2am.config import settings_for

    cfg = load_config(REPO / "config.yaml")
    for exp in cfg["experiments"]:  # predict's size: the threshold file's recipe (None) or a bounded number
        size = settings_for(cfg, "predict", {"exp": exp}).size
        assert size is None or 8 <= size <= 2048, (exp, size)
        assert settings_for(cfg, "extract_maps", {"exp": exp}).resize <= 2048, exp
    need(CUB10), need(COCO128)  # their active experiments read the real data, whose roots must exist
    folds = ["configs/cub10.yaml", "configs/cub10_folds.yaml"]
    candidates = [[*folds, str(p.relative_to(REPO))] for p in sorted((REPO / "configs" / "candidates").glob("*.yaml"))]
    for overlays in (["configs/cub10.yaml"], ["configs/coco128.yaml"], folds, *candidates):
        load_config(REPO / "config.yaml", *(REPO / o for o in overlays))


# ----------------------------------------------------------------------------------------------- torch.load errors
def _torchscript(path: Path) -> Path:
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    return path


def _legacy_tar(path: Path) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("storages", "tensors", "pickle"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return path


def _bad_opcode(path: Path, good: Path) -> Path:
    """A torch zip whose pickle holds an opcode the weights-only unpickler does not know."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as out:
        for name in src.namelist():
            out.writestr(name, b"\x80\x02\xfe." if name.endswith("data.pkl") else src.read(name))
    return path


def _assert_no_torch_advice(message: str) -> None:
    assert "weights_only" not in message and "False" not in message and "trusted source" not in message, message
    assert "file an issue" not in message and "\x1b[" not in message, message


def test_a_corrupt_pth_never_quotes_torchs_advice_to_load_with_weights_only_false(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    for path, says in ((_torchscript(tmp_path / "script.pth"), "TorchScript archive"),
                       (_legacy_tar(tmp_path / "old.pth"), "before 0.4"),
                       (_bad_opcode(tmp_path / "opcode.pth", good), "Unsupported operand 254")):
        with pytest.raises(ValueError) as err:
            torch_load_plain(path)
        assert str(path) in str(err.value) and says in str(err.value)
        _assert_no_torch_advice(str(err.value))
        assert err.value.__cause__ is None and err.value.__suppress_context__  # not in a traceback either
        # a user's checkpoint given as an init's `path`
        with pytest.raises(InitError) as err:
            build_init("mobilenet_v2", "file", str(path))
        assert str(path) in str(err.value) and says in str(err.value)
        _assert_no_torch_advice(str(err.value))
    with pytest.raises(ValueError, match="cannot read embedded torch data") as err:  # a tensor inside a CAM file
        torch_load_plain(io.BytesIO(_torchscript(tmp_path / "inner.pt").read_bytes()))
    _assert_no_torch_advice(str(err.value))


# ----------------------------------------------------------------------------------------------- NaN weights
def test_nan_weights_in_an_init_are_refused_on_load_naming_the_file_and_tensor(tmp_path):
    from c2am.models.backbones import build_backbone

    state = build_backbone("mobilenet_v2").net.state_dict()
    first_float = next(k for k, v in state.items() if v.is_floating_point())
    key = [k for k, v in state.items() if v.is_floating_point()][5]
    state[key] = state[key].clone()
    state[key].view(-1)[:3] = float("nan")
    ckpt = tmp_path / "nan_weights.pth"
    torch.save(state, ckpt)
    with pytest.raises(InitError, match=rf"nan_weights\.pth: tensor '{key}' has 3 NaN or infinite values"):
        build_init("mobilenet_v2", "file", str(ckpt))
    assert key != first_float

    # an init artifact (results/init/NAME.pt) that went bad after conversion
    init = build_init("mobilenet_v2", "random")
    init["state_dict"][key].view(-1)[0] = float("inf")
    artifact = tmp_path / "init" / "mnv2.pt"
    artifact.parent.mkdir()
    torch.save(init, artifact)
    with pytest.raises(ValueError, match=rf"init artifact .*mnv2\.pt: tensor '{key}' has 1 NaN or infinite "
                                         r"values .*re-run the pretrain_init stage"):
        load_init(artifact)


def test_nan_weights_in_a_trained_c2am_model_are_refused_on_load(tmp_path):
    from c2am.models.c2am import build_model, load_trained
    from c2am.settings import C2AMTrainSettings
    from c2am.training.checkpoint import save_model

    init = build_init("mobilenet_v2", "random")
    s = C2AMTrainSettings.defaults()
    model = build_model(init, s.head_init, s.head_padding, s.feature_stride)
    path = tmp_path / "model.pt"
    save_model(path, model, init, s.to_dict(), {})
    assert load_trained(path)[0] is not None  # finite weights load
    key = next(k for k, v in model.state_dict().items() if k.startswith("head") and v.is_floating_point())
    with torch.no_grad():
        model.state_dict()[key].view(-1)[0] = float("nan")
    save_model(path, model, init, s.to_dict(), {})
    with pytest.raises(ValueError, match=rf"C2AM model .*model\.pt: tensor '{key}' has 1 NaN"):
        load_trained(path)


# ----------------------------------------------------------------------------------------------- datasets
@pytest.mark.parametrize("split,says", [
    ("train-fold3of3", "names fold 3 of 3, but the folds of 3 are numbered 0 to 2"),
    ("train-without-fold0of1", "names fold 0 of 1, but a split needs at least 2 folds"),
    ("trian-fold0of3", "a CUB dataset has the splits train, test, all"),
    ("tset", "a CUB dataset has the splits train, test, all"),
])
def test_bad_fold_split_names_are_refused_at_validation(raw, split, says):
    raw["datasets"]["demo"]["eval_split"] = split
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert f"config.yaml: datasets.demo.eval_split = {split!r}" in str(err.value) and says in str(err.value)
    raw["datasets"]["demo"]["eval_split"] = "train-fold2of3"
    raw["datasets"]["demo"]["train_split"] = "train-without-fold2of3"
    validate_config(raw)


def test_a_missing_dataset_root_of_an_active_experiment_is_refused_at_validation(raw, tmp_path):
    raw["datasets"]["cub10"]["root"] = "nowhere/CUB_200_2011"
    validate_config(raw)  # configured but no active experiment reads it (a machine without that data)
    raw["active_experiments"] = ["cub10_effl0"]
    with pytest.raises(ConfigError, match=r"config\.yaml: datasets\.cub10\.root = 'nowhere/CUB_200_2011' does not "
                                          r"exist \(.*nowhere/CUB_200_2011; relative roots are relative to the "
                                          r"repository root\); the cub dataset 'cub10' is read by active experiment "
                                          r"cub10_effl0"):
        validate_config(raw)
    # a dataset read as c2am_extra_data of an active experiment too
    raw["active_experiments"] = ["demo_effl0"]
    raw["experiments"]["demo_effl0"]["c2am_extra_data"] = ["cub10"]
    with pytest.raises(ConfigError, match=r"datasets\.cub10\.root .* read by active experiment demo_effl0"):
        validate_config(raw)
    # the demo dataset is generated by a rule: its root does not exist before the first run
    raw["experiments"]["demo_effl0"]["c2am_extra_data"] = []
    raw["results_dir"] = str(tmp_path / "fresh_results")
    assert not (tmp_path / "fresh_results").exists()
    validate_config(raw)


def test_bad_fold_split_and_missing_root_are_caught_by_snakemake_dry_run_naming_the_file(tmp_path):
    edited = edited_config(tmp_path, {"datasets.demo.eval_split": "test-fold3of3"})
    proc = snakemake(tmp_path, "-n", configfiles=(edited,))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{edited}: datasets.demo.eval_split = 'test-fold3of3' names fold 3 of 3" in out, out[-3000:]
    edited = edited_config(tmp_path, {"datasets.demo.generate": None, "datasets.demo.root": "nowhere/CUB_200_2011"})
    proc = snakemake(tmp_path, "-n", configfiles=(edited,))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{edited}: datasets.demo.root = 'nowhere/CUB_200_2011' does not exist" in out, out[-3000:]


# ----------------------------------------------------------------------------------------------- CUB images.txt
def test_the_same_image_under_two_ids_in_cub_images_txt_is_refused(tmp_path):
    root = tmp_path / "CUB_200_2011"
    for name, text in CUB_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    with pytest.raises(ValueError, match=r"CUB_200_2011/images\.txt:3: image '001\.Alpha/a_0001\.jpg' is listed under "
                                         r"two ids, '1' \(line 1\) and '3' \(line 3\)"):
        read_cub(root)
