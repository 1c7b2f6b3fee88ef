"""Readers for the official dataset layouts; each returns a sorted list of ImageRecord.

Box convention (see ``records.py``): (x0, y0, x1, y1) in continuous pixel coordinates, x1/y1 exclusive.
CUB ``x y w h`` -> (x, y, x + w, y + h). VOC XML boxes are 1-based inclusive pixel indices (VOC devkit)
-> (xmin - 1, ymin - 1, xmax, ymax). ILSVRC XML and wsolevaluation ``localization.txt`` boxes are taken
verbatim, as wsolevaluation does.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from PIL import Image

from ..names import readable, safe_names
from .records import Box, ImageRecord
from .voc import VOC_CLASSES, voc_labels_from_mask

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


FORMATS = ("cub", "imagenet", "voc", "folder")


# ----------------------------------------------------------------------------------------------- helpers
def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _require_file(path: Path, what: str = "annotation file") -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) for every non-blank line of a text file."""
    _require_file(path)
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            line = line.strip()
            if line:
                yield no, line


def _table(path: Path, parse: Callable[[list[str]], object], ncols: int, sep: str | None = None,
           maxsplit: int = -1) -> dict[str, tuple[int, object]]:
    """Map the first column of each line to (line number, parse(other columns)); clear errors on bad lines."""
    out: dict[str, tuple[int, object]] = {}
    for no, line in _lines(path):
        parts = [p.strip() for p in line.split(sep, maxsplit)]
        if len(parts) != ncols:
            raise ValueError(f"{path}:{no}: expected {ncols} fields, got {len(parts)}: {line!r}")
        try:
            value = parse(parts[1:])
        except ValueError as exc:
            raise ValueError(f"{path}:{no}: cannot parse {line!r} ({exc})") from None
        if parts[0] in out:
            raise ValueError(f"{path}:{no}: duplicate id {parts[0]!r} (first on line {out[parts[0]][0]})")
        out[parts[0]] = (no, value)
    return out


def _xywh_box(v: list[str]) -> Box:
    x, y, w, h = map(float, v)
    return (x, y, x + w, y + h)


def _is_train(v: list[str]) -> bool:
    if v[0] not in ("0", "1"):
        raise ValueError(f"is_training_image must be 0 or 1, got {v[0]!r}")
    return v[0] == "1"


