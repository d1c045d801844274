"""Pilot for the multi-style network (realtime.multistyle): distil several shipped styles into one
conditional-instance-norm network, then judge each style against its own shipped network.

Three steps, each its own command:

    python benchmarks/multistyle_pilot.py cache --styles mosaic,pencil,candy --photos 300
    python benchmarks/multistyle_pilot.py train --width 16 --minutes 25
    python benchmarks/multistyle_pilot.py judge --runs w16,w32
    python benchmarks/multistyle_pilot.py ship --name gallery       # models/gallery.onnx and its card

With --cpu (cache and train), the same for the CPU copy (arch fast, width 12): the teachers are the shipped
NAME-lite networks, the start their convolutions and norms, and judge and ship see it from the checkpoint.

cache: each shipped NAME.onnx run once (onnxruntime, 1 thread) on N training photos, stored as uint8 .npy
under --cache (default /tmp/ms_cache; never commit it). Two targets per photo: the whole photo at its
native size (short side 288) and one fixed 256x256 crop, each the teacher's output ON THAT INPUT. A crop of
the whole-photo output is not a target: instance norm sees the whole scene, and the teacher's output on a
crop differs from the crop of its whole-photo output by 17-24 dB PSNR (mosaic, candy; 21-29 for pencil),
a ceiling below the 22 dB bar. A dozen more photos are cached for a validation curve. With --small, a third
target: the photo shrunk to a SMALL-px short side and cropped to SMALL x SMALL_LONG (landscape; a portrait
photo is transposed first), the size a 480-px frame has at `--scale 0.37`: a network that never saw one
draws a smeared border there that its teacher does not (the border check in tests/test_stabilize.py).

train: each step is either 2 whole photos of one shape or 4 of the cached 256-px crops (alternating; with
--small-every K, every Kth step is 8 of the small photos instead), each
paired with a style (one-hot weights, the styles taken in shuffled rounds so each gets its share); loss =
L1 + edge L1 to that style's teacher output (realtime.distill.distill_loss), optionally the chroma term.
bf16 autocast by default (fp32 weights; measured 1.5-2x faster on an AMX Xeon at 1 thread). Adam, lr
ramped up then cosine-decayed to lr/20 over the wall-clock budget (--minutes), 1 thread. Every
--eval-every seconds: PSNR per style against the teachers on the validation photos, logged with the step
and the seconds of training so far; the curve goes to benchmarks/results/multistyle_pilot_wW_curve.json
and the weights-only checkpoint to checkpoints/multistyle.pt (replaced as it goes; --out for a trial elsewhere).

judge: each style on 8 Kodak photos (never trained on) at 384 px long side, against its shipped network:
VGG style loss ratio (realtime.evaluate.photo_losses, the style image at the same size), L* contrast
ratio, PSNR against the shipped network's output; the start (before training) beside the trained network;
ms per 640x480 frame in onnxruntime with 1 thread, multi-style vs the single-style network of the same
width (shipped at 16; the shipped mosaic widened by realtime.widen at 32, same cost as any trained 32),
in alternating rounds, median; a contact sheet (photo | shipped | each width, for each style, 3 photos).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch

from realtime.media import images
from realtime.media.interrupts import DeferredInterrupt, StopSignals
from realtime.training import multistyle
from realtime.training.distill import GramMatch, chroma_error, distill_loss
from realtime.training.losses import TRAIN_STYLE
from realtime.training.vgg import load_features
from realtime.tools.evaluate import contact_sheet, photo_losses, psnr

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MODELS = ROOT / "models"
DATA = Path("/work/shared/data")
CROP = 256
SMALL, SMALL_LONG = 112, 176
VALIDATION = 12
EVAL_PHOTOS = [f"kodak24_kodim{i:02d}.jpg" for i in (1, 4, 7, 10, 13, 16, 19, 22)]
SHEET_PHOTOS = [1, 4, 6]  # indices into EVAL_PHOTOS: kodim04, 13, 19 (a face, a landscape, a scene)
EVAL_SIZE = 384


def teacher_name(style: str, arch: str) -> str:
    """The shipped network a multi-style network of `arch` copies each style from: NAME, or NAME-lite for the CPU copy."""
    return f"{style}-lite" if arch == "fast" else style


def start(styles: list[str], arch: str, width: int | None, base: str | None) -> multistyle.MultiStyleTransformer:
    """multistyle.from_shipped from each style's shipped network; a style whose copy is of another
    architecture (a lite4 NAME-lite) starts from the base's norms instead, its targets still its own copy's."""
    from realtime.training import checkpoint

    paths = {s: MODELS / f"{teacher_name(s, arch)}.onnx" for s in styles}
    base = base or styles[0]
    fits = {s for s, path in paths.items() if checkpoint.network(str(path)).arch == arch}
    return multistyle.from_shipped({s: paths[s] if s in fits else paths[base] for s in styles}, width, base=base)


def session(path: Path | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def to_uint8(out: np.ndarray) -> np.ndarray:
    return np.clip(out[0], 0, 255).round().astype(np.uint8)


def photo_list(data: Path, n: int, seed: int = 0) -> list[tuple[Path, np.ndarray]]:
    """n photos (uint8 RGB CHW) in a seeded random order, those too small for a CROP-px crop left out."""
    paths = sorted(data.glob("*.jpg"))
    random.Random(seed).shuffle(paths)
    chosen = []
    for path in paths:
        rgb = np.ascontiguousarray(images.read_bgr(path)[:, :, ::-1].transpose(2, 0, 1))
        if min(rgb.shape[1:]) >= CROP:
            chosen.append((path, rgb))
        if len(chosen) == n:
            break
    return chosen


# ----------------------------------------------------------------------------------------------- cache

def cache(args: argparse.Namespace) -> None:
    root = Path(args.cache)
    root.mkdir(parents=True, exist_ok=True)
    styles = args.styles.split(",")
    photos = photo_list(Path(args.data), args.photos + VALIDATION)
    rng, small_rng = np.random.default_rng(0), np.random.default_rng(1)  # the crops stay where they were
    crops = []
    t0 = time.time()
    for i, (_, rgb) in enumerate(photos):
        _, h, w = rgb.shape
        y, x = int(rng.integers(0, h - CROP + 1)), int(rng.integers(0, w - CROP + 1))
        crops.append((y, x))
        np.save(root / f"{i:04d}_full_photo.npy", rgb)
        np.save(root / f"{i:04d}_crop_photo.npy", np.ascontiguousarray(rgb[:, y:y + CROP, x:x + CROP]))
        if args.small:
            np.save(root / f"{i:04d}_small_photo.npy", small_photo(rgb, small_rng))
    (root / "photos.json").write_text(json.dumps({"photos": [p.name for p, _ in photos], "crops": crops,
                                                 "validation": VALIDATION}))
    for style in (teacher_name(s, "fast" if args.cpu else "full") for s in styles):
        s = session(MODELS / f"{style}.onnx")
        for i in range(len(photos)):
            for kind in ("full", "crop") + (("small",) if args.small else ()):
                target = root / f"{i:04d}_{kind}_{style}.npy"
                if target.is_file():
                    continue
                x = np.load(root / f"{i:04d}_{kind}_photo.npy")[None].astype(np.float32)
                np.save(target, to_uint8(s.run(None, {"input": x})[0]))
        print(f"{style}: cached {len(photos)} photos x {3 if args.small else 2} ({time.time() - t0:.0f} s so far)", flush=True)


def small_photo(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo (CHW) as a frame shrunk for a CPU: SMALL x SMALL_LONG, landscape, a random crop."""
    hwc = rgb.transpose(1, 2, 0)
    if hwc.shape[0] > hwc.shape[1]:
        hwc = hwc.transpose(1, 0, 2)
    h, w = hwc.shape[:2]
    f = SMALL / h
    if round(w * f) < SMALL_LONG:
        f = SMALL_LONG / w
    hwc = cv2.resize(np.ascontiguousarray(hwc), (max(SMALL_LONG, round(w * f)), max(SMALL, round(h * f))),
                     interpolation=cv2.INTER_AREA)
    y = int(rng.integers(0, hwc.shape[0] - SMALL + 1))
    x = int(rng.integers(0, hwc.shape[1] - SMALL_LONG + 1))
    return np.ascontiguousarray(hwc[y:y + SMALL, x:x + SMALL_LONG].transpose(2, 0, 1))


