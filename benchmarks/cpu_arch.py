"""The CPU network's architecture on the speed/quality front: candidates sized to one latency budget at
640x480, distilled from the same teacher for the same wall-clock minutes, judged on photos none saw.

The shipped CPU network (`lite4`, width 12) spends a third of its time outside its convolutions: reflection
Pads, instance norms, and the layout conversions onnxruntime puts around each of them (`realtime bench
--profile`; docs/benchmarks.md), and half of it at full resolution. A candidate is lite4's shape with three
switches, written `PAD-NORM-UP-wWIDTHbBLOCKS`:

- PAD: `reflect` (a Pad before each conv) or `zero` (the conv's own zero padding: no Pad operator);
- NORM: `all` (instance norm after every conv), `mid` (only in the residual blocks at 1/4 size; the encoder
  and decoder convs keep their biases), `one` (a single instance norm where the encoder ends: the picture's
  contrast is still normalised once) or `none`;
- UP: `nearest` (lite4's decoder: 2x nearest, depthwise 3x3, 1x1) or `shuffle` (a 1x1 to four times the
  channels and a depth-to-space at each step; the last 3x3 conv runs at half size and its depth-to-space
  writes the full-size picture, so no conv runs at full size but the photo's own 1x1 path).

`reflect-all-nearest-w12b4` is the shipped lite4. Three steps:

    python benchmarks/cpu_arch.py speed                      # random weights: ms per 640x480 frame
    python benchmarks/cpu_arch.py distil --spec zero-mid-shuffle-w16b4 --minutes 10
    python benchmarks/cpu_arch.py judge --runs reflect-all-nearest-w12b4,zero-mid-shuffle-w16b4

speed: each candidate exported as the engine runs it (ONNX, the uint8 wrapper of realtime.engine.uint8_io),
one intra-op thread (what each of the webcam's two frames in flight gets), interleaved rounds, median ms.
distil: from multistyle_pilot.py's teacher cache (whole photos, 256-px crops, and frames shrunk to a CPU
size; `multistyle_pilot.py cache --small`), L1 + edge L1 to the teacher's output, Adam with the rate ramped
then cosine-decayed over the minutes, bf16 autocast, 1 thread (so two runs share 2 cores). The minutes are
the process's own CPU time, so runs that share the machine with other work still get equal budgets. Weights go to
/tmp/cpu_arch/SPEC-STYLE.pt (trial weights: never in the repository).
judge: 8 Kodak photos at 640 px long side: PSNR against the teacher's output, the style loss and L* contrast
as ratios to the teacher's (realtime.tools.evaluate.photo_losses), the shipped NAME-lite in the same table;
a contact sheet. Results: benchmarks/results/cpu_arch_*.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from multistyle_pilot import EVAL_PHOTOS, Cache, lr_at, stylise_with  # noqa: E402
from multistyle_pilot import session as onnx_session  # noqa: E402

from realtime.engine import uint8_io  # noqa: E402
from realtime.machine import cpu_model as cpu_name  # noqa: E402
from realtime.media import images  # noqa: E402
from realtime.media.interrupts import DeferredInterrupt, StopSignals  # noqa: E402
from realtime.training import checkpoint  # noqa: E402
from realtime.training.distill import border_error, distill_loss  # noqa: E402
from realtime.training.transformer import TransformerNet  # noqa: E402
from realtime.tools.evaluate import contact_sheet, photo_losses, psnr  # noqa: E402
from realtime.tools.export import Clipped, _to_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MODELS = ROOT / "models"
SHARED = Path("/work/shared/data")
WORK = Path("/tmp/cpu_arch")
SPEC = re.compile(r"^(reflect|zero)-(all|mid|one|none)-(nearest|shuffle)-w(\d+)b(\d+)$")
DEFAULT_SPECS = ["reflect-all-nearest-w12b4", "zero-all-nearest-w12b4", "zero-mid-nearest-w12b4",
                 "zero-none-nearest-w12b4", "zero-mid-shuffle-w12b4", "zero-mid-shuffle-w16b4",
                 "zero-mid-shuffle-w20b4", "zero-mid-nearest-w16b4"]


class Candidate(nn.Module):
    """lite4's shape (two strided convs to 1/4 size, separable residual blocks, a two-step decoder, the
    photo's 1x1 path at full size) with the PAD, NORM and UP switches; same I/O as TransformerNet."""

    def __init__(self, spec: str):
        super().__init__()
        m = SPEC.match(spec)
        if not m:
            raise SystemExit(f"--spec {spec}: write PAD-NORM-UP-wWIDTHbBLOCKS, e.g. zero-mid-shuffle-w16b4")
        pad, norm, up, w, blocks = m.group(1), m.group(2), m.group(3), int(m.group(4)), int(m.group(5))
        self.spec = spec

        def conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Module:
            if k == 1:
                return nn.Conv2d(cin, cout, 1)
            if pad == "reflect":
                return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride, groups=groups))
            return nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups)

        def normed(ch: int, where: str) -> nn.Module:
            keep = norm == "all" or (norm == "mid" and where == "mid")
            return nn.InstanceNorm2d(ch, affine=True) if keep else nn.Identity()

        class Block(nn.Module):
            def __init__(self, ch: int):
                super().__init__()
                self.body = nn.Sequential(conv(ch, ch, 3, groups=ch), nn.Conv2d(ch, ch, 1), normed(ch, "mid"),
                                          nn.ReLU(inplace=True), conv(ch, ch, 3, groups=ch), nn.Conv2d(ch, ch, 1),
                                          normed(ch, "mid"))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x + self.body(x)

        once = nn.InstanceNorm2d(4 * w, affine=True) if norm == "one" else nn.Identity()
        layers: list[nn.Module] = [conv(3, w, 3, 2), normed(w, "enc"), nn.ReLU(inplace=True),
                                   conv(w, 4 * w, 3, 2), normed(4 * w, "enc"), once, nn.ReLU(inplace=True),
                                   *[Block(4 * w) for _ in range(blocks)]]
        if up == "nearest":
            for cin, cout in ((4 * w, 2 * w), (2 * w, w)):
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), conv(cin, cin, 3, groups=cin),
                           nn.Conv2d(cin, cout, 1), normed(cout, "dec"), nn.ReLU(inplace=True)]
            layers.append(conv(w, 3, 3))
        else:
            layers += [nn.Conv2d(4 * w, 8 * w, 1), nn.PixelShuffle(2), normed(2 * w, "dec"), nn.ReLU(inplace=True),
                       conv(2 * w, 2 * w, 3, groups=2 * w), nn.Conv2d(2 * w, 2 * w, 1), normed(2 * w, "dec"),
                       nn.ReLU(inplace=True), conv(2 * w, 12, 3), nn.PixelShuffle(2)]
        self.net = nn.Sequential(*layers)
        self.skip = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (4 - w % 4) % 4, 0, (4 - h % 4) % 4), mode="reflect")
        x = x / 127.5 - 1.0
        y = (self.net(x) + self.skip(x)) * 127.5 + 127.5
        return y[..., :h, :w]


