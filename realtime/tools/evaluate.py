"""Measuring style transfer: VGG style/content losses on photos, temporal warping error on clips, fps.

Warping error after Lai et al. 2018 ("Learning Blind Video Temporal Consistency"): each stylised frame is
compared with the previous stylised frame warped onto it by the *input's* optical flow; pixels that fail a
forward-backward flow check (occlusions, flow errors) are masked out. The same number for the input clip
itself is the floor no stylisation can beat. Pairs across a scene cut (where most of the frame fails the
check) are skipped and counted, so a cut cannot dominate the mean.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import cv2
import numpy as np

from realtime.engine.flow import warp
from realtime.errors import UserError

Stylise = Callable[[np.ndarray], np.ndarray]  # BGR uint8 -> BGR uint8, same size

CUT_COVERAGE = 0.5  # a pair whose consistent pixels cover less than this is treated as a scene cut


@dataclass
class FlowPair:
    backward: np.ndarray  # for each pixel of frame t, where it was in frame t-1 (H, W, 2)
    mask: np.ndarray  # float32 (H, W): 1 where forward and backward flow agree


class FlowEstimator:
    """OpenCV's DIS optical flow with a forward-backward consistency mask."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self.dis = cv2.DISOpticalFlow_create(preset)

    def pair(self, prev_bgr: np.ndarray, cur_bgr: np.ndarray) -> FlowPair:
        prev = cv2.cvtColor(prev_bgr, cv2.COLOR_BGR2GRAY)
        cur = cv2.cvtColor(cur_bgr, cv2.COLOR_BGR2GRAY)
        backward = self.dis.calc(cur, prev, None)  # cur -> prev
        forward = self.dis.calc(prev, cur, None)  # prev -> cur
        # A pixel of cur that goes back to prev and forward again should land where it started.
        forward_there = warp(forward, backward)
        err = np.sum((backward + forward_there) ** 2, axis=2)
        bound = 0.01 * (np.sum(backward ** 2, axis=2) + np.sum(forward_there ** 2, axis=2)) + 0.5
        return FlowPair(backward, (err <= bound).astype(np.float32))


def model_labels(models: list[str]) -> list[str]:
    """A table label per model: the file's stem (or the style's name), widened to its folder where two files
    share a stem, so comparing a new network with the shipped one of the same name keeps both."""
    stems = [Path(m).stem if m.endswith(".onnx") else m for m in models]
    labels = [f"{Path(m).parent.name}/{stem}" if stems.count(stem) > 1 and m.endswith(".onnx") else stem
              for m, stem in zip(models, stems)]
    return [label if labels.count(label) == 1 else m for m, label in zip(models, labels)]


def pair_error(prev_out: np.ndarray, cur_out: np.ndarray, pair: FlowPair) -> float:
    """Masked mean squared difference, colours in 0-1."""
    warped = warp(prev_out.astype(np.float32) / 255.0, pair.backward)
    diff = np.sum((cur_out.astype(np.float32) / 255.0 - warped) ** 2, axis=2)
    return float(np.sum(diff * pair.mask) / max(float(pair.mask.sum()), 1.0))


@dataclass
class TemporalResult:
    warping_error: float
    input_warping_error: float
    pairs: int
    skipped_cuts: int
    frames: int
    fps: float
    post_ms: float = 0.0  # per frame, for a post-step such as the stabiliser
    per_pair: list[float] = field(default_factory=list)


