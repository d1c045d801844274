"""`realtime styles --sheet`: every installed style on the user's own photo, labelled, in one image."""

from __future__ import annotations

import math
from typing import Callable, Iterable

import cv2
import numpy as np

from realtime.media import images

LABEL_HEIGHT = 30


def labelled_tile(image: np.ndarray, label: str, size: int) -> np.ndarray:
    """`image` fitted into a size x size cell on white, with `label` written underneath."""
    h, w = image.shape[:2]
    s = size / max(h, w)
    fitted = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    tile = np.full((size + LABEL_HEIGHT, size, 3), 255, np.uint8)
    y, x = (size - fitted.shape[0]) // 2, (size - fitted.shape[1]) // 2
    tile[y:y + fitted.shape[0], x:x + fitted.shape[1]] = fitted
    cv2.putText(tile, label[:40], (6, size + 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def style_sheet(photo: np.ndarray, stylised: Iterable[tuple[str, np.ndarray]], tile: int = 320,
                columns: int = 4) -> np.ndarray:
    """A grid: the photo first, then each (name, stylised image), row by row."""
    tiles = [labelled_tile(photo, "photo", tile)] + [labelled_tile(img, name, tile) for name, img in stylised]
    columns = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (rows * columns - len(tiles))
    return np.vstack([np.hstack(tiles[r * columns:(r + 1) * columns]) for r in range(rows)])


def render(photo: np.ndarray, names: list[str], stylise: Callable[[str, np.ndarray], np.ndarray],
           long_side: int, on_done: Callable[[str], None] = lambda name: None) -> Iterable[tuple[str, np.ndarray]]:
    """Stylise the photo (scaled to `long_side`) with each style in turn."""
    small = images.resize_long_side(photo, long_side)
    for name in names:
        out = stylise(name, small)
        on_done(name)
        yield name, out
