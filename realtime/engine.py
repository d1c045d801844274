"""The inference engine: one onnxruntime session per style, frames in and out as BGR uint8.

CUDA when its provider really initialises, else CPU with a one-line notice, never silently. The I/O
convention is read from the model's metadata, so foreign exports (the anchors, users' own) work too.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from realtime import tiling
from realtime.blend import blend, check_strength
from realtime.errors import UserError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
MIN_SIDE = 32  # smaller frames are padded up (edge pixels repeated) and cropped back: the network's own
               # reflection padding needs a few pixels at a quarter of the size


@dataclass(frozen=True)
class ModelInfo:
    """How to talk to a style network; defaults fit the common fast-style exports (RGB, 0-255, NCHW)."""

    path: Path
    name: str
    input_name: str
    output_name: str
    color_order: str = "RGB"
    value_scale: float = 255.0  # 255 for 0-255 models, 1 for 0-1 models
    pad_multiple: int = 4
    precision: str = "fp32"
    metadata: dict[str, str] = field(default_factory=dict)


def read_info(session, path: Path) -> ModelInfo:
    meta = dict(session.get_modelmeta().custom_metadata_map)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    channels = outputs[0].shape[1] if outputs and len(outputs[0].shape) == 4 else None
    if len(inputs) != 1 or len(outputs) < 1 or len(inputs[0].shape) != 4 or len(outputs[0].shape) != 4 \
            or isinstance(channels, int) and channels != 3:
        raise UserError(f"{path}: not an image-to-image style network (needs one 4-D image input and a 3-channel "
                        "image output); export it with `realtime export`")
    if all(isinstance(d, int) for d in inputs[0].shape[2:]):
        h, w = inputs[0].shape[2:]
        raise UserError(f"{path}: takes only {w}x{h} images (fixed size); export it with dynamic height and width")
    value_range = meta.get("realtime.value_range", "0-255")
    return ModelInfo(
        path=path,
        name=meta.get("realtime.style", path.stem),
        input_name=meta.get("realtime.input_name", inputs[0].name),
        output_name=meta.get("realtime.output_name", outputs[0].name),
        color_order=meta.get("realtime.color_order", "RGB").upper(),
        value_scale=1.0 if value_range == "0-1" else 255.0,
        pad_multiple=int(meta.get("realtime.pad_multiple", "4")),
        precision=meta.get("realtime.precision", "fp16" if "float16" in inputs[0].type else "fp32"),
        metadata=meta,
    )


def cuda_driver_present() -> bool:
    """Cheap check before asking onnxruntime for CUDA, which logs loudly when there is no GPU."""
    try:
        ctypes.CDLL("libcuda.so.1" if os.name != "nt" else "nvcuda.dll")
        return True
    except OSError:
        return False


def runs_on_cpu(device: str) -> bool:
    """Whether an Engine asked for `device` will run on the CPU (decides `--net auto`)."""
    if device == "cpu":
        return True
    import onnxruntime as ort

    return CUDA not in ort.get_available_providers() or not cuda_driver_present()


def session_options(arena: bool = True, threads: int | None = None):
    """`arena=False` hands memory back after each run (the tile graphs: a big frame's peak stays bounded);
    `threads`: intra-op threads on the CPU (None: onnxruntime's choice, one per core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = arena
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def make_session(path: Path, device: str, notify: Callable[[str], None], threads: int | None = None):
    """Create the onnxruntime session on the device asked for and say which one it really got."""
    import onnxruntime as ort

    if device not in ("auto", "cuda", "cpu"):
        raise UserError(f"--device {device}: use auto, cuda or cpu")
    if not path.is_file():
        raise UserError(f"{path}: model file not found")
    options = session_options(threads=threads)
    want_cuda = device in ("auto", "cuda")
    reason = ""
    if want_cuda and CUDA not in ort.get_available_providers():
        reason = "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    elif want_cuda and not cuda_driver_present():
        reason = "no NVIDIA driver found (libcuda)"
    providers: list = [CPU]
    if want_cuda and not reason:
        providers = [(CUDA, {"cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": "1"}), CPU]
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own types for corrupt or foreign files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: cannot load this ONNX model ({first[:200]})") from exc
    if want_cuda and not reason and CUDA not in session.get_providers():
        reason = "the CUDA provider failed to initialise (check CUDA 13 and cuDNN 9 libraries)"
    if reason:
        if device == "cuda":
            raise UserError(f"--device cuda: {reason}; use --device cpu")
        notify(f"running on CPU: {reason}")
    return session


class Engine:
    """Stylises BGR uint8 frames of any size with one reused session.

    `scale` < 1 runs the network on a smaller copy and resizes back: the main speed lever on CPUs.
    On CUDA, IO binding moves each frame across the bus once each way.
    `strength` (0..1) and `preserve_color` post-process each result against its input
    (realtime.blend); both are plain attributes, changeable between frames (the webcam keys).
    Frames of more than `tile` pixels (after `scale`) run in tiles (realtime.tiling); None: never.
    """

    def __init__(self, model: Path | str, device: str = "auto", scale: float = 1.0,
                 notify: Callable[[str], None] = lambda msg: None, strength: float = 1.0,
                 preserve_color: bool = False, tile: int | None = tiling.DEFAULT_BUDGET, uint8_io: bool = True,
                 threads: int | None = None):
        if not 0.05 <= scale <= 4:
            raise UserError(f"--scale {scale}: use a factor between 0.05 and 4")
        self.strength = check_strength(strength)
        self.preserve_color = preserve_color
        self.threads = threads
        self.session = make_session(Path(model), device, notify, threads)
        self.info = read_info(self.session, Path(model))
        self.scale = scale
        self.provider = self.session.get_providers()[0]
        self.on_cuda = self.provider == CUDA
        self._binding = self.session.io_binding() if self.on_cuda else None
        self._u8 = self._uint8_session() if uint8_io else None
        self._u8_binding = self._u8.io_binding() if self._u8 is not None and self.on_cuda else None
        self.tile = tile
        self._tiler: tiling.Tiler | None = None
        self._notify = notify

    def _uint8_session(self):
        """The same network taking and giving uint8 NHWC BGR frames (realtime.uint8_io): no per-pixel
        numpy work around it, a quarter of the bytes to and from a GPU. None for fp16 networks or graphs
        the wrapper cannot take (they run through preprocess/postprocess)."""
        import onnx

        if self.session.get_inputs()[0].type != "tensor(float)":
            return None
        try:
            from realtime import uint8_io

            i = self.info
            wrapped = uint8_io.wrap(onnx.load(str(i.path)), i.input_name, i.output_name, i.color_order,
                                    i.value_scale, i.pad_multiple)
            return self._sibling_session(wrapped.SerializeToString())
        except Exception:  # a graph the surgery does not fit: the float path still works
            return None

    def _sibling_session(self, model: bytes, arena: bool = True):
        """Another graph (uint8 wrapper, tile graphs) on the providers, with the options, the engine got."""
        import onnxruntime as ort

        options = self.session.get_provider_options()
        return ort.InferenceSession(model, sess_options=session_options(arena, self.threads),
                                    providers=[(name, options.get(name, {})) for name in self.session.get_providers()])

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

            split = tiling.split_norms(onnx.load(str(self.info.path)))
            if split is None:
                self._notify(f"{self.info.path.name}: its normalisation could not be shared across tiles; "
                             "large frames are tiled with each tile normalised alone (seams possible; --tile off avoids them)")
            self._tiler = tiling.Tiler(
                self.tile, split, lambda data: self._sibling_session(data, arena=False),
                self.preprocess, self.postprocess, self.info.input_name, self.info.output_name, self.session)
        return self._tiler

    @property
    def io(self) -> str:
        """"uint8": frames go into the graph as they are; "float": through preprocess/postprocess."""
        return "uint8" if self._u8 is not None else "float"

    def network_only(self, frame: np.ndarray) -> Callable[[], object]:
        """The bare onnxruntime call for `frame`, prepared once: what `bench` sets against a whole call."""
        if self._u8 is not None:
            batch = np.ascontiguousarray(frame)[None]
            return lambda: self._u8.run(["styled"], {"frame": batch})
        blob, _ = self.preprocess(frame)
        return lambda: self.run_tensor(blob)

    def _run_uint8(self, frame: np.ndarray) -> np.ndarray:
        if self._u8_binding is None:
            return self._u8.run(["styled"], {"frame": frame[None]})[0][0]
        import onnxruntime as ort

        binding = self._u8_binding
        binding.bind_ortvalue_input("frame", ort.OrtValue.ortvalue_from_numpy(frame[None], "cuda", 0))
        binding.bind_output("styled", "cuda", 0)
        self._u8.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0][0]

    def run_tensor(self, blob: np.ndarray) -> np.ndarray:
        if self._binding is None:
            return self.session.run([self.info.output_name], {self.info.input_name: blob})[0]
        import onnxruntime as ort

        binding = self._binding
        binding.bind_ortvalue_input(self.info.input_name, ort.OrtValue.ortvalue_from_numpy(blob, "cuda", 0))
        binding.bind_output(self.info.output_name, "cuda", 0)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError("Engine expects a uint8 BGR frame of shape (H, W, 3)")
        src = frame
        if self.scale != 1.0:
            h, w = frame.shape[:2]
            size = (max(4, round(w * self.scale)), max(4, round(h * self.scale)))
            src = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR)
        out = self.stylise(src)
        if out.shape[:2] != frame.shape[:2]:
            out = cv2.resize(out, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
        if self.preserve_color or self.strength != 1.0:
            out = blend(frame, out, self.strength, keep_color=self.preserve_color)
        return out
