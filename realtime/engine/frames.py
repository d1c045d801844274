"""The engine: one style network's session, frames in and out as BGR uint8 of any size.

Sessions come from realtime.engine.session; commands and the API reach engines through
realtime.engine.build, the one path from a --style value to running engines.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping

import cv2
import numpy as np

from realtime.engine import tiling
from realtime.engine.blend import blend, check_strength
from realtime.engine.session import CUDA, Placement, end_profile, make_session, place, read_info, sibling_session
from realtime.errors import UserError

MIN_SIDE = 32  # smaller frames are padded up (edge pixels repeated) and cropped back: the network's own
               # reflection padding needs a few pixels at a quarter of the size


def check_scale(scale: float) -> float:
    if not 0.05 <= scale <= 4:
        raise UserError(f"--scale {scale}: use a factor between 0.05 and 4")
    return scale


class Engine:
    """Stylises BGR uint8 frames of any size with one reused session.

    `scale` < 1 runs the network on a smaller copy and resizes back: the main speed lever on CPUs.
    On CUDA, IO binding moves each frame across the bus once each way.
    `strength` (0..1) and `preserve_color` post-process each result against its input
    (realtime.engine.blend); both are plain attributes, changeable between frames (the webcam keys).
    Frames of more than `tile` pixels (after `scale`) run in tiles (realtime.engine.tiling); None: never.
    A multi-style network (realtime.training.multistyle) runs the mix of its styles in `mix`, a plain
    attribute too, so a live loop or a video schedule can glide between styles frame by frame.
    """

    def __init__(self, model: Path | str, device: str = "auto", scale: float = 1.0,
                 notify: Callable[[str], None] = lambda msg: None, strength: float = 1.0,
                 preserve_color: bool = False, tile: int | None = tiling.DEFAULT_BUDGET, uint8_io: bool = True,
                 threads: int | None = None, placement: Placement | None = None, profile: bool = False,
                 mix: Mapping[str, float] | None = None):
        check_scale(scale)
        self.strength = check_strength(strength)
        self.preserve_color = preserve_color
        self.threads = threads
        self.profile = profile  # onnxruntime times every node (`operator_time`); for `realtime bench --profile`
        path = Path(model)
        if not path.is_file():
            raise UserError(f"{path}: model file not found")
        self._model = path.read_bytes()  # read once: the session, the uint8 wrapper and the tile graphs share it
        self.session = make_session(self._model, path, placement or place(device), notify, threads, profile)
        self.info = read_info(self.session, path)
        self._weights: np.ndarray | None = None
        self._mix: dict[str, float] = {}
        if self.info.styles:
            self.mix = mix or {self.info.styles[0]: 1.0}
        elif mix and set(mix) != {self.info.name}:
            raise UserError(f"{path}: holds one style, not a mix of {', '.join(mix)}")
        self.scale = scale
        self.provider = self.session.get_providers()[0]
        self.on_cuda = self.provider == CUDA
        self._binding = self.session.io_binding() if self.on_cuda else None
        self._u8 = self._uint8_session() if uint8_io else None
        self._u8_binding = self._u8.io_binding() if self._u8 is not None and self.on_cuda else None
        self.tile = tile
        self._tiler: tiling.Tiler | None = None
        self._notify = notify
        self.last_spent: dict[str, float] = {}  # the last call's seconds in "resize" and "post" (the live loop's split)

    @property
    def mix(self) -> dict[str, float]:
        """A multi-style network's styles and weights (summing to 1) for the next frames; {} for others."""
        return dict(self._mix)

    @mix.setter
    def mix(self, value: Mapping[str, float]) -> None:
        styles = self.info.styles
        if not styles:
            raise UserError(f"{self.info.path.name}: holds one style; a mix needs a multi-style network")
        unknown = [name for name in value if name not in styles]
        if unknown:
            raise UserError(f"--style {', '.join(unknown)}: not in {self.info.path.name}; it holds {', '.join(styles)}")
        total = sum(value.values())
        if min(value.values(), default=0.0) < 0 or total <= 0:
            raise UserError("--style: weights must not be negative and must not all be 0")
        self._mix = {name: w / total for name, w in value.items() if w > 0}
        vector = np.zeros((1, len(styles)), np.float32)
        for name, w in self._mix.items():
            vector[0, styles.index(name)] = w
        self._weights = vector

    def _feeds(self, feeds: dict) -> dict:
        """What every run of this network's graphs needs besides the frame: a mix's weights."""
        return {**feeds, self.info.weights_name: self._weights} if self._weights is not None else feeds

    def _uint8_session(self):
        """The same network taking and giving uint8 NHWC BGR frames (realtime.engine.uint8_io): no per-pixel
        numpy work around it, a quarter of the bytes to and from a GPU. None for fp16 networks or graphs
        the wrapper cannot take (they run through preprocess/postprocess)."""
        import onnx

        if self.session.get_inputs()[0].type != "tensor(float)":
            return None
        try:
            from realtime.engine import uint8_io

            i = self.info
            wrapped = uint8_io.wrap(onnx.load_from_string(self._model), i.input_name, i.output_name, i.color_order,
                                    i.value_scale, i.pad_multiple)
            return self._sibling_session(wrapped.SerializeToString())
        except Exception:  # a graph the surgery does not fit: the float path still works
            return None

    def _sibling_session(self, model: bytes, arena: bool = True):
        return sibling_session(model, self.session, self.threads, arena, self.profile)

    def operator_time(self, skip_runs: int = 1) -> dict[str, float]:
        """Microseconds per operator type over every run so far but each onnxruntime session's first `skip_runs`
        (an engine made with `profile`); ends profiling."""
        spent: dict[str, float] = {}
        sessions = [self.session, self._u8]
        if self._tiler is not None:
            sessions += [self._tiler.stats_session, self._tiler.tile_session]
        ended: set[int] = set()
        for session in sessions:
            session = session.session if isinstance(session, _Fed) else session  # the tiler's feed a mix through _Fed
            if self.profile and session is not None and id(session) not in ended:
                ended.add(id(session))
                for op, us in end_profile(session, skip_runs).items():
                    spent[op] = spent.get(op, 0.0) + us
        return spent

    @property
    def device(self) -> str:
        return "cuda" if self.on_cuda else "cpu"

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """BGR uint8 HWC -> model tensor NCHW float32 (padded); returns the unpadded size too."""
        h, w = frame.shape[:2]
        m = self.info.pad_multiple
        ph, pw = max(h, MIN_SIDE) - h, max(w, MIN_SIDE) - w
        ph, pw = ph + (-(h + ph)) % m, pw + (-(w + pw)) % m
        if ph or pw:
            border = cv2.BORDER_REFLECT_101 if min(h, w) >= MIN_SIDE else cv2.BORDER_REPLICATE
            frame = cv2.copyMakeBorder(frame, 0, ph, 0, pw, border)
        blob = cv2.dnn.blobFromImage(frame, scalefactor=self.info.value_scale / 255.0,
                                     swapRB=self.info.color_order == "RGB")
        return blob, (h, w)

    def postprocess(self, out: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        h, w = size
        img = out[0, :, :h, :w].transpose(1, 2, 0)
        if self.info.value_scale != 255.0:
            img = img * (255.0 / self.info.value_scale)
        img = np.clip(img, 0, 255, out=np.empty_like(img) if not img.flags.writeable else img)
        img = img.astype(np.uint8)
        return np.ascontiguousarray(img[:, :, ::-1]) if self.info.color_order == "RGB" else np.ascontiguousarray(img)

    def stylise(self, frame: np.ndarray) -> np.ndarray:
        """The network on a frame as it is (no scale, no blend), in tiles when it exceeds the budget."""
        if self.tile and frame.shape[0] * frame.shape[1] > self.tile:
            return self.tiler()(frame)
        if self._u8 is not None and min(frame.shape[:2]) >= MIN_SIDE:
            return self._run_uint8(np.ascontiguousarray(frame))
        blob, size = self.preprocess(frame)
        return self.postprocess(self.run_tensor(blob), size)

    def tiler(self) -> tiling.Tiler:
        """Built on the first big frame: the stats and tile graphs get sessions of their own."""
        if self._tiler is None:
            import onnx

            split = tiling.split_norms(onnx.load_from_string(self._model))
            if split is None:
                self._notify(f"{self.info.path.name}: its normalisation could not be shared across tiles; "
                             "large frames are tiled with each tile normalised alone (seams possible; --tile off avoids them)")
            self._tiler = tiling.Tiler(
                self.tile, split, lambda data: _Fed(self, self._sibling_session(data, arena=False)),
                self.preprocess, self.postprocess, self.info.input_name, self.info.output_name, _Fed(self, self.session))
        return self._tiler

    @property
    def io(self) -> str:
        """"uint8": frames go into the graph as they are; "float": through preprocess/postprocess."""
        return "uint8" if self._u8 is not None else "float"

    def network_only(self, frame: np.ndarray) -> Callable[[], object]:
        """The bare onnxruntime call for `frame`, prepared once: what `bench` sets against a whole call."""
        if self._u8 is not None:
            feeds = self._feeds({"frame": np.ascontiguousarray(frame)[None]})
            return lambda: self._u8.run(["styled"], feeds)
        blob, _ = self.preprocess(frame)
        return lambda: self.run_tensor(blob)

    def _run_uint8(self, frame: np.ndarray) -> np.ndarray:
        if self._u8_binding is None:
            return self._u8.run(["styled"], self._feeds({"frame": frame[None]}))[0][0]
        import onnxruntime as ort

        binding = self._u8_binding
        binding.bind_ortvalue_input("frame", ort.OrtValue.ortvalue_from_numpy(frame[None], "cuda", 0))
        if self._weights is not None:
            binding.bind_cpu_input(self.info.weights_name, self._weights)
        binding.bind_output("styled", "cuda", 0)
        self._u8.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0][0]

    def run_tensor(self, blob: np.ndarray) -> np.ndarray:
        if self._binding is None:
            return self.session.run([self.info.output_name], self._feeds({self.info.input_name: blob}))[0]
        import onnxruntime as ort

        binding = self._binding
        binding.bind_ortvalue_input(self.info.input_name, ort.OrtValue.ortvalue_from_numpy(blob, "cuda", 0))
        if self._weights is not None:
            binding.bind_cpu_input(self.info.weights_name, self._weights)
        binding.bind_output(self.info.output_name, "cuda", 0)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError("Engine expects a uint8 BGR frame of shape (H, W, 3)")
        src = frame
        t0 = time.perf_counter()
        if self.scale != 1.0:
            h, w = frame.shape[:2]
            size = (max(4, round(w * self.scale)), max(4, round(h * self.scale)))
            src = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR)
        t1 = time.perf_counter()
        out = self.stylise(src)
        t2 = time.perf_counter()
        if out.shape[:2] != frame.shape[:2]:
            out = cv2.resize(out, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
        t3 = time.perf_counter()
        if self.preserve_color or self.strength != 1.0:
            out = blend(frame, out, self.strength, keep_color=self.preserve_color)
        self.last_spent = {"resize": (t1 - t0) + (t3 - t2), "post": time.perf_counter() - t3}
        return out


class _Fed:
    """A session of one of the engine's graphs that adds the engine's current mix to every run: the
    Tiler knows only the image input."""

    def __init__(self, engine: Engine, session):
        self.engine, self.session = engine, session

    def run(self, outputs, feeds: dict) -> list:
        return self.session.run(outputs, self.engine._feeds(feeds))
