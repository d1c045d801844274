"""CPU network candidates (issue 11, part 2): multiply-adds per pixel and engine fps at 640x480.

Each candidate is built with random weights (speed does not depend on the values), exported by our own
exporter, and run through the engine (uint8 in the graph) in alternating rounds with the width-16 full
network, so a busy moment hurts all alike; the best round of each counts.

    python benchmarks/lite_arch.py --rounds 3

Pause any training first (`kill -STOP`): the cores are shared. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from realtime import checkpoint
from realtime.engine import Engine
from realtime.export import export
from realtime.precision import cpu_model
from realtime.transformer import TransformerNet

RESULTS = Path(__file__).resolve().parent / "results"
CANDIDATES = [("full", 16, 5), ("lite", 16, 4), ("lite4", 16, 4), ("lite4", 16, 3), ("lite4", 12, 4)]


def macs_per_pixel(net: TransformerNet, h: int = 480, w: int = 640) -> float:
    total = 0

    def count(module: torch.nn.Module, _inputs, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += out.numel() // out.shape[0] * module.in_channels // module.groups * k
    hooks = [m.register_forward_hook(count) for m in net.modules()]
    with torch.no_grad():
        net(torch.rand(1, 3, h, w) * 255)
    for hook in hooks:
        hook.remove()
    return total / (h * w)


def fps(engine: Engine, frames: list[np.ndarray]) -> float:
    engine(frames[0])
    start = time.perf_counter()
    for frame in frames:
        engine(frame)
    return len(frames) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-o", "--out", type=Path, default=RESULTS / "lite_arch_cpu.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(args.frames)]
    work = Path(tempfile.mkdtemp(prefix="lite_arch_"))
    engines, macs = {}, {}
    for arch, width, blocks in CANDIDATES:
        label = f"{arch} w{width} b{blocks}"
        torch.manual_seed(0)
        net = TransformerNet(width, blocks, arch)
        macs[label] = macs_per_pixel(net)
        ckpt = work / f"{arch}{width}_{blocks}.ckpt"
        checkpoint.save(ckpt, net, None, 0, {}, {})
        engines[label] = Engine(export(ckpt, ckpt.with_suffix(".onnx")).path, device="cpu")
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for label, engine in engines.items():
            best[label] = max(best.get(label, 0.0), fps(engine, frames))
    base = best["full w16 b5"]
    print(f"640x480, engine (uint8 io), onnxruntime {ort.__version__}, best of {args.rounds} alternating rounds")
    print(f"{'candidate':<18} {'kMAC/px':>8} {'fps':>7} {'x full':>7}")
    for label in engines:
        print(f"{label:<18} {macs[label] / 1000:>8.1f} {best[label]:>7.2f} {best[label] / base:>7.2f}")
    args.out.write_text(json.dumps({"size": "640x480", "cpu": cpu_model(), "onnxruntime": ort.__version__,
                                    "rounds": args.rounds, "frames": args.frames,
                                    "candidates": {k: {"kmac_per_pixel": macs[k] / 1000, "fps": best[k]} for k in engines}},
                                   indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
