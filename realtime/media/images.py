"""Reading and writing stills, and converting between OpenCV frames and torch tensors.

Convention everywhere in realtime: a tensor image is float32, (N, 3, H, W), RGB, values 0-255.
OpenCV frames are uint8 (H, W, 3) BGR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from realtime.errors import UserError
from realtime.files import atomic_path

if TYPE_CHECKING:  # torch is imported where tensors are made: stylising stills and video never loads it (~450 MB)
    import torch

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
ALPHA_SUFFIXES = {".png", ".bmp", ".webp", ".tif", ".tiff"}  # those that hold transparency


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


@dataclass(frozen=True)
class Still:
    """A still as read for stylising: the colour the network sees, and what the file carries beside it."""

    bgr: np.ndarray  # uint8 (H, W, 3), turned by the EXIF orientation like any viewer shows it
    alpha: np.ndarray | None = None  # uint8 (H, W) in the same orientation, when the file has transparency
    depth: str | None = None  # "16-bit", "32-bit float": samples finer than the 8 bits written back


def read_still(path: Path | str, what: str = "image") -> Still:
    """Read an image for `image`: its colour as `read_bgr` does, plus its alpha channel and sample depth.

    OpenCV either turns a photo by its EXIF orientation (8-bit colour only) or keeps alpha and depth (as
    stored), never both; the colour is read the first way and the alpha is turned to match it. JPEGs
    carry neither, so they are decoded once.
    """
    path = Path(path)
    bgr = read_bgr(path, what)
    data = np.fromfile(str(path), dtype=np.uint8)
    if data[:2].tobytes() == b"\xff\xd8":
        return Still(bgr)
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if raw is None:
        return Still(bgr)
    depth = {np.dtype(np.uint16): "16-bit", np.dtype(np.float32): "32-bit float"}.get(raw.dtype)
    if raw.ndim != 3 or raw.shape[2] != 4:
        return Still(bgr, None, depth)
    return Still(bgr, _turned_like(_to_uint8(raw[:, :, 3]), _to_uint8(raw[:, :, :3]), bgr), depth)


def _to_uint8(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.uint8:
        return samples
    if samples.dtype == np.uint16:
        return ((samples.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return np.clip(samples.astype(np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)  # float: 0-1


def _turned_like(alpha: np.ndarray, stored: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """`alpha` turned the way OpenCV turned `stored` into `shown` (an EXIF orientation: one of the eight
    quarter turns and mirror images), found by comparing the colour."""
    def move(a: np.ndarray, how: tuple[bool, bool, bool]) -> np.ndarray:
        transpose, flip_rows, flip_cols = how
        a = a.swapaxes(0, 1) if transpose else a
        return a[::-1 if flip_rows else 1, ::-1 if flip_cols else 1]

    best, least = (False, False, False), float("inf")
    for how in [(t, r, c) for t in (False, True) for r in (False, True) for c in (False, True)]:
        candidate = move(stored, how)
        if candidate.shape != shown.shape:
            continue
        error = float(np.abs(candidate.astype(np.int16) - shown).mean())
        if error < least:
            best, least = how, error
        if error < 1:  # as good as a match gets (16-bit files round differently); usually the first try
            break
    return np.ascontiguousarray(move(alpha, best))


def write_bgr(path: Path | str, image: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Write a uint8 BGR array atomically; the extension picks the format. `alpha` (uint8, the image's
    size) is written as its transparency; only formats in ALPHA_SUFFIXES hold one."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in IMAGE_SUFFIXES:
        raise UserError(f"{path}: unknown image format {ext or '(none)'}; use .png or .jpg")
    if alpha is not None:
        if ext not in ALPHA_SUFFIXES:
            raise ValueError(f"{ext} holds no alpha channel")
        image = np.dstack([image, alpha])
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
