"""Stylising still images: one file to one file, or many files / folders into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from realtime import images
from realtime.engine import Engine
from realtime.errors import UserError


def collect_inputs(inputs: Iterable[Path]) -> list[Path]:
    """Expand folders (not recursively) into their image files; keep files as given."""
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in images.IMAGE_SUFFIXES)
            if not found:
                raise UserError(f"{path}: folder has no images (.jpg, .png, ...)")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path}: input not found")
    return files


def plan_outputs(files: list[Path], output: Path, suffix: str = ".png") -> list[tuple[Path, Path]]:
    """One input and an image path -> that path; otherwise OUTPUT is a folder of NAME.png files."""
    as_file = len(files) == 1 and output.suffix.lower() in images.IMAGE_SUFFIXES
    if as_file:
        pairs = [(files[0], output)]
    else:
        if output.suffix.lower() in images.IMAGE_SUFFIXES:
            raise UserError(f"-o {output}: {len(files)} inputs need an output folder, not an image file")
        output.mkdir(parents=True, exist_ok=True)
        pairs = [(f, output / (f.stem + suffix)) for f in files]
        names = [o for _, o in pairs]
        if len(set(names)) != len(names):
            raise UserError(f"-o {output}: two inputs share a file name; stylise them in separate calls")
    for src, dst in pairs:
        if dst.exists() and src.resolve() == dst.resolve():
            raise UserError(f"{dst}: output would overwrite its input; choose another -o")
    return pairs


def stylise_files(engine: Engine, pairs: list[tuple[Path, Path]],
                  on_done: Callable[[Path, Path], None] = lambda src, dst: None) -> None:
    for src, dst in pairs:
        frame = images.read_bgr(src)
        out = engine(frame)
        images.write_bgr(dst, out)
        on_done(src, dst)
