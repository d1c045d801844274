"""Run-time flicker reduction: blend each stylised frame with the previous one, moved by optical flow.

A per-frame network restyles a still wall slightly differently every frame, and that shimmer is what
users see. Here the previous *output* is warped onto the new frame with the input's optical flow (OpenCV's
DIS, computed on a small grey copy so it costs a few ms) and blended in with weight `amount`. Where the
warp cannot be trusted the new frame wins: pixels whose warped previous *input* does not match the new
input (occlusions, flow errors, lighting changes) and pixels moving fast. Because the blended output is
the next frame's "previous", this is a motion-compensated running average: static areas settle and
moving ones stay sharp.
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime.errors import UserError
from realtime.engine.flow import warp

FLOW_LONG_SIDE = 320  # flow on a grey copy this big: a few ms, and precise enough for blending
MISMATCH = 12.0  # grey levels of (warped previous input - input) where trust falls to about a third
FAST_PX = 24.0  # motion (in full-size pixels per frame) where trust falls to about a third
DEFAULT_STABILIZE = 0.7  # what the webcam's t key switches on when --stabilize was not given
MAX_AMOUNT = 0.95  # never freeze: every frame contributes at least this much of itself


def check_amount(amount: float) -> float:
    if not 0.0 <= amount <= 1.0:
        raise UserError(f"--stabilize {amount}: use 0 (off) to 1 (steadiest); 0.7 is a good start")
    return amount


class Stabilizer:
    """Stateful per stream: call with each (input frame, stylised frame); `reset()` on a cut or style change."""

    def __init__(self, amount: float = 0.7):
        self.amount = check_amount(amount)
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.reset()

    def reset(self) -> None:
        self._prev_grey: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None

    def _grey(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = frame.shape[:2]
        s = min(1.0, FLOW_LONG_SIDE / max(h, w))
        small = frame if s == 1.0 else cv2.resize(frame, (max(8, round(w * s)), max(8, round(h * s))),
                                                  interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), s

    def __call__(self, frame: np.ndarray, stylised: np.ndarray) -> np.ndarray:
        grey, s = self._grey(frame)
        prev_grey, prev_out = self._prev_grey, self._prev_out
        self._prev_grey = grey
        if (self.amount <= 0 or prev_grey is None or prev_out is None or prev_grey.shape != grey.shape
                or prev_out.shape != stylised.shape):
            self._prev_out = stylised
            return stylised
        flow = self.dis.calc(grey, prev_grey, None)  # for each new pixel, where it was in the previous frame
        warped_grey = warp(prev_grey, flow)
        mismatch = cv2.absdiff(grey, warped_grey).astype(np.float32)
        speed_sq = (flow[..., 0] ** 2 + flow[..., 1] ** 2) / (s * s)
        trust = np.exp(-(mismatch / MISMATCH) ** 2 - speed_sq / FAST_PX ** 2)
        trust = cv2.GaussianBlur(trust, (5, 5), 0) * min(self.amount, MAX_AMOUNT)  # soft seams
        h, w = stylised.shape[:2]
        # Full-size map: upscale the flow field and convert it into pixels of the full frame.
        warped_out = warp(prev_out, cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / s)
        weight = cv2.resize(trust, (w, h), interpolation=cv2.INTER_LINEAR)
        out = cv2.blendLinear(warped_out, stylised, weight, 1.0 - weight)
        self._prev_out = out
        return out
