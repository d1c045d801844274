"""Turning a trained checkpoint into an ONNX file that any runtime can run at any frame size.

The graph takes `input` (1, 3, H, W) float32 RGB 0-255 and returns `output`, the same shape, clipped to
0-255; H and W are dynamic. The model card travels inside the file as metadata, so the engine (ours or a
user's) needs nothing else to know the I/O convention.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from realtime.training import checkpoint
from realtime.errors import UserError
from realtime.files import atomic_path
from realtime.training.transformer import PAD_MULTIPLE, TransformerNet

RUNTIME_HINTS = """run it elsewhere:
  onnxruntime (Python): ort.InferenceSession("{path}", providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
                        .run(["output"], {{"input": rgb_nchw_float32_0_255}})
  TensorRT via onnxruntime: providers=["TensorrtExecutionProvider", "CUDAExecutionProvider"]
  OpenCV DNN: net = cv2.dnn.readNetFromONNX("{path}"); net.setInput(cv2.dnn.blobFromImage(bgr, swapRB=True)); net.forward()
  browser (onnxruntime-web): await ort.InferenceSession.create("{path}", {{executionProviders: ["webgpu", "wasm"]}})
  realtime itself: realtime image PHOTO.jpg -o out.png --style {path}"""
PARITY_SIZES = ((256, 256), (333, 517))
# Ops whose opset-18 form differs from opset 17 only by inputs/attributes our graph never uses.
SAME_IN_17 = {"Pad": 3, "Resize": 4}


class Clipped(torch.nn.Module):
    """The network plus the final clip, so every runtime gets displayable values."""

    def __init__(self, net: TransformerNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).clamp(0.0, 255.0)


@dataclass
class ExportReport:
    path: Path
    opset: int
    fp16: bool
    max_abs_error: dict[str, float]
    metadata: dict[str, str]


def metadata_for(payload: dict[str, Any], name: str, card: dict[str, Any] | None, fp16: bool) -> dict[str, str]:
    meta = {
        "realtime.format": "realtime-style-v1",
        "realtime.style": name,
        "realtime.input_name": "input",
        "realtime.output_name": "output",
        "realtime.layout": "NCHW",
        "realtime.color_order": "RGB",
        "realtime.value_range": "0-255",
        "realtime.pad_multiple": "1",  # the graph pads internally; any H, W works
        "realtime.precision": "fp16" if fp16 else "fp32",
        "realtime.width": str(payload["width"]),
        "realtime.arch": str(payload.get("arch", "full")),
        "realtime.blocks": str(payload["blocks"]),
        "realtime.steps": str(payload["step"]),
    }
    if card is not None:
        meta["realtime.card"] = json.dumps(card)
    return meta


def _to_onnx(model: torch.nn.Module, opset: int) -> onnx.ModelProto:
    example = torch.rand(1, 3, 64, 96) * 255
    h, w = torch.export.Dim("height", min=PAD_MULTIPLE), torch.export.Dim("width", min=PAD_MULTIPLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=max(opset, 18),
                                    input_names=["input"], output_names=["output"],
                                    dynamic_shapes={"x": {2: h, 3: w}}, verbose=False)
    assert program is not None
    proto = program.model_proto
    for node in proto.graph.node:  # the exporter's per-node notes hold source paths of the machine it ran on
        del node.metadata_props[:]
    return downgrade_to_17(proto) if opset == 17 else proto


def downgrade_to_17(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Relabel an opset-18 graph as 17 where that is exact.

    torch's exporter writes opset 18 and onnx's version converter has no Pad 18->17 adapter, yet our Pad
    and Resize nodes use none of 18's additions (Pad's `axes` input, Resize's new attributes), so their
    meaning is the same under 17. Anything else is refused rather than guessed.
    """
    defaults_18 = {"antialias": ("i", 0), "keep_aspect_ratio_policy": ("s", b"stretch")}
    for node in proto.graph.node:
        if node.op_type not in SAME_IN_17:
            continue
        if len(node.input) > SAME_IN_17[node.op_type]:
            raise UserError(f"--opset 17: node {node.name} ({node.op_type}) needs opset 18; use --opset 18")
        keep = []
        for attr in node.attribute:
            if attr.name == "axes":
                raise UserError(f"--opset 17: node {node.name} ({node.op_type}) needs opset 18; use --opset 18")
            if attr.name in defaults_18:
                field, default = defaults_18[attr.name]
                if getattr(attr, field) != default:
                    raise UserError(f"--opset 17: node {node.name} sets {attr.name}; use --opset 18")
                continue  # the opset-18 default is opset 17's only behaviour
            keep.append(attr)
        del node.attribute[:]
        node.attribute.extend(keep)
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = 17
    return proto


class FloatNorm(torch.nn.Module):
    """Instance norm computed in float32 inside a half-precision net (its variance overflows in fp16)."""

    def __init__(self, norm: torch.nn.InstanceNorm2d):
        super().__init__()
        self.norm = norm.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.float()).half()


