"""DDT, Deep Descriptor Transforming (Wei et al., Pattern Recognition 2019), the class-agnostic box
generator that PSOL uses and the paper compares C2AM with (Table 2).

For a group of images of one class (the GT-known setting of PSOL), the deep descriptors of every position of
every image are mean-centred and projected on their first principal component; positions with a positive
projection are the object common to the group. The box is the bounding rectangle of the largest connected
component of the positive region of the projection map (upsampled to the network input).

The sign of a principal component is arbitrary. DDT keeps positive = common object; here the sign is fixed
for each group by the same rule as C2AM's foreground side: over the group, the mean projection on the map's
outer ring of cells must not exceed the mean inside it (objects rarely fill the border of most photos).
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from ..data.decode import Geometry
from ..data.records import ImageRecord
from ..settings import DDTSettings
from ..progress import progress_bar
from ..inference import infer, inference_model
from .boxes import clip_boxes, flat_maps, scale_boxes
from .extract import EvalViews
from .fg_side import border_inner_means, marks_background
from .maps import MapStore, MapWriter

BOX_COLUMNS = ["image_id", "box", "x0", "y0", "x1", "y1", "threshold", "score"]


class DescriptorStats:
    """Streaming sum and Gram matrix (float64) of descriptors [m, C]: mean and covariance without keeping them.

    While a group holds no more descriptors than channels (tiny images, a few per class), the descriptors are kept
    too and the principal direction comes from their m x m Gram matrix (the same eigenvector, exactly: cov's
    nonzero spectrum is the small matrix's), so 1,000 small groups do not each pay a C x C eigendecomposition."""

    def __init__(self, channels: int, device: torch.device):
        self.n = 0
        self.sum = torch.zeros(channels, dtype=torch.float64, device=device)
        self.gram = torch.zeros(channels, channels, dtype=torch.float64, device=device)
        self.rows: list[torch.Tensor] | None = []

    def add(self, features: torch.Tensor) -> None:
        """features: [n, C, h, w] (any float dtype)."""
        x = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]).to(torch.float64)
        self.n += x.shape[0]
        self.sum += x.sum(0)
        self.gram += x.T @ x
        if self.rows is not None and self.n <= self.sum.shape[0]:
            self.rows.append(x)
        else:
            self.rows = None  # too many to keep: the C x C route

    def principal_direction(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(mean [C], unit first principal direction [C], fraction of variance it explains)."""
        if self.n < 2:
            raise ValueError("DDT needs at least two descriptors")
        mean = self.sum / self.n
        if self.rows is not None:
            found = self._from_descriptors(mean)
            if found is not None:
                return mean, *found
        cov = self.gram / self.n - torch.outer(mean, mean)
        cov = (cov + cov.T) / 2
        evals, evecs = torch.linalg.eigh(cov)  # ascending
        total = float(evals.clamp_min(0).sum())
        explained = float(evals[-1]) / total if total > 0 else 0.0
        return mean, evecs[:, -1], explained

    def _from_descriptors(self, mean: torch.Tensor) -> tuple[torch.Tensor, float] | None:
        """Dual PCA: with centred descriptors X [m, C], cov = X^T X / m and the top eigenvector u of X X^T / m
        gives cov's as X^T u (same eigenvalue). None when the descriptors have no spread (no direction)."""
        centred = torch.cat(self.rows) - mean
        small = centred @ centred.T / self.n
        evals, evecs = torch.linalg.eigh((small + small.T) / 2)
        direction = centred.T @ evecs[:, -1]
        norm = float(direction.norm())
        if norm == 0.0:
            return None
        total = float(evals.clamp_min(0).sum())
        return direction / norm, float(evals[-1]) / total if total > 0 else 0.0


def project(features: torch.Tensor, mean: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """[n, C, h, w] descriptors -> [n, h, w] projections (x - mean) . direction, float32."""
    x = features.to(torch.float64)
    proj = torch.einsum("nchw,c->nhw", x, direction) - float(mean @ direction)
    return proj.float()


def ddt_box(projection: np.ndarray) -> tuple[np.ndarray, bool]:
    """Box (x0, y0, x1, y1; exclusive edges, map pixels) of the largest 8-connected component of
    projection > 0, and whether one exists (else the whole map is returned)."""
    mask = (np.asarray(projection) > 0).astype(np.uint8)
    h, w = mask.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return np.array([0.0, 0.0, w, h]), False
    areas = stats[1:, cv2.CC_STAT_AREA]
    k = 1 + int(np.argmax(areas))  # argmax keeps the first of equal areas
    x, y, bw, bh = (int(stats[k, c]) for c in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH,
                                                  cv2.CC_STAT_HEIGHT))
    return np.array([x, y, x + bw, y + bh], dtype=np.float64), True


def group_records(records: list[ImageRecord], group_by: str) -> dict[str, list[ImageRecord]]:
    """Images grouped by class label (DDT's co-localisation groups) or all in one group."""
    if group_by == "all":
        return {"all": list(records)}
    if group_by != "class":
        raise ValueError(f"group_by must be 'class' or 'all', got {group_by!r}")
    unlabeled = [r.image_id for r in records if r.label is None]
    if unlabeled:
        raise ValueError(f"DDT groups images by class, but {len(unlabeled)} images have no class label "
                         f"(e.g. {unlabeled[:3]}); set stages.ddt_boxes.group_by: all (or --group-by all) for unlabeled data")
    groups: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in records:
        groups[str(r.label)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: int(kv[0])))


