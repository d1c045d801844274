"""Frames from a camera or a video file, read on their own thread and handed over newest-first.

The hand-over is a one-slot box, never a queue, so a slow consumer sees fresh frames instead of
ever-growing latency. Two policies:

* ``latest`` (cameras, and video files while a window is shown): the reader overwrites the slot;
  frames the consumer had no time for are dropped. Video files are paced to their own fps so they
  play like a camera would.
* ``every`` (video files with ``--no-display``): the reader waits until the slot has been taken, so
  every frame of the file is processed exactly once, as fast as the consumer can go. Deterministic,
  which is what scripts and tests want.

The reader thread has a stop signal and never raises: its errors are passed to the consumer, which
re-raises them on the main thread. A camera that stops delivering frames (unplugged) ends the
stream with a reason instead of an error, so the caller can finish (and finalise a recording) cleanly.

A video file stored turned (a phone's portrait clip) is played upright, read the same way as
`realtime video` reads it (realtime.media.orientation) rather than by OpenCV's own rotation, which
knows quarter turns but not mirror images.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import cv2
import numpy as np

from realtime.errors import UserError
from realtime.media.orientation import Orientation, of_file

LATEST = "latest"
EVERY = "every"
# A camera that fails this many reads in a row, or delivers nothing for this long, is gone.
CAMERA_MAX_FAILURES = 50
CAMERA_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # uint8 BGR (H, W, 3)
    index: int  # the how-many-th frame the reader got from the source (0-based); gaps mean drops
    time: float  # time.perf_counter() when it was read
    decode_s: float = 0.0  # the reader thread's seconds getting it from the source (read, decode, turn upright)
    resize_s: float = 0.0  # the reader thread's seconds scaling it to --width/--height


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV logs several WARN/ERROR lines when a camera index does not exist; we say it once ourselves."""
    try:
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # builds without the logging module
        yield
        return
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