def read_frames(path: Path, max_frames: int | None = None, long_side: int | None = None) -> Iterator[np.ndarray]:
    """Decoded BGR frames of a clip (optionally shrunk so the long side is `long_side`)."""
    import av

    from realtime.errors import UserError
    from realtime.media.video import frame_to_bgr

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise UserError(f"{path}: cannot open this video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise UserError(f"{path}: has no video stream")
        count = 0
        for frame in container.decode(video=0):
            size = None
            if long_side and max(frame.width, frame.height) > long_side:
                s = long_side / max(frame.width, frame.height)
                size = (round(frame.width * s), round(frame.height * s))
            yield frame_to_bgr(frame, size)
            count += 1
            if max_frames and count >= max_frames:
                return


def temporal(frames: Iterable[np.ndarray], stylise: Stylise) -> TemporalResult:
    """Warping error of `stylise` over consecutive frames, beside the input's own."""
    return temporal_variants(frames, stylise, {})["per-frame"]


PostStep = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (input frame, stylised) -> final frame


def temporal_variants(frames: Iterable[np.ndarray], stylise: Stylise,
                      post: dict[str, PostStep]) -> dict[str, TemporalResult]:
    """Warping error of `stylise` ("per-frame") and of each post-step applied to its output (e.g. the
    run-time stabiliser), from one pass of inference; a post-step's fps counts its own time too and its
    `post_ms` is that time alone."""
    flow = FlowEstimator()
    names = ["per-frame", *post]
    prev_in = None
    prev_out: dict[str, np.ndarray] = {}
    errors: dict[str, list[float]] = {n: [] for n in names}
    floor: list[float] = []
    spent = {n: 0.0 for n in names}
    cuts = count = 0
    for frame in frames:
        t0 = time.perf_counter()
        outs = {"per-frame": stylise(frame)}
        spent["per-frame"] += time.perf_counter() - t0
        for name, step in post.items():
            t0 = time.perf_counter()
            outs[name] = step(frame, outs["per-frame"])
            spent[name] += time.perf_counter() - t0
        count += 1
        if prev_in is not None:
            pair = flow.pair(prev_in, frame)
            if pair.mask.mean() < CUT_COVERAGE:
                cuts += 1
            else:
                floor.append(pair_error(prev_in, frame, pair))
                for name in names:
                    errors[name].append(pair_error(prev_out[name], outs[name], pair))
        prev_in, prev_out = frame, outs
    results = {}
    for name in names:
        busy = spent["per-frame"] + (spent[name] if name != "per-frame" else 0.0)
        fps = count / busy if busy else 0.0
        post_ms = 1000 * spent[name] / count if name != "per-frame" and count else 0.0
        if not errors[name]:
            results[name] = TemporalResult(float("nan"), float("nan"), 0, cuts, count, fps, post_ms=post_ms)
        else:
            results[name] = TemporalResult(float(np.mean(errors[name])), float(np.mean(floor)), len(floor), cuts,
                                           count, fps, post_ms=post_ms, per_pair=errors[name])
    return results


def cie_lab(bgr: np.ndarray) -> np.ndarray:
    """CIE L*a*b* of a uint8 BGR image (L* 0-100), the space of the colour figures below."""
    return cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)


def lightness_contrast(bgr: np.ndarray) -> float:
    """Standard deviation of CIE L* (0-100): a pale, washed-out result scores low whatever its style loss."""
    return float(cie_lab(bgr)[..., 0].std())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5), averaged over channels."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = a.astype(np.float64), b.astype(np.float64)
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())


def likeness(outputs: dict[str, list[np.ndarray]], teacher: str) -> dict[str, dict[str, float]]:
    """Mean PSNR and SSIM of every model's outputs against the teacher's, photo by photo."""
    return {name: {"psnr": float(np.mean([psnr(o, t) for o, t in zip(outs, outputs[teacher])])),
                   "ssim": float(np.mean([ssim(o, t) for o, t in zip(outs, outputs[teacher])]))}
            for name, outs in outputs.items() if name not in (teacher, "photo")}


