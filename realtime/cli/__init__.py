"""The `realtime` command line. Thin: parse options, call the module that does the work, report.

run (image, video, webcam, styles, web), make (train, distill, export, gatys, weights) and tools (evaluate,
bench, doctor) add their commands to the one typer app; options shared by commands live in options.
"""

from __future__ import annotations

import sys
import warnings

from realtime.cli import run  # noqa: F401, I001 - each module adds its commands to the app, in --help's order
from realtime.cli import make  # noqa: F401
from realtime.cli import tools  # noqa: F401
from realtime.cli.app import app, say
from realtime.errors import UserError
from realtime.media.interrupts import StopSignals

__all__ = ["app", "main"]


def _format_warning(message, category, filename, lineno, file=None, line=None) -> str:  # noqa: ANN001
    return f"warning: {message}\n"


def main() -> None:
    warnings.formatwarning = _format_warning
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    with StopSignals() as stops:  # SIGTERM and SIGHUP take Ctrl-C's path, tidying included
        try:
            app()  # commands that must tidy up on Ctrl-C catch it and leave with typer.Exit(130)
        except UserError as exc:
            say(f"error: {exc}")
            sys.exit(2)
        except KeyboardInterrupt:
            sys.exit(stops.exit_code(130))
        except SystemExit as exc:
            if isinstance(exc.code, int):
                sys.exit(stops.exit_code(exc.code))
            raise
