"""The one path from a style to running engines, for every command and `realtime.Stylizer`.

`Runtime(options)` decides the device once, then turns a style (a name or an .onnx path, see
realtime.catalog.spec) into the file to run (full or CPU network, fp16 copy: realtime.catalog.registry; int8 or
float on a CPU: realtime.engine.precision, measured once per network on this CPU unless --int8/--no-int8 say;
a blend: the multi-style network holding its styles, with the weights) and that file into an Engine with the options' scale, strength, colour and tiling; paintings (image files,
alone or blended) into a PaintingEngine (realtime.engine.arbitrary) sharing the runtime's style vectors.
Stabilisation is a per-stream step applied in frame order by whoever consumes the frames
(`Runtime.stabilizer`). A new option is added to EngineOptions and applied here, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from realtime.engine import tiling
from realtime.engine.blend import check_strength
from realtime.engine.frames import Engine, check_scale
from realtime.engine.session import Placement, place
from realtime.engine.stabilize import Stabilizer, check_amount
from realtime.catalog import registry
from realtime.catalog.registry import Mix
from realtime.catalog.spec import Paintings, parse_style

Notify = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


@dataclass(frozen=True)
class EngineOptions:
    """How styles run; the commands fill one from their shared options, the API from its arguments."""

    device: str = "auto"  # auto | cuda | cpu
    net: str = "auto"  # auto (the CPU network NAME-lite on a CPU) | full | lite
    fp16: bool = False  # the style's half-precision copy (GPUs)
    int8: bool | None = None  # True: the int8 copy; False: float; None: measured on this CPU (realtime.engine.precision)
    scale: float = 1.0  # the network runs at this fraction of the frame's size
    strength: float = 1.0  # 0 the photo .. 1 full style
    preserve_color: bool = False
    tile: int | None = tiling.DEFAULT_BUDGET  # frames above this many pixels run in tiles; None: never
    stabilize: float = 0.0  # flow-warped blending with the previous output, 0 (off) .. 1
    threads: int | None = None  # intra-op threads of each session (None: onnxruntime's choice)
    uint8_io: bool = True  # frames enter the graph as uint8 (bench turns it off to time the float path)
    profile: bool = False  # onnxruntime times every node (bench --profile reads it with Engine.operator_time)

    def checked(self) -> "EngineOptions":
        registry.check_net(self.net)
        check_scale(self.scale)
        check_strength(self.strength)
        check_amount(self.stabilize)
        if self.fp16 and self.int8:
            registry.int8_copy(Path("x.onnx"), fp16=True)  # raises the one-line refusal
        return self


class Runtime:
    """Where styles run, decided once, and the engines made for them."""

    def __init__(self, options: EngineOptions = EngineOptions(), notify: Notify = _quiet,
                 placement: Placement | None = None):
        self.options = options.checked()
        self.notify = notify
        self.placement = placement or place(options.device)
        self._paintings = None  # the any-painting networks and their style vectors, opened on first use

    @property
    def on_cpu(self) -> bool:
        return self.placement.on_cpu

    def model(self, style: str | Path, quiet: bool = False) -> Path | Paintings | Mix:
        """The file that runs `style` here: full or CPU network, fp16 copy (`engine` then takes a one-style
        network's int8 copy where --int8 or the measurement says); the paintings it names; or, for a blend or
        a style only a multi-style network holds, that network (or its installed int8 copy) and the weights."""
        spec = parse_style(str(style))
        if spec.paintings is not None:
            return spec.paintings
        o = self.options
        notify = _quiet if quiet else self.notify
        if spec.is_blend:
            return registry.pick_mix(dict(zip(spec.styles, spec.weights)), o.net, self.on_cpu, o.fp16, o.int8 is True, notify)
        name = spec.single
        if not registry.is_path_like(name) and registry.NAME_RE.match(name) and registry.find(name) is None:
            held = [n for n in registry.multistyle_networks() if name in registry.held_styles(n.card)]
            if held:
                return registry.pick_mix({name: 1.0}, o.net, self.on_cpu, o.fp16, o.int8 is True, notify)
        return registry.pick(name, o.net, self.on_cpu, fp16=o.fp16, notify=notify)

    def engine(self, style: str | Path, quiet: bool = False, frame: tuple[int, int] | None = None,
               **overrides) -> Engine:
        """An engine for a style (name or path; `model` picks the file) or for a file `model` already picked.

        `frame` (width, height), where the caller knows it, is the size the int8-or-float measurement is
        made at (else 640x480). `overrides` replace options for this engine only (one thread per frame in
        flight, bench's rows)."""
        o = replace(self.options, **overrides).checked() if overrides else self.options
        path = style if isinstance(style, (Path, Paintings, Mix)) else self.model(style, quiet)
        if isinstance(path, Paintings):
            return self.painting_engine(path, o, quiet)
        mix = None
        if isinstance(path, Mix):
            path, mix = path.path, path.as_dict()
        else:
            path = self._int8_or_float(path, o, frame, _quiet if quiet else self.notify)
        return Engine(path, scale=o.scale, notify=_quiet if quiet else self.notify, strength=o.strength,
                      preserve_color=o.preserve_color, tile=o.tile, uint8_io=o.uint8_io, threads=o.threads,
                      placement=self.placement, profile=o.profile, mix=mix)

    def _int8_or_float(self, path: Path, o: EngineOptions, frame: tuple[int, int] | None, notify: Notify) -> Path:
        """--int8: the copy (installed, else quantised once into the cache); --no-int8 and fp16: the file as
        picked; neither, on the CPU: what the measurement on this CPU chose (realtime.engine.precision)."""
        if o.int8 is False or o.fp16:
            return path
        from realtime.engine import precision

        if o.int8:
            return precision.forced(path, notify)
        if not self.on_cpu:
            return path
        choice = precision.choose(path, None if frame is None else frame[0] * frame[1] * o.scale ** 2, notify)
        if choice.line:
            notify(choice.line)
        return choice.path

    def painting_engine(self, paintings: Paintings, o: EngineOptions, quiet: bool = False):
        """A PaintingEngine; the first one fetches the networks (once per machine) and says what runs."""
        from realtime.engine import arbitrary

        arbitrary.check_files(paintings)  # before fetching anything
        first = self._paintings is None
        if first:
            self._paintings = arbitrary.open_vectors(self.placement, self.notify, o.threads)
        nets, vectors = self._paintings
        engine = arbitrary.PaintingEngine(paintings, nets, vectors, self.placement, scale=o.scale, strength=o.strength,
                                          preserve_color=o.preserve_color, tile=o.tile, threads=o.threads,
                                          notify=_quiet if quiet else self.notify)
        if first:  # the attribution, even for quiet engines
            cost = f"; on a CPU it takes {arbitrary.CPU_COST} (--scale 0.5: a quarter)" if self.on_cpu else ""
            self.notify(f"{paintings.name}: any painting runs through {arbitrary.nets_mod.CREDIT}{cost}")
        return engine

    def stabilizer(self) -> Stabilizer | None:
        """A fresh per-stream stabiliser when the options ask for one (applied in frame order)."""
        return Stabilizer(self.options.stabilize) if self.options.stabilize else None


def open_engine(style: str | Path, options: EngineOptions = EngineOptions(), notify: Notify = _quiet) -> Engine:
    """A style (name or .onnx path) ready to run on frames: the one function commands and the API call."""
    return Runtime(options, notify).engine(style)
