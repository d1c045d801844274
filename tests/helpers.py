"""Running the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def cli(*args: object, timeout: float = 600, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    proc = subprocess.run([sys.executable, "-m", "realtime", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def fine_tune(out: Path, name: str, steps: int, *extra: object) -> Result:
    """`realtime train` from the shipped mosaic on the repository's photos at toy sizes: seconds on a CPU."""
    from conftest import PHOTOS, STYLE

    return cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", name, "--out-dir", out, "--init", "mosaic",
               "--steps", steps, "--batch-size", 1, "--image-size", 48, "--small-size", 32, "--style-size", 96,
               "--preview-every", 0, "--device", "cpu", *extra)


def assert_clean_error(result: Result, *needles: str) -> None:
    """A user-facing refusal: exit != 0, one `error:` line on stderr, no traceback."""
    assert result.code != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def ctrl_c_works() -> None:
    """preexec_fn for children that a test will Ctrl-C: a child of a background job starts with SIGINT
    ignored, and Python then never raises KeyboardInterrupt; give it the default disposition back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
