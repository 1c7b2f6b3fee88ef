"""Classical saliency baselines of the +saliency cues (Table 5): maps in [0, 1] at the image size."""

from __future__ import annotations

import cv2
import numpy as np

from ..wsol.boxes import normalize_map


def spectral_residual_saliency(image: np.ndarray, width: int = 64, sigma: float = 2.5) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007) of an RGB uint8 image, in [0, 1] at its size."""
    h, w = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    small = cv2.resize(gray, (width, max(8, round(h * width / w))), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amp - cv2.blur(log_amp.astype(np.float32), (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), sigma)
    return _unit(cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR))


def frequency_tuned_saliency(image: np.ndarray) -> np.ndarray:
    """Frequency-tuned saliency (Achanta et al., CVPR 2009): distance in Lab between the image's mean colour
    and each slightly blurred pixel, in [0, 1]."""
    blurred = cv2.GaussianBlur(image, (5, 5), 0)
    lab = cv2.cvtColor(blurred.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    mean = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(0)
    return _unit(np.linalg.norm(lab - mean, axis=2))


SALIENCY_METHODS = {"spectral_residual": spectral_residual_saliency, "frequency_tuned": frequency_tuned_saliency}


def _unit(m: np.ndarray) -> np.ndarray:
    return normalize_map(m, "minmax").astype(np.float32)
