"""Which way up a video is meant to be shown, and turning its frames that way.

Phones record portrait video in the sensor's landscape layout and add a display matrix (or, in files
from older tools, a `rotate` tag) telling players to turn it. The network must see the upright picture
(its strokes and textures have a direction), and the file we write has no matrix, so its frames must
be upright too. Quarter turns and mirror images are exact pixel moves; any other angle would need
resampling and corners filled in, so it is refused in one line instead of guessed at.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from realtime.errors import UserError

# A turn within this of a quarter turn is taken as one: phones write exact quarter turns, and the
# matrix's 16.16 fixed-point entries carry rounding.
TOLERANCE_DEGREES = 1.0


@dataclass(frozen=True)
class Orientation:
    """How a stored frame becomes the shown one: transpose first, then mirror columns, then rows.

    Those three moves express all eight quarter turns and mirror images.
    """

    transpose: bool = False
    flip_x: bool = False  # mirror left-right
    flip_y: bool = False  # mirror top-bottom

    @property
    def upright(self) -> bool:
        """True when the stored frame is already the shown one."""
        return not (self.transpose or self.flip_x or self.flip_y)

    def shown_size(self, width: int, height: int) -> tuple[int, int]:
        """The (w, h) a stored (w, h) frame is shown at; also the way back, a transpose being its own inverse."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The stored frame (H, W, ...) as it is meant to be shown, contiguous for the engine."""
        if self.upright:
            return image
        out = image.swapaxes(0, 1) if self.transpose else image
        if self.flip_x:
            out = out[:, ::-1]
        if self.flip_y:
            out = out[::-1]
        return np.ascontiguousarray(out)

    def describe(self) -> str:
        """In words, for the notice that the file is being set upright."""
        turns = {(False, False, False): "", (True, True, False): "turned 90 degrees clockwise",
                 (False, True, True): "turned 180 degrees", (True, False, True): "turned 90 degrees anticlockwise",
                 (False, True, False): "mirrored left-right", (False, False, True): "mirrored top-bottom",
                 (True, False, False): "mirrored across its diagonal", (True, True, True): "mirrored across its other diagonal"}
        return turns[(self.transpose, self.flip_x, self.flip_y)]


def from_matrix(matrix: Sequence[int], where: str) -> Orientation:
    """The orientation an FFmpeg display matrix describes; a UserError naming `where` for other angles.

    The matrix [a b u; c d v; x y w] (a-d in 16.16 fixed point) maps a stored point (p, q), y downwards,
    to the shown point (a*p + c*q, b*p + d*q): a quarter turn or mirror has one non-zero entry per row.
    """
    a, b, _, c, d = (float(v) for v in matrix[:5])
    scale = max(math.hypot(a, b), math.hypot(c, d))
    if scale == 0 or abs(a * d - b * c) < 1e-6 * scale * scale:
        raise UserError(f"{where}: its display matrix is degenerate (it would show nothing); re-encode the video")
    slack = math.sin(math.radians(TOLERANCE_DEGREES)) * scale
    if abs(b) <= slack and abs(c) <= slack:
        return Orientation(transpose=False, flip_x=a < 0, flip_y=d < 0)
    if abs(a) <= slack and abs(d) <= slack:  # the shown x comes from the stored y, and y from x
        return Orientation(transpose=True, flip_x=c < 0, flip_y=b < 0)
    angle = math.degrees(math.atan2(b, a))  # clockwise on screen: y points down
    raise UserError(f"{where}: it is meant to be shown turned {abs(angle):.0f} degrees "
                    f"{'clockwise' if angle > 0 else 'anticlockwise'}; only quarter turns and mirror images can be "
                    "set upright (re-encode it upright first)")


def from_rotate_tag(value: str, where: str) -> Orientation:
    """The older `rotate` tag: degrees clockwise, as phones and older FFmpeg wrote it."""
    try:
        degrees = float(value)
    except ValueError:
        raise UserError(f"{where}: its rotate tag {value!r} is not a number of degrees; re-encode the video") from None
    turn = math.radians(degrees)
    # the matrix of a clockwise turn on screen (y downwards), in the layout from_matrix reads
    return from_matrix([round(65536 * math.cos(turn)), round(65536 * math.sin(turn)), 0,
                        round(-65536 * math.sin(turn)), round(65536 * math.cos(turn))], where)


def display_matrix(frame: Any) -> list[int] | None:
    """The display matrix a decoded PyAV frame carries (FFmpeg puts the stream's on every frame), or None."""
    import av

    kinds = av.sidedata.sidedata.Type
    sides = getattr(frame, "side_data", None)
    for item in sides if sides is not None else ():
        side = sides[item] if isinstance(item, kinds) else item  # PyAV 18.1.1 iterates the kinds, as a mapping
        if side.type == kinds.DISPLAYMATRIX and side.buffer_size >= 36:
            return list(struct.unpack("=9i", bytes(side)[:36]))
    return None


def of_stream(first_frame: Any, stream: Any, where: str) -> Orientation:
    """A video's orientation from its first decoded frame's display matrix, else its stream's rotate tag."""
    matrix = display_matrix(first_frame)
    if matrix is not None:
        return from_matrix(matrix, where)
    tags = {str(k).lower(): str(v) for k, v in (stream.metadata or {}).items()}
    if tags.get("rotate", "").strip():
        return from_rotate_tag(tags["rotate"].strip(), where)
    return Orientation()


def of_file(path: Path, where: str) -> Orientation:
    """A video file's orientation, read with PyAV (for readers, such as OpenCV's, that see only some of it);
    upright when PyAV cannot decode a frame (the reader then reports the file itself)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return Orientation()
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                return of_stream(frame, stream, where)
    except av.error.FFmpegError:
        pass
    return Orientation()
