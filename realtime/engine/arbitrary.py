"""Any painting as a style: Magenta's arbitrary-style networks (realtime.catalog.arbitrary) behind Engine's interface.

A predictor turns a painting (a 256x256 centre crop) into a style vector of 100 numbers; a transform
stylises a frame of any size with a vector. A painting's vector is computed once, then kept in memory and on
disk (`StyleVectors`). Paintings blend by mixing their vectors. `strength` mixes the painting's vector with
the frame's own (Magenta's identity interpolation): 0 re-renders the photo in its own style, with no pixel
cross-fade. The frame's own vector is measured on every frame while strength < 1 (one predictor run, a few ms,
none at strength 1): a vector fixed from a first frame would carry one scene's colours into the next after
a cut, and a running mean would carry one still's into the next in `realtime image`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from realtime.catalog import arbitrary as nets_mod
from realtime.catalog.spec import Paintings
from realtime.engine import tiling
from realtime.engine.blend import blend, check_strength
from realtime.engine.frames import MIN_SIDE, check_scale
from realtime.engine.moments import split_moments
from realtime.engine.session import CUDA, ModelInfo, Placement, make_session, sibling_session
from realtime.errors import UserError
from realtime.files import atomic_path

Notify = Callable[[str], None]
PAD_MULTIPLE = 4  # two stride-2 stages
# On a 2-core Xeon the transform took 2.1 to 2.7 times mosaic-lite's time per frame from 320x240 to 1280x720
# (docs/commands.md, benchmarks/painting_speed.py); said once when a painting starts on a CPU.
CPU_COST = "2 to 3 times the CPU networks' time per frame"
# The webcam's default for paintings on a CPU when --scale is not given: at 640x480 the transform at half
# size (63 ms a frame on one core) runs faster than mosaic-lite at full size (109 ms), and 320x240 is near
# the size it was trained at.
LIVE_CPU_SCALE = 0.5


def _square(image: np.ndarray, side: int = nets_mod.STYLE_SIZE) -> np.ndarray:
    """The predictor's input: the centre square, resized to side x side, RGB 0-1 NHWC."""
    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    crop = image[y:y + s, x:x + s]
    crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if s > side else cv2.INTER_CUBIC)
    return (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1 / 255))[None]


class StyleVectors:
    """The predictor, with each painting's vector computed once: kept in memory, and on disk as
    `<sha256 of the file>.npy` under the networks' cache (a painting renamed or moved is still known)."""

    def __init__(self, session, folder: Path):
        self.session = session
        self.folder = folder
        self.runs = 0  # predictor runs, paintings and frames
        self._memory: dict[str, np.ndarray] = {}
        self._input = session.get_inputs()[0].name
        self._lock = threading.Lock()

    def of_image(self, bgr: np.ndarray) -> np.ndarray:
        """The style vector (1, 1, 1, 100) float32 of a BGR uint8 image."""
        with self._lock:
            self.runs += 1
        return self.session.run(None, {self._input: _square(bgr)})[0].astype(np.float32)

    def of_painting(self, path: Path) -> np.ndarray:
        if not path.is_file():
            raise UserError(f"{path}: painting not found")
        data = path.read_bytes()
        key = nets_mod.sha256(data)
        if key in self._memory:
            return self._memory[key]
        stored = self.folder / f"{key}.npy"
        vector = self._load(stored)
        if vector is None:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if image is None:
                raise UserError(f"{path}: cannot read painting (not an image, or corrupt); use a JPEG or PNG file")
            vector = self.of_image(image)
            self._store(stored, vector)
        self._memory[key] = vector
        return vector

    def mix(self, paintings: Paintings) -> np.ndarray:
        """The paintings' vectors mixed by their weights (a blend); one painting's own vector."""
        mixed = sum(w * self.of_painting(f) for f, w in zip(paintings.files, paintings.weights))
        return np.asarray(mixed, np.float32)

    @staticmethod
    def _load(path: Path) -> np.ndarray | None:
        try:
            vector = np.load(path)
        except (OSError, ValueError):
            return None
        return vector.astype(np.float32) if vector.size == nets_mod.VECTOR_SIZE else None

    def _store(self, path: Path, vector: np.ndarray) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, vector)
        except (OSError, UserError):  # a read-only cache: the vector is still kept in memory
            pass


def check_files(paintings: Paintings) -> None:
    for path in paintings.files:
        if not path.is_file():
            raise UserError(f"{path}: painting not found")


def open_vectors(placement: Placement, notify: Notify, threads: int | None = None) -> tuple[nets_mod.Networks, StyleVectors]:
    """The networks (fetched the first time) and a predictor on the placement's device."""
    nets = nets_mod.ensure(notify)
    session = make_session(nets.predict.read_bytes(), nets.predict, placement, notify, threads)
    return nets, StyleVectors(session, nets.folder / f"vectors-{nets_mod.MEMBERS['predict'][1][:12]}")


