"""Finding style networks: shipped ones by name, anyone's by path.

One function, `model_dirs`, owns where styles live: directories named in REALTIME_MODELS (os.pathsep
separated), then the models packaged with the wheel, then `models/` of a source checkout.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from realtime.errors import UserError

ENV_VAR = "REALTIME_MODELS"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Style:
    name: str
    path: Path
    card: dict[str, Any]


def model_dirs() -> list[Path]:
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    try:
        packaged = Path(str(resources.files("realtime.models")))
        dirs.append(packaged)
    except (ModuleNotFoundError, TypeError):
        pass
    dirs.append(Path(__file__).resolve().parent.parent / "models")
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [s.resolve() for s in seen]:
            seen.append(d)
    return seen


def _card(onnx_path: Path) -> dict[str, Any]:
    card_path = onnx_path.with_suffix(".json")
    if card_path.is_file():
        try:
            return json.loads(card_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
    return {}


def list_styles() -> list[Style]:
    """Every style found, first directory winning on a name clash; fp16 variants are not listed apart."""
    styles: dict[str, Style] = {}
    for d in model_dirs():
        for path in sorted(d.glob("*.onnx")):
            if path.stem.endswith(".fp16"):
                continue
            styles.setdefault(path.stem, Style(path.stem, path, _card(path)))
    return sorted(styles.values(), key=lambda s: s.name)


def is_path_like(style: str) -> bool:
    return style.endswith(".onnx") or "/" in style or "\\" in style or style.startswith(".")


def resolve(style: str, fp16: bool = False) -> Path:
    """A style name or a path to an .onnx file -> the file to load (the fp16 copy when asked for)."""
    if style.endswith(".onnx"):
        path = Path(style).expanduser()
        if not path.is_file():
            raise UserError(f"--style {style}: file not found")
        return path
    if is_path_like(style) or not NAME_RE.match(style):
        raise UserError(f"--style {style!r}: not a style name (letters, digits, _ . -) nor a path to an .onnx file")
    for d in model_dirs():
        candidate = d / f"{style}.onnx"
        if candidate.is_file():
            if fp16:
                half = d / f"{style}.fp16.onnx"
                return half if half.is_file() else candidate
            return candidate
    names = ", ".join(s.name for s in list_styles()) or "none installed"
    raise UserError(f"--style {style}: unknown style; available: {names}")
