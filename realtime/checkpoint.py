"""Training checkpoints: one file with the weights, optimiser state, step and settings.

Plain tensors, numbers and strings only, so `torch.load(path, weights_only=True)` reads it safely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from realtime.errors import UserError
from realtime.files import atomic_path
from realtime.transformer import TransformerNet

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
