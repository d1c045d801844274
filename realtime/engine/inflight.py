"""Several frames in flight on a CPU: one engine per worker thread, results in the order they came in.

On a 2-core CPU, two onnxruntime sessions of one thread each, fed alternate frames, stylise 1.15x the frames
per second of one session using both cores (benchmarks/cpu_threads.py): a network's small layers do not keep
two threads busy, two frames do. Offline work (`realtime video`) takes that. The webcam takes it for the
small CPU networks only (realtime.live.webcam.live_flight): there a frame in flight costs a few tens of ms of
latency, where a full network's costs a fifth of a second.
"""

from __future__ import annotations

import os
import queue
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

Stylise = Callable[[Any], np.ndarray]  # a frame, or whatever work the engines take (the webcam's Job)


def cpu_workers(cores: int | None = None) -> int:
    """Frames to keep in flight on this CPU: two when there are at least two cores, else one."""
    return 2 if (cores or os.cpu_count() or 1) >= 2 else 1


class Ordered:
    """Items leave, through `emit`, in the order they arrived; an item may carry a frame, which one of
    `engines` stylises in a worker thread meanwhile (at most one frame per engine in flight). With one
    engine it runs inline. An engine's error is raised once every earlier item has been emitted."""

    def __init__(self, engines: Sequence[Stylise], emit: Callable[[Any, np.ndarray | None], bool]):
        if not engines:
            raise ValueError("Ordered needs at least one engine")
        self._engines = list(engines)
        self._emit = emit  # (item, stylised frame or None) -> False to stop
        self._pool = ThreadPoolExecutor(len(engines), thread_name_prefix="in-flight") if len(engines) > 1 else None
        self._idle: queue.SimpleQueue[Stylise] = queue.SimpleQueue()
        for engine in self._engines:
            self._idle.put(engine)
        self._pending: deque[tuple[Any, Future | None]] = deque()

    def _run(self, frame: Any) -> np.ndarray:
        engine = self._idle.get()
        try:
            return engine(frame)
        finally:
            self._idle.put(engine)

    def push(self, item: Any, frame: Any = None) -> bool:
        """Queue `item` (with `frame` to stylise) and emit what is done; False once `emit` said stop."""
        if self._pool is None:
            return self._emit(item, self._engines[0](frame) if frame is not None else None)
        self._pending.append((item, self._pool.submit(self._run, frame) if frame is not None else None))
        return self._drain(keep=len(self._engines))

    def make_room(self) -> bool:
        """Emit what is done, waiting until an engine is free, so that a live source's next frame is
        taken only when it can start at once (never aged in a queue). False once `emit` said stop."""
        return self._drain(keep=len(self._engines) - 1)

    def flush(self) -> bool:
        """Emit everything still queued, waiting for the frames in flight."""
        return self._drain(keep=-1)

    def _drain(self, keep: int) -> bool:
        """Emit items in order, waiting on the oldest frame while more than `keep` frames are in flight."""
        while self._pending:
            head, future = self._pending[0]
            in_flight = sum(f is not None for _, f in self._pending)
            if future is not None and not future.done() and in_flight <= keep:
                return True
            self._pending.popleft()
            if not self._emit(head, future.result() if future is not None else None):
                return False
        return True

    def close(self) -> None:
        """Drop what is queued (Ctrl-C, an error): frames in flight finish in the background, unused."""
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
