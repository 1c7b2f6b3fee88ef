"""WSSS math: mIoU / FP / FN on hand-made label maps, refinement argmax, the threshold sweep, dense CRF,
saliency, CAM files (ours and IRN / PuzzleCAM), multi-scale CAMs, cue pseudo labels, config checks."""

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from c2am.config import ConfigError, validate_config
from c2am.wsss.cams import load_cams, multiscale_cams, save_cams
from c2am.settings import CrfSettings
from c2am.wsss.crf import crf_from_labels
from c2am.wsss.refine import (crf_refine_labels, crf_refine_scores, refine_with_background, refine_with_threshold,
                              sweep_confusions)
from c2am.wsss.saliency import frequency_tuned_saliency, spectral_residual_saliency
from c2am.wsss.scores import confusion, segmentation_scores
from conftest import REPO

GT = np.array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [255, 255, 2, 2]], np.uint8)
PRED = np.array([[0, 1, 1, 1],
                 [0, 0, 1, 2],
                 [1, 1, 2, 0]], np.uint8)


def test_confusion_ignores_255_and_counts_by_hand():
    conf = confusion(GT, PRED, n=3)
    assert conf.tolist() == [[3, 1, 0], [0, 3, 1], [1, 0, 1]]  # rows: ground truth; the 255 row is dropped


def test_miou_fp_fn_by_hand():
    s = segmentation_scores(confusion(GT, PRED, n=3))
    np.testing.assert_allclose(s["iou"], [3 / 5, 3 / 5, 1 / 3])
    assert s["miou"] == pytest.approx((0.6 + 0.6 + 1 / 3) / 3)
    np.testing.assert_allclose(s["fp"], [1 / 5, 1 / 5, 1 / 3])  # (P - TP) / union
    np.testing.assert_allclose(s["fn"], [1 / 5, 1 / 5, 1 / 3])  # (T - TP) / union
    np.testing.assert_allclose(s["iou"] + s["fp"] + s["fn"], 1.0)
    assert s["fp_mean"] == pytest.approx((0.2 + 1 / 3) / 2) and s["fn_mean"] == pytest.approx((0.2 + 1 / 3) / 2)
    assert s["pixels"] == 10


def test_classes_absent_everywhere_are_not_averaged():
    s = segmentation_scores(confusion(GT, PRED))  # 21 classes, only 0..2 occur
    assert s["classes_scored"] == 3 and np.isnan(s["iou"][3:]).all()
    assert s["miou"] == pytest.approx((0.6 + 0.6 + 1 / 3) / 3)
    # a class predicted but absent from the ground truth counts with IoU 0
    pred = PRED.copy()
    pred[0, 0] = 7
    s = segmentation_scores(confusion(GT, pred))
    assert s["iou"][7] == 0 and s["classes_scored"] == 4


def test_confusion_rejects_bad_ids_and_shapes():
    with pytest.raises(ValueError, match="class ids"):
        confusion(GT, np.full_like(GT, 30))
    with pytest.raises(ValueError, match="does not match"):
        confusion(GT, PRED[:2])


CAMS = np.array([[[0.9, 0.2], [0.4, 0.1]],    # key 0 -> VOC 1 (aeroplane)
                 [[0.5, 0.6], [0.4, 0.05]]], np.float32)  # key 14 -> VOC 15 (person)
KEYS = np.array([0, 14])


def test_threshold_refinement_argmax_with_background_first():
    assert refine_with_threshold(CAMS, KEYS, 0.3).tolist() == [[1, 15], [1, 0]]  # tie 0.4/0.4: first CAM wins
    assert refine_with_threshold(CAMS, KEYS, 0.4).tolist() == [[1, 15], [0, 0]]  # max == t: background wins
    assert refine_with_threshold(CAMS, np.array([], int), 0.3).tolist() == [[0, 0], [0, 0]]
    assert refine_with_threshold(CAMS[:0], KEYS[:0], 0.3).shape == (2, 2)


def test_background_cue_refinement():
    bg = np.array([[0.95, 0.1], [0.3, 0.5]], np.float32)
    assert refine_with_background(CAMS, KEYS, bg).tolist() == [[0, 15], [1, 0]]
    with pytest.raises(ValueError, match="does not match"):
        refine_with_background(CAMS, KEYS, bg[:1])


