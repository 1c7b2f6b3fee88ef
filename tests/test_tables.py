"""Tables as data (c2am.tables): each table function on hand-written metrics JSONs (exact values, row order), the
stages reading a manifest, and the manifest that the workflow writes for Table 2 on the demo config."""

import json
import subprocess
import sys

import pytest

from c2am.report import WsssColumn
from c2am.tables import check_outputs, read_manifest, table1, table2, table3, table5, table6
from conftest import REPO, SNAKEMAKE


def write(tmp_path, name, data):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return str(path)


def psol(split="test", images=10, loc=0.5):
    return {"split": split, "images": images, "top1_loc": loc, "top5_loc": loc + 0.1, "gt_known_loc": loc + 0.2,
            "top1_loc_class_avg": loc, "top5_loc_class_avg": loc, "gt_known_loc_class_avg": loc,
            "top1_cls": 0.9, "top5_cls": 1.0, "top5_k": 5}


def wsol(backbone="effl0", split="test", loc=0.61234, mba=0.5, frac=0.75):
    return {"backbone": backbone, "split": split, "images": 8, "gt_known_loc": loc, "box_threshold": 0.3,
            "authors_protocol": {"gt_known_loc_tuned_on_eval": 0.7, "threshold_tuned_on_eval": 0.25},
            "MaxBoxAccV2": mba, "MaxBoxAcc@50": 0.55, "best_threshold@50": 0.2, "PxAP": None,
            "center_box": {"gt_known_loc_tuned_on_eval": 0.4, "best_frac_tuned_on_eval": frac}}


def test_table1_rows_sorted_with_percentages_rounded(tmp_path):
    rows = [{"experiment": "B exp", "dataset": "demo", "source": "ddt", "localizer": "L", "classifier": "C",
             "metrics": write(tmp_path, "b", psol(loc=0.25))},
            {"experiment": "A exp", "dataset": "demo", "source": "c2am", "localizer": "L", "classifier": "C",
             "metrics": write(tmp_path, "a", psol(loc=0.123456))}]
    frame = table1(rows, decimals=1).frame
    assert frame["experiment"].tolist() == ["A exp", "B exp"]
    assert frame["method"].tolist() == ["C2AM", "PSOL (DDT boxes)"]
    assert frame["Top-1 Loc"].tolist() == [12.3, 25.0]
    assert frame["GT-known Loc"].tolist() == [32.3, 45.0]
    assert frame["images"].tolist() == [10, 10]


def test_table2_adds_one_centre_box_row_per_dataset_and_split_and_writes_csv_and_markdown(tmp_path):
    rows = [{"method": "C2AM", "label": "ours", "dataset": "demo", "init": "i", "metrics": write(tmp_path, "c", wsol())},
            {"method": "DDT", "label": None, "dataset": "demo", "init": "i",
             "metrics": write(tmp_path, "d", wsol(loc=0.4, frac=0.5))}]
    table = table2(rows, decimals=2)
    assert table.frame["method"].tolist() == ["C2AM", "DDT", "centre box (tuned on split)"]
    assert table.frame["GT-known Loc"].tolist() == [61.23, 40.0, 40.0]
    assert table.frame["MaxBoxAcc@50"].tolist()[:2] == [55.0, 55.0]
    assert table.frame["note"].iloc[2] == "centred box covering 0.75 of each side"  # the first row's centre box
    out = tmp_path / "t2.csv"
    table.write(out)
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[:7] == ["method", "backbone", "init", "dataset", "split", "images", "GT-known Loc"]
    assert lines[1].startswith("C2AM,effl0,i,demo,test,8,61.23,0.3,70.0,0.25,50.0,55.0,,ours,")
    assert (tmp_path / "t2.md").read_text().startswith("# Table 2: class-agnostic boxes")


def test_table3_keeps_the_label_of_ddt_empty(tmp_path):
    rows = [{"method": "DDT", "label": None, "dataset": "demo", "init": "i", "metrics": write(tmp_path, "d", wsol())},
            {"method": "C2AM", "label": "ours", "dataset": "demo", "init": "i",
             "metrics": write(tmp_path, "c", wsol(mba=0.123))}]
    frame = table3(rows, decimals=1).frame
    assert frame["method"].tolist() == ["C2AM", "DDT"]
    assert frame["MaxBoxAccV2"].tolist() == [12.3, 50.0]
    assert frame["best threshold@50"].tolist() == [0.2, 0.2]
    assert frame["label"].tolist()[0] == "ours" and frame["label"].isna().tolist()[1]


def test_table5_one_column_per_refinement_and_the_gain(tmp_path):
    def cell(column, miou, name):
        return {"experiment": "E", "cam": "CAM", "dataset": "voc", "split": "val", "column": column,
                "metrics": write(tmp_path, name, {"images": 4, "miou": miou, "threshold": 0.3})}

    rows = [cell(WsssColumn.CAMS, 0.40, "cams"), cell(WsssColumn.CRF["crf_label"], 0.45, "crf"),
            cell(WsssColumn.C2AM, 0.5234, "c2am")]
    frame = table5(rows, decimals=1).frame
    assert list(frame.columns)[-4:] == ["CAMs", "+dCRF", "+C2AM", "gain"]
    assert frame.iloc[0][["threshold", "CAMs", "+dCRF", "+C2AM", "gain"]].tolist() == [0.3, 40.0, 45.0, 52.3, 12.3]