def _id_key(image_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then any others in text order."""
    return (0, int(image_id), "") if image_id.isdigit() else (1, 0, image_id)


def _check_box(box: Box, path: Path, no: int) -> Box:
    if not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError(f"{path}:{no}: box {box} has non-positive width or height")
    return box


CUB_SPLITS = ("train", "test", "all")  # the splits of CUB's train_test_split.txt, and all images


def _split_arg(split: str | None) -> str | None:
    return None if split in (None, "all") else split


def _rel_id(path: Path, root: Path) -> str:
    """Image id of a file: its path relative to root, POSIX style, without the extension."""
    return path.relative_to(root).with_suffix("").as_posix()


def _image_files(folder: Path) -> list[Path]:
    """Image files under folder (recursive, case-insensitive extensions), hidden entries skipped, sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def list_images(folder: str | Path) -> list[Path]:
    """The photos `predict` reads: image files under `folder` (recursive, dangling links included so that they
    are counted), sorted by relative path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS
                   and (p.is_file() or (p.is_symlink() and not p.exists())))
    if not files:
        raise ValueError(f"{folder}: no image files ({', '.join(sorted(IMAGE_EXTS))})")
    return files


def listing_fingerprint(folder: str | Path) -> str:
    """A hash of the image files under `folder` (relative path, size, modification time): it changes when an
    image is added, removed or replaced, so the predict rule re-runs."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for p in list_images(folder):
        st = p.lstat() if not p.exists() else p.stat()
        # os.fsencode: the name's own bytes, also for a name that is not UTF-8 (a UTF-8 name gives its UTF-8 bytes)
        digest.update(os.fsencode(f"{p.relative_to(folder).as_posix()}:{st.st_size}:{st.st_mtime_ns};"))
    return digest.hexdigest()[:16]


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image as displayed, i.e. after EXIF orientation; reads only the header."""
    path = Path(path)
    _require_file(path, "image")
    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def record_size(record: ImageRecord) -> tuple[int, int]:
    """(width, height) of a record's image: from its annotation when stated, else from the file header."""
    return (record.width, record.height) if record.width and record.height else image_size(record.path)


# ----------------------------------------------------------------------------------------------- CUB
def read_cub(root: str | Path, split: str | None = None) -> list[ImageRecord]:
    """CUB_200_2011 official layout; split None/"all", "train" or "test". Sorted by numeric image id.

    Masks are taken from root/segmentations/<image path>.png when that file exists (wsolevaluation layout).
    """
    root = _require_dir(Path(root), "CUB root").absolute()
    split = _split_arg(split)
    if split not in (None, *CUB_SPLITS):
        raise ValueError(f"CUB split must be 'train', 'test' or None/'all', got {split!r}")
    images = _table(root / "images.txt", lambda v: v[0], 2, maxsplit=1)
    _refuse_repeated_images(images, root / "images.txt")
    boxes_file = root / "bounding_boxes.txt"
    split_file = root / "train_test_split.txt"
    label_file = root / "image_class_labels.txt"
    boxes = _table(boxes_file, _xywh_box, 5)
    is_train = _table(split_file, _is_train, 2)
    labels = _table(label_file, lambda v: int(v[0]), 2)
    classes = _table(root / "classes.txt", lambda v: v[0], 2, maxsplit=1)
    seg_dir = root / "segmentations"
    has_seg = seg_dir.is_dir()

    records = []
    for image_id in sorted(images, key=_id_key):
        rel = images[image_id][1]
        for table, file in ((boxes, boxes_file), (is_train, split_file), (labels, label_file)):
            if image_id not in table:
                raise ValueError(f"image id {image_id} of images.txt is missing from {file}")
        box = _check_box(boxes[image_id][1], boxes_file, boxes[image_id][0])
        label_no, class_id = labels[image_id]
        if str(class_id) not in classes:
            raise ValueError(f"{label_file}:{label_no}: class {class_id} is not listed in {root / 'classes.txt'}")
        rec_split = "train" if is_train[image_id][1] else "test"
        if split is not None and rec_split != split:
            continue
        mask = seg_dir / Path(rel).with_suffix(".png") if has_seg else None
        records.append(ImageRecord(
            image_id=image_id, path=root / "images" / rel, split=rec_split, label=class_id - 1,
            boxes=(box,),
            mask_path=mask if mask is not None and mask.is_file() else None,
            mask_kind="foreground" if mask is not None and mask.is_file() else None,
            class_name=classes[str(class_id)][1]))
    return records


def _refuse_repeated_images(images: dict[str, tuple[int, object]], path: Path) -> None:
    """One image listed under two ids of CUB's images.txt would be trained on twice and scored twice (on both
    sides of the split, possibly): an error naming both ids and lines, as a repeated id is."""
    first: dict[str, tuple[str, int]] = {}
    for image_id, (no, rel) in images.items():
        key = Path(str(rel)).as_posix()
        if key in first:
            other_id, other_no = first[key]
            raise ValueError(f"{path}:{no}: image {rel!r} is listed under two ids, {other_id!r} (line {other_no}) "
                             f"and {image_id!r} (line {no}); each image must have one id")
        first[key] = (image_id, no)


# ----------------------------------------------------------------------------------------------- XML (VOC / ILSVRC)
def _xml_int(node: ET.Element, tag: str, path: Path) -> int:
    text = node.findtext(tag)
    if text is None:
        raise ValueError(f"{path}: <{tag}> missing")
    try:
        return int(round(float(text)))
    except ValueError:
        raise ValueError(f"{path}: <{tag}> is not a number: {text!r}") from None


def parse_voc_xml(path: str | Path, one_based: bool = True) -> tuple[tuple[int, int] | None, list[tuple[str, Box]]]:
    """((width, height) or None, [(object name, box), ...]) of a VOC / ILSVRC annotation XML.

    one_based=True converts VOC's 1-based inclusive pixel indices to exclusive-edge boxes (xmin - 1, ..., xmax).
    """
    path = _require_file(Path(path))
    try:
        tree = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not valid XML ({exc})") from None
    size_node = tree.find("size")
    size = None
    if size_node is not None and size_node.findtext("width"):
        size = (_xml_int(size_node, "width", path), _xml_int(size_node, "height", path))
    objects = []
    for k, obj in enumerate(tree.iter("object")):
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        if not name or bb is None:
            raise ValueError(f"{path}: object #{k} lacks <name> or <bndbox>")
        x0, y0, x1, y1 = (_xml_int(bb, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
        off = 1 if one_based else 0
        box = (float(x0 - off), float(y0 - off), float(x1), float(y1))
        if not (box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"{path}: object #{k} box {box} has non-positive width or height")
        objects.append((name, box))
    return size, objects


# ----------------------------------------------------------------------------------------------- ImageNet
def _metadata_dir(root: Path, split: str, metadata: str | Path | None) -> Path | None:
    """The wsolevaluation metadata folder of a split: the given one (itself or its <split>/ subfolder),
    else root/metadata/ILSVRC/<split> if it exists, else None."""
    if metadata is None:
        auto = root / "metadata" / "ILSVRC" / split
        return auto if (auto / "image_ids.txt").is_file() else None
    for cand in (Path(metadata) / split, Path(metadata)):
        if (cand / "image_ids.txt").is_file():
            return cand
    raise FileNotFoundError(f"wsolevaluation metadata not found: {Path(metadata) / split / 'image_ids.txt'} "
                            f"(nor {Path(metadata) / 'image_ids.txt'})")


def _read_imagenet_metadata(root: Path, meta: Path, split: str) -> list[ImageRecord]:
    """wsolevaluation metadata: image_ids.txt, class_labels.txt, localization.txt, image_sizes.txt (optional)."""
    ids = [line for _, line in _lines(meta / "image_ids.txt")]
    labels = _table(meta / "class_labels.txt", lambda v: int(v[0]), 2, sep=",")
    boxes: dict[str, list[Box]] = {}
    loc = meta / "localization.txt"
    for no, line in (_lines(loc) if loc.is_file() else ()):
        parts = line.split(",")
        try:
            if len(parts) != 5:
                raise ValueError(f"expected 5 fields, got {len(parts)}")
            box = tuple(float(p) for p in parts[1:])
        except ValueError as exc:
            raise ValueError(f"{loc}:{no}: cannot parse {line!r} ({exc})") from None
        boxes.setdefault(parts[0].strip(), []).append(_check_box(box, loc, no))
    sizes_file = meta / "image_sizes.txt"
    sizes = _table(sizes_file, lambda v: (int(v[0]), int(v[1])), 3, sep=",") if sizes_file.is_file() else {}
    records = []
    for path in ids:
        if path not in labels:
            raise ValueError(f"image {path} of {meta / 'image_ids.txt'} is missing from {meta / 'class_labels.txt'}")
        w, h = sizes[path][1] if path in sizes else (None, None)
        records.append(ImageRecord(
            image_id=Path(path).with_suffix("").as_posix(), path=root / path, split=split,
            label=labels[path][1], boxes=tuple(boxes.get(path, ())), width=w, height=h))
    return sorted(records, key=lambda r: r.image_id)


def _first_dir(*cands: Path) -> Path | None:
    return next((c for c in cands if c.is_dir()), None)


def read_imagenet(root: str | Path, split: str, classes: Sequence[str] | None = None,
                  metadata: str | Path | None = None) -> list[ImageRecord]:
    """ILSVRC: root/train/<wnid>/*.JPEG (+ root/train_boxes/<wnid>/*.xml), root/val/*.JPEG with per-image
    XML in root/val_boxes, root/Annotations/CLS-LOC/val or root/Annotations; or wsolevaluation metadata
    (``metadata`` or root/metadata/ILSVRC/<split>/image_ids.txt, paths relative to root), used when present.

    Labels index ``classes`` (wnids), by default the sorted wnid folders of root/train (else of the split).
    image_id is the image path relative to root without extension. Sorted by image_id.
    """
    root = _require_dir(Path(root), "ImageNet root").absolute()
    meta = _metadata_dir(root, split, metadata)
    if meta is not None:
        return _read_imagenet_metadata(root, meta, split)
    split_dir = _require_dir(root / split, f"ImageNet {split} folder")
    if classes is None:
        class_root = root / "train" if (root / "train").is_dir() else split_dir
        classes = sorted(p.name for p in class_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    index = {wnid: k for k, wnid in enumerate(classes)}
    flat = [p for p in split_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file()]
    box_root = _first_dir(root / f"{split}_boxes", root / "Annotations" / "CLS-LOC" / split, root / "Annotations")

    records = []
    if not flat:  # class-folder layout (train, or a val reorganised into wnid folders)
        for wnid in classes:
            for img in _image_files(_require_dir(split_dir / wnid, f"class folder of {wnid}")):
                xml = box_root / wnid / (img.stem + ".xml") if box_root is not None else None
                boxes, size = _imagenet_boxes(xml)
                records.append(_imagenet_record(root, img, split, index[wnid], boxes, size, wnid))
    else:  # flat val folder: the label comes from the XML
        if box_root is None:
            raise FileNotFoundError(f"no annotation folder for {split_dir}: tried {root / (split + '_boxes')}, "
                                    f"{root / 'Annotations' / 'CLS-LOC' / split}, {root / 'Annotations'}")
        for img in sorted(flat):
            xml = _require_file(box_root / (img.stem + ".xml"))
            size, objects = parse_voc_xml(xml, one_based=False)
            names = {name for name, _ in objects}
            if len(names) != 1 or next(iter(names)) not in index:
                raise ValueError(f"{xml}: expected objects of exactly one known class, got {sorted(names)}")
            wnid = names.pop()
            records.append(_imagenet_record(root, img, split, index[wnid], [b for _, b in objects], size, wnid))
    return sorted(records, key=lambda r: r.image_id)


def _imagenet_boxes(xml: Path | None) -> tuple[list[Box], tuple[int, int] | None]:
    if xml is None or not xml.is_file():
        return [], None
    size, objects = parse_voc_xml(xml, one_based=False)
    return [b for _, b in objects], size


def _imagenet_record(root: Path, img: Path, split: str, label: int, boxes: list[Box],
                     size: tuple[int, int] | None, wnid: str) -> ImageRecord:
    w, h = size if size is not None else (None, None)
    return ImageRecord(image_id=_rel_id(img, root), path=img, split=split, label=label,
                       boxes=tuple(boxes), width=w, height=h, class_name=wnid)


# ----------------------------------------------------------------------------------------------- VOC
def read_voc(root: str | Path, split: str) -> list[ImageRecord]:
    """PASCAL VOC2012: ids from ImageSets/Segmentation/<split>.txt (else ImageSets/Main/<split>.txt).

    mask_path: SegmentationClassAug/<id>.png, else SegmentationClass/<id>.png, else None. labels: class ids in
    the mask (else the object names of Annotations/<id>.xml). boxes: Annotations/<id>.xml when present.
    """
    root = _require_dir(Path(root), "VOC root").absolute()
    list_file = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not list_file.is_file():
        fallback = root / "ImageSets" / "Main" / f"{split}.txt"
        if not fallback.is_file():
            raise FileNotFoundError(f"split list not found: {list_file} (nor {fallback})")
        list_file = fallback
    name_to_id = {n: k for k, n in enumerate(VOC_CLASSES)}
    records, seen = [], {}
    for no, line in _lines(list_file):
        image_id = line.split()[0]
        if image_id in seen:
            raise ValueError(f"{list_file}:{no}: duplicate id {image_id!r} (first on line {seen[image_id]})")
        seen[image_id] = no
        mask = next((m for m in (root / "SegmentationClassAug" / f"{image_id}.png",
                                 root / "SegmentationClass" / f"{image_id}.png") if m.is_file()), None)
        xml = root / "Annotations" / f"{image_id}.xml"
        size, objects = parse_voc_xml(xml) if xml.is_file() else (None, [])
        for name, _ in objects:
            if name not in name_to_id:
                raise ValueError(f"{xml}: unknown VOC class {name!r}")
        labels = voc_labels_from_mask(mask) if mask is not None else \
            tuple(sorted({name_to_id[n] for n, _ in objects}))
        if size is None and mask is not None:
            with Image.open(mask) as im:
                size = im.size
        w, h = size if size is not None else (None, None)
        records.append(ImageRecord(
            image_id=image_id, path=root / "JPEGImages" / f"{image_id}.jpg", split=split,
            labels=labels, boxes=tuple(b for _, b in objects),
            mask_path=mask, mask_kind="class_ids" if mask is not None else None, width=w, height=h))
    return sorted(records, key=lambda r: r.image_id)


# ----------------------------------------------------------------------------------------------- folder
def folder_images(root: str | Path) -> list[Path]:
    """The image files a folder dataset reads (read_folder): recursive, hidden entries skipped."""
    return _image_files(_require_dir(Path(root), "image folder"))


def read_folder(root: str | Path, split: str = "all") -> list[ImageRecord]:
    """Every image under root (recursive; jpg/jpeg/png/bmp/webp, any case); id = relative path sans extension, for
    a name that is not UTF-8 its escaped form (c2am.names: caf\\xe9.jpg -> caf%E9), unique among the ids."""
    root = _require_dir(Path(root), "image folder").absolute()
    records, seen = [], {}
    files = _image_files(root)
    ids = [_rel_id(p, root) for p in files]
    renamed = safe_names(ids)
    for p, image_id in zip(files, ids):
        if image_id in renamed:
            print(f"image {readable(p)}: its name is not UTF-8; its id is {renamed[image_id]!r}", file=sys.stderr)
            image_id = renamed[image_id]
        if image_id in seen:
            raise ValueError(f"two images share the id {image_id!r}: {seen[image_id]} and {p}")
        seen[image_id] = p
        records.append(ImageRecord(image_id=image_id, path=p, split=split))
    return records


# ----------------------------------------------------------------------------------------------- dispatch
# BASE-foldIofK: the I-th of K folds of split BASE (its images at sorted positions p with p mod K = I);
# BASE-without-foldIofK: the other K - 1 folds. For choosing recipes on held-out parts of a training split.
FOLD_SPLIT = re.compile(r"^(?P<base>.+?)-(?P<without>without-)?fold(?P<fold>[0-9]+)of(?P<folds>[0-9]+)$")


def fold_split(records: list[ImageRecord], split: str) -> list[ImageRecord]:
    """The records of a fold split name (FOLD_SPLIT) taken from the sorted records of its base split; each
    record's `split` becomes the fold split's name."""
    m = FOLD_SPLIT.match(split)
    if m is None:
        raise ValueError(f"{split!r} is not a fold split (BASE-foldIofK or BASE-without-foldIofK)")
    fold, folds = int(m["fold"]), int(m["folds"])
    if folds < 2 or not 0 <= fold < folds:
        raise ValueError(f"split {split!r}: the fold must be one of 0..K-1 of K >= 2 folds")
    if len(records) < folds:
        raise ValueError(f"split {split!r}: {len(records)} images of split {m['base']!r} cannot fill {folds} folds")
    held_out = m["without"] is None
    return [replace(r, split=split) for i, r in enumerate(records) if (i % folds == fold) == held_out]


def load_dataset(fmt: str, root: str | Path, split: str | None = None, **kw) -> list[ImageRecord]:
    """Read a dataset given its format name ("cub", "imagenet", "voc", "folder"); a split named
    BASE-foldIofK or BASE-without-foldIofK is a fold of split BASE (`fold_split`)."""
    m = FOLD_SPLIT.match(split or "")
    if m is not None:
        return fold_split(load_dataset(fmt, root, m["base"], **kw), split)
    if fmt == "cub":
        return read_cub(root, split, **kw)
    if fmt == "folder":
        return read_folder(root, split or "all", **kw)
    if fmt in ("imagenet", "voc"):
        if split is None:
            raise ValueError(f"dataset format {fmt!r} needs a split (e.g. 'train' or 'val')")
        return read_imagenet(root, split, **kw) if fmt == "imagenet" else read_voc(root, split, **kw)
    raise ValueError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
