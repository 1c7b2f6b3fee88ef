"""Encoders h(.) of C2AM: torchvision networks (and EfficientNet-Lite0/1/2) returning stride-16 feature maps, and
`timm:<model>` backbones (any timm ViT or CNN, see timm_backbone.py; timm is imported only to build one).

Every backbone keeps the parameter names of its classification network (minus the classifier), so
weights converted by the pretrain-init stage load with `strict=True` into `backbone.net`.
Features are the concatenation of a stride-16 map and a deeper map upsampled to it, as the C2AM authors
do for ResNet-50 (layer4 with stride 1, concatenated with layer3: 2048 + 1024 = 3072 channels).
"""

from __future__ import annotations

from functools import partial

import torchvision
from torch import nn

from .efficientnet_lite import LITE_STAGES, EfficientNetLite, SameConv2d, block_strides
from .staged import TIMM_PREFIX, Stage, StagedBackbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TF_MEAN = (0.5, 0.5, 0.5)  # (x - 127.5) / 127.5 on 0..255 pixels
TF_STD = (0.5, 0.5, 0.5)


def _resnet50(output_stride: int = 16) -> StagedBackbone:
    net = torchvision.models.resnet50(weights=None)
    net.fc = nn.Identity()
    if output_stride == 16:
        # layer4 with stride 1 (output stride 16), as in the C2AM authors' ResNet: stride off conv2/downsample.
        net.layer4[0].conv2.stride = (1, 1)
        net.layer4[0].downsample[0].stride = (1, 1)
    stages = [Stage("stem", (net.conv1, net.bn1, net.relu, net.maxpool)), Stage("layer1", (net.layer1,)),
              Stage("layer2", (net.layer2,)), Stage("layer3", (net.layer3,)), Stage("layer4", (net.layer4,))]
    return StagedBackbone("resnet50", net, stages, taps=[4, 3], channels=[2048, 1024])


def _vgg16(output_stride: int = 16) -> StagedBackbone:
    net = torchvision.models.vgg16(weights=None)
    net.avgpool = nn.Identity()
    net.classifier = nn.Identity()
    f = net.features  # conv5_3 + ReLU end at index 29; index 30 is the last max-pool (dropped for stride 16)
    bounds = [(0, 5), (5, 10), (10, 17), (17, 24), (24, 30 if output_stride == 16 else 31)]
    stages = [Stage(f"block{i + 1}", tuple(f[a:b])) for i, (a, b) in enumerate(bounds)]
    return StagedBackbone("vgg16", net, stages, taps=[4], channels=[512])


def _densenet161(output_stride: int = 16) -> StagedBackbone:
    net = torchvision.models.densenet161(weights=None)
    net.classifier = nn.Identity()
    f = net.features
    if output_stride == 16:
        f.transition3.pool = nn.Identity()  # keep stride 16 through denseblock4
    stages = [Stage("stem", (f.conv0, f.norm0, f.relu0, f.pool0)),
              Stage("block1", (f.denseblock1, f.transition1)), Stage("block2", (f.denseblock2, f.transition2)),
              Stage("block3", (f.denseblock3, f.transition3)), Stage("block4", (f.denseblock4, f.norm5, nn.ReLU()))]
    return StagedBackbone("densenet161", net, stages, taps=[4], channels=[2208])


def _inception_v3(output_stride: int = 16) -> StagedBackbone:
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=False)
    net.fc = nn.Identity()
    stem = (net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1,
            net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, net.maxpool2)
    stages = [Stage("stem", stem), Stage("mixed5", (net.Mixed_5b, net.Mixed_5c, net.Mixed_5d)),
              Stage("mixed6", (net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e)),
              Stage("mixed7", (net.Mixed_7a, net.Mixed_7b, net.Mixed_7c))]
    return StagedBackbone("inception_v3", net, stages, taps=[3, 2], channels=[2048, 768])


def _mobilenet_v2(output_stride: int = 16) -> StagedBackbone:
    net = torchvision.models.mobilenet_v2(weights=None)
    net.classifier = nn.Identity()
    f = net.features
    bounds = [(0, 2), (2, 4), (4, 7), (7, 14), (14, 19)]  # strides 2, 4, 8, 16, 32
    stages = [Stage(f"features{a}-{b - 1}", tuple(f[a:b])) for a, b in bounds]
    return StagedBackbone("mobilenet_v2", net, stages, taps=[4, 3], channels=[1280, 96], linear_taps=(3,))


