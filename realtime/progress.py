"""Progress bars (rich) shared by the long-running commands."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

STDERR = Console(stderr=True)
STDOUT = Console()
if not STDOUT.is_terminal:  # piped or logged: rich's 80-column default would cut the tables' names
    STDOUT = Console(width=max(STDOUT.width, 160))


def bar(*extra: TextColumn, console: Console | None = None, disable: bool = False) -> Progress:
    """A bar with count, elapsed and remaining time; `extra` columns show live figures (losses, fps)."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), *extra,
        console=console or STDERR, disable=disable, transient=False,
    )
