"""Ctrl-C at safe points: a frame is either wholly done (shown, recorded, counted) or not begun, and a
file being finalised is never cut off halfway.

Signal handlers can only be set from the main thread; elsewhere both helpers do nothing and Ctrl-C keeps
its usual KeyboardInterrupt.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """A second Ctrl-C while flushing would leave a broken file: hold it off for those moments."""
    if not _on_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DeferredInterrupt:
    """While active, the first Ctrl-C only sets `requested`, for a loop to check between frames; a second
    one raises KeyboardInterrupt at once, for when a step hangs."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "DeferredInterrupt":
        if _on_main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