def _efficientnet_lite(variant: int, output_stride: int = 16) -> StagedBackbone:
    """Stages end where the stride doubles: stem, blocks at strides 4, 8, 16 (tapped), 32 + head (tapped)."""
    net = EfficientNetLite(variant)
    net._fc = nn.Identity()
    b, strides = net._blocks, block_strides(variant)
    ends = [max(i for i, s in enumerate(strides) if s <= limit) + 1 for limit in (4, 8, 16)]
    stages = [Stage("stem", (net._conv_stem, net._bn0, nn.ReLU6())), Stage(f"blocks0-{ends[0] - 1}", tuple(b[:ends[0]])),
              Stage(f"blocks{ends[0]}-{ends[1] - 1}", tuple(b[ends[0]:ends[1]])),
              Stage(f"blocks{ends[1]}-{ends[2] - 1}", tuple(b[ends[1]:ends[2]])),
              Stage(f"blocks{ends[2]}-{len(b) - 1}+head", (*b[ends[2]:], net._conv_head, net._bn1, nn.ReLU6()))]
    stride16_channels = LITE_STAGES[variant][4][-1]
    return StagedBackbone(f"efficientnet_lite{variant}", net, stages, taps=[4, 3], channels=[1280, stride16_channels],
                          linear_taps=(3,))


def _efficientnet_b7(output_stride: int = 16) -> StagedBackbone:
    net = torchvision.models.efficientnet_b7(weights=None)
    net.classifier = nn.Identity()
    f = net.features
    bounds = [(0, 2), (2, 3), (3, 4), (4, 6), (6, 9)]  # strides 2, 4, 8, 16, 32
    stages = [Stage(f"features{a}-{b - 1}", tuple(f[a:b])) for a, b in bounds]
    # the last stage ends in SiLU (slightly negative values): a ReLU keeps tapped features non-negative as well
    return StagedBackbone("efficientnet_b7", net, stages, taps=[4, 3], channels=[2560, 224], linear_taps=(3, 4))


BUILDERS = {
    "resnet50": _resnet50,
    "vgg16": _vgg16,
    "densenet161": _densenet161,
    "inception_v3": _inception_v3,
    "mobilenet_v2": _mobilenet_v2,
    **{f"efficientnet_lite{v}": partial(_efficientnet_lite, v) for v in LITE_STAGES},
    "efficientnet_b7": _efficientnet_b7,
}
# the stage ending at stride 8 (index, channels, linear bottleneck) of the encoders that can tap it (feature_stride 8)
STRIDE8_TAPS = {"resnet50": (2, 512, False), "mobilenet_v2": (2, 32, True),
                **{f"efficientnet_lite{v}": (2, LITE_STAGES[v][2][-1], True) for v in LITE_STAGES}}


def use_tf_same_padding(net: nn.Module) -> int:
    """Give every strided convolution TensorFlow's 'SAME' padding (extra row/column at the bottom/right).

    Weights trained in TensorFlow (e.g. converted TFLite MobileNetV2) expect it; with PyTorch's symmetric
    padding every stride-2 layer shifts the features by half an input pixel, which adds up to a visible
    shift of the maps towards the bottom right. Parameter names are unchanged. Returns the number of layers.
    """
    changed = 0
    for module in net.modules():
        if type(module) is nn.Conv2d and max(module.stride) > 1:
            module.__class__ = SameConv2d
            module.padding = (0, 0)
            changed += 1
    return changed


def build_backbone(name: str, tf_padding: bool = False, output_stride: int = 16,
                   feature_stride: int = 16) -> StagedBackbone:
    """A randomly initialised backbone; weights come from the pretrain-init artifact.

    output_stride 16 is C2AM's encoder (ResNet layer4 / DenseNet block4 / VGG conv5 kept at stride 16);
    32 keeps the classification network's own strides (PSOL localizer, classifier). Parameter names do not
    depend on it, so the same init artifact loads into both. `timm:<model>` names a timm model (timm_backbone.py).
    feature_stride 8 adds the stride-8 stage to the concatenated features (the backbones of STRIDE8_TAPS)."""
    timm_model = name.startswith(TIMM_PREFIX)
    if not timm_model and name not in BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BUILDERS)} or {TIMM_PREFIX}<timm model>")
    if output_stride not in (16, 32):
        raise ValueError(f"output_stride must be 16 or 32, got {output_stride}")
    if feature_stride not in (8, 16):
        raise ValueError(f"feature_stride must be 8 or 16, got {feature_stride}")
    if feature_stride == 8 and name not in STRIDE8_TAPS:
        raise ValueError(f"feature_stride 8 is not available for backbone {name!r}: it names no stride-8 stage "
                         f"(available for {', '.join(STRIDE8_TAPS)})")
    if timm_model:
        from .timm_backbone import build_timm_backbone  # imports timm

        backbone = build_timm_backbone(name[len(TIMM_PREFIX):])
    else:
        backbone = BUILDERS[name](output_stride)
    if tf_padding:
        use_tf_same_padding(backbone.net)
    if feature_stride == 8:
        backbone.add_stride8_tap(*STRIDE8_TAPS[name])
    return backbone
