"""Speed of the engine per provider and precision, next to PyTorch eager on the same architecture.

Times whole frames as the webcam loop sees them (BGR uint8 in, BGR uint8 out: pre-processing, inference,
post-processing). The PyTorch column runs our TransformerNet at the model's width with its own weights
when the style is ours (speed does not depend on the values), so the ratio compares runtimes, not nets.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

SIZES = {"240p": (240, 320), "360p": (360, 640), "480p": (480, 640), "720p": (720, 1280), "1080p": (1080, 1920)}


@dataclass
class Row:
    size: str
    backend: str
    precision: str
    ms_per_frame: float
    fps: float
    runs: int
    io: str = ""  # onnxruntime: "uint8" (frames into the graph as they are) or "float" (numpy pre/post)
    network_ms: float | None = None  # the bare session.run on a prepared input
    outside_ms: float | None = None  # ms_per_frame - network_ms: pre/post-processing, copies


WARM_UP = 3  # runs a profiling engine makes before its trace counts


@dataclass
class OpShare:
    """One operator type's part of a network's time in onnxruntime's own profile (`bench --profile`)."""

    size: str
    backend: str
    precision: str
    op: str
    ms_per_frame: float
    percent: float


def profile_ops(engine_for: Callable[[], object], frame: np.ndarray, runs: int, size: str, backend: str,
                precision: str) -> list[OpShare]:
    """Where a frame's network time goes, per operator type, largest first: `runs` frames through a fresh
    profiling engine after WARM_UP frames (left out of the trace: a new onnxruntime session's first runs fault in its
    memory); percentages sum to 100."""
    engine = engine_for()
    for _ in range(runs + WARM_UP):
        engine(frame)
    spent = engine.operator_time(skip_runs=WARM_UP)
    total = sum(spent.values()) or 1.0
    return [OpShare(size, backend, precision, op, us / 1000 / runs, 100 * us / total)
            for op, us in sorted(spent.items(), key=lambda kv: -kv[1])]


def parse_sizes(text: str) -> list[tuple[str, tuple[int, int]]]:
    from realtime.errors import UserError

    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item in SIZES:
            out.append((item, SIZES[item]))
        elif "x" in item and all(p.isdigit() for p in item.split("x", 1)):
            w, h = (int(p) for p in item.split("x", 1))
            out.append((item, (h, w)))
        else:
            raise UserError(f"--sizes {item}: use {', '.join(SIZES)} or WIDTHxHEIGHT")
    return out


def time_it(fn: Callable[[], object], min_runs: int, budget_s: float) -> tuple[float, int]:
    """Median seconds per call after one warm-up, at least `min_runs` calls or until `budget_s`."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return statistics.median(times), len(times)


def machine() -> dict[str, object]:
    import onnxruntime as ort
    import cv2

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, object] = {
        "cpu": cpu, "cores": __import__("os").cpu_count(), "platform": platform.platform(),
        "python": sys.version.split()[0], "onnxruntime": ort.__version__, "opencv": cv2.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def torch_stylise(width: int, device: str, fp16: bool, arch: str = "full",
                  blocks: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Our TransformerNet in PyTorch eager, with the same BGR uint8 frame in and out."""
    import torch

    from realtime.training.transformer import TransformerNet, defaults

    blocks = defaults(arch)[1] if blocks is None else blocks
    net = TransformerNet(width=width, blocks=blocks, arch=arch).eval().to(device)
    dtype = torch.float16 if fp16 else torch.float32
    net = net.to(dtype)

    def run(frame: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(frame).to(device).permute(2, 0, 1).flip(0).unsqueeze(0).to(dtype)
            y = net(x).clamp(0, 255).round().to(torch.uint8)[0].flip(0).permute(1, 2, 0).contiguous()
            return y.cpu().numpy()

    return run


def run_bench(models: list[tuple[str, Path]], sizes: list[tuple[str, tuple[int, int]]], devices: list[str],
              min_runs: int, budget_s: float, pytorch: bool, notify: Callable[[str], None],
              on_row: Callable[[Row], None], threads: int | None = None,
              on_profile: Callable[[list[OpShare]], None] | None = None) -> list[Row]:
    """The timed rows; with `on_profile`, each size's per-operator split of the engine as frames meet it
    (uint8 path) too, on a separate profiling engine so the trace costs no timed row anything."""
    import importlib.util

    from realtime.engine.build import EngineOptions, Runtime

    rows: list[Row] = []
    rng = np.random.default_rng(0)
    width, arch, blocks = None, "full", None
    for precision, path in models:
        for device in devices:
            runtime = Runtime(EngineOptions(device=device, net="full", int8=False, threads=threads), notify)
            engine = runtime.engine(path)
            if engine.device != device:
                continue
            if width is None:
                meta = engine.info.metadata
                width = int(meta.get("realtime.width", "0") or 0)
                arch = meta.get("realtime.arch", "full")
                blocks = int(meta["realtime.blocks"]) if meta.get("realtime.blocks") else None
            engines = [engine]
            if engine.io == "uint8":  # the same network through the float path, for the comparison
                engines.append(runtime.engine(path, uint8_io=False))
            for label, (h, w) in sizes:
                frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                for eng in engines:
                    sec, n = time_it(lambda: eng(frame), min_runs, budget_s)
                    net_sec, _ = time_it(eng.network_only(frame), min_runs, budget_s)
                    row = Row(label, f"onnxruntime-{eng.device}", precision, sec * 1000, 1 / sec, n, eng.io,
                              net_sec * 1000, max(0.0, sec - net_sec) * 1000)
                    rows.append(row)
                    on_row(row)
                if on_profile is not None:
                    on_profile(profile_ops(lambda: runtime.engine(path, quiet=True, profile=True), frame, min_runs,
                                           label, f"onnxruntime-{engine.device}", precision))
    if pytorch and width and importlib.util.find_spec("torch") is None:
        notify("PyTorch is not installed: timing onnxruntime only (pip install 'realtime-style[train]' adds it)")
    elif pytorch and width:
        import torch

        for device in devices:
            if device == "cuda" and not torch.cuda.is_available():
                continue
            for fp16 in ([False, True] if device == "cuda" else [False]):
                fn = torch_stylise(width, device, fp16, arch, blocks)
                for label, (h, w) in sizes:
                    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                    sec, n = time_it(lambda: fn(frame), min_runs, budget_s)
                    row = Row(label, f"pytorch-eager-{device}", "fp16" if fp16 else "fp32", sec * 1000, 1 / sec, n)
                    rows.append(row)
                    on_row(row)
    return rows


def ratios(rows: list[Row]) -> dict[str, float]:
    """onnxruntime fps / PyTorch eager fps per size and device, fp32."""
    out = {}
    for r in rows:
        if r.backend.startswith("onnxruntime") and r.precision == "fp32" and r.io != "float":
            device = r.backend.split("-")[-1]
            ref = [p for p in rows if p.backend == f"pytorch-eager-{device}" and p.size == r.size and p.precision == "fp32"]
            if ref:
                out[f"{r.size} {device}"] = round(r.fps / ref[0].fps, 2)
    return out


def report(rows: list[Row], style: str, command: str, operators: list[OpShare] | None = None) -> dict[str, object]:
    extra = {"operators": [asdict(o) for o in operators]} if operators is not None else {}
    return {
        "style": style,
        "command": command,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "results": [asdict(r) for r in rows],
        "onnxruntime_over_pytorch_fps": ratios(rows),
        **extra,
    }


def write_json(path: Path, data: dict[str, object]) -> None:
    from realtime.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))
