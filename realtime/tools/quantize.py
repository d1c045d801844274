"""Static int8 quantisation (QDQ) of an exported fp32 style network, for CPUs with fast int8 dot products.

Only the convolutions are quantised (uint8 activations, int8 weights in 7 bits per output channel, ranges
calibrated by min/max on real frames); instance normalisation, padding, resizing and the final clip stay
float32, and the file still takes and returns float32 RGB 0-255, so every caller feeds the same tensors.
Quantising the other ops as well measured no faster here and a little further from fp32.

onnxruntime's `quant_pre_process` is not run: its symbolic shape inference labels the padded tensors with
the input's height and width (onnxruntime then warns of buffer shape mismatches at sizes that are not a
multiple of 4), its optimisation pass folds one multiply and adds onnxruntime-only opset imports, and
neither changed the quantised output on our graphs. The exported graph already carries its shapes.

The calibration frames come from the sample clip shipped in the package unless `calibration` names a
folder of photos or another video; a few frames of the same source, never calibrated on, check the result
against fp32 (PSNR of the final uint8 images) before the file is moved into place.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from realtime.errors import UserError
from realtime.samples import BUNNY

SAMPLE_CLIP = BUNNY
CALIBRATION_FRAMES = 32
CHECK_FRAMES = 4
LONG_SIDE = 640  # frames larger than this are shrunk to it: the size the CPU engine is used at
MIN_PSNR_DB = 25.0  # held-out frames of the calibration clip measure 35-36 dB, other footage 24-37 (looks the same)
QUANTISED_OPS = ("Conv",)
# Weights are quantised to 7 bits (reduce_range): on x86 CPUs without VNNI onnxruntime multiplies uint8 by
# int8 with VPMADDUBSW, whose 16-bit sums saturate with full 8-bit weights. On a 2-core AVX2-only EPYC the
# shipped mosaic's copy read 22.8-23.5 dB against fp32 with 8-bit weights and 31.8-32.2 dB with 7; a file
# may be made on one CPU and run on another, so every copy is made the way that is safe on all of them.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"}


@dataclass
class QuantizeReport:
    path: Path
    source: Path
    calibration: str
    calibration_frames: int
    quantised_convs: int
    convs: int
    psnr_db: list[float] = field(default_factory=list)  # int8 vs fp32 on the held-out check frames

    def line(self) -> str:
        worst, mean = min(self.psnr_db), float(np.mean(self.psnr_db))
        return (f"wrote {self.path} (int8 QDQ, {self.quantised_convs}/{self.convs} convs, calibrated on "
                f"{self.calibration_frames} frames of {self.calibration}); PSNR vs fp32 on "
                f"{len(self.psnr_db)} other frames: min {worst:.1f} dB, mean {mean:.1f} dB")


def int8_path(fp32_path: Path | str) -> Path:
    """NAME.onnx -> NAME.int8.onnx, the name the style finder looks for beside a style."""
    path = Path(fp32_path)
    return path.with_name(f"{path.stem}.int8.onnx")


def _spread(count: int, wanted: int) -> list[int]:
    """`wanted` indices spread evenly over range(count) (all of them when there are fewer)."""
    if count <= wanted:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, wanted)})


def _split(items: list, calibrate: int, check: int) -> tuple[list, list]:
    """Evenly spread calibration and check items that never overlap (unless there are too few)."""
    chosen = [items[i] for i in _spread(len(items), calibrate + check)]
    if len(chosen) <= check:
        return chosen, chosen
    check_at = set(_spread(len(chosen), check + 2)[1:-1]) if len(chosen) > check + 2 else set(range(check))
    held = [x for i, x in enumerate(chosen) if i in check_at]
    return [x for i, x in enumerate(chosen) if i not in check_at][:calibrate], held


def _shrink(frame: np.ndarray, long_side: int) -> np.ndarray:
    from realtime.media.images import resize_long_side

    return resize_long_side(frame, long_side) if max(frame.shape[:2]) > long_side else frame


def _video_frames(path: Path, calibrate: int, check: int, long_side: int) -> tuple[list, list]:
    """Frames spread over the whole clip: count them first (demux only), then decode, keeping the picks."""
    import av

    from realtime.tools.evaluate import read_frames

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserError(f"--calibration {path}: has no video stream; give a folder of photos or a video")
            total = sum(1 for packet in container.demux(video=0) if packet.size)
    except (av.error.FFmpegError, OSError) as exc:
        raise UserError(f"--calibration {path}: cannot open this video ({exc})") from exc
    calib_idx, check_idx = _split(list(range(total)), calibrate, check)
    wanted = set(calib_idx) | set(check_idx)
    picked: dict[int, np.ndarray] = {}
    for i, frame in enumerate(read_frames(path, long_side=long_side)):
        if i in wanted:
            picked[i] = frame
    calib = [picked[i] for i in calib_idx if i in picked]
    check_frames = [picked[i] for i in check_idx if i in picked]
    if not calib or not check_frames:
        raise UserError(f"--calibration {path}: no frames could be decoded; give a folder of photos or another video")
    return calib, check_frames


def _photo_frames(folder: Path, calibrate: int, check: int, long_side: int) -> tuple[list, list]:
    from realtime.media import images
    from realtime.training.photos import find_photos

    if not folder.is_dir():
        raise UserError(f"--calibration {folder}: not found; give a folder of photos or a video file")
    try:
        photos = find_photos(folder)
    except UserError:
        raise UserError(f"--calibration {folder}: no JPEG or PNG photos in this folder; give a folder of a few "
                        f"dozen typical photos, or leave --calibration out to use the bundled sample clip") from None
    calib, check_paths = _split(photos, calibrate, check)

    def read(path: Path) -> np.ndarray:
        return _shrink(images.read_bgr(path, "calibration photo"), long_side)

    return [read(p) for p in calib], [read(p) for p in check_paths]


def calibration_frames(source: Path | None, calibrate: int = CALIBRATION_FRAMES, check: int = CHECK_FRAMES,
                       long_side: int = LONG_SIDE) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """BGR uint8 frames to calibrate on, others to check with, and a description of where they came from."""
    if calibrate < 1:
        raise UserError(f"{calibrate} calibration frames: use at least 1 (a few dozen is typical)")
    source = Path(source) if source is not None else SAMPLE_CLIP
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        calib, held = _video_frames(source, calibrate, check, long_side)
    elif source.is_file():
        raise UserError(f"--calibration {source}: give a folder of photos or a video file ({', '.join(sorted(VIDEO_SUFFIXES))})")
    else:
        calib, held = _photo_frames(source, calibrate, check, long_side)
    if held:  # one check frame at an odd size, so the graph's own padding is exercised in int8 too
        last = held[-1]
        held[-1] = last[: last.shape[0] - 1 - last.shape[0] % 2, : last.shape[1] - 1 - last.shape[1] % 2]
    return calib, held, source.name


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _reader(engine, frames: list[np.ndarray]):
    """A CalibrationDataReader feeding `frames` exactly as the engine would (its I/O convention)."""
    from onnxruntime.quantization import CalibrationDataReader

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.queue = list(frames)

        def get_next(self) -> dict[str, np.ndarray] | None:
            if not self.queue:
                return None
            return {engine.info.input_name: engine.preprocess(self.queue.pop(0))[0]}

    return Frames()


def _conv_counts(proto) -> tuple[int, int, set[str]]:
    """(convs, convs whose weights arrive through DequantizeLinear, op types in the graph)."""
    produced_by = {out: node.op_type for node in proto.graph.node for out in node.output}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    quantised = sum(1 for n in convs if produced_by.get(n.input[1]) == "DequantizeLinear")
    return len(convs), quantised, {n.op_type for n in proto.graph.node}


@contextlib.contextmanager
def _without_preprocess_advice() -> Iterator[None]:
    """Hide onnxruntime's advice to run quant_pre_process, which is left out on purpose (module notes)."""
    def keep(record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def quantize(source: Path | str, out: Path | str, calibration: Path | str | None = None,
             frames: int = CALIBRATION_FRAMES, per_channel: bool = True, min_psnr: float = MIN_PSNR_DB) -> QuantizeReport:
    """Quantise the fp32 ONNX file `source` into `out`, check it against fp32, then move it into place."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from realtime.engine.build import EngineOptions, open_engine
    from realtime.files import atomic_path, check_output_path

    source, out = Path(source), Path(out)
    if out.suffix != ".onnx":
        raise UserError(f"{out}: the int8 output must end in .onnx")
    if out.exists() and source.exists() and out.resolve() == source.resolve():
        raise UserError(f"{out}: the int8 output would overwrite its fp32 source; choose another name")
    check_output_path(out)
    fp32 = open_engine(Path(source), EngineOptions(device="cpu", net="full", int8=False))
    proto = onnx.load(str(source))
    if fp32.info.precision != "fp32" or "QuantizeLinear" in _conv_counts(proto)[2]:
        raise UserError(f"{source}: is {fp32.info.precision if fp32.info.precision != 'fp32' else 'already quantised'}; "
                        f"quantise the fp32 export (written without --fp16)")
    calib, held, described = calibration_frames(Path(calibration) if calibration is not None else None, frames)
    with atomic_path(out) as tmp, _without_preprocess_advice():
        quantize_static(proto, str(tmp), _reader(fp32, calib), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(QUANTISED_OPS), per_channel=per_channel,
                        reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        result = onnx.load(str(tmp))
        convs, quantised, ops = _conv_counts(result)
        if not quantised or not {"QuantizeLinear", "DequantizeLinear"} <= ops:
            raise UserError(f"{source}: onnxruntime quantised none of its convolutions; not written")
        meta = {p.key: p.value for p in result.metadata_props if p.key != "onnx.infer"}
        meta["realtime.precision"] = "int8"
        meta["realtime.quantization"] = (
            f"onnxruntime {ort.__version__} quantize_static, QDQ, uint8 activations, int8 weights in 7 bits "
            f"{'per channel' if per_channel else 'per tensor'}, ops {','.join(QUANTISED_OPS)}, min/max "
            f"calibration on {len(calib)} frames of {described}")
        del result.metadata_props[:]
        for key, value in meta.items():
            entry = result.metadata_props.add()
            entry.key, entry.value = key, value
        result.producer_name = "realtime"
        onnx.checker.check_model(result)
        onnx.save_model(result, str(tmp))
        int8 = open_engine(Path(tmp), EngineOptions(device="cpu", net="full", int8=False))
        scores = [psnr(fp32(frame), int8(frame)) for frame in held]
        if min(scores) < min_psnr:
            raise UserError(f"{source}: the int8 result differs from fp32 too much (PSNR {min(scores):.1f} dB, "
                            f"limit {min_psnr:.0f} dB on frames of {described}); not written. Keep the fp32 file, "
                            f"or calibrate on frames like the ones you will stylise (--calibration)")
    return QuantizeReport(out, source, described, len(calib), quantised, convs, scores)
