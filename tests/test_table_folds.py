"""c2am.tables.fold_rows (stages.table_folds): per-fold rows and the pooled row, on hand-made evaluate_wsol JSONs."""

import json

import pytest

from c2am.tables import fold_rows as fold_rows_of


def fold_rows(entries):
    """fold_rows of manifest rows given as (label, root, split, metrics) tuples."""
    return fold_rows_of([dict(zip(("label", "root", "split", "metrics"), e)) for e in entries])


ROOT = "data/CUB_200_2011"


def metrics(tmp_path, name, images, loc, mba, at50, threshold):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"images": images, "gt_known_loc": loc, "box_threshold": threshold,
                                "MaxBoxAccV2": mba, "MaxBoxAcc@50": at50}))
    return str(path)


def test_pooled_row_counts_each_held_out_image_once(tmp_path):
    entries = [("f0", ROOT, "train-fold0of3", metrics(tmp_path, "a", 100, 0.85, 0.80, 0.90, 0.55)),
               ("f2", ROOT, "train-fold2of3", metrics(tmp_path, "c", 99, 91 / 99, 0.86, 0.93, 0.60)),
               ("f1", ROOT, "train-fold1of3", metrics(tmp_path, "b", 100, 0.96, 0.90, 0.97, 0.60))]
    rows = fold_rows(entries)
    assert [r["fold"] for r in rows] == ["0", "1", "2", "pooled"]
    assert [r["correct boxes"] for r in rows] == [85, 96, 91, 272]
    pooled = rows[-1]
    assert pooled["images"] == 299 and pooled["GT-known Loc"] == pytest.approx(100 * 272 / 299)
    assert pooled["MaxBoxAccV2"] == pytest.approx((80 + 90 + 86) / 3)
    assert pooled["MaxBoxAcc@50"] == pytest.approx((90 + 97 + 93) / 3)
    assert pooled["box threshold"] is None and rows[0]["box threshold"] == 0.55


@pytest.mark.parametrize("splits, message", [
    (["train-fold0of2"], r"folds \[1\] of 2 are missing"),
    (["train-fold0of2", "train-fold0of2"], "given twice"),
    (["train-without-fold0of2"], "not a held-out fold"),
    (["test"], "not a held-out fold")])
def test_incomplete_or_wrong_folds_are_refused(tmp_path, splits, message):
    entries = [(s, ROOT, s, metrics(tmp_path, f"m{i}", 10, 0.5, 0.5, 0.5, 0.5)) for i, s in enumerate(splits)]
    with pytest.raises(ValueError, match=message):
        fold_rows(entries)


def test_folds_scored_at_different_ious_or_without_a_threshold_are_refused_naming_the_file(tmp_path):
    other = tmp_path / "b.json"
    other.write_text(json.dumps({"images": 10, "gt_known_loc": 0.5, "box_threshold": 0.5, "MaxBoxAccV2": 0.5,
                                 "MaxBoxAcc@70": 0.4}))
    entries = [("f0", ROOT, "train-fold0of2", metrics(tmp_path, "a", 10, 0.5, 0.5, 0.5, 0.5)),
               ("f1", ROOT, "train-fold1of2", str(other))]
    with pytest.raises(ValueError, match=r"different MaxBoxAcc IoUs .*b\.json: MaxBoxAcc@70, MaxBoxAccV2"):
        fold_rows(entries)
    other.write_text(json.dumps({"images": 10, "gt_known_loc": 0.5, "box_threshold": None, "MaxBoxAccV2": None}))
    with pytest.raises(ValueError, match=r"b\.json: no box_threshold, MaxBoxAccV2"):
        fold_rows(entries)


def test_the_stage_reads_its_manifest_and_writes_the_table(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    rows = [{"label": f"f{i}", "root": ROOT, "split": f"train-fold{i}of2",
             "metrics": metrics(tmp_path, f"m{i}", 10, 0.5 + i / 10, 0.5, 0.5, 0.5)} for i in (1, 0)]
    (tmp_path / "manifest.json").write_text(json.dumps({"rows": rows}))
    out = tmp_path / "folds.csv"
    proc = subprocess.run([sys.executable, "-m", "stages.table_folds", "--manifest", str(tmp_path / "manifest.json"),
                           "--decimals", "1", "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("dataset root,base split,fold,of,label,images,GT-known Loc,correct boxes")
    assert [line.split(",")[2] for line in lines[1:]] == ["0", "1", "pooled"]
    assert [line.split(",")[6] for line in lines[1:]] == ["50.0", "60.0", "55.0"]
