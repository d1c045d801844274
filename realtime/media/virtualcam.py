"""A virtual camera sink, so video calls (Zoom, Meet, Teams, OBS) can use the stylised frames.

pyvirtualcam does the platform work: v4l2loopback on Linux, OBS's virtual camera on Windows and macOS.
It is imported only when `--virtual-cam` is asked for, and a missing device is a readable error with the
setup command, not a traceback.
"""

from __future__ import annotations

import sys
from typing import Optional

import cv2
import numpy as np

from realtime.errors import UserError

SETUP = {
    "linux": "sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
             'card_label="realtime"',
    "win32": "install OBS Studio (28 or newer) and start its virtual camera once",
    "darwin": "install OBS Studio (28 or newer) and start its virtual camera once",
}


def setup_hint() -> str:
    return SETUP.get(sys.platform, SETUP["linux"])


class VirtualCam:
    """Opened on the first frame (its size fixes the camera's); later frames of another size are resized."""

    def __init__(self, device: Optional[str] = None, fps: float = 30.0):
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise UserError("--virtual-cam needs pyvirtualcam: pip install pyvirtualcam") from exc
        self._module = pyvirtualcam
        self.device = device
        self.fps = fps
        self.camera = None
        self.frames = 0

    def _open(self, width: int, height: int) -> None:
        try:
            self.camera = self._module.Camera(width, height, self.fps, fmt=self._module.PixelFormat.BGR,
                                              device=self.device)
        except (RuntimeError, ValueError, OSError) as exc:
            where = f" {self.device}" if self.device else ""
            raise UserError(f"--virtual-cam{where}: no virtual camera to send to ({str(exc).strip()[:160]}); "
                            f"set one up: {setup_hint()}") from exc
        self.device = self.camera.device  # the one pyvirtualcam chose, named after closing too

    @property
    def name(self) -> str:
        return self.device or "?"

    def send(self, frame: np.ndarray) -> None:
        if self.camera is None:
            self._open(frame.shape[1], frame.shape[0])
        size = (self.camera.width, self.camera.height)
        if (frame.shape[1], frame.shape[0]) != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        self.camera.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        if self.camera is not None:
            self.camera.close()
            self.camera = None
