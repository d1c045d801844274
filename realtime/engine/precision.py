"""int8 or float on the CPU, chosen from a measurement on this CPU, made once per network and cached.

Where neither `--int8` nor `--no-int8` is given and a one-style network runs on the CPU provider
(realtime.engine.build.Runtime.engine):

- a CPU without fast int8 dot products (no VNNI, no AMX-INT8 in its flags) runs float; nothing is measured;
- otherwise the int8 copy is the one installed beside the network (NAME.int8.onnx), else one quantised once
  into the cache (realtime.tools.quantize, calibrated on the bundled sample clip as `export --int8` does).
  A copy that reads below MIN_PSNR_DB against float on the held-out frames of its calibration is refused,
  and the cache keeps why;
- float and int8 then run whole frames of the size class in alternating rounds for about MEASURE_SECONDS,
  and int8 is kept only where it is at least MIN_GAIN times as fast.

The choice is cached under cache_dir()/int8 (REALTIME_INT8_CACHE names another folder), one small JSON per
key: the network file's sha256, the CPU model and its int8 flags, the onnxruntime version and the size
class. REALTIME_INT8=off makes auto mean float with nothing measured (scripts, test suites).
`--int8` forces the copy (installed, else cached, quantised once), `--no-int8` float.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from realtime.errors import UserError

CACHE_ENV = "REALTIME_INT8_CACHE"
MODE_ENV = "REALTIME_INT8"
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # onnxruntime's fast uint8 x int8 dot products
# The CPU networks' copies measured (mosaic-, candy-, udnie-lite) read 28-40 dB against float on the held-out
# frames of the sample clip: mosaic-lite the lowest, its photos 24-27 dB, alike to the eye, its style loss
# within 4 % (docs/benchmarks.md, Integer inference); the mosaic's copy with 8-bit weights on an AVX2-only
# CPU, which saturates, read 22.8 dB.
MIN_PSNR_DB = 25.0
# int8 must beat float by this much: five repeats of the two-second measurement of mosaic-lite on a loaded
# 2-core Xeon spread over about 0.1 (0.88-0.95x at 640x480, 0.79-0.91x at 1280x720), and int8 costs a
# little quality, so a tie keeps float.
MIN_GAIN = 1.10
MEASURE_SECONDS = 2.0
SIZE_CLASSES = {"640x480": (640, 480), "1280x720": (1280, 720)}
SMALL_MAX_PIXELS = 532_000  # between 640x480 and 1280x720 (their geometric mean): up to it, frames time as 640x480
RECIPE = "conv-qdq-7bit-1"  # realtime.tools.quantize's settings: a new recipe makes new copies
CALIBRATION_FRAMES: int | None = None  # None: as many as `export --int8` takes (the tests take fewer)

VARIANTS = (".int8", ".fp16")  # NAME.int8.onnx, NAME.fp16.onnx run as they are
Notify = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def cache_folder() -> Path:
    from realtime.machine import cache_dir

    named = os.environ.get(CACHE_ENV)
    return Path(named).expanduser() if named else cache_dir() / "int8"


def auto_enabled() -> bool:
    """False when REALTIME_INT8=off: auto then means float, and nothing is measured."""
    value = os.environ.get(MODE_ENV, "auto").strip().lower()
    if value not in ("auto", "off", ""):
        raise UserError(f"{MODE_ENV}={value}: use auto (measure int8 against float once per network) or off (float)")
    return value != "off"


def fast_int8_flags() -> list[str]:
    """The CPU flags that make int8 worth measuring here ([] : float, nothing measured)."""
    from realtime.machine import cpu_flags

    flags = set(cpu_flags())
    return [f for f in INT8_FLAGS if f in flags]


def size_class(pixels: float | None) -> str:
    """The frame size a choice is measured at, for frames of `pixels` through the network (None: 640x480)."""
    return "640x480" if pixels is None or pixels <= SMALL_MAX_PIXELS else "1280x720"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(path: Path, data: dict) -> None:
    from realtime.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Copy:
    """An int8 copy of a network, or why there is none (`path` None)."""

    path: Path | None
    reason: str  # what it is ("installed ...", "cached ...") or why there is none
    psnr_db: list[float]
    refused: bool = False  # made, and refused for its quality (else, with no path: could not be made)

    def line(self, name: str) -> str:
        """The one line said when a copy was wanted and float runs instead."""
        return f"{name}: int8 copy {'refused' if self.refused else 'not made'} ({self.reason}); running float"


def int8_copy(model: Path, notify: Notify = _quiet, min_psnr: float = MIN_PSNR_DB, digest: str | None = None,
              doing: str = "making its int8 copy") -> Copy:
    """NAME.int8.onnx installed beside `model`, else the cached copy, else one quantised now into the cache
    and checked against float; refused below `min_psnr` dB. The figures are cached with the copy, and a
    refused copy's file is deleted."""
    import onnxruntime as ort

    from realtime.tools.quantize import int8_path, quantize

    installed = int8_path(model)
    if installed.is_file():
        return Copy(installed, f"installed ({installed.name})", [])
    digest = digest or sha256(model)
    folder = cache_folder() / "copies" / f"{digest[:20]}-{RECIPE}-ort{ort.__version__}"
    path, record_path = folder / f"{model.stem}.int8.onnx", folder / "copy.json"
    record = _read_json(record_path)
    passes = record is not None and not record.get("error") and min(record.get("psnr_db") or [0.0]) >= min_psnr
    if record is None or (passes and not path.is_file()):  # new, or a copy to make again
        from realtime.engine.frames import Engine
        from realtime.engine.session import Placement

        Engine(model, placement=Placement("cpu"), uint8_io=False)  # a file that is no style network: the user's error
        notify(f"{model.stem}: {doing} (once; cached in {folder.parent})")
        folder.mkdir(parents=True, exist_ok=True)
        record = {"network": str(model), "sha256": digest}
        try:
            frames = {"frames": CALIBRATION_FRAMES} if CALIBRATION_FRAMES else {}
            report = quantize(model, path, min_psnr=float("-inf"), **frames)  # the bar is applied below
            record |= {"psnr_db": [round(p, 2) for p in report.psnr_db],
                       "calibration": f"{report.calibration_frames} frames of {report.calibration}",
                       "quantised_convs": f"{report.quantised_convs}/{report.convs}"}
        except Exception as exc:  # noqa: BLE001 - a network the quantiser cannot take runs float, said
            record["error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        _write_json(record_path, record)
    if record.get("error"):
        path.unlink(missing_ok=True)
        return Copy(None, f"the quantiser failed: {record['error']}", [])
    scores = list(record.get("psnr_db") or [])
    if not scores or min(scores) < min_psnr:
        path.unlink(missing_ok=True)
        worst = min(scores, default=float("nan"))
        return Copy(None, f"PSNR {worst:.1f} dB against float on the held-out frames of its calibration, "
                          f"below {min_psnr:g} dB", scores, refused=True)
    return Copy(path, f"cached ({path.name})", scores)


def measure(fp32: Path, int8: Path, size: tuple[int, int], seconds: float = MEASURE_SECONDS) -> dict[str, float]:
    """Median ms per whole frame (w, h) = `size` of float and int8 on the CPU, in alternating runs for about
    `seconds` after one warm-up frame each (at least 3 runs each)."""
    from realtime.engine.frames import Engine
    from realtime.engine.session import Placement

    w, h = size
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    engines = {"fp32": Engine(fp32, placement=Placement("cpu")), "int8": Engine(int8, placement=Placement("cpu"))}
    times: dict[str, list[float]] = {name: [] for name in engines}
    for engine in engines.values():
        engine(frame)
    start = time.perf_counter()
    while min(len(t) for t in times.values()) < 3 or time.perf_counter() - start < seconds:
        for name, engine in engines.items():
            t0 = time.perf_counter()
            engine(frame)
            times[name].append(time.perf_counter() - t0)
        if len(times["fp32"]) >= 50:
            break
    return {f"{name}_ms": round(statistics.median(t) * 1000, 2) for name, t in times.items()} | {
        "runs": len(times["fp32"])}


def _key(digest: str, size: str) -> dict[str, str]:
    import onnxruntime as ort

    from realtime.machine import cpu_model

    return {"network_sha256": digest, "cpu": cpu_model(), "int8_flags": ",".join(fast_int8_flags()),
            "onnxruntime": ort.__version__, "size": size}


def choice_path(key: dict[str, str]) -> Path:
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_folder() / "choices" / f"{name}.json"


@dataclass
class Choice:
    """What auto runs: `path` (the float network or its int8 copy) and the one line that says why."""

    path: Path
    precision: str  # "int8" or "fp32"
    line: str  # "" when nothing needs saying
    measured: bool  # whether this call timed the two (False: from the cache, or nothing to time)
    record: dict | None = None


def choose(model: Path, pixels: float | None = None, notify: Notify = _quiet, min_psnr: float = MIN_PSNR_DB,
           seconds: float = MEASURE_SECONDS) -> Choice:
    """Float or int8 for `model` on this CPU at the size class of `pixels` (frame area through the network):
    from the cache, else measured now and cached; with the line to say (int8 chosen, a copy refused or not
    made, or float measured faster just now)."""
    model = Path(model)
    if not auto_enabled() or not fast_int8_flags() or model.stem.endswith(VARIANTS):
        return Choice(model, "int8" if model.stem.endswith(".int8") else "fp32", "", False)
    size = size_class(pixels)
    digest = sha256(model)
    key = _key(digest, size)
    path = choice_path(key)
    record = _read_json(path)
    measured = False
    if record is not None and record.get("min_psnr_db") != min_psnr:
        record = None  # judged against another bar
    if record is not None and record.get("choice") == "int8" and not Path(record.get("copy", "")).is_file():
        record = None  # its copy was removed: make it again
    if record is None:
        copy = int8_copy(model, notify, min_psnr, digest, "making its int8 copy and timing it against float on this CPU")
        record = {"key": key, "network": str(model), "min_psnr_db": min_psnr, "psnr_db": copy.psnr_db,
                  "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if copy.path is None:
            record |= {"choice": "fp32", "no_copy": copy.line(model.stem)}
        else:
            timed = measure(model, copy.path, SIZE_CLASSES[size], seconds)
            gain = timed["fp32_ms"] / timed["int8_ms"]
            record |= timed | {"copy": str(copy.path), "speedup": round(gain, 3), "min_gain": MIN_GAIN,
                               "choice": "int8" if gain >= MIN_GAIN else "fp32"}
            measured = True
        _write_json(path, record)
    name = model.stem
    if record.get("no_copy"):
        return Choice(model, "fp32", record["no_copy"], measured, record)
    gain = record["speedup"]
    if record["choice"] == "int8":
        line = (f"{name}: running int8 ({gain:.2f}x float at {size} on this CPU, measured once; --no-int8 for float)")
        return Choice(Path(record["copy"]), "int8", line, measured, record)
    line = (f"{name}: running float (its int8 copy ran {gain:.2f}x float at {size} on this CPU; "
            f"--int8 to force it)") if measured else ""
    return Choice(model, "fp32", line, measured, record)


def forced(model: Path, notify: Notify = _quiet, min_psnr: float = MIN_PSNR_DB) -> Path:
    """`--int8`: the installed or cached copy of `model` (quantised now when there is none); float, said,
    when the copy is refused."""
    model = Path(model)
    if model.stem.endswith(VARIANTS):
        return model
    copy = int8_copy(model, notify, min_psnr)
    if copy.path is None:
        notify(copy.line(model.stem))
        return model
    return copy.path
