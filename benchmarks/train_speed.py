"""Seconds per `realtime train` and `realtime distill` step on this machine, fp32 against bf16 (batch 4).

    python benchmarks/train_speed.py --out benchmarks/results/train_speed_cpu.json

Times the step `realtime train` runs (network forward and backward, VGG19 content branch to relu2_2, style
taps relu1_1..relu4_1, relative losses, Adam), channels-last, after two warm-up steps. bf16 rows are
skipped on a CPU without native bf16 unless --emulated-bf16 (then one step, as a warning of its cost).
Then the step `realtime distill` runs (the lite4 width-12 student beside a width-16 teacher, L1 and
edges, the Gram term at relu1_1..relu4_1) at 160 and 256 px.
Run it on an otherwise idle machine: two cores shared with a training run halve every figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from realtime.training.distill import DistillSettings, GramMatch, step_losses
from realtime.training.losses import TRAIN_CONTENT, TRAIN_STYLE, PerceptualLoss
from realtime.training.precision import cpu_flags, cpu_has_native_bf16, cpu_model
from realtime.training.transformer import TransformerNet
from realtime.training.vgg import load_features


def step_seconds(vgg, loss_fn, width: int, size: int, precision: str, steps: int) -> float:
    torch.manual_seed(0)
    net = TransformerNet(width, 5).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    batch = (torch.rand(4, 3, size, size) * 255).contiguous(memory_format=torch.channels_last)
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    times = []
    for _ in range(steps + 2):
        t = time.perf_counter()
        with amp:
            parts = loss_fn(net(batch), loss_fn.content_features(batch))
        opt.zero_grad()
        parts.total.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return sum(times[2:]) / steps


def distill_seconds(vgg, size: int, precision: str, steps: int) -> float:
    """One `realtime distill` step with the Gram term: teacher forward, student forward and backward, Adam."""
    torch.manual_seed(0)
    teacher, student = TransformerNet(16, 5).eval(), TransformerNet(12, 4, "lite4")
    settings = DistillSettings(teacher="", data="", name="", image_size=size, gram_weight=20000)
    match = GramMatch(vgg, TRAIN_STYLE, (1, 1, 1, 8))
    opt = torch.optim.Adam(student.parameters(), 1e-3)
    batch = torch.rand(4, 3, size, size) * 255
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    times = []
    for _ in range(steps + 2):
        t = time.perf_counter()
        with amp:
            total, _, _ = step_losses(student, teacher, match, batch, settings)
        opt.zero_grad()
        total.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return sum(times[2:]) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--emulated-bf16", action="store_true")
    args = ap.parse_args()
    vgg, _ = load_features(TRAIN_STYLE + [TRAIN_CONTENT])
    vgg = vgg.to(memory_format=torch.channels_last)
    native = cpu_has_native_bf16()
    rows = []
    print(f"{'precision':<10} {'width':>5} {'crop':>5} {'s/step':>8}")
    for precision in ("fp32", "bf16"):
        if precision == "bf16" and not native and not args.emulated_bf16:
            continue
        for width in (16, 32):
            for size in (128, 256):
                if precision == "bf16" and not native and (width, size) != (16, 128):
                    continue
                steps = args.steps if precision == "fp32" or native else 1
                style = torch.rand(1, 3, 256, 256) * 255
                loss_fn = PerceptualLoss(vgg, style, TRAIN_STYLE, TRAIN_CONTENT, 1, 40, 1e-4, relative=True)
                s = step_seconds(vgg, loss_fn, width, size, precision, steps)
                rows.append({"job": "train full", "precision": precision, "width": width, "crop": size, "batch": 4, "seconds_per_step": round(s, 3),
                             "emulated": precision == "bf16" and not native})
                print(f"{precision:<10} {width:>5} {size:>5} {s:>8.2f}", flush=True)
    print(f"{'distill':<10} {'prec.':>5} {'crop':>5} {'s/step':>8}")
    for precision in ("fp32", "bf16") if native or args.emulated_bf16 else ("fp32",):
        for size in (160, 256):
            s = distill_seconds(vgg, size, precision, args.steps if precision == "fp32" or native else 1)
            rows.append({"job": "distill lite4 w12, Gram", "precision": precision, "crop": size, "batch": 4,
                         "seconds_per_step": round(s, 3), "emulated": precision == "bf16" and not native})
            print(f"{'':<10} {precision:>5} {size:>5} {s:>8.2f}", flush=True)
    flags = cpu_flags()
    result = {"cpu": cpu_model(), "cores": torch.get_num_threads(), "native_bf16": native,
              "cpu_flags_of_note": [f for f in flags if f.startswith(("avx", "amx", "fma"))],
              "torch": torch.__version__, "python": platform.python_version(), "rows": rows}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
