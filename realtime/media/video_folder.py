"""`realtime video DIR -o OUTDIR`: every video in a folder, one after another, under one progress display.

A folder is a batch someone leaves running: a file that cannot be read or fails part-way is reported
and skipped, and the rest still get done; the summary names the failures and the exit status says
there were some. A stop (Ctrl-C, SIGTERM, SIGHUP) finishes the file at hand as a playable partial
video, as for a single file, and ends the batch there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from realtime.errors import UserError
from realtime.files import Inputs
from realtime.media import video

# Read from a folder: what FFmpeg commonly meets. Written: video.SUFFIXES (others become .mp4).
INPUT_SUFFIXES = frozenset(video.SUFFIXES) | {".webm", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".wmv", ".flv",
                                              ".3gp", ".ogv"}

Stylise = Callable[[np.ndarray], np.ndarray]


@dataclass
class FolderSummary:
    """What a folder run did, for the closing line and the exit status."""

    total: int
    written: list[video.Result] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # input, the one-line reason
    interrupted: bool = False
    cut_short: Path | None = None  # the file a stop ended part-way (kept as a playable part)

    def line(self, out_dir: Path) -> str:
        parts = [f"{len(self.written)} of {self.total} videos written to {out_dir}"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed ({', '.join(p.name for p, _ in self.failed)})")
        if self.interrupted:
            left = self.total - len(self.written) - len(self.failed) - (self.cut_short is not None)
            parts.append(f"interrupted, {left} not started")
        return "; ".join(parts)


def collect(folder: Path) -> list[Path]:
    """The folder's video files (not recursively), by name."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
    if not found:
        raise UserError(f"{folder}: folder has no videos ({', '.join(sorted(INPUT_SUFFIXES)[:6])}, ...)")
    return found


def plan(files: list[Path], out_dir: Path, overwrite: bool) -> list[tuple[Path, Path]]:
    """OUTDIR/NAME with the input's container where it is one realtime writes, else NAME.mp4; checked
    before any work: a name clash, an output on an input, or an existing output without --overwrite."""
    if out_dir.suffix.lower() in INPUT_SUFFIXES and not out_dir.is_dir():
        raise UserError(f"-o {out_dir}: a folder of videos needs an output folder, not a video file")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"-o {out_dir}: is a file; give a folder for the stylised videos")
    existing = out_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"-o {out_dir}: {existing} is not writable; choose another -o")
    pairs = [(f, out_dir / (f.stem + (f.suffix.lower() if f.suffix.lower() in video.SUFFIXES else ".mp4")))
             for f in files]
    names = [dst for _, dst in pairs]
    if len(set(names)) != len(names):
        raise UserError(f"-o {out_dir}: two inputs would write the same file name; stylise them in separate calls")
    inputs = Inputs(files)
    for _, dst in pairs:
        inputs.check(dst)
    there = [dst.name for dst in names if dst.exists()]
    if there and not overwrite:
        raise UserError(f"-o {out_dir}: {len(there)} of the outputs already exist ({', '.join(there[:3])}"
                        f"{', ...' if len(there) > 3 else ''}); pass --overwrite to replace them")
    return pairs


def stylise_folder(pairs: list[tuple[Path, Path]], settings: video.VideoSettings,
                   engines_for: Callable[[video.Job], Sequence[Stylise]],
                   post_for: Callable[[], Callable[[np.ndarray, np.ndarray], np.ndarray] | None],
                   say: Callable[[str], None], show_progress: bool = True,
                   schedule: Callable[[float], dict[str, float]] | None = None) -> FolderSummary:
    """Each pair in turn through `video.prepare` and `video.stylise_video`. `engines_for(job)` gives the
    engines for a file's size; `post_for()` a fresh stabiliser per file (one clip's motion must not
    blend into the next). Failures are said as `error:` lines and collected; a stop ends the batch."""
    from rich.progress import TextColumn

    from realtime import progress

    summary = FolderSummary(len(pairs))
    out_dir = pairs[0][1].parent
    made_dir = not out_dir.exists()
    bar = progress.bar(TextColumn("{task.fields[fps]}"), disable=not show_progress)
    try:
        with bar:
            overall = bar.add_task("videos", total=len(pairs), fps="")
            for src, dst in pairs:
                try:
                    out_dir.mkdir(parents=True, exist_ok=True)
                    job = video.prepare(src, dst, replace(settings, overwrite=True))  # checked up front in `plan`
                    result = video.stylise_video(job, engines_for(job), notify=say, post=post_for(), bar=bar,
                                                 schedule=schedule)
                except video.Interrupted as stop:  # the file at hand is kept as a playable part
                    say(str(stop))
                    summary.interrupted, summary.cut_short = True, src
                    break
                except KeyboardInterrupt:  # stopped before the file had begun: nothing of it written
                    summary.interrupted = True
                    break
                except (UserError, OSError) as exc:
                    summary.failed.append((src, _one_line(exc)))
                    say(f"error: {_one_line(exc)}")
                except Exception as exc:  # noqa: BLE001 - a file the engine or codec chokes on; the rest still run
                    summary.failed.append((src, f"{src}: {type(exc).__name__}: {_one_line(exc)}"))
                    say(f"error: {src}: {type(exc).__name__}: {_one_line(exc)}")
                else:
                    summary.written.append(result)
                    fps = f" at {result.fps:.3f} fps" if result.fps else ""
                    say(f"{src} -> {dst}: {result.frames} frames, {result.width}x{result.height}{fps}")
                bar.advance(overall)
    finally:
        if made_dir and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # nothing written: leave no empty folder behind
    return summary


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
