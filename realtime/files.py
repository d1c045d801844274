"""Atomic writes: a file either appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from realtime.errors import UserError


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds."""
    tmp = temp_beside(Path(target), suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def temp_beside(target: Path, suffix: str | None = None) -> Path:
    """A new hidden file next to `target` (same folder, so a rename is atomic), with normal permissions.

    It keeps the target's extension so writers that look at it (OpenCV, PyAV) pick the right format.
    """
    parent = check_output_path(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix or target.suffix, dir=parent)
    try:  # a stop signal landing here must not leave the new file behind: the caller never got its name
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual permissions
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def check_output_path(target: Path) -> Path:
    """Fail early (before minutes of work) when `target` cannot be written; return its folder."""
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{target}: folder {parent} does not exist; create it or choose another output path")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{target}: folder {parent} is not writable; choose another output path")
    if target.is_dir():
        raise UserError(f"{target}: is a folder; give a file name")
    return parent


def check_dir_creatable(path: Path) -> Path:
    """Fail early when `path` could not be made or written, without creating it: a run that then stops
    on a bad input leaves no empty folder behind."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{path}: {existing} is not a folder; choose another --out-dir")
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "output folder is not writable" if existing == path else f"cannot be created: {existing} is not writable"
        raise UserError(f"{path}: {why}; choose another --out-dir")
    return path


def check_writable_dir(path: Path) -> Path:
    """Create `path` if needed and make sure files can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path}: cannot create output folder ({exc.strerror}); choose another --out-dir") from exc
    if not os.access(path, os.W_OK):
        raise UserError(f"{path}: output folder is not writable; choose another --out-dir")
    return path


class Inputs:
    """A command's input files, to check outputs against however they are spelled (./, .., symlinks,
    hard links); built once, so a folder of thousands of photos is checked in linear time."""

    def __init__(self, inputs: list[Path]):
        self.paths = {Path(p).resolve(): Path(p) for p in inputs}
        self.inodes = {}
        for p in inputs:
            try:
                st = os.stat(p)
            except OSError:
                continue
            self.inodes[(st.st_dev, st.st_ino)] = Path(p)

    def check(self, output: Path, option: str = "-o") -> None:
        source = self.paths.get(Path(output).resolve())
        if source is None:
            try:
                st = os.stat(output)
                source = self.inodes.get((st.st_dev, st.st_ino))
            except OSError:
                pass
        if source is not None:
            raise UserError(f"{output}: output would overwrite the input {source}; choose another {option}")


def check_distinct(output: Path, inputs: list[Path], option: str = "-o") -> None:
    """Refuse an output that is one of the inputs, however it is spelled."""
    Inputs(inputs).check(output, option)
