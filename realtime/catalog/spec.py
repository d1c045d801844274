"""The grammar of `--style`, for every command and the Python API.

- a name (`mosaic`) or a path to an .onnx file (`~/nets/mine.onnx`, `C:\\nets\\mine.onnx`);
- a comma list without weights (`mosaic,candy,wave`): several styles, which the webcam cycles through;
- a blend with explicit weights (`mosaic:0.6,candy:0.4`), normalised to sum 1;
- a painting, any image file (`my_painting.jpg`), run by the arbitrary-style network
  (realtime.engine.arbitrary); paintings blend by their style vectors (`a.jpg:0.5,b.jpg:0.5`).

A Windows drive letter is not a weight (`C:\\x.onnx` is a path); a path that exists is taken whole even
if it holds a comma. Weighted and unweighted items do not mix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from realtime.errors import UserError
from realtime.media.images import IMAGE_SUFFIXES

_WEIGHT = re.compile(r"^(?P<name>.+):(?P<weight>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)$")
_DRIVE = re.compile(r"^[A-Za-z]$")


def is_painting(style: str) -> bool:
    """An image file as the style: an image suffix, or an existing file with a suffix that is not .onnx
    (a path that turns out not to be an image is then refused by reading it, in one line)."""
    path = Path(style).expanduser()
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or (bool(suffix) and suffix != ".onnx" and path.is_file())


@dataclass(frozen=True)
class Paintings:
    """One or more paintings as one style: their files and normalised weights (one painting: weight 1)."""

    files: tuple[Path, ...]
    weights: tuple[float, ...]

    @property
    def name(self) -> str:
        if len(self.files) == 1:
            return self.files[0].stem
        return "+".join(f.stem for f in self.files)  # also a file name (webcam snapshots): no weights


@dataclass(frozen=True)
class StyleSpec:
    """What `--style` asked for: styles (names or paths) and, for a blend, their normalised weights."""

    styles: tuple[str, ...]
    weights: tuple[float, ...] | None = None

    @property
    def is_blend(self) -> bool:
        return self.weights is not None

    @property
    def paintings(self) -> Paintings | None:
        """The spec as one painting style when every style in it is a painting (a list of paintings is
        a blend only with weights); else None."""
        if not all(is_painting(s) for s in self.styles) or (len(self.styles) > 1 and not self.is_blend):
            return None
        return Paintings(tuple(Path(s).expanduser() for s in self.styles), self.weights or (1.0,))

    @property
    def single(self) -> str:
        """The one style of a plain spec, or a blend (as its --style value); a list is refused in one line."""
        if self.is_blend and self.paintings is None and any(is_painting(s) for s in self.styles):
            raise UserError(f"--style {self}: a painting blends only with paintings (by their style vectors), "
                            "not with a style network; give paintings only, or one style")
        if self.is_blend:
            return str(self)
        if len(self.styles) != 1:
            raise UserError(f"--style {self}: this command takes one style (a comma list is the webcam's cycle)")
        return self.styles[0]

    def __str__(self) -> str:
        if self.weights is None:
            return ",".join(self.styles)
        return ",".join(f"{s}:{w:g}" for s, w in zip(self.styles, self.weights))


def _split(text: str) -> list[str]:
    text = text.strip()
    if (text.endswith(".onnx") or is_painting(text)) and Path(text).expanduser().is_file():
        return [text]  # a path that happens to contain a comma
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_style(values: str | Path | Iterable[str]) -> StyleSpec:
    """One `--style` value, or several (the option repeated), into a StyleSpec."""
    if isinstance(values, (str, Path)):
        values = [str(values)]
    items = [item for value in values for item in _split(str(value))]
    if not items:
        raise UserError("--style: give a style name (see `realtime styles`) or a path to an .onnx file")
    names, weights = [], []
    for item in items:
        m = _WEIGHT.match(item)
        if m and not _DRIVE.match(m["name"]) and not Path(item).expanduser().is_file():
            names.append(m["name"].strip())
            weights.append(float(m["weight"]))
        else:
            names.append(item)
            weights.append(None)
    given = [w for w in weights if w is not None]
    if not given:
        return StyleSpec(tuple(names))
    if len(given) != len(weights):
        raise UserError(f"--style {','.join(items)}: give every style a weight (mosaic:0.6,candy:0.4) or none")
    if min(given) < 0 or sum(given) <= 0:
        raise UserError(f"--style {','.join(items)}: weights must not be negative and must not all be 0")
    if len(set(names)) != len(names):
        raise UserError(f"--style {','.join(items)}: a style is named twice")
    total = sum(given)
    return StyleSpec(tuple(names), tuple(w / total for w in given))
