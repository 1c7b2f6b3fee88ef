"""The embedded demo dataset: saturated textured shapes on low-saturation clutter, in CUB and VOC layouts.

Everything is drawn from numpy Generators seeded by (seed, layout, image index) with integer polygon filling
(OpenCV, no anti-aliasing), so masks are exact and the pixels are the same on every machine; files are
byte-identical given the same Pillow (libjpeg / zlib) build. Ground-truth boxes are the tight boxes of the
drawn mask pixels: x0 = min column, x1 = max column + 1 (same for y).

Foreground and background come from different appearance families so that an unsupervised fg/bg model
can separate them: objects are saturated, class-specific shapes with a class-specific hue and texture;
backgrounds are low-saturation multi-scale noise, gradients, soft blobs and faint lines.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..io import _replace_dir as replace_dir
from .voc import VOC_CLASSES, voc_palette

GENERATOR_VERSION = 1
MANIFEST = "demo.json"
CUB_DIR, VOC_DIR = "CUB_200_2011", "VOC2012"


def is_demo_image(path: str | Path) -> bool:
    """Whether an image file belongs to a generated demo dataset: it lies in the CUB or VOC layout of a folder
    that holds the generator's MANIFEST (results/data/demo/demo.json, results/data/demo/CUB_200_2011/images/...)."""
    path = Path(path).absolute()
    return any((root / MANIFEST).is_file() and (root / CUB_DIR in path.parents or root / VOC_DIR in path.parents)
               for root in list(path.parents)[:6])


@dataclass(frozen=True)
class ClassSpec:
    """Appearance of one demo class: outline, hue (degrees) and texture."""

    name: str
    shape: str
    hue: float
    texture: str


CLASSES = (
    ClassSpec("Red_Striped_Ellipse", "ellipse", 0.0, "stripes"),
    ClassSpec("Blue_Dotted_Star", "star", 220.0, "dots"),
    ClassSpec("Green_Checkered_Square", "rounded_rect", 120.0, "checker"),
    ClassSpec("Orange_Ringed_Hexagon", "hexagon", 30.0, "rings"),
    ClassSpec("Purple_Striped_Triangle", "triangle", 280.0, "stripes"),
    ClassSpec("Cyan_Dotted_Cross", "cross", 185.0, "dots"),
    ClassSpec("Yellow_Checkered_Diamond", "diamond", 55.0, "checker"),
    ClassSpec("Magenta_Ringed_Star", "star", 320.0, "rings"),
)


# ----------------------------------------------------------------------------------------------- shapes
def _shape_polygon(shape: str, rng: np.random.Generator) -> np.ndarray:
    """Outline of a shape as an (N, 2) float array of points, roughly within [-1, 1]^2."""
    if shape == "ellipse":
        t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        return np.stack([np.cos(t), rng.uniform(0.5, 0.8) * np.sin(t)], 1)
    if shape == "star":
        t = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        r = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.42, 0.55))
        return np.stack([r * np.sin(t), -r * np.cos(t)], 1)
    if shape in ("hexagon", "triangle", "diamond"):
        n = {"hexagon": 6, "triangle": 3, "diamond": 4}[shape]
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        pts = np.stack([np.sin(t), -np.cos(t)], 1)
        return pts * ([rng.uniform(0.55, 0.7), 1.0] if shape == "diamond" else 1.0)
    if shape == "rounded_rect":
        a, r = rng.uniform(0.65, 1.0), 0.3
        t = np.linspace(0, np.pi / 2, 8)
        arc = np.stack([np.cos(t), np.sin(t)], 1) * r
        corners = [(1 - r, a - r), (-(1 - r), a - r), (-(1 - r), -(a - r)), (1 - r, -(a - r))]
        return np.concatenate([np.array(c) + arc @ _rot(k * np.pi / 2).T for k, c in enumerate(corners)])
    if shape == "cross":
        w = rng.uniform(0.32, 0.42)
        q = np.array([(w, w), (w, 1), (-w, 1), (-w, w)])
        return np.concatenate([q @ _rot(k * np.pi / 2).T for k in range(4)])
    raise ValueError(f"unknown shape {shape!r}")


