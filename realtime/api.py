"""The Python API: a stylizer to embed in one's own program (an OBS script, a Gradio demo, a robot).

    import cv2, realtime
    stylize = realtime.Stylizer("mosaic")          # a style name, an .onnx path or a painting; device="auto"
    frame = cv2.imread("photo.jpg")                # BGR uint8, any size
    cv2.imwrite("out.png", stylize(frame))         # same size, BGR uint8
    print([s.name for s in realtime.styles()])

    blend = realtime.Stylizer({"mosaic": 0.6, "candy": 0.4})   # a blend: one multi-style network
    blend.style = {"mosaic": 0.3, "candy": 0.7}                 # between frames: a morph is a series of these

It wraps the same engine the commands use, so names, devices, tiling and colour options behave alike;
mistakes raise `realtime.UserError` with the message the command line would print.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from realtime.engine import tiling
from realtime.engine.build import EngineOptions, Runtime
from realtime.catalog import registry
from realtime.catalog.registry import Style
from realtime.catalog.spec import parse_style


class Stylizer:
    """A style network ready to run on frames: `stylizer(frame_bgr_uint8) -> frame_bgr_uint8`.

    `net="auto"` takes the style's CPU network (NAME-lite) when running on the CPU and one is installed;
    `int8=None` (auto) runs the style's int8 copy on a CPU with VNNI or AMX where a measurement on this CPU,
    made once and cached, finds it faster (realtime.engine.precision); True forces the copy, False float;
    `scale` < 1 runs the network on a smaller copy (faster); `strength` (0..1) and `preserve_color`
    can be changed between frames; frames above `tile` pixels run in tiles (None: never).
    `notify` receives one-line notices, such as running on the CPU because there is no GPU.
    A painting (`Stylizer("my_painting.jpg")`, or a blend `"a.jpg:0.5,b.jpg:0.5"`) runs through the
    arbitrary-style network (realtime.engine.arbitrary); its `strength` mixes style vectors, not pixels.
    A blend of styles (`{"mosaic": 0.6, "candy": 0.4}` or `"mosaic:0.6,candy:0.4"`) runs on the installed
    multi-style network that holds them; `style` can be set between frames, and within that network a
    new mix costs nothing (no new session)."""

    def __init__(self, style: str | Path | Mapping[str, float], device: str = "auto", scale: float = 1.0, strength: float = 1.0,
                 preserve_color: bool = False, net: str = "auto", int8: bool | None = None,
                 tile: int | None = tiling.DEFAULT_BUDGET, notify: Callable[[str], None] | None = None):
        notify = notify or (lambda message: print(message, file=sys.stderr))
        options = EngineOptions(device=device, net=net, int8=int8, scale=scale, strength=strength,
                                preserve_color=preserve_color, tile=tile)
        self._runtime = Runtime(options, notify)
        self._style = _as_spec(style)
        self._engine = self._runtime.engine(self._style)

    @property
    def style(self) -> str:
        """The style as a --style value (`mosaic`, `mosaic:0.6,candy:0.4`, a path)."""
        return self._style

    @style.setter
    def style(self, value: str | Path | Mapping[str, float]) -> None:
        spec = _as_spec(value)
        target = self._runtime.model(spec)
        held = getattr(self._engine, "info", None)
        if isinstance(target, registry.Mix) and held is not None and held.styles and target.path == held.path:
            self._engine.mix = target.as_dict()  # the same network: a new mix, no new session
        else:
            engine = self._runtime.engine(target)
            engine.strength, engine.preserve_color = self._engine.strength, self._engine.preserve_color
            self._engine = engine
        self._style = spec

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


def _as_spec(style: str | Path | Mapping[str, float]) -> str:
    """A --style value from what the API takes; checked by the one grammar (realtime.catalog.spec)."""
    if isinstance(style, Mapping):
        return str(parse_style(",".join(f"{name}:{float(w)!r}" for name, w in style.items())))
    return parse_style(str(style)).single


def styles() -> list[Style]:
    """The installed styles (shipped ones and those in $REALTIME_MODELS folders), each with its model card."""
    return registry.list_styles()
