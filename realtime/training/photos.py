"""Training photos: a folder tree of JPEG/PNG files, served as reproducible random crops.

The crop and flip of every sample are a pure function of (seed, rank, step), so a resumed run sees exactly
the batches it would have seen, and batches can be decoded ahead in threads.
"""

from __future__ import annotations

import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from realtime.errors import UserError

DATA_SUFFIXES = {".jpg", ".jpeg", ".png"}


def find_photos(folder: Path) -> list[Path]:
    """All JPEG/PNG files under `folder`, sorted; other files are skipped with one warning."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: training data folder not found; pass a folder of photos with --data")
    photos, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        (photos if path.suffix.lower() in DATA_SUFFIXES else skipped).append(path)
    if skipped:
        shown = ", ".join(p.name for p in skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        warnings.warn(f"{folder}: skipping {len(skipped)} file(s) that are not JPEG/PNG photos ({shown})")
    if not photos:
        raise UserError(f"{folder}: no JPEG or PNG photos found; --data needs a folder of training photos")
    return photos


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator, photo_size: int = 0) -> np.ndarray:
    """Scale the short side to between `photo_size` (at least `size`) and 1.25x that, then a random square
    crop of `size` and a flip. photo_size 0: the crop shows most of the photo."""
    h, w = image.shape[:2]
    short = max(size, photo_size) * rng.uniform(1.0, 1.25)
    scale = short / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y = int(rng.integers(0, nh - size + 1))
    x = int(rng.integers(0, nw - size + 1))
    crop = image[y:y + size, x:x + size]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return crop


class BatchSource:
    """Batches of uint8 crops for step k, decoded a few steps ahead in worker threads.

    `crop_size(step)` gives the crop size of each step (a resolution schedule: small crops first).
    """

    def __init__(self, photos: list[Path], crop_size: Callable[[int], int], batch_size: int, seed: int,
                 rank: int = 0, prefetch: int = 4, workers: int = 4, photo_size: int = 0):
        self.photos = photos
        self.photo_size = photo_size
        self.crop_size = crop_size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.prefetch = prefetch
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._pending: dict[int, Future[torch.Tensor]] = {}
        self._bad: set[int] = set()

    def _load(self, index: int) -> np.ndarray | None:
        path = self.photos[index]
        data = np.fromfile(str(path), dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None and index not in self._bad:
            self._bad.add(index)
            warnings.warn(f"{path}: cannot decode this photo; skipping it")
        return image

    def make_batch(self, step: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, self.rank, step])
        crops = []
        while len(crops) < self.batch_size:
            index = int(rng.integers(len(self.photos)))
            image = self._load(index)
            if image is None:
                if len(self._bad) == len(self.photos):
                    raise UserError("none of the training photos could be decoded; check --data")
                continue
            crops.append(random_crop(image, self.crop_size(step), rng, self.photo_size)[:, :, ::-1])  # BGR -> RGB
        return torch.from_numpy(np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2)))

    def batch(self, step: int) -> torch.Tensor:
        """uint8 RGB (B, 3, S, S) for `step`; queues the next few steps."""
        for k in range(step, step + self.prefetch):
            if k not in self._pending:
                self._pending[k] = self._pool.submit(self.make_batch, k)
        for k in [k for k in self._pending if k < step]:
            self._pending.pop(k).cancel()
        return self._pending.pop(step).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

