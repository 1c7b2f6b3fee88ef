"""timm backbones (`timm:<model>`) and the timm / DINO / DINOv2 checkpoint formats: stride-16 feature maps, exact
key checks, synthetic checkpoints in the published key formats, and the init artifact feeding C2AM."""

import argparse
import copy
import math
import subprocess
import sys

import pytest
import torch
import yaml

from c2am.models.backbones import build_backbone
from c2am.models.inits import InitError, build_init, load_init
from conftest import REPO

timm = pytest.importorskip("timm")

VIT16, VIT14, VIT14_REG = "timm:vit_tiny_patch16_224", "timm:vit_small_patch14_dinov2", \
    "timm:vit_small_patch14_reg4_dinov2"


@pytest.fixture()
def shallow_vits(monkeypatch):
    """timm ViTs with 2 blocks (the published widths, patch sizes and token layouts), for speed."""
    create = timm.create_model

    def shallow(name, **kwargs):
        return create(name, **({"depth": 2} if name.startswith("vit_") else {}), **kwargs)

    monkeypatch.setattr(timm, "create_model", shallow)


def _timm_state(name: str, seed: int, **kwargs) -> dict:
    """A random timm model's state dict (what a timm checkpoint holds), with its classifier when num_classes > 0."""
    torch.manual_seed(seed)
    return timm.create_model(name.removeprefix("timm:"), pretrained=False, **kwargs).state_dict()


def _assert_loaded(art: dict, expected: dict) -> None:
    assert set(art["state_dict"]) == set(expected)
    assert all(torch.equal(art["state_dict"][k], expected[k]) for k in expected)


def test_importing_the_backbones_does_not_import_timm():
    code = "import c2am.models.backbones, c2am.models.inits, c2am.models.c2am, sys; assert 'timm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


@pytest.mark.parametrize("name,channels,stages", [
    (VIT16, 192, ["embed", "blocks0-2", "blocks3-5", "blocks6-8", "blocks9-11"]),
    ("timm:resnet18", 512 + 256, ["act1", "layer1", "layer2", "layer3", "layer4"]),
    ("timm:mobilenetv3_small_050", 288 + 24, ["bn1", "blocks.0", "blocks.1", "blocks.3", "blocks.5"]),
])
def test_timm_backbones_give_non_negative_stride16_maps(name, channels, stages):
    b = build_backbone(name).eval()
    assert b.out_channels == sum(b.channels) == channels and b.stride == 16 and b.stage_names == stages
    with torch.no_grad():
        for h, w in [(64, 64), (100, 90), (129, 161)]:
            z = b(torch.rand(2, 3, h, w))
            assert z.shape == (2, channels, math.ceil(h / 16), math.ceil(w / 16))
            assert (z >= 0).all()
    assert b.head_prefixes == {VIT16: ("head.",), "timm:resnet18": ("fc.",),
                               "timm:mobilenetv3_small_050": ("classifier.", "conv_head.")}[name]


@pytest.mark.parametrize("name", [VIT14, VIT14_REG])
def test_patch14_vits_are_resized_to_the_stride16_grid(name, shallow_vits):
    b = build_backbone(name).eval()
    assert b.patch_size == 14 and b.out_channels == 384 and len(b.stage_names) == 3  # embed + 2 block groups
    with torch.no_grad():
        for h, w in [(64, 64), (100, 90), (224, 150)]:
            assert b(torch.rand(1, 3, h, w)).shape == (1, 384, math.ceil(h / 16), math.ceil(w / 16))
            assert b.deepest(torch.rand(1, 3, h, w)).shape == (1, 384, math.ceil(h / 16), math.ceil(w / 16))


def test_cnn_deepest_map_is_the_classification_networks_at_stride32():
    c2am_encoder, classifier = build_backbone("timm:resnet18"), build_backbone("timm:resnet18", output_stride=32)
    assert list(c2am_encoder.net.state_dict()) == list(classifier.net.state_dict())
    with torch.no_grad():
        assert classifier.eval().deepest(torch.rand(1, 3, 224, 200)).shape == (1, 512, 7, 7)
    assert classifier.deepest_channels == 512


def test_vit_freezing_covers_the_tokens_and_position_embedding(shallow_vits):
    b = build_backbone(VIT14_REG)
    b.freeze(1)
    frozen = ("cls_token", "reg_token", "pos_embed", "patch_embed.proj.weight")
    assert all(not p.requires_grad for k, p in b.net.named_parameters() if k.startswith(frozen))
    assert all(p.requires_grad for k, p in b.net.named_parameters() if k.startswith("blocks."))
    with pytest.raises(ValueError, match="frozen_stages must be in 0..3"):
        b.freeze(4)


def test_unknown_and_unsupported_timm_models_are_clear_errors():
    with pytest.raises(ValueError, match="unknown timm model 'resnet_nope'"):
        build_backbone("timm:resnet_nope")
    with pytest.raises(ValueError, match="'mixer_s16_224' is not supported: .*stride 16 and 32"):
        build_backbone("timm:mixer_s16_224")