class Cache:
    """The cached photos and teacher outputs in memory, as uint8 tensors."""

    def __init__(self, root: Path, styles: list[str], small: bool = False):
        meta = json.loads((root / "photos.json").read_text())
        n = len(meta["photos"]) - meta["validation"]
        load = lambda i, kind, what: torch.from_numpy(np.load(root / f"{i:04d}_{kind}_{what}.npy"))  # noqa: E731
        self.train = {kind: [(load(i, kind, "photo"), [load(i, kind, s) for s in styles]) for i in range(n)]
                      for kind in ("full", "crop") + (("small",) if small else ())}
        self.validation = [(load(i, "full", "photo"), [load(i, "full", s) for s in styles])
                           for i in range(n, n + meta["validation"])]
        self.shapes: dict[tuple[int, ...], list[int]] = {}
        for i, (photo, _) in enumerate(self.train["full"]):
            self.shapes.setdefault(tuple(photo.shape), []).append(i)


# ----------------------------------------------------------------------------------------------- train

def lr_at(fraction: float, step: int, lr: float, ramp: int) -> float:
    """Ramp from lr/100 over `ramp` steps, then cosine over the wall-clock budget down to lr/20."""
    cosine = lr / 20 + (lr - lr / 20) * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))
    return cosine * min(1.0, 0.01 + step / ramp) if ramp else cosine


