"""Frames in flight (realtime.engine.inflight): order kept, nothing lost before an error, same video as one engine."""

from __future__ import annotations

import random
import time

import av
import numpy as np
import pytest

from realtime.media import video
from realtime.engine import Engine
from realtime.engine.inflight import Ordered
from realtime.samples import BUNNY


def slow_engine(seed: int, fail_on: int | None = None):
    """Adds a frame's own tag to it after a random delay, so workers finish out of order."""
    rng = random.Random(seed)

    def run(frame: np.ndarray) -> np.ndarray:
        time.sleep(rng.uniform(0, 0.01))
        if fail_on is not None and int(frame[0, 0, 0]) == fail_on:
            raise RuntimeError(f"engine failed on frame {fail_on}")
        return frame + 1
    return run


@pytest.mark.parametrize("engines", [1, 2, 3])
def test_items_leave_in_the_order_they_came(engines):
    out = []
    ordered = Ordered([slow_engine(k) for k in range(engines)], lambda item, styled: out.append((item, styled)) or True)
    for k in range(40):
        if k % 5 == 0:
            assert ordered.push(("audio", k))
        assert ordered.push(("video", k), np.full((2, 2, 3), k, np.uint8))
    assert ordered.flush()
    ordered.close()
    items = [item for item, _ in out]
    assert items == [x for k in range(40) for x in ([("audio", k)] if k % 5 == 0 else []) + [("video", k)]]
    assert all(styled is None if item[0] == "audio" else int(styled[0, 0, 0]) == item[1] + 1 for item, styled in out)


def test_an_engine_error_comes_after_every_earlier_frame():
    out = []
    ordered = Ordered([slow_engine(0, fail_on=7), slow_engine(1, fail_on=7)], lambda item, _: out.append(item) or True)
    with pytest.raises(RuntimeError, match="frame 7"):
        for k in range(20):
            ordered.push(k, np.full((2, 2, 3), k, np.uint8))
        ordered.flush()
    ordered.close()
    assert out == list(range(7))


def test_two_engines_write_the_same_video_as_one(tiny_onnx, tmp_path):
    """The bundled clip through two one-thread engines in flight, and through one: the same frames."""
    outputs = {}
    for count in (1, 2):
        job = video.prepare(BUNNY, tmp_path / f"out{count}.mp4", video.VideoSettings(size=320, crf=0, preset="ultrafast"))
        engines = [Engine(tiny_onnx, device="cpu", threads=1 if count > 1 else None) for _ in range(count)]
        result = video.stylise_video(job, engines, show_progress=False)
        assert result.complete and result.frames == job.total
        with av.open(str(job.output)) as container:
            outputs[count] = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(outputs[1]) == len(outputs[2]) > 100
    worst = max(float(np.abs(a.astype(np.int16) - b).mean()) for a, b in zip(outputs[1], outputs[2]))
    assert worst < 0.5, worst


def test_make_room_waits_for_a_free_engine_and_keeps_the_order():
    """A live source's frame is taken only once an engine is free: make_room emits the oldest frame first."""
    out = []
    ordered = Ordered([slow_engine(k) for k in range(2)], lambda item, styled: out.append(item) or True)
    for k in range(10):
        assert ordered.make_room()
        assert sum(f is not None and not f.done() for _, f in ordered._pending) < 2  # an engine is free now
        assert ordered.push(k, np.full((2, 2, 3), k, np.uint8))
    assert ordered.flush()
    ordered.close()
    assert out == list(range(10))
