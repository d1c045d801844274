"""Minutes to a new style on this CPU: `realtime train STYLE.jpg` timed end to end and judged on unseen photos.

`realtime train STYLE.jpg --init mosaic` against the same command from scratch, at a few step counts.

    python benchmarks/new_style.py the_scream --shared ../shared --steps 300,1000 \
        --out benchmarks/results/new_style_the_scream_xeon_amx.json

With --designs, the two ways to learn a painting from a multi-style network, at equal training time (--seconds,
default one minute and ten), on the starter photos (no --data, as a user types it):
  - norms: `--init GALLERY --tune norms`, only the norms' scales and shifts train (the style is a few KB);
  - whole: `--init GALLERY`, every weight trains;
both starting from the blend of the gallery's styles nearest the painting. The painting is one of the
gallery's own, so the gallery is first written without it (multistyle.without): the start has never held
that style's norms, though its convolutions were trained beside it. A design's steps for S seconds come from
a calibration run of the same schedule (--calibrate-steps), so the longer runs may share the machine; the
calibration and the shortest runs should have it to themselves. Judged on 8 Kodak photos beside the shipped
network of the style: the acceptance asks the short run's style loss to be at most 1.3x the long run's.

    python benchmarks/new_style.py the_scream --shared ../shared --designs \
        --out benchmarks/results/new_style_designs_the_scream.json

Each run is the top-level README's command as a user types it (`python -m realtime train`, default settings, so
`--precision auto`), timed from start to the written checkpoint: VGG loading, warm-up and finish
included. Run it on an idle machine; the two cores are the timing's. The networks are then judged like
the gallery (6 unseen Kodak photos at 512 px, `gallery.judged_photos`): style and content loss against
the style image, L* contrast, beside the mosaic they start from, the shipped network of the style and,
where there is one, its anchor. "vs shipped" is the style loss over the shipped network's (1.0: as close
to the painting's statistics as the gallery's network). A style loss alone flatters a pale network (the
unchanged photos often score below the mosaic), so the contrast and the sheet (`--sheet`) are what tell
whether the style is recognisable. Steps from scratch do not count its warm-up (200 steps without VGG).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from gallery import ANCHORS, judged_photos, write_sheet  # benchmarks/ is on the path when this script runs
from peek import stylise_fn
from realtime.tools import evaluate as ev
from realtime.media import images
from realtime.engine import Engine
from realtime.training.precision import cpu_has_native_bf16, cpu_model

REPO = Path(__file__).resolve().parents[1]


def timed_train(style_image: Path, data: Path | None, work: Path, steps: int, init: str | None,
                extra: tuple[str, ...] = ()) -> dict:
    """One `realtime train` run as a user starts it; its wall time, and the precision and device its model
    card records."""
    work.mkdir(parents=True, exist_ok=True)
    done = work / f"{style_image.stem}.json"
    if done.is_file() and json.loads(done.read_text()).get("steps") == steps and (work / "wall_seconds").is_file():
        card = json.loads(done.read_text())  # a rerun keeps the runs that finished (their timing was theirs)
        return {"init": init or "scratch", "steps": steps, "wall_seconds": float((work / "wall_seconds").read_text()),
                "train_seconds": card["train_seconds"], "init_mix": card["settings"].get("init_mix"),
                "device": card["device"], "precision": card["precision"], "checkpoint": work / f"{style_image.stem}.ckpt"}
    command = [sys.executable, "-m", "realtime", "train", str(style_image), *(["--data", str(data)] if data else []),
               "--name", style_image.stem, "--out-dir", str(work), "--steps", str(steps), "--preview-every", "0"]
    command += ["--init", init or "scratch", *extra]  # the default quick recipe starts from mosaic
    t = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if run.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{run.stderr[-2000:]}")
    checkpoint = work / f"{style_image.stem}.ckpt"
    (work / "wall_seconds").write_text(f"{seconds:.1f}")
    card = json.loads(checkpoint.with_suffix(".json").read_text())
    return {"init": init or "scratch", "steps": steps, "wall_seconds": round(seconds, 1),
            "train_seconds": card["train_seconds"], "init_mix": card["settings"].get("init_mix"),
            "device": card["device"], "precision": card["precision"], "checkpoint": checkpoint}


def record_figures(runs: list[dict], means: dict, style: str) -> float:
    """Each run's judged figures onto it; returns the shipped network's style loss (the "vs shipped" base)."""
    shipped = means[f"shipped {style}"]["style"]
    for r in runs:
        m = means[r["label"]]
        r.update({k: round(m[k], 2) for k in ("style", "content", "contrast", "colourfulness")})
        r["checkpoint"] = str(r["checkpoint"].name)
        r["style_vs_shipped"] = round(m["style"] / shipped, 2)
    return shipped


DESIGNS = {"norms": ("--tune", "norms"), "whole": ()}


def designs(args: argparse.Namespace, style_image: Path) -> None:
    """Both designs at each training time, judged beside the shipped network of the painting's style."""
    from realtime.training import multistyle

    args.work.mkdir(parents=True, exist_ok=True)
    gallery = args.work / f"gallery_without_{args.style}.onnx"
    full = multistyle.read_any(args.gallery)
    multistyle.export_onnx(multistyle.without(full, args.style), gallery, step=0)
    seconds = [float(v) for v in args.seconds.split(",")]
    runs = [judged_run(spec, style_image) for spec in args.judge_run]  # runs made before: judged, not retrained
    for design, extra in ({} if runs else DESIGNS).items():
        with paused(args.pause):
            probe = timed_train(style_image, None, args.work / f"{design}_calibrate", args.calibrate_steps,
                                str(gallery), extra)
        rate = args.calibrate_steps / probe["train_seconds"]
        print(f"{design}: {rate:.2f} steps/s over {args.calibrate_steps} steps (start {probe['init_mix']})", flush=True)
        for budget in seconds:
            steps = max(10, round(rate * budget))
            label = f"{design} {budget:g} s"
            print(f"training {label} ({steps} steps) ...", flush=True)
            with paused(args.pause if budget == min(seconds) else None):
                run = timed_train(style_image, None, args.work / label.replace(" ", "_"), steps, str(gallery), extra)
            runs.append({"label": label, "design": design, "budget_seconds": budget, "calibrated_steps_per_second":
                         round(rate, 3), **run})
            print(f"  {run['train_seconds']:.0f} s of training, {run['wall_seconds']:.0f} s in all", flush=True)

    stylisers = {"start (nearest blend)": Engine(gallery, device="cpu", mix=_mix(runs[0]["init_mix"]))}
    stylisers.update({r["label"]: stylise_fn(r["checkpoint"]) for r in runs})
    stylisers[f"shipped {args.style}"] = Engine(REPO / "models" / f"{args.style}.onnx", device="cpu")
    photos = judged_photos(args.shared, 8)
    means, outputs = ev.photo_losses(stylisers, photos, images.read_bgr(style_image), args.size)
    shipped = record_figures(runs, means, args.style)
    verdict = {}
    for design in dict.fromkeys(r["design"] for r in runs):
        mine = sorted((r for r in runs if r["design"] == design), key=lambda r: r["budget_seconds"])
        if len(mine) > 1:
            verdict[design] = {"short_over_long_style_loss": round(mine[0]["style"] / mine[-1]["style"], 2),
                               "bar": "<= 1.3"}
    print(f"\n{'model':<24} {'steps':>6} {'train s':>8} {'style':>8} {'content':>8} {'contrast':>9} {'vs shipped':>11}")
    for name, m in means.items():
        r = next((r for r in runs if r["label"] == name), None)
        timing = f"{r['steps']:>6} {r['train_seconds']:>8.0f}" if r else f"{'':>6} {'':>8}"
        print(f"{name:<24} {timing} {m['style']:>8.1f} {m['content']:>8.1f} {m['contrast']:>9.1f} {m['style'] / shipped:>11.2f}")
    for design, v in verdict.items():
        print(f"{design}: short run's style loss {v['short_over_long_style_loss']}x the long run's (bar 1.3x)")
    labels = list(outputs)
    sheet = args.sheet or args.out.with_name(args.out.stem + "_sheet.jpg")
    write_sheet(sheet, ev.contact_sheet([[outputs[n][i] for n in labels] for i in range(4)], labels, cell=256))
    result = {"style": args.style, "what": "norms-only against whole-network training from the gallery's nearest blend, "
              "the painting's own style taken out of the gallery first", "gallery": Path(args.gallery).name,
              "cpu": cpu_model(), "cores": os.cpu_count(), "native_bf16": cpu_has_native_bf16(),
              "torch": torch.__version__, "photos": [p.name for p in photos], "size": args.size,
              "training_photos": "the starter photos (no --data)", "runs": runs, "verdict": verdict,
              "figures": {k: {f: round(v, 2) for f, v in m.items()} for k, m in means.items()}, "sheet": sheet.name}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out} and {sheet}")