def validate(model: multistyle.MultiStyleTransformer, data: Cache) -> list[float]:
    model.eval()
    scores = [[] for _ in model.styles]
    with torch.no_grad():
        for photo, targets in data.validation:
            x = photo[None].float()
            for s, target in enumerate(targets):
                out = model(x, model.one_hot(s)).clamp(0, 255).round().to(torch.uint8)[0]
                scores[s].append(psnr(out.numpy(), target.numpy()))
    model.train()
    return [float(np.mean(v)) for v in scores]


def shipped_steps(path: str) -> int:
    import onnx

    meta = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    return int(meta["realtime.steps"])


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    styles = args.styles.split(",")
    t_load = time.time()
    arch = "fast" if args.cpu else "full"
    data = Cache(Path(args.cache), [teacher_name(s, arch) for s in styles], small=args.small_every > 0)
    model = start(styles, arch, args.width, args.base)
    done_steps, done_seconds = 0, 0.0  # from earlier sittings of the same run
    if args.resume:  # a checkpoint of the run, or the network it shipped (models/gallery.onnx holds every weight)
        resumed = multistyle.read_any(args.resume)
        model.load_state_dict(resumed.state_dict())
        done_steps = shipped_steps(args.resume) if args.resume.endswith(".onnx") else int(multistyle.load(args.resume)[1]["step"])
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    match = None
    if args.gram_weight > 0:
        vgg, _ = load_features(TRAIN_STYLE)
        match = GramMatch(vgg, TRAIN_STYLE, tuple(float(v) for v in args.gram_taps.split(",")))
    gram_errors: list[float] = []
    out = Path(args.out or ROOT / "checkpoints" / ("gallery-lite.pt" if args.cpu else "multistyle.pt"))  # the run's one named place
    out.parent.mkdir(parents=True, exist_ok=True)
    curve_path = RESULTS / f"multistyle_pilot_w{model.width}{args.tag}_curve.json"
    config = {k: v for k, v in vars(args).items() if k != "func"}
    curve = {"config": config, "styles": styles, "load_seconds": round(time.time() - t_load, 1), "points": []}
    if args.resume and curve_path.exists():  # the same run continues: its curve goes on
        earlier = json.loads(curve_path.read_text())
        points = [p for p in earlier["points"] if p["step"] <= done_steps]
        curve["points"] = points
        curve["sittings"] = earlier.get("sittings", [earlier["config"]]) + [config]
        done_seconds = points[-1]["train_seconds"] if points else 0.0
    budget = args.minutes * 60
    queue: list[int] = []

    def next_style() -> int:
        if not queue:
            queue.extend(rng.sample(range(len(styles)), len(styles)))
        return queue.pop()

    def record(step: int, seconds: float, losses: dict[str, list[float]]) -> None:
        step, seconds = done_steps + step, done_seconds + seconds
        point = {"step": step, "train_seconds": round(seconds, 1),
                 "val_psnr": dict(zip(styles, [round(v, 2) for v in validate(model, data)])),
                 "train_l1": {s: round(float(np.mean(v)), 3) for s, v in losses.items() if v}}
        if gram_errors:
            point["train_gram"] = round(float(np.mean(gram_errors)), 5)
            gram_errors.clear()
        curve["points"].append(point)
        curve["steps_per_second"] = round(step / seconds, 4) if seconds else None
        RESULTS.mkdir(parents=True, exist_ok=True)
        curve_path.write_text(json.dumps(curve, indent=1))
        multistyle.save(out, model, step, config)
        print(json.dumps(point), flush=True)

    if not args.resume:
        record(0, 0.0, {})
    step, spent, last_eval = 0, 0.0, 0.0
    losses: dict[str, list[float]] = {s: [] for s in styles}
    shapes = list(data.shapes.items())
    shape_weights = [len(v) for _, v in shapes]
    with StopSignals(), DeferredInterrupt() as stop:  # Ctrl-C or SIGTERM: finish the step, keep the weights
        while spent < budget and not stop.requested:
            t0 = time.perf_counter()
            if args.small_every and step % args.small_every == args.small_every - 1:  # frames shrunk for a CPU
                picks = [data.train["small"][i] for i in rng.sample(range(len(data.train["small"])), 8)]
            elif step % 2 == 0:  # whole photos of one shape
                _, pool = rng.choices(shapes, weights=shape_weights)[0]
                picks = [data.train["full"][i] for i in rng.sample(pool, min(2, len(pool)))]
            else:
                picks = [data.train["crop"][i] for i in rng.sample(range(len(data.train["crop"])), 4)]
            index = [next_style() for _ in picks]
            x = torch.stack([p for p, _ in picks]).float()
            target = torch.stack([t[s] for (_, t), s in zip(picks, index)]).float()
            w = torch.zeros(len(picks), len(styles))
            w[torch.arange(len(picks)), torch.tensor(index)] = 1.0
            for group in optimizer.param_groups:
                group["lr"] = lr_at(spent / budget, step, args.lr, args.ramp)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                y = model(x, w).float()
            parts = distill_loss(y, target)
            total = parts["l1"] + args.edge_weight * parts["edge"]
            if args.chroma_weight > 0:
                total = total + args.chroma_weight * chroma_error(y, target)
            if match is not None:  # on one random window shared by the batch: a local texture match, 1/4 the VGG cost
                size = min(args.gram_window, *y.shape[-2:])
                top, left = rng.randrange(y.shape[-2] - size + 1), rng.randrange(y.shape[-1] - size + 1)
                window = (..., slice(top, top + size), slice(left, left + size))
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                    gram_error = match(y[window], target[window])
                total = total + args.gram_weight * gram_error
                gram_errors.append(float(gram_error.detach()))
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            with torch.no_grad():
                per = (y.detach() - target).abs().mean(dim=(1, 2, 3))
            for s, v in zip(index, per.tolist()):
                losses[styles[s]].append(v)
            step += 1
            spent += time.perf_counter() - t0  # validation time is not training time
            if spent - last_eval >= args.eval_every or spent >= budget:
                record(step, spent, losses)
                losses = {s: [] for s in styles}
                last_eval = spent
        if stop.requested and spent - last_eval > 0:
            record(step, spent, losses)
            print(f"stopped ({stop.why}): weights at step {done_steps + step} kept in {out}", flush=True)