def colourfulness(bgr: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003): spread plus mean of the opponent channels rg and yb, 0-255 units."""
    b, g, r = (bgr[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def lab_cells(photo_bgr: np.ndarray, out_bgr: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """CIE Lab of the photo and of the output (scaled to the photo's size first), averaged over block x block
    cells: the common ground of colour_kept and shading_kept, free of the detail a style repaints."""
    if out_bgr.shape[:2] != photo_bgr.shape[:2]:
        out_bgr = cv2.resize(out_bgr, photo_bgr.shape[1::-1], interpolation=cv2.INTER_AREA)
    h, w = photo_bgr.shape[:2]
    size = (max(1, w // block), max(1, h // block))
    return tuple(cv2.resize(cie_lab(bgr), size, interpolation=cv2.INTER_AREA).astype(np.float64)
                 for bgr in (photo_bgr, out_bgr))  # type: ignore[return-value]


def colour_kept(photo_bgr: np.ndarray, out_bgr: np.ndarray, block: int = 16) -> float:
    """How much of each region's own colour the stylised image keeps, -1..1 (1: every block's chroma as in
    the photo; 0: grey, or hues unrelated to the photo's; below 0: opposite hues).

    The figure that tells an anchor from a network that repaints every object in the painting's palette
    (a red door turned slate blue), which colourfulness alone cannot: both can be equally colourful.
    Per block x block cell, the CIE a*b* chroma of the output is compared with the photo's: the cosine of
    the hue angle, times the output's chroma as a share of the photo's (capped at 1), weighted by the
    photo's chroma, so grey areas of the photo have no say.
    """
    p, o = (cells[..., 1:].reshape(-1, 2) for cells in lab_cells(photo_bgr, out_bgr, block))
    p_len, o_len = np.linalg.norm(p, axis=1), np.linalg.norm(o, axis=1)
    if p_len.sum() < 1e-6:
        return 0.0
    cos = (p * o).sum(axis=1) / np.maximum(p_len * o_len, 1e-9)
    share = np.minimum(o_len / np.maximum(p_len, 1e-9), 1.0)
    return float((p_len * cos * share).sum() / p_len.sum())


def shading_kept(photo_bgr: np.ndarray, out_bgr: np.ndarray, block: int = 16) -> float:
    """How much of the photo's layout of light and dark the stylised image keeps, -1..1: the correlation of
    CIE L* averaged over block x block cells (1: every region as much lighter or darker than the rest as in
    the photo, whatever the overall tone; 0: unrelated).

    What makes a stylised photo readable at a glance: over the 24 Kodak photos at 512 px pytorch/examples'
    mosaic keeps 0.63, an earlier mosaic of ours, whose pale glass lifted dark objects to the wall's lightness,
    0.44 (benchmarks/results/colour_kept.json).
    """
    p, o = (cells[..., 0].ravel() for cells in lab_cells(photo_bgr, out_bgr, block))
    p, o = p - p.mean(), o - o.mean()
    spread = np.sqrt((p * p).sum() * (o * o).sum())
    return float((p * o).sum() / spread) if spread > 1e-9 else 0.0


def contact_sheet(rows: list[list[np.ndarray]], labels: list[str], cell: int = 256) -> np.ndarray:
    """A grid: one row per photo, one column per label (first column the photo itself)."""
    def fit(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        s = cell / max(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        canvas = np.full((cell, cell, 3), 255, np.uint8)
        y, x = (cell - img.shape[0]) // 2, (cell - img.shape[1]) // 2
        canvas[y:y + img.shape[0], x:x + img.shape[1]] = img
        return canvas

    header = np.full((28, cell * len(labels), 3), 255, np.uint8)
    for i, label in enumerate(labels):
        cv2.putText(header, label[:28], (i * cell + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    body = [np.hstack([fit(img) for img in row]) for row in rows]
    return np.vstack([header, *body])


def photo_losses(stylisers: dict[str, Stylise], photos: list[Path], style_bgr: np.ndarray, size: int,
                 vgg=None) -> tuple[dict[str, dict[str, float]], dict[str, list[np.ndarray]]]:
    """Mean Gram style loss (relu1_1..relu5_1), content loss (relu4_2), L* contrast, colourfulness, colour
    kept and shading kept per model, plus its outputs.

    The same definition as Gatys mode, for every model alike (ours, the anchors, anyone's), with the style
    image scaled to the photos' long side. 'photo' (the unchanged photos) is always included as the base.
    """
    import torch

    from realtime.media import images
    from realtime.training.losses import GATYS_CONTENT, GATYS_STYLE, PerceptualLoss
    from realtime.training.vgg import load_features

    if vgg is None:
        vgg, _ = load_features(GATYS_STYLE + [GATYS_CONTENT])
    style = images.bgr_to_tensor(images.resize_long_side(style_bgr, size))
    loss = PerceptualLoss(vgg, style, GATYS_STYLE, GATYS_CONTENT, 1, 1, 0)
    all_models: dict[str, Stylise] = {"photo": lambda frame: frame, **stylisers}
    totals = {name: {"style": 0.0, "content": 0.0, "contrast": 0.0, "colourfulness": 0.0, "colour_kept": 0.0,
                   "shading_kept": 0.0} for name in all_models}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in all_models}
    for path in photos:
        photo = images.resize_long_side(images.read_bgr(path), size)
        content_feats = loss.content_features(images.bgr_to_tensor(photo))
        for name, fn in all_models.items():
            out = fn(photo)
            outputs[name].append(out)
            with torch.no_grad():
                feats = vgg(images.bgr_to_tensor(out))
                totals[name]["style"] += float(loss.style_loss_of(feats))
                totals[name]["content"] += float(loss.content_loss_of(feats, content_feats))
            totals[name]["contrast"] += lightness_contrast(out)
            totals[name]["colourfulness"] += colourfulness(out)
            totals[name]["colour_kept"] += colour_kept(photo, out)
            totals[name]["shading_kept"] += shading_kept(photo, out)
    means = {name: {k: v / len(photos) for k, v in vals.items()} for name, vals in totals.items()}
    return means, outputs


def measure(models: list[str], runtime, style_image: Path | None, photos: Path | None, clip: Path | None,
            size: int, clip_size: int, max_frames: int, stabilize: float, teacher: str | None,
            sheet: Path | None, notify: Callable[[str], None] = lambda msg: None):
    """What `realtime evaluate` measures, as (figures for JSON, a rich Table): the models' engines come from
    `runtime` (realtime.engine.build), each model's own file as given (no CPU-network swap)."""
    from rich.table import Table

    from realtime.engine.stabilize import Stabilizer
    from realtime.media import images

    engines: dict[str, Any] = {}
    teacher_label = f"teacher {Path(teacher).stem if teacher.endswith('.onnx') else teacher}" if teacher else None
    if len(set(models)) < len(models):
        raise UserError("a model is given twice: name each network once")
    if teacher_label:
        engines[teacher_label] = runtime.engine(teacher)
    for m, label in zip(models, model_labels(models)):
        engines[label] = runtime.engine(m)
    result: dict[str, Any] = {"models": {name: str(e.info.path) for name, e in engines.items()}}
    table = Table(title="realtime evaluate")
    table.add_column("model")
    losses: dict[str, dict[str, float]] = {}
    like: dict[str, dict[str, float]] = {}
    if photos is not None:
        from realtime.media.stills import collect_inputs

        files = collect_inputs([photos])
        losses, outputs = photo_losses(engines, files, images.read_bgr(style_image, "style image"), size)
        result["photos"] = {"folder": str(photos), "count": len(files), "size": size,
                            "style_image": str(style_image), "losses": losses}
        for col in ("style loss", "content loss", "L* contrast", "colourfulness", "colour kept", "shading kept"):
            table.add_column(col, justify="right")
        if teacher_label:
            like = likeness(outputs, teacher_label)
            result["photos"]["likeness_to_teacher"] = like
            table.add_column("PSNR vs teacher", justify="right")
            table.add_column("SSIM vs teacher", justify="right")
        if sheet is not None:
            names = list(outputs)
            images.write_bgr(sheet, contact_sheet([[outputs[n][i] for n in names] for i in range(len(files))], names))
    temporal_results: dict[str, TemporalResult] = {}
    steady = f"steady {stabilize:g}"
    if clip is not None:
        frames = list(read_frames(clip, max_frames, clip_size))
        for name, engine in engines.items():
            post = {steady: Stabilizer(stabilize)} if stabilize else {}
            for variant, t in temporal_variants(frames, engine, post).items():
                temporal_results[name if variant == "per-frame" else f"{name} + {variant}"] = t
        result["clip"] = {"path": str(clip), "frames": len(frames), "long_side": clip_size, "stabilize": stabilize,
                          "results": {n: {k: v for k, v in vars(t).items() if k != "per_pair"}
                                      for n, t in temporal_results.items()}}
        for col in ("warping error", "input floor", "fps") + (("steady ms",) if stabilize else ()):
            table.add_column(col, justify="right")
    names = list(engines) if clip is None else list(temporal_results)
    for name in (["photo"] if photos is not None else []) + names:
        row = [name]
        if photos is not None:
            keys = ("style", "content", "contrast", "colourfulness")
            row += ([f"{losses[name][k]:.1f}" for k in keys] + [f"{losses[name][k]:.2f}" for k in ("colour_kept", "shading_kept")]
                    if name in losses else [""] * (len(keys) + 2))
            if teacher_label:
                row += [f"{like[name]['psnr']:.2f}", f"{like[name]['ssim']:.3f}"] if name in like else ["", ""]
        if clip is not None:
            t = temporal_results.get(name)
            row += [f"{t.warping_error:.5f}", f"{t.input_warping_error:.5f}", f"{t.fps:.1f}"] if t else ["", "", ""]
            if stabilize:
                row.append(f"{t.post_ms:.1f}" if t and t.post_ms else "")
        table.add_row(*row)
    return result, table
