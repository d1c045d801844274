"""Reading and writing stills, and converting between OpenCV frames and torch tensors.

Convention everywhere in realtime: a tensor image is float32, (N, 3, H, W), RGB, values 0-255.
OpenCV frames are uint8 (H, W, 3) BGR.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from realtime.errors import UserError
from realtime.files import atomic_path

if TYPE_CHECKING:  # torch is imported where tensors are made: stylising stills and video never loads it (~450 MB)
    import torch

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_bgr(path: Path | str, what: str = "image") -> np.ndarray:
    """Read an image file as a uint8 BGR array, or raise a UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UserError(f"{path}: cannot read {what} (not an image, or corrupt); use a JPEG or PNG file")
    return image


def write_bgr(path: Path | str, image: np.ndarray) -> None:
    """Write a uint8 BGR array atomically; the extension picks the format."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in IMAGE_SUFFIXES:
        raise UserError(f"{path}: unknown image format {ext or '(none)'}; use .png or .jpg")
    ok, encoded = cv2.imencode(ext, image)
    if not ok:
        raise UserError(f"{path}: could not encode the image as {ext}")
    with atomic_path(path) as tmp:
        encoded.tofile(str(tmp))


def resize_long_side(image: np.ndarray, long_side: int | None) -> np.ndarray:
    """Scale so the longer side is `long_side` pixels (area filter when shrinking)."""
    if not long_side:
        return image
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    if abs(scale - 1.0) < 1e-6:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def bgr_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 BGR (H, W, 3) -> float32 RGB (1, 3, H, W) in 0-255."""
    import torch

    rgb = np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1))
    return torch.from_numpy(rgb).float().unsqueeze(0)


def tensor_to_bgr(tensor: torch.Tensor) -> np.ndarray:
    """float RGB (1, 3, H, W) 0-255 -> uint8 BGR (H, W, 3), clipped."""
    import torch

    array = tensor.detach().float().clamp(0, 255).round().to(torch.uint8).cpu().numpy()[0]
    return np.ascontiguousarray(array.transpose(1, 2, 0)[:, :, ::-1])
