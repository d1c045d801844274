"""`realtime video DIR -o OUTDIR`: each video in turn, a failed one reported and skipped, a summary, and an
exit status that says whether any failed. The clips are made here from the bundled sample."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from tests.conftest import REPO, bunny_frames, write_clip
from tests.helpers import assert_clean_error, cli

MOSAIC = REPO / "models" / "mosaic.onnx"
FAST = ("--style", MOSAIC, "--device", "cpu", "--scale", "0.25", "--preset", "ultrafast")


def frames_and_audio(path) -> tuple[int, list[str]]:
    with av.open(str(path)) as c:
        audio = [s.codec_context.name for s in c.streams.audio]
        return sum(1 for _ in c.decode(video=0)), audio


def hidden(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def test_a_folder_with_a_corrupt_file_does_the_rest_and_reports_it(tmp_path):
    src, out = tmp_path / "clips", tmp_path / "styled"
    src.mkdir()
    write_clip(src / "a.mp4", bunny_frames(20, (320, 180)), rate=25)
    write_clip(src / "b.mov", bunny_frames(12, (320, 180), start=40), rate=25, audio=None)
    write_clip(src / "c.mkv", bunny_frames(8, (320, 180)), rate=25, audio=None, shown=(-90, False))  # a phone's
    (src / "broken.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (src / "notes.txt").write_text("not a video")
    result = cli("video", src, "-o", out, *FAST)
    assert result.code == 1, result.stderr  # one failed
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.mp4" in errors[0], result.stderr
    assert f"3 of 4 videos written to {out}; 1 failed (broken.mp4)" in " ".join(result.stderr.split()), result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mov", "c.mkv"]
    assert frames_and_audio(out / "a.mp4") == (20, ["aac"])
    assert frames_and_audio(out / "b.mov") == (12, [])
    with av.open(str(out / "c.mkv")) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (180, 320)  # upright: no matrix left for a player
    assert hidden(tmp_path) == []
    # everything there already: refused before any work, unless --overwrite
    again = cli("video", src, "-o", out, *FAST)
    assert_clean_error(again, "--overwrite", "a.mp4")
    replaced = cli("video", src, "-o", out, "--overwrite", "--no-audio", *FAST)
    assert replaced.code == 1 and frames_and_audio(out / "a.mp4") == (20, [])


def test_a_folder_of_good_videos_exits_0(tmp_path):
    src, out = tmp_path / "in", tmp_path / "deep" / "out"
    src.mkdir()
    write_clip(src / "one.mp4", bunny_frames(6, (160, 96)), rate=25, audio=None)
    write_clip(src / "two.ts", bunny_frames(6, (160, 96)), rate=25, audio=None)  # written as .mp4
    result = cli("video", src, "-o", out, *FAST)
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["one.mp4", "two.mp4"]
    assert f"2 of 2 videos written to {out}" in result.stderr


@pytest.mark.parametrize("case", ["output is a video file", "no videos", "two names clash"])
def test_folder_refusals_are_one_line_and_leave_nothing(case, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    out = tmp_path / "out"
    needle = {"output is a video file": "needs an output folder", "no videos": "has no videos",
              "two names clash": "same file name"}[case]
    if case == "output is a video file":
        write_clip(src / "a.mp4", bunny_frames(2, (64, 48)), audio=None)
        out = tmp_path / "out.mp4"
    elif case == "no videos":
        (src / "a.txt").write_text("x")
    else:
        write_clip(src / "a.ts", bunny_frames(2, (64, 48)), audio=None)
        shutil.copy(src / "a.ts", src / "a.m2ts")  # both would be written as a.mp4
    result = cli("video", src, "-o", out, *FAST)
    assert_clean_error(result, needle)
    assert not out.exists() and hidden(tmp_path) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_sigterm_ends_the_folder_with_the_file_at_hand_playable(long_clip, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    shutil.copy(long_clip, src / "first.mp4")
    shutil.copy(long_clip, src / "second.mp4")
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "video", str(src), "-o", str(out), *map(str, FAST)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 180
    while not (out.is_dir() and any(p.stat().st_size > 50_000 for p in out.glob(".first.*"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert "interrupted: wrote" in stderr and "interrupted, 1 not started" in " ".join(stderr.split()), stderr
    assert sorted(p.name for p in out.iterdir()) == ["first.mp4"]
    assert 0 < frames_and_audio(out / "first.mp4")[0] < 600
