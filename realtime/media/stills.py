"""Stylising still images: one file to one file, or many files / folders into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import cv2

from realtime.media import images
from realtime.engine.frames import Engine
from realtime.errors import UserError
from realtime.files import Inputs, check_output_path


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


def plan_outputs(files: list[Path], output: Path, suffix: str = ".png", folder: bool = False) -> list[tuple[Path, Path]]:
    """One input and an image path -> that path; otherwise OUTPUT is a folder of NAME.png files.

    `folder`: the user spelled OUTPUT as a folder (a trailing /). A name with an extension that is not an
    image format is refused rather than made into a folder: `-o out.xyz` is a typo more often than not."""
    ext = output.suffix.lower()
    if ext and ext not in images.IMAGE_SUFFIXES and not folder and not output.is_dir():
        raise UserError(f"-o {output}: unknown image format {ext}; use .png or .jpg, or end the path with / for a folder")
    as_file = len(files) == 1 and ext in images.IMAGE_SUFFIXES and not folder
    if as_file:
        check_output_path(output)  # a missing folder is an error here; a folder OUTPUT is made when needed
        pairs = [(files[0], output)]
    else:
        if ext in images.IMAGE_SUFFIXES:
            raise UserError(f"-o {output}: {len(files)} inputs need an output folder, not an image file")
        pairs = [(f, output / (f.stem + suffix)) for f in files]
        names = [o for _, o in pairs]
        if len(set(names)) != len(names):
            raise UserError(f"-o {output}: two inputs share a file name; stylise them in separate calls")
    inputs = Inputs(files)
    for _, dst in pairs:  # no output may land on any input (a folder into itself, ./ or symlinked spellings)
        inputs.check(dst)
    return pairs


def stylise_files(engine: Engine, pairs: list[tuple[Path, Path]],
                  on_done: Callable[[Path, Path], None] = lambda src, dst: None,
                  notify: Callable[[str], None] = lambda msg: None) -> None:
    """Stylise each pair in turn. The colour is stylised; an alpha channel is carried through (resized
    with the frame should the engine's output differ in size) where the output format holds one; finer
    than 8-bit samples are written as 8-bit, which is what the network makes. Each is said once."""
    for src, dst in pairs:
        still = images.read_still(src)
        out = engine(still.bgr)
        alpha = still.alpha
        if alpha is not None and alpha.shape != out.shape[:2]:
            alpha = cv2.resize(alpha, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_LINEAR)
        if alpha is not None and dst.suffix.lower() not in images.ALPHA_SUFFIXES:
            notify(f"note: {dst}: {dst.suffix} holds no transparency; the alpha channel of {src} is left out "
                   f"(write .png to keep it)")
            alpha = None
        if still.depth:
            notify(f"note: {src}: {still.depth} samples, written as 8-bit")
        try:  # the output folder appears with its first finished image, not before
            dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"-o {dst.parent}: cannot create this folder ({exc.strerror}); choose another -o") from exc
        images.write_bgr(dst, out, alpha)
        on_done(src, dst)