# ------------------------------------------------------------------------------- checkpoints, by key format
def test_timm_checkpoint_drops_only_the_classifier(tmp_path):
    full = _timm_state("convnext_atto", seed=1, num_classes=10)
    torch.save({"state_dict": full, "epoch": 3, "arch": "convnext_atto"}, tmp_path / "ck.pth.tar")  # timm's train.py
    art = build_init("timm:convnext_atto", "timm_file", str(tmp_path / "ck.pth.tar"))
    assert art["key_format"] == "timm" and art["input_mean"] == [0.485, 0.456, 0.406]
    assert art["dropped_keys"] == ["head.fc.bias", "head.fc.weight", "head.norm.bias", "head.norm.weight"]
    _assert_loaded(art, {k: v for k, v in full.items() if not k.startswith("head.")})


def test_safetensors_timm_checkpoint(tmp_path):
    from safetensors.torch import save_file

    full = _timm_state("resnet18", seed=2, num_classes=5)
    save_file(full, tmp_path / "model.safetensors")
    art = build_init("timm:resnet18", "timm_file", str(tmp_path / "model.safetensors"))
    assert art["dropped_keys"] == ["fc.bias", "fc.weight"] and art["origin_sha256"]
    _assert_loaded(art, {k: v for k, v in full.items() if not k.startswith("fc.")})


def test_dino_plain_checkpoint_loads_exactly_and_auto_reads_it_as_timm(tmp_path, shallow_vits):
    plain = _timm_state(VIT16, seed=3, num_classes=0)  # DINO's ViT state dicts have timm's keys exactly
    assert {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.1.attn.qkv.weight", "norm.bias"} <= set(plain)
    torch.save(plain, tmp_path / "dino_deittiny16_pretrain.pth")
    art = build_init(VIT16, "dino", str(tmp_path / "dino_deittiny16_pretrain.pth"))
    assert art["key_format"] == "dino" and art["dropped_keys"] == []
    _assert_loaded(art, plain)
    auto = build_init(VIT16, "timm_file", str(tmp_path / "dino_deittiny16_pretrain.pth"))
    assert auto["key_format"] == "timm"
    _assert_loaded(auto, plain)


def _dino_full(teacher: dict) -> dict:
    head = {"head.mlp.0.weight": torch.rand(8, 192), "head.last_layer.weight_g": torch.rand(16, 1)}
    student = {f"module.backbone.{k}": torch.zeros_like(v) for k, v in teacher.items()}
    return {"teacher": {**{f"backbone.{k}": v for k, v in teacher.items()}, **head},
            "student": {**student, **{f"module.{k}": v for k, v in head.items()}},
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}, "epoch": 100,
            "args": argparse.Namespace(arch="vit_tiny", patch_size=16), "dino_loss": {"center": torch.zeros(1, 16)}}


@pytest.mark.parametrize("source", ["dino", "timm_file"])
def test_dino_full_checkpoint_uses_the_teacher_and_reports_the_head(tmp_path, shallow_vits, source):
    teacher = _timm_state(VIT16, seed=4, num_classes=0)
    torch.save(_dino_full(teacher), tmp_path / "dino_full_checkpoint.pth")
    art = build_init(VIT16, source, str(tmp_path / "dino_full_checkpoint.pth"))
    assert art["key_format"] == "dino"
    assert art["dropped_keys"] == ["teacher.head.last_layer.weight_g", "teacher.head.mlp.0.weight"]
    _assert_loaded(art, teacher)


@pytest.mark.parametrize("source", ["dinov2", "timm_file"])
def test_dinov2_hub_checkpoint_drops_the_mask_token(tmp_path, shallow_vits, source):
    timm_keys = _timm_state(VIT14, seed=5, num_classes=0)
    hub = {**timm_keys, "mask_token": torch.rand(1, 384)}  # hub layout: timm's keys + mask_token
    assert hub["pos_embed"].shape == (1, 1 + 37 * 37, 384) and hub["patch_embed.proj.weight"].shape[-2:] == (14, 14)
    torch.save(hub, tmp_path / "dinov2_vits14_pretrain.pth")
    art = build_init(VIT14, source, str(tmp_path / "dinov2_vits14_pretrain.pth"))
    assert art["key_format"] == "dinov2" and art["dropped_keys"] == ["mask_token"]
    _assert_loaded(art, timm_keys)


def _dinov2_reg4_hub(timm_keys: dict) -> dict:
    """A hub-format register checkpoint: cls_token + pos_embed (1, 1 + 37*37, C) + register_tokens + mask_token."""
    hub = {k: v for k, v in timm_keys.items() if k not in ("reg_token", "pos_embed")}
    hub.update(pos_embed=torch.rand(1, 1 + 37 * 37, 384), register_tokens=torch.rand(1, 4, 384),
               mask_token=torch.rand(1, 384))
    return hub