def build(spec: str) -> nn.Module:
    """The candidate network; the chosen shape (zero-mid-shuffle) is the product's TransformerNet(arch="fast")."""
    m = SPEC.match(spec)
    if m and m.group(1, 2, 3) == ("zero", "mid", "shuffle"):
        return TransformerNet(int(m.group(4)), int(m.group(5)), "fast")
    return Candidate(spec)


def macs_per_pixel(model: nn.Module, h: int = 480, w: int = 640) -> float:
    """Multiply-adds of every conv per output pixel, counted on one frame."""
    total = [0]

    def hook(mod: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total[0] += out.shape[-2] * out.shape[-1] * mod.out_channels * k * mod.in_channels // mod.groups

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.rand(1, 3, h, w) * 255)
    for handle in handles:
        handle.remove()
    return total[0] / (h * w)


def session(model: nn.Module) -> ort.InferenceSession:
    """The candidate as the engine runs it: exported, uint8 BGR in and out, one thread."""
    proto = uint8_io.wrap(_to_onnx(Clipped(model).eval(), 17), "input", "output")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def speed(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    specs = args.specs.split(",")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    runs = {}
    for spec in specs:
        model = build(spec).eval()
        runs[spec] = (session(model), macs_per_pixel(model), sum(p.numel() for p in model.parameters()))
    frames = {size: np.random.default_rng(0).integers(0, 256, (1, size[1], size[0], 3), dtype=np.uint8) for size in sizes}
    times: dict[str, dict[tuple, list[float]]] = {s: {size: [] for size in sizes} for s in specs}
    for spec, (s, _, _) in runs.items():  # warm-up
        for frame in frames.values():
            s.run(None, {"frame": frame})
    for _ in range(args.rounds):
        for spec, (s, _, _) in runs.items():
            for size, frame in frames.items():
                t = time.perf_counter()
                for _ in range(args.reps):
                    s.run(None, {"frame": frame})
                times[spec][size].append((time.perf_counter() - t) / args.reps * 1000)
    base = specs[0]
    result = {"cpu": cpu_name(), "threads": 1, "rounds": args.rounds, "reps": args.reps, "candidates": {}}
    print(f"{'candidate':<28} {'k MAC/px':>9} {'params':>8} " + " ".join(f"{f'{w}x{h} ms':>13}" for w, h in sizes)
          + f"  x {base}")
    for spec, (_, macs, params) in runs.items():
        ms = {f"{w}x{h}": round(statistics.median(times[spec][(w, h)]), 2) for w, h in sizes}
        ratio = statistics.median(times[base][sizes[0]]) / statistics.median(times[spec][sizes[0]])
        result["candidates"][spec] = {"k_macs_per_pixel": round(macs / 1000, 2), "parameters": params, "ms": ms,
                                      "speed_vs_first": round(ratio, 3)}
        print(f"{spec:<28} {macs / 1000:>9.2f} {params:>8} " + " ".join(f"{v:>13.1f}" for v in ms.values())
              + f"  {ratio:.2f}x")
    out = RESULTS / f"cpu_arch_speed{args.tag}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


def distil(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    data = Cache(Path(args.cache), [args.style], small=True)
    model = build(args.spec)
    if args.init:  # a network of the same shape: a candidate's .pt, or a `fast` .ckpt/.onnx (same layers in order)
        state = (torch.load(args.init)["state"] if args.init.endswith(".pt")
                 else checkpoint.network(args.init).state_dict())
        model.load_state_dict(dict(zip(model.state_dict(), state.values())))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    out = Path(args.out) if args.out else WORK / f"{args.spec}-{args.style}.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    shapes = list(data.shapes.items())
    weights = [len(v) for _, v in shapes]
    budget, spent, step, l1s = args.minutes * 60, 0.0, 0, []
    with StopSignals(), DeferredInterrupt() as stop:
        while spent < budget and not stop.requested:
            t0 = time.process_time()
            if step % 3 == 2:  # frames shrunk to a CPU frame's size: the border must hold there too
                picks = [data.train["small"][i] for i in rng.sample(range(len(data.train["small"])), 8)]
            elif step % 3 == 0:
                _, pool = rng.choices(shapes, weights=weights)[0]
                picks = [data.train["full"][i] for i in rng.sample(pool, min(2, len(pool)))]
            else:
                picks = [data.train["crop"][i] for i in rng.sample(range(len(data.train["crop"])), 4)]
            x = torch.stack([p for p, _ in picks]).float()
            target = torch.stack([t[0] for _, t in picks]).float()
            for group in optimizer.param_groups:
                group["lr"] = lr_at(spent / budget, step, args.lr, args.ramp)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = model(x).float()
            parts = distill_loss(y, target)
            total = parts["l1"] + parts["edge"]
            if args.border_weight:
                total = total + args.border_weight * border_error(y, target)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            l1s.append(float(parts["l1"].detach()))
            step += 1
            spent += time.process_time() - t0
            if step % 200 == 0:
                print(f"{args.spec} step {step} {spent:.0f}s l1 {np.mean(l1s[-200:]):.2f}", flush=True)
    model.eval()
    val = []
    with torch.no_grad():
        for photo, (target,) in data.validation:
            y = model(photo[None].float()).clamp(0, 255).round()[0].byte().numpy()
            val.append(psnr(y.transpose(1, 2, 0), target.numpy().transpose(1, 2, 0)))
    saved = {"spec": args.spec, "style": args.style, "state": model.state_dict(), "steps": step,
             "seconds": round(spent, 1), "minutes": args.minutes, "val_psnr": round(float(np.mean(val)), 2),
             "cpu": cpu_name()}
    torch.save(saved, out)
    print(f"{args.spec}: {step} steps in {spent:.0f} s, validation PSNR {np.mean(val):.2f} dB -> {out}", flush=True)
    if not args.out:  # a candidate trial: its figures join the comparison
        record_trial(saved)
    if args.ckpt:  # for `realtime distill --init` (the Gram phase, with the teacher itself)
        if not isinstance(model, TransformerNet):
            raise SystemExit(f"--ckpt: {args.spec} is not the fast network (zero-mid-shuffle-wWbB)")
        checkpoint.save(Path(args.ckpt), model, None, step, {"arch": "fast", "width": model.width, "blocks": model.blocks,
                                                             "distilled_by": "benchmarks/cpu_arch.py", **vars_of(args)})
        print(f"and {args.ckpt}", flush=True)


def record_trial(saved: dict) -> None:
    """A distilled candidate's budget and validation PSNR, in results/cpu_arch_distil.json."""
    path = RESULTS / "cpu_arch_distil.json"
    table = json.loads(path.read_text()) if path.is_file() else {
        "what": "each candidate distilled for the same CPU-minutes (one thread, bf16) from the same teacher cache; "
                "PSNR against the teacher on the cache's 12 validation photos (whole, short side 288), never trained on",
        "runs": {}}
    table["runs"][f"{saved['spec']} {saved['style']}"] = {
        k: saved[k] for k in ("spec", "style", "minutes", "steps", "seconds", "val_psnr", "cpu")}
    path.write_text(json.dumps(table, indent=1))


def vars_of(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func"}


def stylise_torch(model: nn.Module):
    def run(bgr: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1))).float()[None]
        with torch.no_grad():
            y = model(x).clamp(0, 255).round()[0].byte().numpy()
        return np.ascontiguousarray(y.transpose(1, 2, 0)[:, :, ::-1])
    return run


def judge(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    style = args.style
    stylisers = {"teacher": stylise_with(onnx_session(MODELS / f"{style}.onnx")),
                 f"{style}-lite (shipped)": stylise_with(onnx_session(MODELS / f"{style}-lite.onnx"))}
    runs = {}
    for spec in args.runs.split(","):
        saved = torch.load(WORK / f"{spec}-{style}.pt")
        model = build(spec)
        model.load_state_dict(dict(zip(model.state_dict(), saved["state"].values())))  # trials from Candidate too
        stylisers[spec] = stylise_torch(model.eval())
        runs[spec] = {k: saved[k] for k in ("steps", "seconds", "val_psnr")}
    photos = [SHARED / "eval" / name for name in EVAL_PHOTOS]
    means, outputs = photo_losses(stylisers, photos, images.read_bgr(SHARED / "styles" / f"{style}.jpg"), args.size)
    teacher = means["teacher"]
    table = {}
    print(f"{'network':<30} {'steps':>6} {'PSNR vs teacher':>16} {'style x':>8} {'contrast x':>11}")
    for name in stylisers:
        if name == "teacher":
            continue
        likeness = float(np.mean([psnr(a, b) for a, b in zip(outputs[name], outputs["teacher"])]))
        row = {"psnr_vs_teacher": round(likeness, 2), "style_x_teacher": round(means[name]["style"] / teacher["style"], 3),
               "contrast_x_teacher": round(means[name]["contrast"] / teacher["contrast"], 3), **runs.get(name, {})}
        table[name] = row
        print(f"{name:<30} {row.get('steps', ''):>6} {row['psnr_vs_teacher']:>16.2f} {row['style_x_teacher']:>8.2f} "
              f"{row['contrast_x_teacher']:>11.2f}")
    names = list(stylisers)
    rows = [[outputs["photo"][i]] + [outputs[n][i] for n in names] for i in (1, 4, 6)]
    sheet = contact_sheet(rows, ["photo"] + names, cell=args.cell)
    out = RESULTS / f"cpu_arch_judge_{style}{args.tag}"
    cv2.imwrite(str(out.with_name(out.name + "_sheet.jpg")), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    out.with_suffix(".json").write_text(json.dumps({"cpu": cpu_name(), "style": style, "size": args.size,
                                                   "photos": EVAL_PHOTOS, "networks": table}, indent=1))
    print(f"wrote {out}.json and its sheet")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(required=True)
    s = sub.add_parser("speed", help="ms per frame of each candidate with random weights")
    s.add_argument("--specs", default=",".join(DEFAULT_SPECS))
    s.add_argument("--sizes", default="640x480,1280x720")
    s.add_argument("--rounds", type=int, default=5)
    s.add_argument("--reps", type=int, default=3)
    s.add_argument("--tag", default="")
    s.set_defaults(func=speed)
    d = sub.add_parser("distil", help="one candidate distilled from the cached teacher outputs for --minutes")
    d.add_argument("--spec", required=True)
    d.add_argument("--style", default="mosaic")
    d.add_argument("--minutes", type=float, default=10)
    d.add_argument("--lr", type=float, default=2e-3)
    d.add_argument("--border-weight", type=float, default=0.0, help="weight of the tone along the edges (distill.border_error)")
    d.add_argument("--ramp", type=int, default=50)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--cache", default="/tmp/ms_cache")
    d.add_argument("--init", help="start from these weights (a candidate's .pt, or a fast network's .ckpt/.onnx)")
    d.add_argument("--out", help="where the weights go (default /tmp/cpu_arch/SPEC-STYLE.pt)")
    d.add_argument("--ckpt", help="also write the network as a `realtime distill` checkpoint (the fast arch only)")
    d.set_defaults(func=distil)
    j = sub.add_parser("judge", help="the distilled candidates on 8 Kodak photos against the teacher")
    j.add_argument("--runs", required=True)
    j.add_argument("--style", default="mosaic")
    j.add_argument("--size", type=int, default=640)
    j.add_argument("--cell", type=int, default=256)
    j.add_argument("--threads", type=int, default=2)
    j.add_argument("--tag", default="")
    j.set_defaults(func=judge)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