def test_table6_keeps_the_manifest_order_and_reads_the_fg_rules(tmp_path):
    rows = [{"study": "alpha", "value": "0.5", "experiment": "e__alpha-0.5", "metrics": write(tmp_path, "a", wsol())},
            {"study": "head_init", "value": "normal", "experiment": "e", "metrics": write(tmp_path, "b", wsol())}]
    rules = {r: {"images": 8, "gt_known_loc": 0.5, "threshold": 0.2}
             for r in ("dataset_border", "raw_P", "per_image_border")}
    (tmp_path / "res" / "e" / "metrics").mkdir(parents=True)
    fg = write(tmp_path / "res" / "e" / "metrics", "fg_rule_test", {"split": "test", "fg_flip": True, "rules": rules})
    frame = table6(rows, decimals=2, fg_rules=fg).frame
    assert frame["value"].tolist() == ["0.5", "normal", "dataset_border", "raw_P", "per_image_border"]
    assert frame["experiment"].tolist() == ["e__alpha-0.5", "e", "e", "e", "e"]
    assert frame["paper (ImageNet)"].tolist()[1] == 66.82 and frame["GT-known Loc"].tolist()[:3] == [61.23, 61.23, 50]


def test_a_manifest_row_without_a_field_is_refused_naming_it(tmp_path):
    path = write(tmp_path, "m", {"rows": [{"study": "alpha", "value": "0", "metrics": "x.json"}]})
    with pytest.raises(ValueError, match="row 0 of table6: missing experiment"):
        read_manifest(path, "table6")
    with pytest.raises(ValueError, match="not a manifest"):
        read_manifest(write(tmp_path, "n", [1]), "table6")


def test_an_output_onto_a_metrics_file_of_the_manifest_is_refused(tmp_path):
    metrics = write(tmp_path, "a", wsol())
    with pytest.raises(ValueError, match="refusing to write an output onto an input"):
        check_outputs([{"metrics": metrics}], str(tmp_path / "m.json"), out=metrics)


def test_the_table2_stage_reads_its_manifest(tmp_path):
    rows = [{"method": "C2AM", "label": "ours", "dataset": "demo", "init": "i", "metrics": write(tmp_path, "c", wsol())}]
    manifest = write(tmp_path, "manifest", {"rows": rows})
    out = tmp_path / "t.csv"
    cmd = [sys.executable, "-m", "stages.table2", "--manifest", manifest, "--decimals", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert [line.split(",")[6] for line in out.read_text().splitlines()[1:]] == ["61.2", "40.0"]
    bad = subprocess.run(cmd[:-1] + [rows[0]["metrics"]], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1 and "onto an input" in bad.stderr


def test_the_workflow_writes_the_table2_manifest_of_the_demo_config_and_rewrites_it_only_when_rows_change(tmp_path):
    results = tmp_path / "results"
    base = [SNAKEMAKE, "--snakefile", str(REPO / "workflow" / "Snakefile"), "--cores", "1",
            f"{results}/manifests/table2.json", "--config", f"results_dir={results}"]
    proc = subprocess.run(base, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((results / "manifests" / "table2.json").read_text())["rows"]
    assert rows == [
        {"method": "C2AM", "label": "C2AM EfficientNet-Lite0 (demo)", "dataset": "demo", "init": "effl0_imagenet",
         "metrics": f"{results}/demo_effl0/metrics/wsol_test.json"},
        {"method": "C2AM", "label": "C2AM EfficientNet-Lite0 (demo VOC)", "dataset": "demo_voc",
         "init": "effl0_imagenet", "metrics": f"{results}/demo_voc_effl0/metrics/wsol_val.json"},
        {"method": "DDT", "label": None, "dataset": "demo", "init": "effl0_imagenet",
         "metrics": f"{results}/ddt/demo/effl0_imagenet/metrics/wsol_test.json"}]
    decimals = tmp_path / "decimals.yaml"
    decimals.write_text("stages: {tables: {decimals: 3}}\n")
    again = subprocess.run(base + ["-n", "--configfile", str(decimals)], capture_output=True, text=True, cwd=REPO,
                           timeout=600)
    out = again.stdout + again.stderr
    assert again.returncode == 0 and "Nothing to be done" in out, out[-3000:]
    overlay = tmp_path / "label.yaml"
    overlay.write_text("experiments: {demo_effl0: {label: Relabelled}}\n")
    changed = subprocess.run(base + ["-n", "--configfile", str(overlay)], capture_output=True, text=True, cwd=REPO,
                             timeout=600)
    out = changed.stdout + changed.stderr
    assert changed.returncode == 0 and "Params have changed" in out and "manifest" in out, out[-3000:]
