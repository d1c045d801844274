"""`webcam --virtual-cam`: the loop hands every stylised frame to the sink; no device is a clean error."""

from __future__ import annotations

import numpy as np

from realtime.live import LiveLoop, LiveOptions
from realtime.samples import BUNNY
from tests.helpers import assert_clean_error, cli
from tests.test_webcam import ListCapture, ScriptedDisplay, make_styles, source_frames


class FrameSink:
    """Where a VirtualCam would send frames; keeps them so the test can look."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.closed = False

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True


def test_every_stylised_frame_goes_to_the_virtual_camera_without_overlay(two_styles, tmp_path):
    frames = source_frames(6, (160, 90))
    sink = FrameSink()
    display = ScriptedDisplay({2: "s", 5: "q"})  # side by side on: the camera still gets the plain frame size
    loop = LiveLoop(ListCapture(frames), make_styles(two_styles, []), display,
                    LiveOptions(snapshot_dir=tmp_path, virtual_cam=sink))
    summary = loop.run()
    assert len(sink.frames) == summary.frames == 5 and sink.closed
    assert all(f.shape == (90, 160, 3) for f in sink.frames)
    assert np.abs(sink.frames[0].astype(int) - frames[0]).mean() > 10  # stylised, not the camera image
    assert np.array_equal(sink.frames[-1], display.views[-1][:, 160:])  # what the window shows, minus overlay


def test_no_virtual_camera_device_is_one_clean_error_with_the_setup_command():
    result = cli("webcam", "--style", "mosaic", "--source", BUNNY, "--no-display",
                 "--max-frames", "3", "--scale", "0.25", "--virtual-device", "/dev/video-none")
    assert_clean_error(result, "--virtual-cam", "/dev/video-none")
