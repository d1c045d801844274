"""Stops at safe points: a frame is either wholly done (shown, recorded, counted) or not begun, and a
file being finalised is never cut off halfway.

Ctrl-C (SIGINT), SIGTERM (a service manager, `kill`, a closing container) and SIGHUP (the terminal
went away) all take one path: the CLI's `StopSignals` hands SIGTERM and SIGHUP to whatever Ctrl-C
does at that moment, so every command's Ctrl-C tidying (a playable partial video, finished images, a
checkpoint, a finalised recording) serves them too.

Signal handlers can only be set from the main thread; elsewhere the helpers do nothing and Ctrl-C keeps
its usual KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import stat
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator, Optional

# SIGHUP does not exist on Windows; there only Ctrl-C and SIGTERM are handled.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _held(signum: int, frame: Optional[FrameType]) -> None:
    """SIGINT's handler while stops are held: a callable rather than SIG_IGN, so `StopSignals` can tell a
    hold (wait) from a SIGINT the shell told this process to ignore (a background job: still stop)."""


@contextmanager
def stops_held() -> Iterator[None]:
    """A further Ctrl-C or stop signal while flushing would leave a broken file: hold them off for those moments."""
    if not _on_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _held)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DeferredInterrupt:
    """While active, the first Ctrl-C (or stop signal) only sets `requested`, for a loop to check between
    frames; a second one raises KeyboardInterrupt at once, for when a step hangs."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None  # what asked: SIGINT, or the stop signal StopSignals passed on
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    @property
    def why(self) -> str:
        """What stopped the loop, for its summary: "Ctrl-C", "SIGTERM", "SIGHUP"."""
        if self.signum is None or self.signum == signal.SIGINT:
            return "Ctrl-C"
        return signal.Signals(self.signum).name

    def __enter__(self) -> "DeferredInterrupt":
        if _on_main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class StopSignals:
    """SIGTERM and SIGHUP do what Ctrl-C does at the moment they arrive: raise KeyboardInterrupt, set a
    loop's `requested` (DeferredInterrupt), or wait while a file is finalised (stops_held). Active while
    the CLI's main runs a command (a context manager); `received` is the first such signal, for the exit
    status (128 + its number).

    After SIGHUP the terminal is gone and writing to it fails, which must not turn a clean stop into a
    traceback: stdout and stderr are pointed at /dev/null unless they are files (a log stays a log).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if _on_main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.received is None:
            self.received = signum
        if signum == getattr(signal, "SIGHUP", None):
            detach_from_terminal()
        current = signal.getsignal(signal.SIGINT)
        if callable(current):  # Python's default (raises KeyboardInterrupt), a DeferredInterrupt, or a hold
            current(signum, frame)
        else:  # SIGINT ignored (started in the background) or left to the system: a stop signal still stops
            raise KeyboardInterrupt

    def exit_code(self, code: int) -> int:
        """The status to leave with: 128 + the signal's number after SIGTERM or SIGHUP, as a shell reports
        a process that signal stopped; `code` otherwise (130 after Ctrl-C)."""
        return 128 + self.received if self.received is not None and code == 130 else code


def detach_from_terminal() -> None:
    """Point stdout and stderr at /dev/null where they are not plain files, so later writes (progress
    bars, the closing summary) succeed instead of failing on a terminal or pipe that is gone."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        for fd in (1, 2):
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    continue
            except OSError:  # already closed: /dev/null takes its place
                pass
            try:
                os.dup2(null, fd)
            except OSError:
                pass
    finally:
        os.close(null)