def _rot(a: float) -> np.ndarray:
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def _place_polygon(shape: str, w: int, h: int, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Random rotation, squash, scale (longer bbox side = frac * min(w, h)) and position fully inside."""
    pts = _shape_polygon(shape, rng) * [1.0, rng.uniform(0.8, 1.0)]
    pts = pts @ _rot(rng.uniform(0, 2 * np.pi)).T
    lo, hi = pts.min(0), pts.max(0)
    pts = (pts - (lo + hi) / 2) * (frac * min(w, h) / (hi - lo).max())
    lo, hi = pts.min(0), pts.max(0)
    centre = rng.uniform(-lo, np.array([w - 1, h - 1]) - hi)
    return pts + centre


def _fill(pts: np.ndarray, w: int, h: int) -> np.ndarray:
    """Exact binary mask of a polygon (integer fill with 1/16 px vertex precision, no anti-aliasing)."""
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a boolean mask's pixels, x1/y1 exclusive."""
    cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
    if cols.size == 0:
        raise ValueError("empty mask has no box")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


# ----------------------------------------------------------------------------------------------- appearance
def _upsample(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Smooth (smoothstep-bilinear) upsampling of a (gh, gw, ...) grid to (h, w, ...)."""
    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.linspace(0, n_in - 1, n_out)
        i = np.minimum(np.floor(x).astype(int), n_in - 2)
        f = x - i
        return i, f * f * (3 - 2 * f)
    iy, fy = axis(h, grid.shape[0])
    ix, fx = axis(w, grid.shape[1])
    fy, fx = fy.reshape((-1,) + (1,) * (grid.ndim - 1)), fx.reshape((1, -1) + (1,) * (grid.ndim - 2))
    rows = grid[iy] * (1 - fy) + grid[iy + 1] * fy  # separable: first along y, then along x
    return rows[:, ix] * (1 - fx) + rows[:, ix + 1] * fx


def _noise(h: int, w: int, rng: np.random.Generator, channels: int, cells=(3, 6, 12, 24),
           amps=(1.0, 0.6, 0.35, 0.2)) -> np.ndarray:
    """Multi-scale value noise, (h, w, channels), roughly zero-mean with unit-ish amplitude."""
    out = np.zeros((h, w, channels))
    for c, a in zip(cells, amps):
        out += a * _upsample(rng.uniform(-1, 1, (c + 1, c + 1, channels)), h, w)
    return out


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Low-saturation natural-looking clutter, float RGB (h, w, 3) in ~[0, 255]."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    lum = rng.uniform(70, 190) + 38 * _noise(h, w, rng, 1)[..., 0]
    a = rng.uniform(0, 2 * np.pi)
    lum += rng.uniform(-35, 35) * ((np.cos(a) * xx + np.sin(a) * yy) - 0.5)
    tint = rng.normal(0, 0.06, 3) + 0.05 * _noise(h, w, rng, 3, cells=(2, 4), amps=(1.0, 0.5))
    img = lum[..., None] * (1 + tint)  # multiplicative tint: low saturation whatever the brightness
    for _ in range(rng.integers(2, 7)):  # soft blurry blobs of muted colours
        cx, cy, sx, sy = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.08, 0.35) * w, rng.uniform(0.08, 0.35) * h
        alpha = rng.uniform(0.3, 0.7) * np.exp(-0.5 * (((np.arange(w) - cx) / sx) ** 2)[None, :]
                                               - 0.5 * (((np.arange(h) - cy) / sy) ** 2)[:, None])
        colour = rng.uniform(60, 200) * (1 + rng.normal(0, 0.08, 3))
        img = img * (1 - alpha[..., None]) + colour * alpha[..., None]
    lines = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(0, 4)):  # faint twig-like lines
        p = rng.uniform(0, 1, 4) * [w, h, w, h]
        cv2.line(lines, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), float(rng.uniform(-30, 30)),
                 int(rng.integers(1, 3)), cv2.LINE_8)
    return img + lines[..., None]


def _hsv(h_deg: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb((h_deg / 360.0) % 1.0, s, v)) * 255.0


def _texture(kind: str, u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    """Boolean texture pattern in object-local coordinates (u, v)."""
    if kind == "stripes":
        return (u / period) % 1.0 < 0.5
    if kind == "checker":
        return (np.floor(u / period) + np.floor(v / period)) % 2 == 0
    if kind == "dots":
        du, dv = (u / period) % 1.0 - 0.5, (v / period) % 1.0 - 0.5
        return du * du + dv * dv < 0.09
    if kind == "rings":
        return (np.hypot(u, v) / period) % 1.0 < 0.5
    raise ValueError(f"unknown texture {kind!r}")


def _object(spec: ClassSpec, pts: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Float RGB (h, w, 3) appearance of a saturated textured object (to be cut out by its mask)."""
    hue = spec.hue + rng.uniform(-8, 8)
    base = _hsv(hue, rng.uniform(0.75, 1.0), rng.uniform(0.75, 1.0))
    second = _hsv(hue + rng.uniform(-10, 10), rng.uniform(0.8, 1.0), rng.uniform(0.4, 0.55))
    centre = pts.mean(0)
    size = (pts.max(0) - pts.min(0)).max()
    a = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    dx, dy = xx - centre[0], yy - centre[1]
    u, v = np.cos(a) * dx + np.sin(a) * dy, -np.sin(a) * dx + np.cos(a) * dy
    pattern = _texture(spec.texture, u, v, size / rng.uniform(4.0, 7.0))
    img = np.where(pattern[..., None], second, base)
    b = rng.uniform(0, 2 * np.pi)  # soft directional shading
    shade = 1 + 0.22 * (np.cos(b) * dx + np.sin(b) * dy) / max(size, 1)
    return img * shade[..., None]


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur in numpy (reflect padding)."""
    r = int(np.ceil(2.5 * sigma))
    if sigma < 0.2 or r == 0:
        return img
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * img.ndim
        pad[axis] = (r, r)
        p = np.pad(img, pad, mode="reflect")
        n = img.shape[axis]
        img = sum(k[i] * np.take(p, np.arange(i, i + n), axis=axis) for i in range(2 * r + 1))
    return img


def render_scene(class_ids: list[int], w: int, h: int, rng: np.random.Generator,
                 frac_range: tuple[float, float] = (0.2, 0.7)) -> tuple[np.ndarray, list[np.ndarray]]:
    """uint8 RGB image (h, w, 3) and the visible boolean mask of each object (later objects occlude earlier)."""
    img = _background(h, w, rng)
    masks: list[np.ndarray] = []
    for k, cid in enumerate(class_ids):
        spec = CLASSES[cid]
        best = None
        for _ in range(12 if masks else 1):  # later objects: avoid hiding earlier ones
            pts = _place_polygon(spec.shape, w, h, rng.uniform(*frac_range), rng)
            m = _fill(pts, w, h)
            hidden = max((float((om & m).sum()) / om.sum() for om in masks), default=0.0)
            if best is None or hidden < best[0]:
                best = (hidden, pts, m)
            if hidden < 0.3:
                break
        _, pts, m = best
        img = np.where(m[..., None], _object(spec, pts, h, w, rng), img)
        masks = [om & ~m for om in masks] + [m]
    img = _blur(img, rng.uniform(0.0, 0.8)) + rng.normal(0, rng.uniform(1.0, 4.0), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), masks


# ----------------------------------------------------------------------------------------------- file writing
def _save_jpeg(img: np.ndarray, path: Path, quality: int) -> None:
    Image.fromarray(img).save(path, "JPEG", quality=int(quality), subsampling="4:2:0", optimize=False)


def _save_png(arr: np.ndarray, path: Path, palette: np.ndarray | None = None) -> None:
    im = Image.fromarray(arr)
    if palette is not None:
        im.putpalette(palette.ravel().tolist())
    im.save(path, "PNG", compress_level=6)


def _voc_xml(image_id: str, w: int, h: int, objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    """VOC annotation XML; boxes written 1-based inclusive as the VOC devkit does."""
    objs = "".join(
        f"\t<object>\n\t\t<name>{n}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
        f"\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{x0 + 1}</xmin>\n\t\t\t<ymin>{y0 + 1}</ymin>\n"
        f"\t\t\t<xmax>{x1}</xmax>\n\t\t\t<ymax>{y1}</ymax>\n\t\t</bndbox>\n\t</object>\n"
        for n, (x0, y0, x1, y1) in objects)
    return (f"<annotation>\n\t<folder>VOC2012</folder>\n\t<filename>{image_id}.jpg</filename>\n"
            f"\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
            f"\t<segmented>1</segmented>\n{objs}</annotation>\n")


def _write_text(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _size(rng: np.random.Generator, image_size: tuple[int, int]) -> tuple[int, int]:
    """Per-image (w, h) jittered by +-20% around image_size."""
    return tuple(int(rng.integers(round(0.8 * s), round(1.2 * s) + 1)) for s in image_size)


def _write_cub(root: Path, n_classes: int, n_train: int, n_test: int, image_size: tuple[int, int],
               seed: int) -> dict:
    """Official CUB_200_2011 layout + segmentations/ (0/255 foreground PNGs)."""
    split_rng = np.random.default_rng([seed, 0, 0])
    images, boxes, splits, labels = [], [], [], []
    image_id = 0
    for c in range(n_classes):
        cls_dir = f"{c + 1:03d}.{CLASSES[c].name}"
        (root / "images" / cls_dir).mkdir(parents=True)
        (root / "segmentations" / cls_dir).mkdir(parents=True)
        is_train = np.zeros(n_train + n_test, bool)
        is_train[split_rng.permutation(n_train + n_test)[:n_train]] = True
        for j in range(n_train + n_test):
            image_id += 1
            rng = np.random.default_rng([seed, 1, image_id])
            w, h = _size(rng, image_size)
            img, (mask,) = render_scene([c], w, h, rng)
            rel = f"{cls_dir}/{CLASSES[c].name}_{j + 1:04d}"
            _save_jpeg(img, root / "images" / f"{rel}.jpg", rng.integers(75, 96))
            _save_png(mask.astype(np.uint8) * 255, root / "segmentations" / f"{rel}.png")
            x0, y0, x1, y1 = tight_box(mask)
            images.append(f"{image_id} {rel}.jpg")
            boxes.append(f"{image_id} {float(x0)} {float(y0)} {float(x1 - x0)} {float(y1 - y0)}")
            splits.append(f"{image_id} {int(is_train[j])}")
            labels.append(f"{image_id} {c + 1}")
    _write_text(root / "images.txt", images)
    _write_text(root / "bounding_boxes.txt", boxes)
    _write_text(root / "train_test_split.txt", splits)
    _write_text(root / "image_class_labels.txt", labels)
    _write_text(root / "classes.txt", [f"{c + 1} {c + 1:03d}.{CLASSES[c].name}" for c in range(n_classes)])
    return {"train": n_classes * n_train, "test": n_classes * n_test}


def _write_voc(root: Path, n_classes: int, n_train: int, n_test: int, image_size: tuple[int, int],
               seed: int) -> dict:
    """VOC2012 layout: JPEGImages, SegmentationClass (palette PNG, 255 boundary band), Annotations, ImageSets.

    Demo class c is VOC class id c + 1. Each class is the first object of n_train train and n_test val
    images; 40% of the images hold a second object of a random class.
    """
    for d in ("JPEGImages", "SegmentationClass", "Annotations", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True)
    jobs = [(s, c) for c in range(n_classes) for s in ["train"] * n_train + ["val"] * n_test]
    order = np.random.default_rng([seed, 0, 1]).permutation(len(jobs))
    palette, kernel = voc_palette(), np.ones((3, 3), np.uint8)
    ids: dict[str, list[str]] = {"train": [], "val": []}
    for n, k in enumerate(order, 1):
        split, c = jobs[k]
        rng = np.random.default_rng([seed, 2, n])
        w, h = _size(rng, image_size)
        classes = [c] + ([int(rng.integers(n_classes))] if rng.random() < 0.4 else [])
        img, masks = render_scene(classes, w, h, rng, (0.2, 0.7) if len(classes) == 1 else (0.2, 0.5))
        label = np.zeros((h, w), np.uint8)
        band = np.zeros((h, w), bool)
        objects = []
        for cid, m in zip(classes, masks):
            if not m.any():
                continue
            m8 = m.astype(np.uint8)
            band |= (cv2.dilate(m8, kernel) > 0) & ~(cv2.erode(m8, kernel) > 0)
            label[m] = cid + 1
            objects.append((VOC_CLASSES[cid + 1], tight_box(m)))
        label[band] = 255
        image_id = f"demo_{n:06d}"
        _save_jpeg(img, root / "JPEGImages" / f"{image_id}.jpg", rng.integers(75, 96))
        _save_png(label, root / "SegmentationClass" / f"{image_id}.png", palette)
        (root / "Annotations" / f"{image_id}.xml").write_text(_voc_xml(image_id, w, h, objects), encoding="utf-8")
        ids[split].append(image_id)
    for split, lst in ids.items():
        _write_text(root / "ImageSets" / "Segmentation" / f"{split}.txt", sorted(lst))
    return {s: len(v) for s, v in ids.items()}


# ----------------------------------------------------------------------------------------------- entry point
def tree_sha256(root: str | Path) -> str:
    """SHA-256 over the relative paths and bytes of every file under root (the manifest excluded)."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file() and q.name != MANIFEST):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _read_manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _with_roots(manifest: dict, out_dir: Path) -> dict:
    return {**manifest, "root": str(out_dir), "cub_root": str(out_dir / CUB_DIR), "voc_root": str(out_dir / VOC_DIR)}


def generate_demo(out_dir: str | Path, *, n_classes: int = 4, n_train_per_class: int = 24,
                  n_test_per_class: int = 12, image_size: tuple[int, int] = (160, 160), seed: int = 0,
                  overwrite: bool = False) -> dict:
    """Write the demo dataset to out_dir/CUB_200_2011 and out_dir/VOC2012 atomically; return a summary.

    image_size is (w, h); each image's sides are jittered by +-20%. An existing out_dir holding the same
    demo (same settings and generator version) is left as is; anything else there raises FileExistsError
    unless overwrite=True.
    """
    if not 1 <= n_classes <= len(CLASSES):
        raise ValueError(f"n_classes must be in 1..{len(CLASSES)}, got {n_classes}")
    if n_train_per_class < 1 or n_test_per_class < 1 or seed < 0 or min(image_size) < 32:
        raise ValueError("need n_train_per_class >= 1, n_test_per_class >= 1, seed >= 0 and image sides >= 32")
    out_dir = Path(out_dir).absolute()
    params = {"n_classes": n_classes, "n_train_per_class": n_train_per_class, "n_test_per_class": n_test_per_class,
              "image_size": [int(s) for s in image_size], "seed": seed}
    if out_dir.exists() and any(out_dir.iterdir()):
        old = _read_manifest(out_dir)
        other = sorted(p.name for p in out_dir.iterdir() if p.name not in (CUB_DIR, VOC_DIR, MANIFEST))
        if old is None or other:  # only a demo dataset is ever replaced, even with overwrite
            shown = ", ".join((other or sorted(p.name for p in out_dir.iterdir()))[:5])
            raise FileExistsError(f"{out_dir} already holds files that are not a demo dataset ({shown}); refusing "
                                  "to replace it: give a new or empty folder")
        same = old.get("params") == params and old.get("version") == GENERATOR_VERSION
        if same and not overwrite:
            return _with_roots(old, out_dir)
        if not overwrite:
            raise FileExistsError(f"{out_dir} already holds a demo dataset with different settings; pass "
                                  "overwrite=True to replace it")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)
        args = (n_classes, n_train_per_class, n_test_per_class, tuple(image_size), seed)
        manifest = {
            "generator": "c2am.data.demo", "version": GENERATOR_VERSION, "params": params,
            "classes": [f"{c + 1:03d}.{CLASSES[c].name}" for c in range(n_classes)],
            "voc_class_ids": list(range(1, n_classes + 1)),
            "cub": _write_cub(tmp / CUB_DIR, *args), "voc": _write_voc(tmp / VOC_DIR, *args),
        }
        manifest["sha256"] = tree_sha256(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        _replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _with_roots(manifest, out_dir)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished tree src to dst, replacing dst (if any) with one rename (the old tree goes through a
    uniquely named hidden holder folder: no other sibling is touched)."""
    replace_dir(src, dst)