LOCK: Path | None = None  # --lock: held by whichever benchmark is timing on this machine


def judged_run(spec: str, style_image: Path) -> dict:
    """--judge-run "DESIGN SECONDS s=DIR": a `realtime train` run made before (its card says how) in DIR."""
    label, folder = spec.split("=", 1)
    design, budget = label.split()[0], float(label.split()[1])
    card = json.loads((Path(folder) / f"{style_image.stem}.json").read_text())
    settings = card["settings"]
    return {"label": label, "design": design, "budget_seconds": budget, "steps": card["steps"],
            "train_seconds": card["train_seconds"], "init_mix": settings.get("init_mix"), "tune": settings["tune"],
            "lr": settings["lr"], "lr_ramp": settings["lr_ramp"], "device": card["device"],
            "precision": card["precision"], "checkpoint": Path(folder) / f"{style_image.stem}.ckpt"}


@contextlib.contextmanager
def paused(pid: int | None):
    """The machine to ourselves for a timed run: the --lock file held (other benchmarks that take it wait)
    and a training job on the same cores stopped, always resumed."""
    with contextlib.ExitStack() as stack:
        if pid and LOCK:
            lock = stack.enter_context(open(LOCK, "a"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        if pid:
            os.kill(pid, signal.SIGSTOP)
            stack.callback(os.kill, pid, signal.SIGCONT)
        yield


def _mix(text: str | None) -> dict[str, float] | None:
    return {k: float(v) for k, v in (part.split(":") for part in text.split(","))} if text else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("style", help="a style in shared/data/styles, e.g. the_scream")
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--steps", default="300,1000", help="comma-separated step counts, each run from --init and from scratch")
    ap.add_argument("--init", default="mosaic", help="what the fine-tunes start from (a shipped name, .ckpt or .onnx)")
    ap.add_argument("--no-scratch", action="store_true", help="time only the fine-tunes")
    ap.add_argument("--work", type=Path, default=Path("/tmp/new_style"))
    ap.add_argument("--photos", type=int, default=6)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--out", type=Path, required=True, help="results JSON")
    ap.add_argument("--sheet", type=Path, default=None, help="contact sheet (default: next to --out)")
    ap.add_argument("--designs", action="store_true", help="norms-only against whole-network from a multi-style network")
    ap.add_argument("--gallery", type=Path, default=REPO / "models" / "gallery.onnx", help="with --designs: the multi-style network (.onnx or .pt)")
    ap.add_argument("--seconds", default="60,600", help="with --designs: training seconds per run")
    ap.add_argument("--pause", type=int, metavar="PID", help="with --designs: a training job to stop during the calibration and the shortest runs")
    ap.add_argument("--lock", type=Path, help="with --pause: a lock file held during the timed runs, shared with other benchmarks")
    ap.add_argument("--judge-run", action="append", default=[], metavar="'DESIGN SECONDS s=DIR'",
                    help="with --designs: judge a run made before (repeatable) instead of training")
    ap.add_argument("--calibrate-steps", type=int, default=60, help="with --designs: steps of the run that measures each design's rate")
    args = ap.parse_args()
    style_image = args.shared / "data" / "styles" / f"{args.style}.jpg"
    if not style_image.is_file():
        sys.exit(f"error: no style image {style_image}; pick a name from {style_image.parent}")
    if args.designs:
        global LOCK
        LOCK = args.lock
        designs(args, style_image)
        return

    runs = []
    for steps in (int(s) for s in args.steps.split(",")):
        for init in ([args.init] if args.no_scratch else [args.init, None]):
            label = f"{'init ' + Path(init).stem if init else 'scratch'} {steps}"
            print(f"training {label} ...", flush=True)
            runs.append({"label": label, **timed_train(style_image, args.shared / "data" / "train",
                                                       args.work / label.replace(" ", "_"), steps, init)})
            print(f"  {runs[-1]['wall_seconds']:.0f} s ({runs[-1]['precision']})", flush=True)

    init_onnx = REPO / "models" / f"{args.init}.onnx"
    stylisers = {f"{args.init} (start)": Engine(init_onnx, device="cpu")} if init_onnx.is_file() else {}
    stylisers.update({r["label"]: stylise_fn(r["checkpoint"]) for r in runs})
    stylisers[f"shipped {args.style}"] = Engine(REPO / "models" / f"{args.style}.onnx", device="cpu")
    anchor = ANCHORS.get(args.style)
    if anchor:
        stylisers["anchor"] = Engine(args.shared / "anchors" / anchor, device="cpu")
    photos = judged_photos(args.shared, args.photos)
    means, outputs = ev.photo_losses(stylisers, photos, images.read_bgr(style_image), args.size)

    shipped = record_figures(runs, means, args.style)
    print(f"\n{'model':<26} {'steps':>6} {'minutes':>8} {'style':>8} {'content':>8} {'contrast':>9} {'vs shipped':>11}")
    for name, m in means.items():
        r = next((r for r in runs if r["label"] == name), None)
        timing = f"{r['steps']:>6} {r['wall_seconds'] / 60:>8.1f}" if r else f"{'':>6} {'':>8}"
        print(f"{name:<26} {timing} {m['style']:>8.1f} {m['content']:>8.1f} {m['contrast']:>9.1f}"
              f" {m['style'] / shipped:>11.2f}")

    labels = list(outputs)
    sheet = args.sheet or args.out.with_name(args.out.stem + "_sheet.jpg")
    write_sheet(sheet, ev.contact_sheet([[outputs[n][i] for n in labels] for i in range(min(4, len(photos)))],
                                        labels, cell=320))
    result = {"style": args.style, "cpu": cpu_model(), "cores": os.cpu_count(),
              "native_bf16": cpu_has_native_bf16(), "torch": torch.__version__, "python": platform.python_version(),
              "photos": [p.name for p in photos], "size": args.size, "runs": runs,
              "figures": {k: {f: round(v, 2) for f, v in m.items()} for k, m in means.items()},
              "sheet": sheet.name}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out} and {sheet}")


if __name__ == "__main__":
    main()
