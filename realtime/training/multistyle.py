"""Every style in one network: conditional instance normalisation (Dumoulin et al. 2017).

The full Johnson network of `realtime.training.transformer` (or the CPU network, arch "fast", whose norms
sit in its residual blocks), layer for layer, with one change: each instance norm's
scale and shift are no longer one vector per layer but one per style per layer (`weight` and `bias`, each
n_styles x C). A `style_weights` vector w (batch x n_styles) picks or mixes them: w is clipped at 0 and
scaled to sum to 1, then gamma = w @ weight and beta = w @ bias. The convolutions are shared by all styles,
so a style costs 2 x (sum of the norm widths) numbers (1,600 at width 16), and a mix of styles is computed
inside the graph at the cost of the one-style network.

The parameter names are TransformerNet's (`net.0.0.1.weight`, ...), so a shipped network's convolutions
load as they are, and each style's own norm parameters fill its row (`from_shipped`).

`export_onnx` writes one file: inputs `input` (1, 3, H, W) float RGB 0-255 (H, W dynamic) and
`style_weights` (1, n_styles) float, output `output`, clipped to 0-255. Besides the metadata that
`realtime export` writes, `realtime.styles` names the styles in the order of the weights.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from realtime.training import checkpoint
from realtime.training.transformer import PAD_MULTIPLE, ResidualBlock, TransformerNet, ZeroPadSeparableBlock
from realtime.training.widen import widen

FORMAT = "realtime-multistyle-v1"
WEIGHTS_INPUT = "style_weights"


def mix(style_weights: torch.Tensor) -> torch.Tensor:
    """Weights clipped at 0 and scaled to sum 1 per row (an all-zero row stays zero)."""
    w = style_weights.clamp_min(0.0)
    return w / w.sum(dim=1, keepdim=True).clamp_min(1e-6)


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose affine scale and shift are a weighted mix of per-style rows."""

    def __init__(self, channels: int, n_styles: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_styles, channels))
        self.bias = nn.Parameter(torch.zeros(n_styles, channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        gamma, beta = w @ self.weight, w @ self.bias  # (N, C)
        if x.shape[0] == 1:  # one frame (the exported graph): a single InstanceNormalization node
            return F.instance_norm(x, weight=gamma[0], bias=beta[0], eps=self.eps)
        return F.instance_norm(x, eps=self.eps) * gamma[:, :, None, None] + beta[:, :, None, None]


def _run(module: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """TransformerNet's layers in order, the style weights handed to every conditional norm."""
    if isinstance(module, ConditionalInstanceNorm):
        return module(x, w)
    if isinstance(module, (ResidualBlock, ZeroPadSeparableBlock)):
        return x + _run(module.body, x, w)
    if isinstance(module, nn.Sequential):
        for child in module:
            x = _run(child, x, w)
        return x
    return module(x)


ARCHS = ("full", "fast")


class MultiStyleTransformer(nn.Module):
    """TransformerNet (arch "full" or "fast") with conditional instance norms; forward(x, style_weights).

    x: (N, 3, H, W) RGB 0-255, any H and W; style_weights: (N, n_styles). Output as TransformerNet's.
    """

    def __init__(self, n_styles: int, width: int = 16, blocks: int = 5, styles: Sequence[str] | None = None,
                 arch: str = "full"):
        super().__init__()
        if styles is not None and len(styles) != n_styles:
            raise ValueError(f"{len(styles)} style names for {n_styles} styles")
        if arch not in ARCHS:
            raise ValueError(f"arch {arch!r}: a multi-style network is one of {', '.join(ARCHS)}")
        self.n_styles, self.width, self.blocks, self.arch = n_styles, width, blocks, arch
        self.styles = list(styles) if styles is not None else [f"style{i}" for i in range(n_styles)]
        single = TransformerNet(width, blocks, arch)
        self.net, self.skip = single.net, single.skip  # skip: the fast network's 1x1 path from the photo
        for parent in list(self.net.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.InstanceNorm2d):
                    setattr(parent, name, ConditionalInstanceNorm(child.num_features, n_styles, child.eps))

    def norms(self) -> list[ConditionalInstanceNorm]:
        return [m for m in self.net.modules() if isinstance(m, ConditionalInstanceNorm)]

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = (PAD_MULTIPLE - h % PAD_MULTIPLE) % PAD_MULTIPLE, (PAD_MULTIPLE - w % PAD_MULTIPLE) % PAD_MULTIPLE
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")  # always, so the graph pads by the input's shape
        x = x / 127.5 - 1.0
        y = _run(self.net, x, mix(style_weights))
        if self.skip is not None:
            y = y + self.skip(x)
        return (y * 127.5 + 127.5)[..., :h, :w]

    def one_hot(self, index: int, batch: int = 1) -> torch.Tensor:
        w = torch.zeros(batch, self.n_styles)
        w[:, index] = 1.0
        return w

    def load_single(self, index: int, net: TransformerNet, convs: bool) -> None:
        """Copy one single-style network's norm parameters into style `index`'s rows (and, with `convs`,
        its convolutions into the shared ones). `net` must have this network's width and blocks."""
        if (net.arch, net.width, net.blocks) != (self.arch, self.width, self.blocks):
            raise ValueError(f"a {net.arch} network of width {net.width} and {net.blocks} blocks does not fit "
                             f"a {self.arch} network of width {self.width} and {self.blocks} blocks")
        source = dict(net.named_modules())
        with torch.no_grad():
            for name, module in self.named_modules():
                if isinstance(module, ConditionalInstanceNorm):
                    module.weight[index].copy_(source[name].weight)
                    module.bias[index].copy_(source[name].bias)
                elif convs and isinstance(module, nn.Conv2d):
                    module.weight.copy_(source[name].weight)
                    module.bias.copy_(source[name].bias)


def at_mix(model: MultiStyleTransformer, style_weights: torch.Tensor) -> TransformerNet:
    """The one-style network this network is at `style_weights` (1 x n_styles): the shared convolutions,
    each norm's mixed scale and shift. It draws what the multi-style network draws at that mix."""
    net = TransformerNet(model.width, model.blocks, model.arch)
    w = mix(style_weights.reshape(1, -1).float())
    state = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, ConditionalInstanceNorm):
                state[f"{name}.weight"] = (w @ module.weight)[0]
                state[f"{name}.bias"] = (w @ module.bias)[0]
            elif isinstance(module, nn.Conv2d):
                state[f"{name}.weight"] = module.weight.detach().clone()
                state[f"{name}.bias"] = module.bias.detach().clone()
    net.load_state_dict(state)
    return net.eval()


def without(model: MultiStyleTransformer, style: str) -> MultiStyleTransformer:
    """The same network with one style's rows taken out (to try a painting as if the network had never held it)."""
    keep = [i for i, name in enumerate(model.styles) if name != style]
    if len(keep) == len(model.styles):
        raise ValueError(f"{style!r} is not one of {', '.join(model.styles)}")
    smaller = MultiStyleTransformer(len(keep), model.width, model.blocks, [model.styles[i] for i in keep], model.arch)
    state = {k: (v[keep] if k.endswith((".weight", ".bias")) and v.shape[0] == model.n_styles and v.dim() == 2 else v)
             for k, v in model.state_dict().items()}
    smaller.load_state_dict(state)
    return smaller.eval()


def read_onnx(path: Path | str) -> MultiStyleTransformer:
    """The network an exported multi-style .onnx holds (its weights read back), for fine-tunes from it."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    if meta.get("realtime.format") != FORMAT:
        raise ValueError(f"{path}: not a multi-style network")
    styles = meta["realtime.styles"].split(",")
    model = MultiStyleTransformer(len(styles), int(meta["realtime.width"]), int(meta["realtime.blocks"]), styles,
                                  meta.get("realtime.arch", "full"))
    state = {init.name.removeprefix("model."): torch.from_numpy(numpy_helper.to_array(init).copy())
             for init in proto.graph.initializer if init.name.startswith(("model.net.", "model.skip."))}
    model.load_state_dict(state)
    return model.eval()


def is_multistyle(path: Path | str) -> bool:
    """Whether a file is a multi-style network (an exported .onnx or a checkpoint of one)."""
    path = Path(path)
    if path.suffix == ".onnx" and path.is_file():
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return any(p.key == "realtime.format" and p.value == FORMAT for p in proto.metadata_props)
    if path.suffix == ".pt" and path.is_file():
        payload = torch.load(path, map_location="cpu", weights_only=True)
        return isinstance(payload, dict) and payload.get("format") == FORMAT
    return False


def read_any(path: Path | str) -> MultiStyleTransformer:
    """A multi-style network from its .onnx or its checkpoint (.pt)."""
    return read_onnx(path) if Path(path).suffix == ".onnx" else load(path)[0]


def single_network(source: str | Path, width: int | None = None) -> TransformerNet:
    """A shipped full or fast network (a style name, .onnx or .ckpt), widened to `width` when that is wider
    (realtime.widen: it draws the same pictures)."""
    net = checkpoint.network(str(source), "--init")
    if net.arch not in ARCHS:
        raise ValueError(f"{source}: a {net.arch} network; a multi-style network is built from "
                         f"{' or '.join(ARCHS)} ones")
    if width is not None and width != net.width:
        net = widen(net, width).eval()
    return net


def from_shipped(styles: dict[str, str | Path], width: int | None = None, base: str | None = None) -> MultiStyleTransformer:
    """A multi-style network started from single-style ones of one architecture: the shared convolutions
    from `base` (a key of `styles`; the first one when None), each style's norm rows from its own network;
    at `base`'s width, or widened to `width`."""
    names = list(styles)
    base = base or names[0]
    first = single_network(styles[base], width)
    model = MultiStyleTransformer(len(names), first.width, first.blocks, names, first.arch)
    for i, name in enumerate(names):
        net = first if name == base else single_network(styles[name], width)
        model.load_single(i, net, convs=name == base)
    return model


def save(path: Path | str, model: MultiStyleTransformer, step: int, extra: dict[str, Any] | None = None) -> None:
    """Weights only (plain tensors, numbers and strings: `torch.load(weights_only=True)` reads it)."""
    from realtime.files import atomic_path

    payload = {"format": FORMAT, "styles": model.styles, "width": model.width, "blocks": model.blocks,
               "arch": model.arch, "step": step, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "config": extra or {}}
    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)


def load(path: Path | str) -> tuple[MultiStyleTransformer, dict[str, Any]]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a multi-style checkpoint")
    model = MultiStyleTransformer(len(payload["styles"]), payload["width"], payload["blocks"], payload["styles"],
                                  payload.get("arch", "full"))
    model.load_state_dict(payload["model"])
    return model.eval(), payload


class _Clipped(nn.Module):
    def __init__(self, model: MultiStyleTransformer):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        return self.model(x, style_weights).clamp(0.0, 255.0)


def card(model: MultiStyleTransformer, step: int, name: str, lineage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model card: the styles it holds (what the registry reads to find blends) and how it was made."""
    return {"name": name, "network": "multistyle",
            "summary": f"{len(model.styles)} styles in one network: any one of them, or a blend, at one network's cost.",
            "kind": "realtime multi-style network (conditional instance norm, Dumoulin et al. 2017)",
            "styles": list(model.styles), "arch": model.arch, "width": model.width, "residual_blocks": model.blocks,
            "steps": step, "io": {"input": "input", "style_weights": WEIGHTS_INPUT, "output": "output", "layout": "NCHW",
                                  "color_order": "RGB", "value_range": "0-255", "dtype": "float32"},
            **({"lineage": lineage} if lineage else {})}


def metadata(model: MultiStyleTransformer, step: int, name: str, card: dict[str, Any] | None = None) -> dict[str, str]:
    """`realtime export`'s keys, plus the style names and the weights input."""
    from realtime.tools.export import metadata_for

    meta = metadata_for({"width": model.width, "blocks": model.blocks, "arch": model.arch, "step": step}, name, card, False)
    meta["realtime.format"] = FORMAT
    meta["realtime.styles"] = ",".join(model.styles)
    meta["realtime.style_weights_name"] = WEIGHTS_INPUT
    meta["realtime.style_weights"] = "1 x n_styles float; clipped at 0 and scaled to sum 1 inside the graph"
    return meta


def export_onnx(model: MultiStyleTransformer, out: Path | str, step: int = 0, opset: int = 17,
                lineage: dict[str, Any] | None = None) -> dict[str, float]:
    """Write the ONNX file (checked by onnx.checker) and its card (NAME.json, listing the styles), and
    return onnxruntime's largest difference from PyTorch in 0-255 units per case (one-hot and mixed
    weights, two frame sizes)."""
    import onnx

    from realtime.tools.export import downgrade_to_17, stamp
    from realtime.files import atomic_path

    out = Path(out)
    wrapped = _Clipped(model.eval())
    example = (torch.rand(1, 3, 64, 96) * 255, model.one_hot(0))
    h, w = torch.export.Dim("height", min=PAD_MULTIPLE), torch.export.Dim("width", min=PAD_MULTIPLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(wrapped, example, dynamo=True, opset_version=max(opset, 18),
                                    input_names=["input", WEIGHTS_INPUT], output_names=["output"],
                                    dynamic_shapes={"x": {2: h, 3: w}, "style_weights": None}, verbose=False)
    proto = program.model_proto
    for node in proto.graph.node:  # the exporter's notes hold source paths of the machine it ran on
        del node.metadata_props[:]
    if opset == 17:
        proto = downgrade_to_17(proto)
    model_card = card(model, step, out.stem, lineage)
    stamp(proto, metadata(model, step, out.stem, model_card))
    with atomic_path(out) as tmp:
        onnx.save_model(proto, str(tmp))
        errors = parity(tmp, wrapped)
        worst = max(errors.values())
        if not np.isfinite(worst) or worst > 0.05:
            raise RuntimeError(f"{out}: onnxruntime differs from PyTorch by {worst:.3g}; not written")
    import json

    out.with_suffix(".json").write_text(json.dumps(model_card, indent=2) + "\n")
    return errors


def parity(path: Path | str, wrapped: nn.Module, seed: int = 0) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    n = wrapped.model.n_styles
    gen = torch.Generator().manual_seed(seed)
    mixed = torch.rand(1, n, generator=gen) + 0.1
    errors = {}
    for h, w in ((256, 256), (333, 517)):
        x = torch.rand(1, 3, h, w, generator=gen) * 255
        for label, weights in (("one-hot", wrapped.model.one_hot(n - 1)), ("mixed", mixed)):
            with torch.no_grad():
                ref = wrapped(x, weights).numpy()
            got = session.run(["output"], {"input": x.numpy(), WEIGHTS_INPUT: weights.numpy()})[0]
            errors[f"{h}x{w} {label}"] = float(np.abs(got - ref).max())
    return errors