# ----------------------------------------------------------------------------------------------- judge

def stylise_with(s: ort.InferenceSession, weights: np.ndarray | None = None):
    def run(bgr: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1))[None].astype(np.float32)
        feed = {"input": x} if weights is None else {"input": x, multistyle.WEIGHTS_INPUT: weights}
        return np.ascontiguousarray(to_uint8(s.run(None, feed)[0]).transpose(1, 2, 0)[:, :, ::-1])
    return run


def frame_ms(runs: dict[str, tuple[ort.InferenceSession, dict]], rounds: int = 5, reps: int = 4) -> dict[str, float]:
    """Median ms per 640x480 frame, the candidates in alternating rounds so a busy moment hurts all alike."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    for s, feed in runs.values():
        s.run(None, feed)
    for _ in range(rounds):
        for name, (s, feed) in runs.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                s.run(None, feed)
            times[name].append((time.perf_counter() - t0) / reps * 1000)
    return {k: round(float(np.median(v)), 1) for k, v in times.items()}


def judge(args: argparse.Namespace) -> None:
    from realtime.tools.export import Clipped, _to_onnx
    from realtime.training.losses import GATYS_CONTENT, GATYS_STYLE
    from realtime.training.precision import cpu_model

    torch.set_num_threads(1)
    runs = args.runs.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="ms_judge_"))
    models: dict[str, multistyle.MultiStyleTransformer] = {}
    steps: dict[str, int] = {}
    curves: dict[str, dict] = {}
    styles: list[str] | None = None
    widths: dict[int, str] = {}  # each width: its first run (the speed test's multi-style file)
    for run in runs:
        model, payload = multistyle.load(Path(run) if run.endswith(".pt") else ROOT / "checkpoints" / f"{run}.pt")
        styles, arch = styles or model.styles, model.arch  # the runs judged together copy the same networks
        models[run], steps[run] = model, int(payload["step"])
        curve_file = RESULTS / f"multistyle_pilot_{run}_curve.json"
        curves[run] = json.loads(curve_file.read_text()) if curve_file.is_file() else {}
        if model.width not in widths:
            widths[model.width] = run
            base = payload["config"].get("base") or styles[0]
            first = f"w{model.width} start"
            models[first] = start(styles, model.arch, model.width, base)
            steps[first] = 0
    assert styles is not None
    sessions = {}
    for name, model in models.items():
        path = tmp / f"{name.replace(' ', '_')}.onnx"
        parity = multistyle.export_onnx(model, path, steps[name])
        print(f"{name}: exported, onnxruntime vs PyTorch {max(parity.values()):.2g}", flush=True)
        sessions[name] = session(path)
    vgg, _ = load_features(GATYS_STYLE + [GATYS_CONTENT])
    photos = [DATA / "eval" / p for p in EVAL_PHOTOS]
    results: dict[str, dict] = {}
    outputs_by_style = {}
    for s, style in enumerate(styles):
        weights = np.zeros((1, len(styles)), np.float32)
        weights[0, s] = 1.0
        stylisers = {"shipped": stylise_with(session(MODELS / f"{teacher_name(style, arch)}.onnx"))}
        stylisers.update({name: stylise_with(sess, weights) for name, sess in sessions.items()})
        style_bgr = images.read_bgr(DATA / "styles" / f"{style}.jpg")
        means, outputs = photo_losses(stylisers, photos, style_bgr, EVAL_SIZE, vgg=vgg)
        outputs_by_style[style] = outputs
        shipped = means["shipped"]
        results[style] = {"shipped": {k: round(v, 4) for k, v in shipped.items()}}
        for name in models:
            m = means[name]
            results[style][name] = {
                "style_loss_ratio": round(m["style"] / shipped["style"], 4),
                "contrast_ratio": round(m["contrast"] / shipped["contrast"], 4),
                "psnr_vs_shipped": round(float(np.mean([psnr(o, t) for o, t in zip(outputs[name], outputs["shipped"])])), 2),
                "psnr_min": round(float(np.min([psnr(o, t) for o, t in zip(outputs[name], outputs["shipped"])])), 2),
                **{k: round(v, 4) for k, v in m.items()},
            }
            r = results[style][name]
            r["passes"] = bool(r["style_loss_ratio"] <= 1.10 and abs(r["contrast_ratio"] - 1) <= 0.10
                               and r["psnr_vs_shipped"] >= 22.0)
            print(f"{style:8s} {name:9s} style x{r['style_loss_ratio']:.3f}  contrast x{r['contrast_ratio']:.3f}  "
                  f"{r['psnr_vs_shipped']:.1f} dB (min {r['psnr_min']:.1f})", flush=True)
    # Speed: each multi-style file against the single-style network of its width, at 640x480, 1 thread.
    frame = (np.random.default_rng(0).random((1, 3, 480, 640)) * 255).astype(np.float32)
    mosaic = MODELS / f"{teacher_name('mosaic', arch)}.onnx"
    own = multistyle.single_network(mosaic).width
    timed = {f"single w{own} (shipped {mosaic.stem})": (session(mosaic), {"input": frame})}
    for width, run in widths.items():
        if width != own:
            single = multistyle.single_network(mosaic, width)
            path = tmp / f"single_w{width}.onnx"
            import onnx
            onnx.save_model(_to_onnx(Clipped(single).eval(), 17), str(path))
            timed[f"single w{width}"] = (session(path), {"input": frame})
        weights = np.zeros((1, len(styles)), np.float32)
        weights[0, 0] = 1.0
        timed[f"multi w{width}"] = (sessions[run], {"input": frame, multistyle.WEIGHTS_INPUT: weights})
        mixed = np.full((1, len(styles)), 1.0 / len(styles), np.float32)
        timed[f"multi w{width} mixed"] = (sessions[run], {"input": frame, multistyle.WEIGHTS_INPUT: mixed})
    speed = frame_ms(timed)
    print(json.dumps(speed), flush=True)
    # Contact sheet: rows are photos, columns photo | for each style: shipped, then each width.
    shown = args.sheet_runs.split(",") if args.sheet_runs else runs
    labels = ["photo"] + [f"{st} {c}" for st in styles for c in ["shipped"] + shown]
    rows = []
    for p in SHEET_PHOTOS:
        row = [outputs_by_style[styles[0]]["photo"][p]]
        for st in styles:
            row += [outputs_by_style[st]["shipped"][p]] + [outputs_by_style[st][r][p] for r in shown]
        rows.append(row)
    sheet = contact_sheet(rows, labels, cell=args.cell)
    sheet_path = RESULTS / f"{args.report}_sheet.jpg"
    cv2.imwrite(str(sheet_path), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    model_name = fields.get("Model name") or cpu_model()
    flags = set(fields.get("Flags", "").split())
    report = {
        "what": "multi-style (conditional instance norm) pilot: each style against its own shipped network",
        "cpu": model_name, "cpu_family_model": f"{fields.get('CPU family')}/{fields.get('Model')}",
        "cpu_features": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags], "cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "threads": 1, "eval_photos": EVAL_PHOTOS, "eval_long_side": EVAL_SIZE,
        "bars": {"style_loss_ratio": "<= 1.10", "contrast_ratio": "within 10 %", "psnr_vs_shipped": ">= 22 dB",
                 "frame_ms": "within 10 % of the single-style network of the same width"},
        "steps": steps,
        "training": {k: {"steps_per_second": c.get("steps_per_second"), "config": c.get("config"),
                         "last": (c.get("points") or [None])[-1]} for k, c in curves.items()},
        "styles": results,
        "frame_ms_640x480": speed,
        "sheet": str(sheet_path.relative_to(ROOT)),
    }
    (RESULTS / f"{args.report}.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {RESULTS / (args.report + '.json')} and {sheet_path}")


# ----------------------------------------------------------------------------------------------- ship

def ship(args: argparse.Namespace) -> None:
    """The checkpoint as models/NAME.onnx with its card: the styles, the lineage and the judge's figures."""
    from realtime.training.precision import cpu_model

    model, payload = multistyle.load(args.checkpoint)
    step = int(payload["step"])
    curve_file = RESULTS / f"multistyle_pilot_w{model.width}{args.tag}_curve.json"
    curve = json.loads(curve_file.read_text()) if curve_file.is_file() else {}
    report_file = RESULTS / f"{args.report}.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    judged = {}
    for style, rows in (report.get("styles") or {}).items():
        row = rows.get(args.run)
        if row:
            judged[style] = {k: row[k] for k in ("style_loss_ratio", "contrast_ratio", "psnr_vs_shipped", "passes")}
    sittings = curve.get("sittings") or ([curve["config"]] if curve.get("config") else [])
    base = teacher_name(payload["config"].get("base", "mosaic"), model.arch)
    lineage = {
        "distilled_from": [f"{teacher_name(s, model.arch)}.onnx" for s in model.styles],
        "start": f"the shipped {base} network's convolutions, each style's own norms",
        "recipe": ("benchmarks/multistyle_pilot.py train: L1 + edge L1 to each style's network output on 300 training "
                   "photos (whole photos, 256-px crops and, with small_every, the photos shrunk to 112x176 as a CPU "
                   "runs frames at --scale 0.37), later sittings adding the Gram term of the VGG features of those "
                   "outputs; one-hot style weights in shuffled rounds, bf16, 1 thread"),
        "sittings": [{k: c.get(k) for k in ("lr", "minutes", "edge_weight", "gram_weight", "small_every")}
                     for c in sittings],
        "steps": step,
        "train_seconds": (curve.get("points") or [{}])[-1].get("train_seconds"),
        "cpu": cpu_model(),
        "validation_psnr_vs_each_network": (curve.get("points") or [{}])[-1].get("val_psnr"),
    }
    if judged:
        lineage["judged_on_8_kodak_photos"] = {"bars": "style loss <= 1.10x, contrast within 10 %, >= 22 dB",
                                               "styles": judged}
    out = MODELS / f"{args.name}.onnx"
    errors = multistyle.export_onnx(model, out, step=step, lineage=lineage)
    print(f"wrote {out} and {out.with_suffix('.json').name} (onnxruntime vs PyTorch {max(errors.values()):.2g})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("cache")
    p.add_argument("--styles", default="mosaic,pencil,candy")
    p.add_argument("--photos", type=int, default=300)
    p.add_argument("--data", default=str(DATA / "train"))
    p.add_argument("--cache", default="/tmp/ms_cache")
    p.add_argument("--small", action="store_true", help="also cache each photo shrunk to a CPU frame's size")
    p.add_argument("--cpu", action="store_true", help="the shipped CPU copies' outputs (NAME-lite), for the CPU copy")
    p.set_defaults(func=cache)
    p = sub.add_parser("train")
    p.add_argument("--styles", default="mosaic,pencil,candy")
    p.add_argument("--base", default="mosaic", help="the shipped network whose convolutions start the run")
    p.add_argument("--width", type=int, help="default: the shipped networks' own (16, or 12 with --cpu); wider is widened")
    p.add_argument("--cpu", action="store_true", help="the CPU copy: arch fast from the shipped NAME-lite networks")
    p.add_argument("--minutes", type=float, default=25)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ramp", type=int, default=30)
    p.add_argument("--edge-weight", type=float, default=1.0)
    p.add_argument("--chroma-weight", type=float, default=0.0)
    p.add_argument("--gram-weight", type=float, default=0.0, help="relative Gram error weight (distill's term)")
    p.add_argument("--gram-taps", default="1,1,1,8", help="relu1_1..relu4_1 weights of the Gram term")
    p.add_argument("--gram-window", type=int, default=128, help="px: the Gram term sees one window this size")
    p.add_argument("--small-every", type=int, default=0, help="every Kth step trains on the small photos (cache --small)")
    p.add_argument("--tag", default="", help="added to the checkpoint's and curve's names")
    p.add_argument("--eval-every", type=float, default=150, help="seconds of training between validations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16",
                   help="bf16 autocast for the training passes (about 1.5-2x faster with AMX); validation is fp32")
    p.add_argument("--cache", default="/tmp/ms_cache")
    p.add_argument("--out")
    p.add_argument("--resume")
    p.set_defaults(func=train)
    p = sub.add_parser("ship")
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "multistyle.pt"))
    p.add_argument("--name", default="gallery")
    p.add_argument("--tag", default="-12", help="the run's curve: multistyle_pilot_wW{tag}_curve.json")
    p.add_argument("--run", default="multistyle", help="the judge's name for the run")
    p.add_argument("--report", default="multistyle_gallery", help="the judge's results/REPORT.json")
    p.set_defaults(func=ship)
    p = sub.add_parser("judge")
    p.add_argument("--runs", default="multistyle", help="comma-separated checkpoints: checkpoints/RUN.pt, or paths to .pt files")
    p.add_argument("--sheet-runs", help="the runs the contact sheet shows (default: all)")
    p.add_argument("--cell", type=int, default=224)
    p.add_argument("--report", default="multistyle_pilot", help="results/REPORT.json and REPORT_sheet.jpg")
    p.set_defaults(func=judge)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
