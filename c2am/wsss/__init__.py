"""The WSSS half of the paper (Sec. 3.5, Tables 4-5, Fig. 7): CAMs, C2AM's background cues and the cue model,
refinement of CAMs with a background channel, the dense-CRF and saliency baselines, and mIoU.

Modules: cams (multi-scale CAMs, CAM files made here or by IRN / PuzzleCAM / PSA), cues (background pseudo labels
and cues from C2AM maps), cue_model (the background-cue network), refine (background channel + argmax, the
threshold sweep), crf (dense CRF), saliency (classical saliency baselines), scores (confusion matrix, mIoU).

Conventions
- Class ids are PASCAL VOC ids: 0 = background, 1..20 = the object classes, 255 = ignore (ground truth only).
- A CAM file holds `keys` (0-based foreground class indices, VOC id - 1, as IRN / PuzzleCAM write them) and
  one map per key at the image's original size, each scaled so its maximum is 1 (per-class max normalisation).
- A background cue is a uint8 image at the original size, 255 = background, 0 = foreground (paper Fig. 7).
  A saliency map is the opposite (255 = salient); its cue is 255 - saliency.
- Refinement (paper Sec. 3.5): stack a background channel in front of the CAMs and take the argmax per pixel.
  The background channel is a constant threshold t (the unrefined baseline, "CAMs") or a cue in [0, 1].
  On ties the background wins (argmax returns the first channel), so with a constant t a pixel is foreground
  only where its largest CAM value is > t.
- mIoU: one 21 x 21 confusion matrix accumulated over the split (255 pixels ignored); IoU_c = TP / (T + P - TP);
  the mean is over the classes whose union T + P - TP is non-zero (classes absent from both ground truth and
  prediction are left out, so a subset without cows is not charged 0 for cows). FP_c = (P - TP) / union and
  FN_c = (T - TP) / union (IoU + FP + FN = 1), averaged over foreground classes as SEAM / C2AM's code report.
"""
