"""The fast path (bf16 autocast + channels_last, as train_c2am / extract_maps run on a GPU) against the fp32 path:
loss and maps agree within stated tolerances. Run here with CPU autocast (bf16), which exercises the same
autocast casting rules; the benchmark (bench/bench.py) measures the speed on a GPU.

Tolerances: bf16 keeps 8 bits of mantissa (~3 significant digits): relative 3e-2 on the loss and its terms;
foreground maps in (0, 1): mean absolute difference 1.5e-2, maximum 0.1, and the boxes at threshold 0.5 of the
min-max scaled maps overlap with mean IoU >= 0.9; channels_last alone changes only the summation order: 1e-4.
"""

import pytest
import torch

from c2am.wsol.boxes import boxes_from_map, normalize_map
from c2am.data.images import eval_view, read_image
from c2am.data.readers import read_cub
from c2am.models.inits import build_init
from c2am.losses import contrastive_loss
from c2am.wsol.metrics import best_iou_per_image
from c2am.models.c2am import load_trained
from c2am.settings import C2AMTrainSettings
from c2am.training.c2am import train_c2am


@pytest.fixture(scope="module")
def setup(demo_root, tmp_path_factory):
    """A briefly trained model (maps with structure, not a random head's flat ones) and 8 training images."""
    init = build_init("efficientnet_lite0", "efficientnet_lite0_package")
    records = read_cub(demo_root / "CUB_200_2011", split="train")[:16]
    out = tmp_path_factory.mktemp("fast")
    settings = C2AMTrainSettings.from_dict(dict(epochs=3, batch_size=8, resize=100, crop=96, workers=0,
                                            fg_rule_images=8, lr=0.01))
    train_c2am(records, init, settings, out / "m.pt", out / "c.pt", out / "l.jsonl", "cpu", progress=False)
    model, _ = load_trained(out / "m.pt")
    x = torch.stack([eval_view(read_image(r.path), 96, None)[0] for r in records[:8]]).float() / 255
    return model, x


def _loss(model, x, amp, channels_last):
    m = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        v_fg, v_bg, _ = m(x)
    assert v_fg.dtype == torch.float32  # the pooled vectors and the loss stay fp32 under autocast
    return contrastive_loss(v_fg, v_bg, 0.05)


def test_training_loss_of_the_fast_path_matches_fp32(setup):
    model, x = setup
    model.train()
    ref = _loss(model, x, False, False).as_floats()
    cl = _loss(model, x, False, True).as_floats()
    fast = _loss(model, x, True, True).as_floats()
    for key in ref:
        assert abs(cl[key] - ref[key]) <= 1e-4 * abs(ref[key]), key
        assert abs(fast[key] - ref[key]) <= 3e-2 * abs(ref[key]), (key, fast[key], ref[key])
    print("bf16 + channels_last vs fp32, relative loss difference:",
          {k: f"{abs(fast[k] - ref[k]) / abs(ref[k]):.1e}" for k in ref})


def test_extracted_maps_of_the_fast_path_match_fp32(setup):
    model, x = setup
    model.eval()
    ref = model.foreground_map(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = model.to(memory_format=torch.channels_last).foreground_map(x.contiguous(memory_format=torch.channels_last))
    model.to(memory_format=torch.contiguous_format)
    assert fast.dtype == torch.float32 and fast.shape == ref.shape
    diff = (fast - ref).abs()
    boxes = [[boxes_from_map(normalize_map(m.numpy()), [0.5])[0][0] for m in maps] for maps in (ref, fast)]
    iou = best_iou_per_image([b[None] for b in boxes[1]], [b[None] for b in boxes[0]])
    print(f"bf16 + channels_last vs fp32 maps: mean / max abs difference {float(diff.mean()):.1e} / "
          f"{float(diff.max()):.1e}; box IoU at threshold 0.5: min {iou.min():.3f}, mean {iou.mean():.3f}")
    assert float(diff.mean()) <= 1.5e-2 and float(diff.max()) <= 0.1
    assert iou.mean() >= 0.9


def test_cpu_inference_runs_in_chunks_in_order_and_scales_to_unit_range():
    from c2am.inference import CPU_CHUNK, infer

    seen = []

    def record(x):
        seen.append((x.shape[0], x.dtype, x.is_contiguous(memory_format=torch.channels_last)))
        return x.mean(dim=(1, 2, 3))

    images = torch.arange(10, dtype=torch.uint8)[:, None, None, None].expand(10, 3, 2, 2).contiguous()
    out = infer(record, images * 25, torch.device("cpu"), channels_last=True, amp=True)
    assert CPU_CHUNK == 4 and [n for n, _, _ in seen] == [4, 4, 2]
    assert all(dtype == torch.float32 and cl for _, dtype, cl in seen)  # no autocast on CPU; channels_last as asked
    assert torch.allclose(out, torch.arange(10, dtype=torch.float32) * 25 / 255, rtol=0, atol=1e-6)


def test_chunked_channels_last_cpu_maps_match_one_contiguous_batch(setup):
    """What extract_maps / ddt / predict run on CPU against the plain forward pass of the whole batch."""
    from c2am.inference import infer, inference_model

    model, x = setup
    images = (x * 255).round().to(torch.uint8)  # x holds uint8 images / 255
    with torch.no_grad():
        plain = model.eval().foreground_map(images.float() / 255)
        fast = infer(inference_model(model, torch.device("cpu"), True).foreground_map, images,
                     torch.device("cpu"), channels_last=True, amp=True)
    model.to(memory_format=torch.contiguous_format)
    assert fast.shape == plain.shape == (8, 6, 6) and 0 < (fast - plain).abs().max() < 1e-4
