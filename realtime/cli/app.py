"""The typer application and the two ways a command speaks to the user (stderr lines, stdout results)."""

from __future__ import annotations

from typing import Callable

import typer

from realtime.progress import STDERR

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode="rich",
                  help="Neural style transfer live on a webcam, on video files and on stills.")


def say(message: str) -> None:
    """One line on stderr. A terminal that has gone away (a hangup, a closed pipe) is not an error of the
    command's: its result is on disk, and saying so must not fail the stop that is under way."""
    try:
        STDERR.print(message, highlight=False, markup=False, soft_wrap=True)
    except OSError:
        pass


def say_once() -> Callable[[str], None]:
    """`say`, but each distinct message only once (several engines share one device notice)."""
    seen: set[str] = set()

    def notify(message: str) -> None:
        if message not in seen:
            seen.add(message)
            say(message)

    return notify