class LatestFrame:
    """A one-slot box between one producer thread and one consumer.

    `put` either overwrites the slot (drop=True) or waits until the consumer has taken the previous
    frame (drop=False). `close` ends the stream with a reason or an exception for the consumer.
    """

    def __init__(self, drop: bool = True):
        self.drop = drop
        self._cond = threading.Condition()
        self._frame: Optional[Frame] = None
        self._closed = False
        self.reason = ""
        self.error: Optional[BaseException] = None
        self.dropped = 0

    def put(self, frame: Frame, stop: threading.Event) -> bool:
        """Hand over a frame; False when the stream was closed or `stop` was set meanwhile."""
        with self._cond:
            if not self.drop:
                while self._frame is not None and not self._closed and not stop.is_set():
                    self._cond.wait(0.1)
            if self._closed or stop.is_set():
                return False
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()
            return True

    def get(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The newest frame, waiting for one; None once the stream has ended and nothing is left.

        Re-raises an exception the producer closed the box with. Raises TimeoutError after `timeout`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._frame is None and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("no frame arrived in time")
                # short waits so Ctrl-C reaches the main thread promptly
                self._cond.wait(0.2 if left is None else min(0.2, left))
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            if frame is None and self.error is not None:
                raise self.error
            return frame

    def close(self, reason: str = "", error: Optional[BaseException] = None) -> None:
        with self._cond:
            if not self._closed:
                self._closed, self.reason, self.error = True, reason, error
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class Capture:
    """Reads `cap` (anything with read() -> (ok, frame), get() and release()) on a daemon thread.

    Use `open_camera` / `open_video` to make one from user options. Start with `start()`, take frames
    with `get()`, and always `stop()` (also a context manager).
    """

    def __init__(self, cap: Any, label: str, is_camera: bool, fps: float, policy: str = LATEST,
                 pace: bool = False, size: Optional[tuple[int, int]] = None, orientation: Orientation = Orientation()):
        if policy not in (LATEST, EVERY):
            raise ValueError(f"unknown policy {policy}")
        self.cap = cap
        self.label = label
        self.is_camera = is_camera
        self.fps = fps
        self.policy = policy
        self.pace = pace
        self.size = size  # (w, h) to resize every frame to, for video files; cameras are asked instead
        self.orientation = orientation  # how a video file's stored frames are turned upright
        self.box = LatestFrame(drop=policy == LATEST)
        self.stop_event = threading.Event()
        self.frames_read = 0
        self._thread = threading.Thread(target=self._run, name=f"capture {label}", daemon=True)

    # -- consumer side --------------------------------------------------------------------------
    def start(self) -> "Capture":
        self._thread.start()
        return self

    def get(self, timeout: Optional[float] = None) -> Optional[Frame]:
        return self.box.get(timeout)

    @property
    def end_reason(self) -> str:
        return self.box.reason

    @property
    def dropped(self) -> int:
        return self.box.dropped

    def stop(self, timeout: float = 3.0) -> None:
        """Signal the reader, wait for it and release the device (the reader releases it itself)."""
        self.stop_event.set()
        self.box.close(self.box.reason or "stopped")
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive() and not self._thread.ident:
            self._release()  # never started

    def __enter__(self) -> "Capture":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reader thread --------------------------------------------------------------------------
    def _release(self) -> None:
        with contextlib.suppress(Exception):
            self.cap.release()

    def _run(self) -> None:
        try:
            self._read_loop()
        except cv2.error as exc:  # a driver or decoder failure: the user's to fix, not a bug of ours
            first = (str(exc).strip().splitlines() or ["OpenCV error"])[-1].strip()
            self.box.close(f"{self.label}: reading failed", UserError(f"{self.label}: reading failed ({first[:200]})"))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which re-raises it
            self.box.close(f"{self.label}: reading failed", exc)
        finally:
            self._release()

    def _read_loop(self) -> None:
        failures, last_ok = 0, time.monotonic()
        start = time.perf_counter()
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        while not self.stop_event.is_set():
            read_start = time.perf_counter()
            ok, image = self.cap.read()
            if not ok or image is None:
                if not self.is_camera:
                    self.box.close(f"end of {self.label}")
                    return
                failures += 1
                if failures >= CAMERA_MAX_FAILURES or time.monotonic() - last_ok > CAMERA_TIMEOUT_S:
                    self.box.close(f"{self.label} stopped delivering frames (unplugged or in use elsewhere?)")
                    return
                time.sleep(0.02)
                continue
            failures, last_ok = 0, time.monotonic()
            image = self.orientation.apply(_as_bgr(image))
            decoded = time.perf_counter()
            if self.size and (image.shape[1], image.shape[0]) != self.size:
                image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
            resized = time.perf_counter()
            if self.pace and period:
                due = start + self.frames_read * period
                delay = due - time.perf_counter()
                if delay > 0:
                    self.stop_event.wait(delay)
                elif delay < -1.0:  # far behind (machine stalled): restart the clock, don't race
                    start = time.perf_counter() - self.frames_read * period
            frame = Frame(image, self.frames_read, time.perf_counter(), decoded - read_start, resized - decoded)
            self.frames_read += 1
            if not self.box.put(frame, self.stop_event):
                return


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _fit_size(width: Optional[int], height: Optional[int], w: int, h: int) -> Optional[tuple[int, int]]:
    """The (w, h) asked for; one side alone keeps the aspect ratio; None when nothing was asked."""
    if not width and not height:
        return None
    if width and height:
        return int(width), int(height)
    if width:
        return int(width), max(2, round(h * width / w))
    return max(2, round(w * height / h)), int(height)  # type: ignore[operator]


def _check_size(width: Optional[int], height: Optional[int]) -> None:
    for name, value in (("--width", width), ("--height", height)):
        if value is not None and not 16 <= value <= 8192:
            raise UserError(f"{name} {value}: use a size between 16 and 8192 pixels")


def open_camera(index: int, width: Optional[int] = None, height: Optional[int] = None) -> Capture:
    """Open camera `index`, asking it for width x height; always hands over the newest frame."""
    _check_size(width, height)
    hint = "list cameras with `v4l2-ctl --list-devices` or pass --source VIDEO"
    if index < 0:
        raise UserError(f"--camera {index}: use 0 or more; {hint}")
    with _quiet_opencv():
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise UserError(f"camera {index} could not be opened; {hint}")
        with contextlib.suppress(Exception):
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # fewer frames waiting inside the driver
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        ok, first = cap.read()
    if not ok or first is None:
        cap.release()
        raise UserError(f"camera {index} opened but delivered no frame (in use by another program?); {hint}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    return Capture(cap, f"camera {index}", is_camera=True, fps=fps, policy=LATEST)


def open_video(path: Path, width: Optional[int] = None, height: Optional[int] = None,
               every_frame: bool = False) -> Capture:
    """Open a video file as if it were a camera (paced to its fps, newest frame), or, with
    `every_frame`, hand over every frame unpaced. width/height resize the frames."""
    _check_size(width, height)
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--source {path}: video file not found")
    orientation = of_file(path, f"--source {path}")
    with _quiet_opencv():
        cap = cv2.VideoCapture(str(path))
        opened = cap.isOpened()
        # frames as stored, turned here; where OpenCV cannot be told so, its own turning stands
        if opened and not cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0):
            orientation = Orientation()
    if not opened:
        cap.release()
        raise UserError(f"--source {path}: cannot open this video (not a video, or an unsupported codec)")
    w, h = orientation.shown_size(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    if not 0 < fps < 1000:
        fps = 30.0
    size = _fit_size(width, height, w, h) if w and h else None
    return Capture(cap, path.name, is_camera=False, fps=fps, policy=EVERY if every_frame else LATEST,
                   pace=not every_frame, size=size, orientation=orientation)
