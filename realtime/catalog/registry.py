"""Finding style networks: shipped ones by name, anyone's by path.

One function, `model_dirs`, owns where styles live: directories named in REALTIME_MODELS (os.pathsep
separated), then the models packaged with the wheel, then `models/` of a source checkout.

A style may ship variants beside NAME.onnx: NAME.fp16.onnx (half precision, for GPUs) and NAME-lite.onnx
(the CPU network, `train --arch lite`), which `--net auto` picks when the engine will run on the CPU.

A multi-style network (realtime.training.multistyle) holds several styles; its card lists them under
`styles`. A blend (`mosaic:0.6,candy:0.4`) runs on the one that holds every style named (`pick_mix`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from realtime.errors import UserError

ENV_VAR = "REALTIME_MODELS"
LITE_SUFFIX = "-lite"
NETS = ("auto", "full", "lite")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
VARIANTS = (".fp16", ".int8")  # NAME.fp16.onnx, NAME.int8.onnx: precision copies beside NAME.onnx, not styles


@dataclass(frozen=True)
class Style:
    name: str
    path: Path
    card: dict[str, Any]


@dataclass(frozen=True)
class Mix:
    """Styles of one multi-style network and their weights (summing to 1): what a blend runs."""

    path: Path
    weights: tuple[tuple[str, float], ...]

    @property
    def name(self) -> str:
        """Also a file name (webcam snapshots): the styles, no weights."""
        return "+".join(name for name, _ in self.weights)

    def as_dict(self) -> dict[str, float]:
        return dict(self.weights)

    def describe(self) -> str:
        return describe_mix(self.as_dict())


def describe_mix(mix: dict[str, float]) -> str:
    """A mix as people read it: `mosaic`, or `mosaic 60% + candy 40%` (largest first)."""
    if len(mix) == 1:
        return next(iter(mix))
    return " + ".join(f"{name} {w:.0%}" for name, w in sorted(mix.items(), key=lambda kv: -kv[1]))


def model_dirs() -> list[Path]:
    """REALTIME_MODELS folders first, then the shipped models: `realtime/models/` in an installed wheel,
    `models/` beside the package in a source checkout (an editable install)."""
    package = Path(__file__).resolve().parent.parent
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    dirs.append(package / "models")
    if (package.parent / "pyproject.toml").is_file():  # a checkout, not site-packages' neighbours
        dirs.append(package.parent / "models")
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
    """Every style found, first directory winning on a name clash; fp16 and lite variants are not listed
    apart from their full style (a lite network with no full sibling is listed under its own name)."""
    styles: dict[str, Style] = {}
    for d in model_dirs():
        for path in sorted(d.glob("*.onnx")):
            if path.stem.endswith(VARIANTS):
                continue
            styles.setdefault(path.stem, Style(path.stem, path, _card(path)))
    for name in [n for n in styles if n.endswith(LITE_SUFFIX)]:
        if name[: -len(LITE_SUFFIX)] in styles:
            del styles[name]
    return sorted(styles.values(), key=lambda s: s.name)


def held_styles(card: dict[str, Any]) -> list[str]:
    """The styles a multi-style network holds, from its card; [] for a one-style network."""
    styles = card.get("styles")
    return [str(x) for x in styles] if isinstance(styles, list) else []


def multistyle_networks() -> list[Style]:
    """The installed multi-style networks (full networks; their CPU copies are variants), REALTIME_MODELS
    folders first: a blend runs on the first that holds its styles."""
    found: dict[str, Style] = {}
    for d in model_dirs():
        for path in sorted(d.glob("*.onnx")):
            if path.stem.endswith(VARIANTS) or path.stem.endswith(LITE_SUFFIX) or path.stem in found:
                continue
            card = _card(path)
            if held_styles(card):
                found[path.stem] = Style(path.stem, path, card)
    return list(found.values())


def pick_mix(weights: dict[str, float], net: str, on_cpu: bool, fp16: bool = False, int8: bool = False,
             notify: Callable[[str], None] = lambda msg: None) -> Mix:
    """The multi-style network holding every style of a blend, as --net and the device choose its file."""
    networks = multistyle_networks()
    for network in networks:
        if set(weights) <= set(held_styles(network.card)):
            path = pick(network.name, net, on_cpu, fp16=fp16, int8=int8, notify=notify)
            if on_cpu and net == "auto" and lite_variant(network.name) is None:
                notify(f"{network.name}: no CPU copy ({network.name}{LITE_SUFFIX}.onnx) installed; the full network "
                       "runs, a few times slower on a CPU than the CPU networks (--scale 0.5 helps)")
            return Mix(path, tuple(weights.items()))
    named = ",".join(weights)
    if not networks:
        raise UserError(f"--style {named}: a blend needs a multi-style network, and none is installed; give one style")
    held = "; ".join(f"{n.name}: {', '.join(held_styles(n.card))}" for n in networks)
    raise UserError(f"--style {named}: no multi-style network holds all of these; installed: {held}")


def painting_line(card: dict[str, Any]) -> str:
    """What a user chooses a style by: the painting, its artist and year, from the model card."""
    painting = card.get("painting") or {}
    if painting:
        title, artist = str(painting.get("title") or ""), str(painting.get("artist") or "")
        if title.startswith("unknown (") and title.endswith(")"):
            title = title[len("unknown ("):-1]
        known = artist and artist != "unknown"
        parts = [title, artist if known else "author unknown", painting.get("year")]
        return ", ".join(str(p) for p in parts if p)
    return card.get("style_author") or card.get("style_image", "")


def licence_line(card: dict[str, Any]) -> str:
    return (card.get("painting") or {}).get("licence") or card.get("style_copyright", "")


def lite_variant(style: str) -> Path | None:
    """NAME-lite.onnx for a style name, if one is installed."""
    if is_path_like(style) or style.endswith(LITE_SUFFIX) or not NAME_RE.match(style):
        return None
    for d in model_dirs():
        candidate = d / f"{style}{LITE_SUFFIX}.onnx"
        if candidate.is_file():
            return candidate
    return None


def check_net(net: str) -> str:
    if net not in NETS:
        raise UserError(f"--net {net}: use auto (lite on CPU when installed), full or lite")
    return net


def pick(style: str, net: str, on_cpu: bool, fp16: bool = False, int8: bool = False,
         notify: Callable[[str], None] = lambda msg: None) -> Path:
    """The file for `style` under --net (auto takes NAME-lite when the engine will run on the CPU), then
    its int8 copy when `int8` asks for one (realtime.catalog.registry.int8_copy)."""
    path = _pick_net(style, net, on_cpu, fp16, notify)
    return int8_copy(path, fp16=fp16, notify=notify) if int8 else path


def _pick_net(style: str, net: str, on_cpu: bool, fp16: bool, notify: Callable[[str], None]) -> Path:
    check_net(net)
    full = resolve(style, fp16=fp16)
    if net == "full" or (net == "auto" and not on_cpu):
        return full
    lite = lite_variant(style)
    if lite is None:
        if net == "lite" and not style.endswith(LITE_SUFFIX):
            raise UserError(f"--net lite: style {style} has no CPU network ({style}{LITE_SUFFIX}.onnx) installed; "
                            f"use --net full or train one with `realtime train --arch lite`")
        return full
    if net == "auto":
        notify(f"{style}: running {lite.stem}, the CPU network (--net full for the full one)")
    return lite


def is_path_like(style: str) -> bool:
    return style.endswith(".onnx") or "/" in style or "\\" in style or style.startswith(".")


def find(style: str) -> Path | None:
    """NAME.onnx in the model folders, or None."""
    for d in model_dirs():
        if (d / f"{style}.onnx").is_file():
            return d / f"{style}.onnx"
    return None


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


def int8_copy(model: Path, fp16: bool = False, notify: Callable[[str], None] = lambda msg: None) -> Path:
    """NAME.int8.onnx beside the fp32 file picked for a style (full or lite), else that file, said once.

    A copy rather than a separate style, so `--int8` composes with however the fp32 file was chosen.
    """
    if fp16:
        raise UserError("--fp16 and --int8: choose one (fp16 is for GPUs, int8 for CPUs)")
    if model.stem.endswith(VARIANTS):
        return model
    copy = model.with_name(f"{model.stem}.int8.onnx")
    if copy.is_file():
        return copy
    notify(f"{model.stem}: no int8 copy installed ({copy.name}); running fp32. Make one with: "
           f"realtime export {model} -o {copy} --int8")
    return model
