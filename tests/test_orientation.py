"""Video as phones shoot it: clips stored turned (a display matrix, or an older `rotate` tag) come out
upright, through `realtime video` and the webcam's --source. The clips are made here: an upright scene
with a mark in its top-left corner, stored turned the other way, with the matrix that turns it back."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from realtime.engine.build import EngineOptions, open_engine
from realtime.errors import UserError
from realtime.media import video
from realtime.media.orientation import Orientation, from_matrix, from_rotate_tag, of_stream
from tests.conftest import REPO, bunny_frames, write_clip
from tests.helpers import assert_clean_error, cli

MOSAIC = REPO / "models" / "mosaic.onnx"
NTSC = Fraction(30000, 1001)
MARK = 64  # side of the mark, pixels


def upright_scene(n: int) -> list[np.ndarray]:
    """Portrait 360x640 frames of the sample with a white-and-black mark in the top-left corner: nothing
    else in the picture looks like it, whichever way it is turned or mirrored."""
    frames = []
    for frame in bunny_frames(n, (360, 640)):
        frame = frame.copy()
        frame[:MARK, :MARK] = 255
        frame[MARK // 4:3 * MARK // 4, MARK // 4:3 * MARK // 4] = 0
        frames.append(frame)
    return frames


# (how the stored frame is made from the upright one, the display matrix written, a rotate tag)
STORED = {
    "phone portrait (shown turned clockwise)": (lambda f: np.rot90(f, 1), (-90, False), None),
    "shown turned anticlockwise": (lambda f: np.rot90(f, -1), (90, False), None),
    "upside down": (lambda f: np.rot90(f, 2), (180, False), None),
    "mirrored": (lambda f: f[:, ::-1], (0, True), None),
    "rotate tag 90": (lambda f: np.rot90(f, 1), None, {"rotate": "90"}),
}


def stored_clip(path: Path, frames: list[np.ndarray], how: str, audio: str | None = None, rate=25) -> Path:
    store, shown, tags = STORED[how]
    return write_clip(path, [np.ascontiguousarray(store(f)) for f in frames], rate=rate, audio=audio,
                      shown=shown, tags=tags)


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def mark_corner(frame: np.ndarray) -> str:
    """Which corner holds the mark: the one whose centre is dark inside a bright ring."""
    k = MARK
    corners = {"top-left": frame[:k, :k], "top-right": frame[:k, -k:][:, ::-1],
               "bottom-left": frame[-k:, :k][::-1], "bottom-right": frame[-k:, -k:][::-1, ::-1]}
    contrast = {}
    for name, block in corners.items():
        grey = block.astype(np.float32).mean(axis=2)
        ring = np.concatenate([grey[:k // 8].ravel(), grey[:, :k // 8].ravel()])
        contrast[name] = ring.mean() - grey[3 * k // 8:5 * k // 8, 3 * k // 8:5 * k // 8].mean()
    return max(contrast, key=contrast.get)


# ------------------------------------------------------------------------------------ the matrix itself

@pytest.mark.parametrize("how", ["phone portrait (shown turned clockwise)", "shown turned anticlockwise", "upside down",
                                 "mirrored"])
def test_each_matrix_undoes_the_turn_it_describes(how, tmp_path):
    up = upright_scene(1)[0]
    src = stored_clip(tmp_path / "c.mp4", [up], how)
    with av.open(str(src)) as c:
        stream = c.streams.video[0]
        frame = next(c.decode(stream))
        turn = of_stream(frame, stream, "c.mp4")
        assert turn.apply(frame.to_ndarray(format="bgr24")).shape == up.shape
        assert mark_corner(turn.apply(frame.to_ndarray(format="bgr24"))) == "top-left"


def test_all_eight_orientations_and_the_refusals():
    scene = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    seen = set()
    for transpose in (False, True):
        for fx in (False, True):
            for fy in (False, True):
                turn = Orientation(transpose, fx, fy)
                shown = turn.apply(scene)
                assert shown.shape[:2] == turn.shown_size(4, 6)[::-1]
                seen.add(shown.tobytes())
                assert turn.describe() or turn.upright
    assert len(seen) == 8
    one = 65536
    assert from_matrix([one, 0, 0, 0, one, 0, 0, 0, 1 << 30], "x").upright
    assert from_matrix([0, one, 0, -one, 0, 0, 0, 0, 1 << 30], "x") == from_rotate_tag("90", "x")  # a phone's
    assert from_rotate_tag("-90", "x") == from_rotate_tag("270", "x")
    assert from_matrix([-one, 0, 0, 0, one, 0, 0, 0, 1 << 30], "x") == Orientation(flip_x=True)
    assert from_matrix([65535, 900, 0, -900, 65535, 0, 0, 0, 1 << 30], "x").upright  # 0.8 degrees: rounding
    with pytest.raises(UserError, match="30 degrees"):
        from_rotate_tag("30", "clip.mp4")
    with pytest.raises(UserError, match="degenerate"):
        from_matrix([0] * 9, "clip.mp4")
    with pytest.raises(UserError, match="not a number"):
        from_rotate_tag("sideways", "clip.mp4")


# ------------------------------------------------------------------------------------ through the pipeline

@pytest.mark.parametrize("how", list(STORED))
def test_stored_turned_comes_out_upright_with_the_same_pixels(how, tmp_path):
    """A do-nothing engine: the output is the upright scene itself, mark top-left, no matrix left."""
    frames = upright_scene(6)
    src = stored_clip(tmp_path / ("clip.mkv" if "tag" in how else "clip.mp4"), frames, how)
    out = tmp_path / "out.mp4"
    said: list[str] = []
    seen: list[tuple[int, int]] = []

    def engine(frame: np.ndarray) -> np.ndarray:
        seen.append(frame.shape[:2])
        return frame

    job = video.prepare(src, out, video.VideoSettings())
    assert (job.width, job.height) == (360, 640) and not job.orientation.upright
    result = video.stylise_video(job, engine, notify=said.append, show_progress=False)
    assert result.frames == 6 and set(seen) == {(640, 360)}  # the network saw the upright picture
    assert any("upright (360x640)" in line for line in said), said
    written = read_frames(out)
    assert written[0].shape == (640, 360, 3)
    assert np.abs(written[3].astype(np.float32) - frames[3]).mean() < 4
    assert mark_corner(written[3]) == "top-left"
    with av.open(str(out)) as c:
        assert next(c.decode(video=0)).rotation == 0  # written upright: nothing for a player to turn


def test_size_sets_the_long_side_of_the_upright_picture(tmp_path):
    src = stored_clip(tmp_path / "phone.mp4", upright_scene(3), "phone portrait (shown turned clockwise)")
    job = video.prepare(src, tmp_path / "small.mp4", video.VideoSettings(size=320))
    assert (job.width, job.height) == (180, 320)
    video.stylise_video(job, lambda f: f, show_progress=False)
    frames = read_frames(tmp_path / "small.mp4")
    assert frames[0].shape == (320, 180, 3) and mark_corner(frames[0]) == "top-left"


# ------------------------------------------------------------------------------------ the real CLI

def test_a_phone_clip_is_stylised_upright_with_its_frames_timing_and_audio(tmp_path):
    """The acceptance case: a portrait phone clip at 29.97 fps with AAC audio, stylised for real."""
    frames = upright_scene(45)
    src = stored_clip(tmp_path / "phone.mp4", frames, "phone portrait (shown turned clockwise)", audio="aac", rate=NTSC)
    out = tmp_path / "styled.mp4"
    result = cli("video", src, "-o", out, "--style", MOSAIC, "--device", "cpu", "--scale", "0.5", "--preset", "ultrafast")
    assert result.code == 0, result.stderr
    assert "upright (360x640)" in result.stderr and "45 frames, 360x640" in result.stderr
    with av.open(str(src)) as a, av.open(str(out)) as b:
        times_in = [float(f.pts * f.time_base) for f in a.decode(video=0)]
        times_out = [float(f.pts * f.time_base) for f in b.decode(video=0)]
        assert b.streams.video[0].average_rate == NTSC
        assert [s.codec_context.name for s in b.streams.audio] == ["aac"]
        audio_in = sum(p.size for p in a.demux(a.streams.audio[0]) if p.dts is not None)
        audio_out = sum(p.size for p in b.demux(b.streams.audio[0]) if p.dts is not None)
    assert len(times_out) == len(times_in) == 45
    assert np.allclose(times_out, times_in, atol=1e-3)
    assert audio_out == audio_in  # remuxed untouched
    # stylised, and the right way up: closest to the network's own output on the upright scene, and far
    # from that output mirrored or turned, which are the other pictures of this shape
    written = read_frames(out)[20].astype(np.float32)
    reference = open_engine(MOSAIC, EngineOptions(device="cpu", scale=0.5))(frames[20]).astype(np.float32)
    errors = {name: float(np.abs(written - move(reference)).mean()) for name, move in
              {"upright": lambda r: r, "mirrored": lambda r: r[:, ::-1], "upside down": lambda r: r[::-1],
               "turned 180": lambda r: r[::-1, ::-1]}.items()}
    assert min(errors, key=errors.get) == "upright", errors
    assert errors["upright"] * 2 < min(v for k, v in errors.items() if k != "upright"), errors
    assert np.abs(written - frames[20]).mean() > 10  # and not the photo itself
    assert mark_corner(frames[20]) == "top-left"


def test_an_odd_angle_is_refused_in_one_line(tmp_path):
    src = write_clip(tmp_path / "tilted.mp4", upright_scene(2), audio=None, shown=(30, False))
    out = tmp_path / "out.mp4"
    result = cli("video", src, "-o", out, "--style", MOSAIC, "--device", "cpu")
    assert_clean_error(result, "tilted.mp4", "30 degrees", "quarter turns")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_webcam_source_plays_a_phone_clip_upright(tmp_path):
    src = stored_clip(tmp_path / "phone.mp4", upright_scene(8), "phone portrait (shown turned clockwise)")
    rec = tmp_path / "rec.mp4"
    result = cli("webcam", "--style", MOSAIC, "--source", src, "--no-display", "--record", rec, "--device", "cpu",
                 "--scale", "0.5", "--max-frames", "8")
    assert result.code == 0, result.stderr
    cap = cv2.VideoCapture(str(rec))
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (640, 360, 3)
    reference = open_engine(MOSAIC, EngineOptions(device="cpu", scale=0.5))(upright_scene(1)[0]).astype(np.float32)
    upright = np.abs(frame - reference).mean()
    assert upright * 2 < np.abs(frame - reference[::-1, ::-1]).mean()
    assert upright * 2 < np.abs(frame - reference[:, ::-1]).mean()
