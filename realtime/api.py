"""The Python API: a stylizer to embed in one's own program (an OBS script, a Gradio demo, a robot).

    import cv2, realtime
    stylize = realtime.Stylizer("mosaic")          # a style name, an .onnx path or a painting; device="auto"
    frame = cv2.imread("photo.jpg")                # BGR uint8, any size
    cv2.imwrite("out.png", stylize(frame))         # same size, BGR uint8
    print([s.name for s in realtime.styles()])

It wraps the same engine the commands use, so names, devices, tiling and colour options behave alike;
mistakes raise `realtime.UserError` with the message the command line would print.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

from realtime.engine import tiling
from realtime.engine.build import EngineOptions, open_engine
from realtime.catalog import registry
from realtime.catalog.registry import Style
from realtime.catalog.spec import parse_style


class Stylizer:
    """A style network ready to run on frames: `stylizer(frame_bgr_uint8) -> frame_bgr_uint8`.

    `net="auto"` takes the style's CPU network (NAME-lite) when running on the CPU and one is installed;
    `scale` < 1 runs the network on a smaller copy (faster); `strength` (0..1) and `preserve_color`
    can be changed between frames; frames above `tile` pixels run in tiles (None: never).
    `notify` receives one-line notices, such as running on the CPU because there is no GPU.
    A painting (`Stylizer("my_painting.jpg")`, or a blend `"a.jpg:0.5,b.jpg:0.5"`) runs through the
    arbitrary-style network (realtime.engine.arbitrary); its `strength` mixes style vectors, not pixels."""

    def __init__(self, style: str | Path, device: str = "auto", scale: float = 1.0, strength: float = 1.0,
                 preserve_color: bool = False, net: str = "auto", int8: bool = False,
                 tile: int | None = tiling.DEFAULT_BUDGET, notify: Callable[[str], None] | None = None):
        notify = notify or (lambda message: print(message, file=sys.stderr))
        options = EngineOptions(device=device, net=net, int8=int8, scale=scale, strength=strength,
                                preserve_color=preserve_color, tile=tile)
        self._engine = open_engine(parse_style(str(style)).single, options, notify)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self._engine(frame)

    @property
    def device(self) -> str:
        """"cuda" or "cpu": where the network really runs."""
        return self._engine.device

    @property
    def model(self) -> Path:
        return self._engine.info.path

    @property
    def strength(self) -> float:
        return self._engine.strength

    @strength.setter
    def strength(self, value: float) -> None:
        from realtime.engine.blend import check_strength

        self._engine.strength = check_strength(value)

    @property
    def preserve_color(self) -> bool:
        return self._engine.preserve_color

    @preserve_color.setter
    def preserve_color(self, value: bool) -> None:
        self._engine.preserve_color = bool(value)


def styles() -> list[Style]:
    """The installed styles (shipped ones and those in $REALTIME_MODELS folders), each with its model card."""
    return registry.list_styles()