def test_dinov2_register_checkpoint_maps_the_register_tokens(tmp_path, shallow_vits):
    hub = _dinov2_reg4_hub(_timm_state(VIT14_REG, seed=6, num_classes=0))
    torch.save(hub, tmp_path / "dinov2_vits14_reg4_pretrain.pth")
    art = build_init(VIT14_REG, "timm_file", str(tmp_path / "dinov2_vits14_reg4_pretrain.pth"))
    assert art["key_format"] == "dinov2" and art["dropped_keys"] == ["mask_token"]
    expected = {k: v for k, v in hub.items() if k not in ("mask_token", "register_tokens")}
    expected.update(reg_token=hub["register_tokens"], pos_embed=hub["pos_embed"][:, 1:],
                    cls_token=hub["cls_token"] + hub["pos_embed"][:, :1])  # timm adds positions to patches only
    _assert_loaded(art, expected)


def test_dinov2_giant_and_chunked_block_keys_are_renamed():
    from c2am.models.timm_backbone import dinov2_to_timm

    w = torch.rand(2)
    state, dropped = dinov2_to_timm({"blocks.1.7.mlp.w12.weight": w, "blocks.0.mlp.w3.bias": w, "norm.weight": w})
    assert set(state) == {"blocks.7.mlp.fc1.weight", "blocks.0.mlp.fc2.bias", "norm.weight"} and dropped == []


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.pop("blocks.1.mlp.fc2.weight"), r"1 missing keys \['blocks.1.mlp.fc2.weight'\], 0 unexpected"),
    (lambda s: s.update({"blocks.9.extra.weight": torch.zeros(1)}), r"1 unexpected keys \['blocks.9.extra.weight'\]"),
    (lambda s: s.update({"pos_embed": torch.zeros(1, 50, 192)}), r"shape mismatch .*'pos_embed', \(1, 50, 192\), "
                                                                 r"\(1, 197, 192\)"),
])
def test_missing_unknown_or_misshaped_keys_are_errors_naming_file_and_key(tmp_path, shallow_vits, edit, message):
    state = _timm_state(VIT16, seed=7, num_classes=0)
    edit(state)
    torch.save(state, tmp_path / "bad_dino.pth")
    with pytest.raises(InitError, match=r"bad_dino.pth \(dino keys\).*" + message):
        build_init(VIT16, "dino", str(tmp_path / "bad_dino.pth"))


def test_timm_sources_need_a_timm_backbone_and_a_path(tmp_path):
    with pytest.raises(InitError, match="source dinov2 initialises timm:<model> backbones, not 'mobilenet_v2'"):
        build_init("mobilenet_v2", "dinov2", str(tmp_path / "x.pth"))
    with pytest.raises(InitError, match="source timm_file needs `path`"):
        build_init("timm:resnet18", "timm_file")


def test_config_accepts_timm_inits_and_demands_their_path():
    from c2am.config import ConfigError, validate_config

    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    ok = copy.deepcopy(raw)
    ok["inits"]["dinov2_vits14"] = {"backbone": VIT14, "source": "dinov2", "path": "weights/dinov2_vits14.pth"}
    assert validate_config(ok)["inits"]["dinov2_vits14"]["backbone"] == VIT14
    bad = copy.deepcopy(raw)
    bad["inits"]["dino"] = {"backbone": VIT16, "source": "dino"}
    with pytest.raises(ConfigError, match="inits.dino: 'path' is a required property"):
        validate_config(bad)


# ------------------------------------------------------------------------------- init artifact -> C2AM
def test_init_artifact_trains_c2am_with_frozen_stages(tmp_path, shallow_vits):
    from c2am.models.c2am import build_model
    from stages import pretrain_init

    hub = _dinov2_reg4_hub(_timm_state(VIT14_REG, seed=8, num_classes=0))
    torch.save(hub, tmp_path / "dinov2_vits14_reg4_pretrain.pth")
    args = pretrain_init.parser().parse_args(["--backbone", VIT14_REG, "--source", "dinov2", "--path",
                                              str(tmp_path / "dinov2_vits14_reg4_pretrain.pth"),
                                              "--out", str(tmp_path / "init.pt")])
    pretrain_init.run(args)
    art = load_init(tmp_path / "init.pt")
    model = build_model(art, "kaiming_normal", "replicate", 16)
    assert torch.equal(model.backbone.net.reg_token, hub["register_tokens"])
    model.backbone.freeze(1)
    model.train()
    v_fg, v_bg, p = model(torch.rand(2, 3, 100, 90))
    assert p.shape == (2, 1, 7, 6) and v_fg.shape == v_bg.shape == (2, 384)
    (v_fg.sum() - v_bg.sum() + p.mean()).backward()
    net = model.backbone.net
    assert net.pos_embed.grad is None and net.patch_embed.proj.weight.grad is None
    assert net.blocks[0].attn.qkv.weight.grad is not None and model.head.conv.weight.grad is not None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fg = model.eval().to(memory_format=torch.channels_last).foreground_map(torch.rand(1, 3, 64, 80))
    assert fg.shape == (1, 4, 5) and fg.dtype == torch.float32

