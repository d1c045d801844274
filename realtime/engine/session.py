"""Where a style network runs: the device decided once, and every onnxruntime session for styles made here.

CUDA only when its provider really initialises (checked on the providers each onnxruntime session got), else the CPU with
a one-line notice, never silently. The I/O convention is read from the model's metadata, so foreign
exports (other projects' networks, users' own) work too.
"""

from __future__ import annotations

import ctypes
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from realtime.errors import UserError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
DEVICES = ("auto", "cuda", "cpu")
CUDA_OPTIONS = {"cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": "1"}


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
    styles: tuple[str, ...] = ()  # a multi-style network's styles, in the order of its weights input
    weights_name: str | None = None  # that input's name (realtime.training.multistyle)


def read_info(session, path: Path) -> ModelInfo:
    """The I/O convention from the model's metadata. A multi-style network has a second input, its
    style weights, named by `realtime.style_weights_name`, and its styles in `realtime.styles`."""
    meta = dict(session.get_modelmeta().custom_metadata_map)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    weights_name = meta.get("realtime.style_weights_name")
    styles = tuple(s for s in meta.get("realtime.styles", "").split(",") if s) if weights_name else ()
    images = [i for i in inputs if i.name != weights_name] if styles else inputs
    channels = outputs[0].shape[1] if outputs and len(outputs[0].shape) == 4 else None
    if len(images) != 1 or len(inputs) != len(images) + bool(styles) or len(outputs) < 1 \
            or len(images[0].shape) != 4 or len(outputs[0].shape) != 4 or isinstance(channels, int) and channels != 3:
        raise UserError(f"{path}: not an image-to-image style network (needs one 4-D image input and a 3-channel "
                        "image output); export it with `realtime export`")
    if all(isinstance(d, int) for d in images[0].shape[2:]):
        h, w = images[0].shape[2:]
        raise UserError(f"{path}: takes only {w}x{h} images (fixed size); export it with dynamic height and width")
    value_range = meta.get("realtime.value_range", "0-255")
    return ModelInfo(
        path=path,
        name=meta.get("realtime.style", path.stem),
        input_name=meta.get("realtime.input_name", images[0].name),
        output_name=meta.get("realtime.output_name", outputs[0].name),
        color_order=meta.get("realtime.color_order", "RGB").upper(),
        value_scale=1.0 if value_range == "0-1" else 255.0,
        pad_multiple=int(meta.get("realtime.pad_multiple", "4")),
        precision=meta.get("realtime.precision", "fp16" if "float16" in images[0].type else "fp32"),
        metadata=meta,
        styles=styles,
        weights_name=weights_name if styles else None,
    )


def cuda_driver_present() -> bool:
    """Cheap check before asking onnxruntime for CUDA, which logs loudly when there is no GPU."""
    try:
        ctypes.CDLL("libcuda.so.1" if os.name != "nt" else "nvcuda.dll")
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Placement:
    """The device asked for and what this machine offers: decided once per command, shared by its engines.

    `reason` says why CUDA is not used when it was wanted ("" when CUDA will be tried)."""

    asked: str
    reason: str = ""

    @property
    def wants_cuda(self) -> bool:
        return self.asked in ("auto", "cuda") and not self.reason

    @property
    def on_cpu(self) -> bool:
        """Whether engines will run on the CPU (decides `--net auto`)."""
        return not self.wants_cuda

    def providers(self) -> list:
        return [(CUDA, dict(CUDA_OPTIONS)), CPU] if self.wants_cuda else [CPU]


def place(device: str) -> Placement:
    """`--device auto|cuda|cpu` -> where styles will run; `cuda` without a usable provider is an error."""
    if device not in DEVICES:
        raise UserError(f"--device {device}: use auto, cuda or cpu")
    if device == "cpu":
        return Placement(device)
    import onnxruntime as ort

    reason = ""
    if CUDA not in ort.get_available_providers():
        reason = "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    elif not cuda_driver_present():
        reason = "no NVIDIA driver found (libcuda)"
    if reason and device == "cuda":
        raise UserError(f"--device cuda: {reason}; use --device cpu")
    return Placement(device, reason)


def session_options(arena: bool = True, threads: int | None = None, profile: bool = False):
    """`arena=False` hands memory back after each run (the tile graphs: a big frame's peak stays bounded);
    `threads`: intra-op threads on the CPU (None: onnxruntime's choice, one per core);
    `profile`: onnxruntime times every node into a trace file (`end_profile` reads it back)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = arena
    if threads:
        options.intra_op_num_threads = threads
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tempfile.gettempdir(), f"realtime-profile-{os.getpid()}")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def make_session(model: bytes, label: Path, placement: Placement, notify: Callable[[str], None],
                 threads: int | None = None, profile: bool = False):
    """A style's session on the placement's device; says once when CUDA was wanted and the CPU is used."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model, sess_options=session_options(threads=threads, profile=profile),
                                       providers=placement.providers())
    except Exception as exc:  # onnxruntime raises its own types for corrupt or foreign files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{label}: cannot load this ONNX model ({first[:200]})") from exc
    reason = placement.reason
    if placement.wants_cuda and CUDA not in session.get_providers():
        reason = "the CUDA provider failed to initialise (check CUDA 13 and cuDNN 9 libraries; `realtime doctor`)"
        if placement.asked == "cuda":
            raise UserError(f"--device cuda: {reason}; use --device cpu")
    if reason and placement.asked != "cpu":
        notify(f"running on CPU: {reason}")
    return session


def cuda_probe() -> str:
    """Whether a session really gets the CUDA provider, on a one-node graph (no style file needed): ""
    when it does, else why not (for `realtime doctor`)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    try:
        session = ort.InferenceSession(model.SerializeToString(), sess_options=session_options(),
                                       providers=Placement("cuda").providers())
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return str(exc).strip().splitlines()[0][:200] or type(exc).__name__
    return "" if CUDA in session.get_providers() else "the session fell back to the CPU"


def sibling_session(model: bytes, session, threads: int | None = None, arena: bool = True, profile: bool = False):
    """Another graph of the same network (uint8 wrapper, tile graphs) on the providers its session got."""
    import onnxruntime as ort

    options = session.get_provider_options()
    return ort.InferenceSession(model, sess_options=session_options(arena, threads, profile),
                                providers=[(name, options.get(name, {})) for name in session.get_providers()])


def end_profile(session, skip_runs: int = 1) -> dict[str, float]:
    """Microseconds per operator type that a profiling session spent in its nodes after its first
    `skip_runs` runs (their one-off allocations would skew it), from onnxruntime's trace file, read and
    deleted; the layout reorders onnxruntime inserts count as operator types of their own."""
    name = session.end_profiling()
    if not name:
        return {}
    path = Path(name)
    try:
        events = json.loads(path.read_text())
    finally:
        path.unlink(missing_ok=True)
    runs = sorted((e["ts"] + e.get("dur", 0) for e in events if e.get("name") == "model_run"))
    after = runs[skip_runs - 1] if skip_runs and len(runs) > skip_runs else float("-inf")
    spent: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("ts", 0) > after and event.get("name", "").endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            spent[op] = spent.get(op, 0.0) + float(event.get("dur", 0))
    return spent