class PaintingEngine:
    """Engine's interface (BGR uint8 frame of any size -> frame; strength, preserve_color, scale, info,
    device, provider, io) for paintings. Frames above `tile` pixels run in tiles sharing the whole frame's
    normalisation moments (realtime.engine.moments)."""

    io = "float"  # frames are converted around the graph with OpenCV

    def __init__(self, paintings: Paintings, nets: nets_mod.Networks, vectors: StyleVectors, placement: Placement,
                 scale: float = 1.0, strength: float = 1.0, preserve_color: bool = False,
                 tile: int | None = tiling.DEFAULT_BUDGET, threads: int | None = None, notify: Notify = lambda m: None):
        self.scale = check_scale(scale)
        self.strength = check_strength(strength)
        self.preserve_color = preserve_color
        self.tile = tile
        self.threads = threads
        self.paintings = paintings
        self.vectors = vectors
        self.style = vectors.mix(paintings)  # once per engine; each painting once per cache
        self._model = nets.transform.read_bytes()
        self.session = make_session(self._model, nets.transform, placement, notify, threads)
        content, style = (i.name for i in self.session.get_inputs())
        self._style_input = style
        self.info = ModelInfo(path=nets.transform, name=paintings.name, input_name=content,
                              output_name=self.session.get_outputs()[0].name, value_scale=1.0, pad_multiple=PAD_MULTIPLE,
                              precision="int8", metadata={"realtime.style": paintings.name, "licence": nets_mod.LICENCE,
                                                          "attribution": nets_mod.ATTRIBUTION})
        self.provider = self.session.get_providers()[0]
        self._vector = self.style  # the vector of the frame being stylised (read by the tile sessions)
        self._tiler: tiling.Tiler | None = None
        self._notify = notify

    @property
    def device(self) -> str:
        return "cuda" if self.provider == CUDA else "cpu"

    def vector(self, frame: np.ndarray) -> np.ndarray:
        """The style vector for `frame` at the current strength: the painting's mixed with the frame's own."""
        s = self.strength
        if s == 1.0:
            return self.style
        return (s * self.style + (1.0 - s) * self.vectors.of_image(frame)).astype(np.float32)

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """BGR uint8 -> RGB 0-1 NHWC float32, padded to the network's multiple; and the unpadded size."""
        h, w = frame.shape[:2]
        ph, pw = max(h, MIN_SIDE) - h, max(w, MIN_SIDE) - w
        ph, pw = ph + (-(h + ph)) % PAD_MULTIPLE, pw + (-(w + pw)) % PAD_MULTIPLE
        if ph or pw:
            border = cv2.BORDER_REFLECT_101 if min(h, w) >= MIN_SIDE else cv2.BORDER_REPLICATE
            frame = cv2.copyMakeBorder(frame, 0, ph, 0, pw, border)
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32)
        rgb *= np.float32(1 / 255)
        return rgb[None], (h, w)

    @staticmethod
    def postprocess(out: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        h, w = size
        img = out[0, :h, :w] * np.float32(255)
        return cv2.cvtColor(cv2.convertScaleAbs(img), cv2.COLOR_RGB2BGR)  # rounds and saturates to 0..255

    def _run(self, session, outputs, feeds: dict) -> list:
        return session.run(outputs, {**feeds, self._style_input: self._vector})

    def stylise(self, frame: np.ndarray, vector: np.ndarray | None = None) -> np.ndarray:
        """The transform on a frame as it is (no scale, no colour keeping), in tiles above the budget."""
        self._vector = self.style if vector is None else vector
        if self.tile and frame.shape[0] * frame.shape[1] > self.tile:
            return self.tiler()(frame)
        blob, size = self.preprocess(frame)
        return self.postprocess(self._run(self.session, [self.info.output_name], {self.info.input_name: blob})[0], size)

    def tiler(self) -> tiling.Tiler:
        """Built on the first big frame: the stats and tile graphs get sessions of their own."""
        if self._tiler is None:
            import onnx

            split = split_moments(onnx.load_from_string(self._model))
            if split is None:
                self._notify("the painting network's normalisation could not be shared across tiles; large frames "
                             "are tiled with each tile normalised alone (seams possible; --tile off avoids them)")
            self._tiler = tiling.Tiler(self.tile, split, lambda data: _Fed(self, sibling_session(data, self.session,
                                                                                                 self.threads, False)),
                                       self.preprocess, self.postprocess, self.info.input_name, self.info.output_name,
                                       _Fed(self, self.session))
        return self._tiler

    def network_only(self, frame: np.ndarray) -> Callable[[], object]:
        """The bare transform call for `frame` at full strength, prepared once (what `bench` times)."""
        blob, _ = self.preprocess(frame)
        feeds = {self.info.input_name: blob, self._style_input: self.style}
        return lambda: self.session.run([self.info.output_name], feeds)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError("PaintingEngine expects a uint8 BGR frame of shape (H, W, 3)")
        vector = self.vector(frame)
        src = frame
        if self.scale != 1.0:
            h, w = frame.shape[:2]
            size = (max(4, round(w * self.scale)), max(4, round(h * self.scale)))
            src = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR)
        out = self.stylise(src, vector)
        if out.shape[:2] != frame.shape[:2]:
            out = cv2.resize(out, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
        if self.preserve_color:
            out = blend(frame, out, 1.0, keep_color=True)
        return out


class _Fed:
    """A session of the transform that feeds the engine's current style vector on every run: the Tiler
    knows only the image input."""

    def __init__(self, engine: PaintingEngine, session):
        self.engine, self.session = engine, session

    def run(self, outputs, feeds: dict) -> list:
        return self.engine._run(self.session, outputs, feeds)
