"""Recordings and snapshots of the live loop, written atomically and finalised on every exit path."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from realtime.errors import UserError
from realtime.files import atomic_path, check_output_path, temp_beside

RECORD_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv"}
# Measure this long (or this many frames) before opening a recording whose rate is not known.
MEASURE_SECONDS = 1.0
MEASURE_FRAMES = 30


def stamp() -> str:
    now = time.time()
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"


def write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"{path}: could not encode the image as PNG")
    with atomic_path(path) as tmp:
        encoded.tofile(str(tmp))


def check_record_path(path: Path) -> Path:
    if path.suffix.lower() not in RECORD_SUFFIXES:
        raise UserError(f"--record {path}: use a .mp4 (or .avi, .mov, .mkv) file name")
    check_output_path(path)
    return path


class Recorder:
    """Writes frames to `path` through a temporary file renamed on `finish`, so a file appears whole.

    With `fps` None the rate is measured: frames are held for up to MEASURE_SECONDS / MEASURE_FRAMES,
    then the writer opens at the rate they arrived at.
    """

    def __init__(self, path: Path, fps: Optional[float] = None):
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._writer = None
        self._pending: list[tuple[float, np.ndarray]] = []
        self._tmp = temp_beside(self.path)

    def _open(self, size: tuple[int, int]) -> None:
        fps = self.fps if self.fps and self.fps > 0 else 30.0
        # Two decimals: MPEG-4 part 2 needs a time base denominator <= 65535, which 3 decimals can exceed.
        self.fps = round(min(max(fps, 1.0), 240.0), 2)
        writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
        if not writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise UserError(f"--record {self.path}: OpenCV cannot write this video (mp4v codec missing?)")
        self._writer = writer
        self._size = size

    def write(self, frame: np.ndarray, now: Optional[float] = None) -> None:
        now = time.perf_counter() if now is None else now
        if self._writer is None and self.fps is None:
            self._pending.append((now, frame))
            span = now - self._pending[0][0]
            if span >= MEASURE_SECONDS or len(self._pending) >= MEASURE_FRAMES:
                self._flush_pending()
            return
        self._write(frame)

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        if self.fps is None:
            span = self._pending[-1][0] - self._pending[0][0]
            self.fps = (len(self._pending) - 1) / span if len(self._pending) > 1 and span > 0 else None
        pending, self._pending = self._pending, []
        for _, frame in pending:
            self._write(frame)

    def _write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self._open((frame.shape[1], frame.shape[0]))
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def finish(self) -> Optional[Path]:
        """Close the file and move it into place; None (and no file) when nothing was recorded."""
        try:
            self._flush_pending()
        except BaseException:
            if self.frames == 0:
                self._tmp.unlink(missing_ok=True)
            raise
        finally:
            if self._writer is not None:
                self._writer.release()
                self._writer = None
        if self.frames == 0:
            self._tmp.unlink(missing_ok=True)
            return None
        os.replace(self._tmp, self.path)
        return self.path
