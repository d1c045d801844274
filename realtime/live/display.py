"""Where the live loop shows frames: a window, or nothing (--no-display, tests), and the overlay it draws."""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from realtime.errors import UserError

WINDOW = "realtime"


class NullDisplay:
    """No window: --no-display. `shows` False tells the loop not to compose views at all."""

    shows = False

    def __init__(self) -> None:
        self.last: Optional[np.ndarray] = None

    def show(self, view: np.ndarray) -> None:
        self.last = view

    def poll_key(self) -> int:
        return -1

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


def check_gui() -> None:
    """Fail with a clear message instead of letting Qt abort the process when there is no display."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("no display to open a window on (DISPLAY is not set); use --no-display to run headless")
    if _headless_opencv():
        raise UserError("this OpenCV build has no GUI (opencv-python-headless?); install opencv-python "
                        "or use --no-display")


def _headless_opencv() -> bool:
    info = cv2.getBuildInformation()
    gui = [line for line in info.splitlines() if line.strip().startswith("GUI:")]
    return bool(gui) and gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO", "")


def _qt_fonts() -> None:
    """opencv-python's Qt looks for fonts in its own empty folder and complains on every frame."""
    if os.environ.get("QT_QPA_FONTDIR"):
        return
    own = Path(cv2.__file__).parent / "qt" / "fonts"
    if own.is_dir() and any(own.iterdir()):
        return
    for candidate in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if Path(candidate).is_dir():
            os.environ["QT_QPA_FONTDIR"] = candidate
            return


class WindowDisplay(NullDisplay):
    """An OpenCV window. Views bigger than `max_size` (w, h) are shown scaled down."""

    shows = True

    def __init__(self, name: str = WINDOW, max_size: tuple[int, int] = (1920, 1080)):
        super().__init__()
        check_gui()
        _qt_fonts()
        self.name = name
        self.max_size = max_size
        self._open = False
        self._closed = False

    def show(self, view: np.ndarray) -> None:
        h, w = view.shape[:2]
        factor = min(1.0, self.max_size[0] / w, self.max_size[1] / h)
        if factor < 1.0:
            view = cv2.resize(view, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        if not self._open:
            cv2.namedWindow(self.name, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
            self._open = True
        cv2.imshow(self.name, view)
        self.last = view

    def poll_key(self) -> int:
        if not self._open:
            return -1
        key = cv2.waitKeyEx(1)  # the full code: waitKey's & 0xFF makes arrows look like letters
        try:
            if cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1:
                self._closed = True
        except cv2.error:
            self._closed = True
        return key

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._open:
            try:
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)
            except cv2.error:
                pass
            self._open = False


def draw_overlay(view: np.ndarray, lines: list[str], recording: bool) -> np.ndarray:
    """Text top-left on a dark band, a red REC mark top-right while recording."""
    out = view.copy()
    h, w = out.shape[:2]
    scale = max(0.5, min(1.2, h / 720 * 0.9))
    thick = max(1, round(scale * 2))
    font = cv2.FONT_HERSHEY_SIMPLEX
    pad = round(8 * scale) + 2
    sizes = [cv2.getTextSize(t, font, scale, thick)[0] for t in lines]
    line_h = max(s[1] for s in sizes) + pad
    box_w = min(w, max(s[0] for s in sizes) + 2 * pad)
    box_h = min(h, line_h * len(lines) + pad)
    roi = out[:box_h, :box_w]
    roi[:] = (roi.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken 60%
    for i, text in enumerate(lines):
        y = pad + line_h * i + sizes[i][1]
        cv2.putText(out, text, (pad, y), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    if recording:
        (tw, th), _ = cv2.getTextSize("REC", font, scale, thick)
        cx, cy, r = w - tw - 3 * pad, pad + th // 2, max(4, th // 2)
        cv2.circle(out, (cx, cy), r, (0, 0, 255), -1, cv2.LINE_AA)
        cv2.putText(out, "REC", (cx + r + pad // 2, cy + th // 2), font, scale, (0, 0, 255), thick, cv2.LINE_AA)
    return out


class FpsMeter:
    """Frames per second over the last `window` frames: steady enough to read, quick to follow."""

    def __init__(self, window: int = 30):
        self.times: deque[float] = deque(maxlen=window)

    def tick(self, now: Optional[float] = None) -> None:
        self.times.append(time.perf_counter() if now is None else now)

    @property
    def fps(self) -> float:
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])
