"""Dataset readers on tiny hand-written trees (exact values) and, when present, on the shared real data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from c2am.data.readers import (VOC_CLASSES, image_size, load_dataset, read_cub, read_folder, read_imagenet,
                               read_voc, voc_labels_from_mask)
from c2am.data.voc import voc_palette

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write(path: Path, text: str | bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


# ----------------------------------------------------------------------------------------------- CUB
CUB_FILES = {
    "images.txt": "10 002.Beta/b_0001.jpg\n2 001.Alpha/a_0002.jpg\n\n1 001.Alpha/a_0001.jpg\n",
    "bounding_boxes.txt": "1 10.0 20.0 30.0 40.0\n2 0 0 5.5 6\n10 1.5 2.5 3.0 4.0\n",
    "train_test_split.txt": "1 1\n2 0\n10 1\n",
    "image_class_labels.txt": "1 1\n2 1\n10 2\n",
    "classes.txt": "1 001.Alpha\n2 002.Beta\n",
}


def make_cub(root: Path, **overrides: str | None) -> Path:
    for name, text in {**CUB_FILES, **overrides}.items():
        if text is not None:
            write(root / name, text)
    return root


def test_read_cub_exact(tmp_path):
    root = make_cub(tmp_path / "CUB_200_2011")
    write(root / "segmentations" / "001.Alpha" / "a_0002.png")
    recs = read_cub(root)
    assert [r.image_id for r in recs] == ["1", "2", "10"]  # numeric order
    assert [r.label for r in recs] == [0, 0, 1]
    assert [r.class_name for r in recs] == ["001.Alpha", "001.Alpha", "002.Beta"]
    assert [r.split for r in recs] == ["train", "test", "train"]
    assert [r.boxes for r in recs] == [((10.0, 20.0, 40.0, 60.0),), ((0.0, 0.0, 5.5, 6.0),),
                                       ((1.5, 2.5, 4.5, 6.5),)]
    assert recs[0].path == root.absolute() / "images" / "001.Alpha" / "a_0001.jpg"
    assert recs[0].mask_path is None and recs[2].mask_path is None
    assert recs[1].mask_path == root.absolute() / "segmentations" / "001.Alpha" / "a_0002.png"
    assert recs[0].width is None and recs[0].labels == ()
    assert [r.image_id for r in read_cub(root, "train")] == ["1", "10"]
    assert [r.image_id for r in read_cub(root, "test")] == ["2"]
    assert read_cub(root, "all") == recs
    assert load_dataset("cub", root, "train") == read_cub(root, "train")


def test_read_cub_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="CUB root not found: .*nowhere"):
        read_cub(tmp_path / "nowhere")
    root = make_cub(tmp_path / "a", **{"bounding_boxes.txt": None})
    with pytest.raises(FileNotFoundError, match=r"a/bounding_boxes\.txt"):
        read_cub(root)
    root = make_cub(tmp_path / "b", **{"bounding_boxes.txt": "1 1 2 3 4\n2 1 2 3 4\n10 1 2 x 4\n"})
    with pytest.raises(ValueError, match=r"bounding_boxes\.txt:3: cannot parse"):
        read_cub(root)
    root = make_cub(tmp_path / "c", **{"bounding_boxes.txt": "1 1 2 3 4\n10 1 2 3 4\n"})
    with pytest.raises(ValueError, match=r"image id 2 of images\.txt is missing from .*bounding_boxes\.txt"):
        read_cub(root)
    root = make_cub(tmp_path / "d", **{"train_test_split.txt": "1 1\n10 0\n"})
    with pytest.raises(ValueError, match=r"image id 2 .*train_test_split\.txt"):
        read_cub(root)
    root = make_cub(tmp_path / "e", **{"bounding_boxes.txt": "1 1 2 3 4\n2 1 2 0 4\n10 1 2 3 4\n"})
    with pytest.raises(ValueError, match=r"bounding_boxes\.txt:2: box .* non-positive"):
        read_cub(root)
    root = make_cub(tmp_path / "f", **{"train_test_split.txt": "1 1\n2 2\n10 0\n"})
    with pytest.raises(ValueError, match=r"train_test_split\.txt:2: .*0 or 1"):
        read_cub(root)
    root = make_cub(tmp_path / "g", **{"images.txt": "1 x.jpg\n2 y.jpg\n1 z.jpg\n"})
    with pytest.raises(ValueError, match=r"images\.txt:3: duplicate id '1' \(first on line 1\)"):
        read_cub(root)
    root = make_cub(tmp_path / "h", **{"image_class_labels.txt": "1 1\n2 1\n10 7\n"})
    with pytest.raises(ValueError, match=r"image_class_labels\.txt:3: class 7 is not listed"):
        read_cub(root)
    root = make_cub(tmp_path / "i", **{"train_test_split.txt": "1 1\n2 0 1\n10 0\n"})
    with pytest.raises(ValueError, match=r"train_test_split\.txt:2: expected 2 fields, got 3"):
        read_cub(root)
    with pytest.raises(ValueError, match="CUB split"):
        read_cub(make_cub(tmp_path / "j"), "val")


# ----------------------------------------------------------------------------------------------- VOC
def save_palette_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr.astype(np.uint8))
    im.putpalette(voc_palette().ravel().tolist())
    im.save(path)
    return path


VOC_XML = """<annotation><filename>a.jpg</filename><size><width>8</width><height>6</height><depth>3</depth></size>
<object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>4</xmax><ymax>6</ymax></bndbox></object>
<object><name>dog</name><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>8</xmax><ymax>3</ymax></bndbox></object>
</annotation>"""


def test_voc_labels_from_mask(tmp_path):
    arr = np.zeros((6, 8), np.uint8)
    arr[1:3, 1:4], arr[4:, 5:], arr[0, :] = 15, 3, 255
    path = save_palette_png(tmp_path / "m.png", arr)
    with Image.open(path) as im:
        assert im.mode == "P" and im.getpalette()[15 * 3:16 * 3] == [192, 128, 128]  # 'person' colour
    assert voc_labels_from_mask(path) == (3, 15)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="rgb.png: expected a palette"):
        voc_labels_from_mask(tmp_path / "rgb.png")
    arr[0, 0] = 42
    with pytest.raises(ValueError, match=r"values \[42\]"):
        voc_labels_from_mask(save_palette_png(tmp_path / "bad.png", arr))
    with pytest.raises(FileNotFoundError, match="mask not found"):
        voc_labels_from_mask(tmp_path / "none.png")


def test_read_voc(tmp_path):
    root = tmp_path / "VOC2012"
    write(root / "ImageSets" / "Segmentation" / "train.txt", "b\na\nc\n")
    m = np.zeros((6, 8), np.uint8)
    m[2:4, 2:4] = 8
    save_palette_png(root / "SegmentationClass" / "a.png", m)
    save_palette_png(root / "SegmentationClass" / "b.png", m)
    m[0, 0] = 12
    save_palette_png(root / "SegmentationClassAug" / "b.png", m)  # the Aug mask wins
    write(root / "Annotations" / "a.xml", VOC_XML)
    write(root / "Annotations" / "c.xml", VOC_XML)  # no mask: labels from the XML
    a, b, c = read_voc(root, "train")
    assert [r.image_id for r in (a, b, c)] == ["a", "b", "c"]
    assert a.path == root.absolute() / "JPEGImages" / "a.jpg" and a.split == "train"
    assert a.labels == (8,) and a.boxes == ((0.0, 1.0, 4.0, 6.0), (4.0, 0.0, 8.0, 3.0))
    assert (a.width, a.height) == (8, 6) and a.label is None
    assert b.labels == (8, 12) and b.mask_path == root.absolute() / "SegmentationClassAug" / "b.png"
    assert b.boxes == () and (b.width, b.height) == (8, 6)
    assert c.mask_path is None and c.labels == (VOC_CLASSES.index("cat"), VOC_CLASSES.index("dog"))
    assert load_dataset("voc", root, "train") == [a, b, c]
    with pytest.raises(FileNotFoundError, match=r"Segmentation/val\.txt"):
        read_voc(root, "val")
    write(root / "ImageSets" / "Main" / "val.txt", "a\n")  # fallback list
    assert read_voc(root, "val")[0].labels == (8,)
    with pytest.raises(ValueError, match="needs a split"):
        load_dataset("voc", root)


# ----------------------------------------------------------------------------------------------- ImageNet
def ilsvrc_xml(wnid: str, boxes: list[tuple[int, int, int, int]], size=(50, 40)) -> str:
    objs = "".join(f"<object><name>{wnid}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                   f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for b in boxes)
    return f"<annotation><size><width>{size[0]}</width><height>{size[1]}</height></size>{objs}</annotation>"


def test_read_imagenet_folders_and_xml(tmp_path):
    root = tmp_path / "ILSVRC"
    for wnid in ("n02", "n01"):
        for k in (2, 1):
            write(root / "train" / wnid / f"{wnid}_{k}.JPEG")
    write(root / "train_boxes" / "n02" / "n02_1.xml", ilsvrc_xml("n02", [(3, 4, 20, 30)]))
    write(root / "val" / "ILSVRC2012_val_00000002.JPEG")
    write(root / "val" / "ILSVRC2012_val_00000001.JPEG")
    write(root / "val_boxes" / "ILSVRC2012_val_00000001.xml", ilsvrc_xml("n02", [(0, 0, 10, 10), (5, 5, 9, 9)]))
    write(root / "val_boxes" / "ILSVRC2012_val_00000002.xml", ilsvrc_xml("n01", [(1, 2, 3, 4)], (7, 8)))

    train = read_imagenet(root, "train")
    assert [r.image_id for r in train] == ["train/n01/n01_1", "train/n01/n01_2", "train/n02/n02_1", "train/n02/n02_2"]
    assert [r.label for r in train] == [0, 0, 1, 1]
    assert train[2].boxes == ((3.0, 4.0, 20.0, 30.0),) and (train[2].width, train[2].height) == (50, 40)
    assert train[0].boxes == () and train[0].width is None and train[0].class_name == "n01"
    val = read_imagenet(root, "val")
    assert [(r.image_id, r.label) for r in val] == [("val/ILSVRC2012_val_00000001", 1),
                                                    ("val/ILSVRC2012_val_00000002", 0)]
    assert val[0].boxes == ((0.0, 0.0, 10.0, 10.0), (5.0, 5.0, 9.0, 9.0)) and val[0].split == "val"
    assert (val[1].width, val[1].height) == (7, 8)
    # a given class list fixes the label order and the classes read
    assert [r.label for r in read_imagenet(root, "train", classes=["n02"])] == [0, 0]
    assert [r.label for r in load_dataset("imagenet", root, "val", classes=["n02", "n01"])] == [0, 1]
    write(root / "val" / "ILSVRC2012_val_00000003.JPEG")
    with pytest.raises(FileNotFoundError, match=r"ILSVRC2012_val_00000003\.xml"):
        read_imagenet(root, "val")
    write(root / "val_boxes" / "ILSVRC2012_val_00000003.xml", ilsvrc_xml("n09", [(1, 2, 3, 4)]))
    with pytest.raises(ValueError, match=r"00000003\.xml: expected objects of exactly one known class"):
        read_imagenet(root, "val")


def test_read_imagenet_wsolevaluation_metadata(tmp_path):
    root = tmp_path / "ILSVRC"
    meta = root / "metadata" / "ILSVRC" / "test"
    write(meta / "image_ids.txt", "val/b.JPEG\nval/a.JPEG\n")
    write(meta / "class_labels.txt", "val/a.JPEG,3\nval/b.JPEG,7\n")
    write(meta / "localization.txt", "val/a.JPEG,1,2,30,40\nval/b.JPEG,0,0,5,6\nval/a.JPEG,10,11,12,13\n")
    write(meta / "image_sizes.txt", "val/a.JPEG,64,48\nval/b.JPEG,10,20\n")
    a, b = read_imagenet(root, "test")
    assert (a.image_id, a.label, a.split, a.width, a.height) == ("val/a", 3, "test", 64, 48)
    assert a.boxes == ((1.0, 2.0, 30.0, 40.0), (10.0, 11.0, 12.0, 13.0))
    assert a.path == root.absolute() / "val" / "a.JPEG"
    assert (b.image_id, b.label, b.boxes) == ("val/b", 7, ((0.0, 0.0, 5.0, 6.0),))
    # an explicit metadata folder elsewhere (the wsolevaluation repo layout)
    other = tmp_path / "wsolevaluation" / "metadata" / "ILSVRC"
    write(other / "test" / "image_ids.txt", "val/a.JPEG\n")
    write(other / "test" / "class_labels.txt", "val/a.JPEG,3\n")
    (c,) = read_imagenet(tmp_path / "ILSVRC", "test", metadata=other)
    assert c.boxes == () and c.width is None and c.label == 3
    write(meta / "localization.txt", "val/a.JPEG,1,2,30\n")
    with pytest.raises(ValueError, match=r"localization\.txt:1: cannot parse"):
        read_imagenet(root, "test")
    write(meta / "localization.txt", "val/a.JPEG,1,2,1,40\n")
    with pytest.raises(ValueError, match=r"localization\.txt:1: box .* non-positive"):
        read_imagenet(root, "test")
    write(meta / "localization.txt", "")
    write(meta / "class_labels.txt", "val/a.JPEG,3\n")
    with pytest.raises(ValueError, match=r"val/b\.JPEG .* missing from .*class_labels\.txt"):
        read_imagenet(root, "test")
    with pytest.raises(FileNotFoundError, match="wsolevaluation metadata not found"):
        read_imagenet(root, "test", metadata=tmp_path / "nothing")


# ----------------------------------------------------------------------------------------------- fold splits
def test_fold_splits_partition_the_base_split_by_sorted_position(tmp_path):
    """BASE-foldIofK holds the base split's images at sorted positions p with p mod K = I; BASE-without-foldIofK
    the rest; the K folds partition the split."""
    imgs = tmp_path / "imgs"
    for name in ("a", "b", "c", "d", "e", "f", "g"):
        write(imgs / f"{name}.png")
    assert [r.image_id for r in load_dataset("folder", imgs, "train-fold0of3")] == ["a", "d", "g"]
    assert [r.image_id for r in load_dataset("folder", imgs, "train-fold1of3")] == ["b", "e"]
    assert [r.image_id for r in load_dataset("folder", imgs, "train-fold2of3")] == ["c", "f"]
    rest = load_dataset("folder", imgs, "train-without-fold1of3")
    assert [r.image_id for r in rest] == ["a", "c", "d", "f", "g"]
    assert {r.split for r in rest} == {"train-without-fold1of3"}
    # CUB: the fold of the official training split (ids 1 and 10), never a test image (id 2)
    root = make_cub(tmp_path / "CUB_200_2011")
    assert [r.image_id for r in load_dataset("cub", root, "train-fold1of2")] == ["10"]
    assert [r.image_id for r in load_dataset("cub", root, "train-without-fold1of2")] == ["1"]
    # positions in numeric id order (1, 2, 10), not text order (1, 10, 2)
    root = make_cub(tmp_path / "CUB_all_train", **{"train_test_split.txt": "1 1\n2 1\n10 1\n"})
    assert [r.image_id for r in load_dataset("cub", root, "train-fold1of2")] == ["2"]
    assert [r.image_id for r in load_dataset("cub", root, "train-without-fold1of2")] == ["1", "10"]


@pytest.mark.parametrize("split, message", [("train-fold3of3", "one of 0..K-1"), ("train-fold0of1", "K >= 2"),
                                            ("train-fold0of9", "cannot fill 9 folds")])
def test_bad_fold_splits_are_refused(tmp_path, split, message):
    for name in ("a", "b", "c"):
        write(tmp_path / f"{name}.png")
    with pytest.raises(ValueError, match=message):
        load_dataset("folder", tmp_path, split)


# ----------------------------------------------------------------------------------------------- folder, sizes
def test_read_folder(tmp_path):
    for name in ("b.JPG", "a/x.png", "a/y.Jpeg", "a/notes.txt", ".hidden/z.jpg", "c.webp", "d.bmp"):
        write(tmp_path / "imgs" / name)
    recs = read_folder(tmp_path / "imgs")
    assert [r.image_id for r in recs] == ["a/x", "a/y", "b", "c", "d"]
    assert all(r.split == "all" and r.label is None and r.boxes == () for r in recs)
    assert recs[0].path == (tmp_path / "imgs" / "a" / "x.png").absolute()
    assert load_dataset("folder", tmp_path / "imgs", "unlabeled")[0].split == "unlabeled"
    write(tmp_path / "imgs" / "b.png")
    with pytest.raises(ValueError, match="two images share the id 'b'"):
        read_folder(tmp_path / "imgs")
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        read_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown dataset format 'coco'"):
        load_dataset("coco", tmp_path)


def test_image_size_honours_exif_orientation(tmp_path):
    img = Image.fromarray(np.zeros((20, 30, 3), np.uint8))  # 30 wide, 20 high
    img.save(tmp_path / "plain.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(tmp_path / "rotated.jpg", exif=exif)
    assert image_size(tmp_path / "plain.jpg") == (30, 20)
    assert image_size(tmp_path / "rotated.jpg") == (20, 30)
    with pytest.raises(FileNotFoundError, match="image not found"):
        image_size(tmp_path / "none.jpg")


# ----------------------------------------------------------------------------------------------- real data
def _need(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"real data not available at {path}")
    return path


@pytest.mark.realdata
def test_read_cub_real():
    root = _need(SHARED_DATA / "cub10" / "CUB_200_2011")
    recs = read_cub(root)
    assert len(recs) == 543
    assert Counter(r.split for r in recs) == {"train": 300, "test": 243}
    assert sorted({r.label for r in recs}) == list(range(10))
    assert recs[0].image_id == "1" and recs[0].boxes == ((60.0, 27.0, 385.0, 331.0),)
    assert recs[0].class_name == "001.Black_footed_Albatross"
    assert all(r.path.is_file() for r in recs)
    w, h = image_size(recs[0].path)
    assert all(0 <= b[0] < b[2] <= w + 1 and 0 <= b[1] < b[3] <= h + 1 for b in recs[0].boxes)


@pytest.mark.realdata
def test_read_voc_real():
    root = _need(SHARED_DATA / "coco128_voc")
    train, val = read_voc(root, "train"), read_voc(root, "val")
    assert (len(train), len(val)) == (77, 78)
    present = {c for r in train + val for c in r.labels}
    assert len(present) == 19 and VOC_CLASSES.index("cow") not in present
    assert all(r.mask_path is not None and r.path.is_file() for r in train + val)
    assert train[0].image_id == "000000000030" and train[0].labels == (VOC_CLASSES.index("pottedplant"),)