def test_sweep_equals_refining_at_each_threshold():
    rng = np.random.default_rng(0)
    cams = rng.random((3, 20, 30)).astype(np.float32)
    keys = np.array([2, 5, 19])
    gt = rng.choice([0, 3, 6, 20, 255], size=(20, 30)).astype(np.uint8)
    ts = [0.1, 0.5, 0.8, 0.95]
    swept = sweep_confusions(cams, keys, gt, ts)
    for t, conf in zip(ts, swept):
        assert (conf == confusion(gt, refine_with_threshold(cams, keys, t))).all()
    empty = sweep_confusions(cams[:0], keys[:0], gt, ts)
    assert (empty[0] == confusion(gt, np.zeros_like(gt))).all()


def _two_region_image():
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :30] = (200, 30, 30)
    img[:, 30:] = (20, 160, 40)
    return img


def test_crf_keeps_shape_and_label_set_and_follows_colour_edges():
    img = _two_region_image()
    labels = np.zeros((40, 60), np.int64)
    labels[:, :24] = 1  # the object's label stops 6 px short of the colour edge at x = 30
    crf = CrfSettings.defaults()
    out = crf_from_labels(img, labels, 2, crf)
    assert out.shape == labels.shape and set(np.unique(out)) <= {0, 1}
    assert (out[:, :28] == 1).mean() > 0.95 and (out[:, 32:] == 0).mean() > 0.95
    cams = np.zeros((1, 40, 60), np.float32)
    cams[0, :, :24] = 0.9
    refined = crf_refine_labels(img, cams, np.array([11]), 0.5, crf)
    assert refined.shape == (40, 60) and set(np.unique(refined)) <= {0, 12}
    two = np.stack([np.zeros((40, 60), np.float32), cams[0]])  # unsorted keys: class 15 is the object
    assert set(np.unique(crf_refine_labels(img, two, np.array([14, 2]), 0.5, crf))) == {0, 3}
    soft = crf_refine_scores(img, cams * 3, np.array([11]), 0.5, crf)  # CAMs above 1 are clipped, not NaN
    assert soft.shape == (40, 60) and set(np.unique(soft)) <= {0, 12}
    assert crf_refine_labels(img, cams[:0], np.array([], int), 0.5, crf).max() == 0


def test_saliency_maps_are_unit_range_and_find_the_odd_square():
    rng = np.random.default_rng(1)
    img = np.clip(rng.normal(110, 6, (96, 128, 3)), 0, 255).astype(np.uint8)
    img[36:60, 50:78] = (240, 220, 40)  # differs in luminance (spectral residual) and colour (frequency-tuned)
    for method in (spectral_residual_saliency, frequency_tuned_saliency):
        sal = method(img)
        assert sal.shape == (96, 128) and sal.dtype == np.float32
        assert sal.min() == pytest.approx(0) and sal.max() == pytest.approx(1)
        assert sal[40:56, 54:74].mean() > 2 * sal[:20].mean()


def test_cam_files_ours_and_irn_puzzlecam(tmp_path):
    cams = np.random.default_rng(0).random((2, 8, 12)).astype(np.float32)
    save_cams(tmp_path / "a.npz", [0, 14], cams)
    keys, back = load_cams(tmp_path / "a.npz")
    assert keys.tolist() == [0, 14] and np.allclose(back, cams, atol=1e-3)
    np.save(tmp_path / "irn.npy", {"keys": np.array([3]), "cam": cams[:1, :4, :6], "high_res": cams[:1]})
    keys, hr = load_cams(tmp_path / "irn.npy", size=(12, 8))
    assert keys.tolist() == [3] and np.allclose(hr, cams[:1])  # high_res preferred over the strided cam
    np.save(tmp_path / "strided.npy", {"keys": torch.tensor([3]), "cam": torch.from_numpy(cams[:1, :4, :6])})
    keys, up = load_cams(tmp_path / "strided.npy", size=(12, 8))
    assert up.shape == (1, 8, 12)  # resized to the image
    np.save(tmp_path / "puzzle.npy", {"keys": np.array([1, 2]), "hr_cam": cams})
    assert load_cams(tmp_path / "puzzle.npy")[0].tolist() == [1, 2]
    np.save(tmp_path / "psa.npy", {14: cams[1], 0: cams[0]})  # PSA / SEAM: {0-based class index: map}
    keys, psa = load_cams(tmp_path / "psa.npy")
    assert keys.tolist() == [0, 14] and np.allclose(psa, cams)
    np.save(tmp_path / "rw.npy", {"keys": np.array([0, 3, 15]), "rw": cams})  # PuzzleCAM rw: [0, VOC ids]
    assert load_cams(tmp_path / "rw.npy")[0].tolist() == [2, 14]
    np.save(tmp_path / "unsorted.npy", {"keys": np.array([14, 2]), "hr_cam": cams})
    keys, maps = load_cams(tmp_path / "unsorted.npy")
    assert keys.tolist() == [2, 14] and np.allclose(maps, cams[::-1])  # sorted with their maps
    np.save(tmp_path / "dup.npy", {"keys": np.array([2, 2]), "hr_cam": cams})
    with pytest.raises(ValueError, match="repeated keys"):
        load_cams(tmp_path / "dup.npy")
    np.save(tmp_path / "bgfirst.npy", {"keys": np.array([0, 3]), "hr_cam": cams[:1]})
    with pytest.raises(ValueError, match="do not match"):  # a background channel is never guessed away
        load_cams(tmp_path / "bgfirst.npy")
    np.save(tmp_path / "bad.npy", {"keys": np.array([1, 2, 3]), "hr_cam": cams})
    with pytest.raises(ValueError, match="bad.npy.*do not match"):
        load_cams(tmp_path / "bad.npy")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a readable CAM file"):
        load_cams(tmp_path / "junk.npz")