class DDTFeatures(torch.nn.Module):
    """The deepest tapped features of a backbone on [0, 1] RGB input (normalised inside)."""

    def __init__(self, backbone, input_mean, input_std):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(input_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(input_std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.deepest((images - self.mean.to(images.dtype)) / self.std.to(images.dtype))


@torch.no_grad()
def run_ddt(features: DDTFeatures, records: list[ImageRecord], s: DDTSettings, out_dir, device: torch.device,
            meta: dict, progress: bool = True) -> dict:
    """DDT projection maps of every record, written as a map folder (MapWriter, metadata: the settings and `meta`)
    in record-group order.

    Features of a group are kept on the host (float16) while they fit `cache_mb`; a larger group (ImageNet
    classes at 448 px) is read a second time for the projection instead.
    """
    on_gpu = device.type == "cuda"
    features = inference_model(features, device, s.channels_last)
    groups = group_records(records, s.group_by)
    summary = {"groups": {}, "images": len(records)}
    start = time.time()
    cache_bytes = s.cache_mb * 2 ** 20

    def read(recs: list[ImageRecord], batch_sampler: list[list[int]]):
        """Descriptors of `recs` in the given batches (one loader, its workers started once)."""
        loader = DataLoader(EvalViews(recs, s.resize, None), batch_sampler=batch_sampler, num_workers=s.workers,
                            pin_memory=on_gpu)
        for images, geoms, idx in loader:  # blank views (flat_maps' rule on the input) get no box, as C2AM's maps
            blank = torch.from_numpy(flat_maps(None, images))
            yield infer(features, images, device, s.channels_last, s.amp), geoms, idx, blank

    def chunks(offset: int, n: int) -> list[list[int]]:
        return [list(range(offset + i, offset + min(i + s.batch_size, n))) for i in range(0, n, s.batch_size)]

    # every group's images in turn through ONE loader, batches never crossing a group (ImageNet: 1000 groups)
    ordered, bounds = [], []
    for name, group in groups.items():
        bounds.append((name, group, len(ordered)))
        ordered += group
    stream = read(ordered, [b for _, group, offset in bounds for b in chunks(offset, len(group))])
    bar = progress_bar(None, len(records), "DDT", progress)
    with MapWriter(out_dir, s.shard_size, {**s.to_dict(), **meta}) as writer:
        for name, group, offset in bounds:
            first = ((f, g, idx - offset, b) for f, g, idx, b in itertools.islice(stream, len(chunks(0, len(group)))))
            again = lambda group=group: read(group, chunks(0, len(group)))  # noqa: E731 (a group too big to cache)
            summary["groups"][name] = _ddt_group(group, first, again, writer, device, cache_bytes, bar)
    bar.close()
    summary["seconds"] = time.time() - start
    summary["images_per_second"] = len(records) / max(summary["seconds"], 1e-9)
    return summary


def _ddt_group(group, first_pass, read_again, writer, device, cache_bytes: int, bar) -> dict:
    """One co-localisation group: descriptor statistics (first pass), the principal direction, its sign, the
    projection maps (from the cached descriptors, or from `read_again()` when they did not fit)."""
    stats = None
    cached: list | None = []
    used = 0
    for f, geoms, idx, blank in first_pass:
        if stats is None:
            stats = DescriptorStats(f.shape[1], device)
        stats.add(f)
        if cached is not None:
            used += f.numel() * 2
            if used <= cache_bytes:
                cached.append((f.half().cpu(), geoms, idx, blank))
            else:
                cached = None
        bar.update(len(idx))
    mean, direction, explained = stats.principal_direction()
    projected = []
    for f, geoms, idx, blank in (cached if cached is not None else read_again()):
        projected.append((project(f.to(device), mean, direction).cpu(), geoms, idx, blank))
    border, inner = border_inner_means(torch.cat([p for p, _, _, _ in projected]))
    sign = -1.0 if marks_background(border, inner) else 1.0
    for p, geoms, idx, blank in projected:
        maps = (sign * p).numpy()
        for m, g, i, flat in zip(maps, geoms.tolist(), idx.tolist(), (blank.numpy() | flat_maps(maps)).tolist()):
            writer.add(group[i].image_id, m, Geometry(*g), flat=flat)
    return {"images": len(group), "explained_variance": explained, "flipped": sign < 0,
            "border_mean": sign * border, "inner_mean": sign * inner, "recomputed": cached is None}


def ddt_boxes_table(store: MapStore) -> tuple[pd.DataFrame, int]:
    """DDT's boxes for every map of a store, in original pixels (threshold 0 on the raw projection,
    upsampled bilinearly to the network input); score = mean positive projection inside the box.
    Returns the table and the number of images without any positive cell (whole-image box). A map flagged flat
    (a blank image: MapStore.is_flat) gets the empty box (0, 0, 0, 0): no box, a miss."""
    rows, empty = [], 0
    for i in range(len(store)):
        geom = store.geometry(i)
        proj = cv2.resize(store.raw(i), (geom.crop_w, geom.crop_h), interpolation=cv2.INTER_LINEAR)
        box, found = ddt_box(proj)
        empty += not found
        if store.is_flat(i):
            box = np.zeros(4)
        orig = clip_boxes(scale_boxes(box[None], *geom.to_original(proj.shape[1], proj.shape[0])),
                          geom.orig_w, geom.orig_h)[0]
        b = box.astype(int)
        inside = proj[b[1]:b[3], b[0]:b[2]]
        rows.append({"image_id": store.manifest["image_id"].iloc[i], "box": 0, "x0": orig[0], "y0": orig[1],
                     "x1": orig[2], "y1": orig[3], "threshold": 0.0,
                     "score": float(np.clip(inside, 0, None).mean()) if inside.size else 0.0})
    return pd.DataFrame(rows, columns=BOX_COLUMNS), empty