class HalfClipped(torch.nn.Module):
    """fp16 convolutions, fp32 normalisation and float32 I/O, so callers feed the same tensors."""

    def __init__(self, net: TransformerNet):
        super().__init__()
        net = copy.deepcopy(net).half()
        for parent in list(net.modules()):
            for name, child in parent.named_children():
                if isinstance(child, torch.nn.InstanceNorm2d):
                    setattr(parent, name, FloatNorm(child))
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.half()).float().clamp(0.0, 255.0)


def stamp(proto: onnx.ModelProto, meta: dict[str, str]) -> None:
    """Our metadata (I/O convention, model card) and producer on an exported graph, then the checker."""
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "realtime"
    onnx.checker.check_model(proto, full_check=True)


def parity(proto_path: Path, model: torch.nn.Module, sizes=PARITY_SIZES, seed: int = 0) -> dict[str, float]:
    """Max absolute difference between onnxruntime (CPU) and PyTorch, in 0-255 units, per size."""
    from realtime.engine.session import Placement, make_session

    session = make_session(proto_path.read_bytes(), proto_path, Placement("cpu"), lambda message: None)
    gen = torch.Generator().manual_seed(seed)
    errors = {}
    for h, w in sizes:
        x = torch.rand(1, 3, h, w, generator=gen) * 255
        with torch.no_grad():
            ref = model(x).numpy()
        got = session.run(["output"], {"input": x.numpy()})[0]
        if got.shape != ref.shape:
            raise RuntimeError(f"exported model returned {got.shape} for input {x.shape}")
        errors[f"{h}x{w}"] = float(np.abs(got - ref).max())
    return errors


def export(ckpt: Path | str, out: Path | str, fp16: bool = False, opset: int = 17,
           card_path: Path | str | None = None) -> ExportReport:
    """Export `ckpt` to `out`, check it with onnx.checker and against PyTorch, then move it into place."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise UserError(f"{out}: the output must end in .onnx")
    if opset < 17:
        raise UserError(f"--opset {opset}: use 17 or newer")
    net, payload = checkpoint.load_model(ckpt)
    card_file = Path(card_path) if card_path else Path(ckpt).with_suffix(".json")
    card = json.loads(card_file.read_text()) if card_file.is_file() else None
    name = out.stem
    model = Clipped(net).eval()
    proto = _to_onnx(HalfClipped(net).eval() if fp16 else model, opset)
    meta = metadata_for(payload, name, card, fp16)
    stamp(proto, meta)
    with atomic_path(out) as tmp:
        onnx.save_model(proto, str(tmp))
        errors = parity(tmp, model)
        limit = 2.0 if fp16 else 0.05
        worst = max(errors.values())
        if not np.isfinite(worst) or worst > limit:
            raise UserError(f"{out}: exported model differs from PyTorch by {worst:.3g} (limit {limit}); not written")
    return ExportReport(out, opset, fp16, errors, meta)
