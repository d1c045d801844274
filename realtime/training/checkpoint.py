"""Training checkpoints: one file with the weights, optimiser state, step and settings.

Plain tensors, numbers and strings only, so `torch.load(path, weights_only=True)` reads it safely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from realtime.errors import UserError
from realtime.files import atomic_path
from realtime.training.transformer import TransformerNet

FORMAT = "realtime-transformer-v1"


def save(path: Path, model: TransformerNet, optimizer: torch.optim.Optimizer | None, step: int,
         config: dict[str, Any], losses: dict[str, float] | None = None) -> None:
    """Write atomically: a crash or Ctrl-C mid-write leaves the previous checkpoint intact."""
    payload = {
        "format": FORMAT,
        "step": step,
        "width": model.width,
        "blocks": model.blocks,
        "arch": model.arch,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "config": config,
        "losses": losses or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"{path}: not a readable checkpoint ({type(exc).__name__}); pass a .ckpt written by `realtime train`") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path}: not a realtime training checkpoint; pass a .ckpt written by `realtime train`")
    return payload


def load_model(path: Path | str) -> tuple[TransformerNet, dict[str, Any]]:
    payload = load(path)
    model = TransformerNet(width=int(payload["width"]), blocks=int(payload["blocks"]),
                           arch=str(payload.get("arch", "full")))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise UserError(f"{path}: its weights do not fit this version's {model.arch} network (written by another "
                        f"version of realtime?); retrain or export it with the version that trained it") from exc
    return model.eval(), payload


def initial_weights(source: str, option: str = "--init") -> tuple[dict[str, torch.Tensor], tuple[str, int, int]]:
    """Weights to fine-tune from (`train --init`): a .ckpt, an .onnx that realtime exported, or a style name.

    Returns the state dict and the network's (arch, width, blocks). `option` names the source in errors.
    """
    path = Path(source)
    if path.suffix == ".ckpt":
        payload = load(path)
        return payload["model"], (str(payload.get("arch", "full")), int(payload["width"]), int(payload["blocks"]))
    from realtime.catalog import registry

    try:
        onnx_path = path if path.suffix in (".onnx", ".pt") else registry.resolve(source)
    except UserError as exc:  # zoo speaks of --style; here the source came through `option`
        raise UserError(str(exc).replace("--style", option, 1)) from None
    held = multistyle_at_even_mix(onnx_path)
    if held is not None:
        return held.state_dict(), (held.arch, held.width, held.blocks)
    return _weights_from_onnx(onnx_path)


def multistyle_source(source: str) -> Path | None:
    """The file of a multi-style network that `--init` names (a name, an .onnx or a .pt), or None."""
    from realtime.catalog import registry
    from realtime.training import multistyle

    path = Path(source)
    if path.suffix not in (".onnx", ".pt"):
        path = registry.find(source) or path
    return path if multistyle.is_multistyle(path) else None


def multistyle_at_even_mix(path: Path) -> TransformerNet | None:
    """A multi-style network as one network at the even mix of its styles (train then fits the mix nearest
    the painting: realtime.training.nearest_mix); None for any other file."""
    from realtime.training import multistyle

    if not multistyle.is_multistyle(path):
        return None
    model = multistyle.read_any(path)
    return multistyle.at_mix(model, torch.ones(1, model.n_styles))


def network(source: str, option: str = "--init") -> TransformerNet:
    """The network a .ckpt, a realtime .onnx or a style name holds, built and loaded, in eval mode."""
    state, (arch, width, blocks) = initial_weights(source, option)
    net = TransformerNet(width, blocks, arch)
    net.load_state_dict(state)
    return net.eval()


def _weights_from_onnx(path: Path) -> tuple[dict[str, torch.Tensor], tuple[str, int, int]]:
    import onnx
    from onnx import numpy_helper

    if not path.is_file():
        raise UserError(f"{path}: model not found; --init takes a style name, a .ckpt or an .onnx from `realtime export`")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:
        raise UserError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from exc
    meta = {p.key: p.value for p in proto.metadata_props}
    if "realtime.width" not in meta or meta.get("realtime.precision", "fp32") != "fp32":
        raise UserError(f"{path}: --init needs an fp32 network exported by `realtime export` (it reads the "
                        f"weights back); pass its .ckpt instead")
    # The exported graph wraps the network once more ("net." in front of TransformerNet's own names).
    state = {init.name.removeprefix("net."): torch.from_numpy(numpy_helper.to_array(init).copy())
             for init in proto.graph.initializer if init.name.startswith("net.")}
    return state, (meta.get("realtime.arch", "full"), int(meta["realtime.width"]), int(meta["realtime.blocks"]))