class _RedDetector(nn.Module):
    """feature_map = the image's channels pooled to stride 4; class 0 weighs red, class 1 green."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5]]))

    def feature_map(self, x):
        return nn.functional.avg_pool2d(x, 4)


def test_multiscale_cams_are_max_normalised_and_locate_the_class():
    img = torch.zeros(3, 64, 96, dtype=torch.uint8)
    img[0, 8:40, 10:50] = 255  # red block
    img[1, 30:60, 60:90] = 255  # green block
    cams = multiscale_cams(_RedDetector(), img, [0, 1], scales=(0.5, 1.0, 2.0), flip=True)
    assert cams.shape == (2, 64, 96)
    assert torch.allclose(cams.flatten(1).amax(1), torch.ones(2), atol=1e-4)
    assert cams[0, 20:30, 20:40].mean() > 0.8 and cams[0, 45:, 65:].max() < 0.05
    assert cams[1, 40:55, 65:85].mean() > 0.8
    assert multiscale_cams(_RedDetector(), img, []).shape == (0, 64, 96)


def test_cue_labels_threshold_soft_and_crf():
    from c2am.settings import CueLabelSettings
    from c2am.wsss.cues import cue_label

    img = _two_region_image()
    fg = np.zeros((40, 60))
    fg[:, :26] = 0.8
    hard = cue_label(fg, img, CueLabelSettings.from_dict({"threshold": 0.3, "crf_iterations": 0}))
    assert hard.dtype == np.uint8 and set(np.unique(hard)) == {0, 255} and (hard[:, :26] == 0).all()
    soft = cue_label(fg, img, CueLabelSettings.from_dict({"threshold": None, "crf_iterations": 0}))
    assert soft[0, 0] == 51 and soft[0, 59] == 255
    crf = cue_label(fg, img, CueLabelSettings.from_dict({"threshold": 0.3, "crf_iterations": 10}))
    assert (crf[:, :28] == 0).mean() > 0.95  # pulled to the colour edge


@pytest.fixture()
def raw():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_wsss_config_errors(raw):
    cfg = validate_config(raw)
    assert cfg["cams"]["effl0_cam_demo"]["folder"] is None
    bad = yaml.safe_load(yaml.safe_dump(raw))
    bad["cams"]["effl0_cam"]["folder"] = "somewhere"
    with pytest.raises(ConfigError, match="cams.effl0_cam needs exactly one of `init`"):
        validate_config(bad)
    bad = yaml.safe_load(yaml.safe_dump(raw))
    bad["experiments"]["cub10_effl0"]["cams"] = ["effl0_cam"]
    with pytest.raises(ConfigError, match="VOC-layout"):
        validate_config(bad)
    bad = yaml.safe_load(yaml.safe_dump(raw))
    bad["experiments"]["demo_voc_effl0"]["cams"] = ["nope"]
    with pytest.raises(ConfigError, match="lists 'nope', which is not a key of cams"):
        validate_config(bad)
    bad = yaml.safe_load(yaml.safe_dump(raw))
    bad["saliency"]["x"] = {"method": "spectral_residual", "folder": "f"}
    with pytest.raises(ConfigError, match="saliency.x needs exactly one"):
        validate_config(bad)
    bad = yaml.safe_load(yaml.safe_dump(raw))
    bad["stages"]["refine_cams"]["crf_iterations"] = "ten"
    with pytest.raises(ConfigError, match="crf_iterations"):
        validate_config(bad)
    bad = yaml.safe_load(yaml.safe_dump(raw))
    bad["experiments"]["demo_voc_effl0"]["cams"] = ["effl0_cam_demo", "effl0_cam"]  # both "EfficientNet-Lite0 CAM"
    with pytest.raises(ConfigError, match="same table label"):
        validate_config(bad)
