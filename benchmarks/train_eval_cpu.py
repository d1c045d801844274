"""Acceptance check for training on a CPU: a short run lowers the style loss on photos it never saw.

Trains with `realtime train` (in-process, the same code), then measures the mean VGG style (Gram) and
content losses over the evaluation photos for the trained network, for the untrained network and for the
photos themselves, and writes a table and JSON.

    python benchmarks/train_eval_cpu.py --shared ../shared --steps 300 --out benchmarks/results/train_eval_cpu.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from realtime import bench, checkpoint, images
from realtime.losses import TRAIN_CONTENT, TRAIN_STYLE, PerceptualLoss
from realtime.train import TrainSettings, mean_losses, train
from realtime.transformer import defaults
from realtime.vgg import load_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--arch", choices=["full", "lite"], default="full")
    parser.add_argument("--blocks", type=int, default=None, help="default: 5 full, 4 lite")
    parser.add_argument("--work", type=Path, default=Path("/tmp/realtime-train-eval"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    style_path = args.shared / "data" / "styles" / f"{args.style}.jpg"
    settings = TrainSettings(style_image=str(style_path), data=str(args.shared / "data" / "train"), name=args.style,
                             out_dir=str(args.work), steps=args.steps, batch_size=4, image_size=args.image_size,
                             style_size=2 * args.image_size, width=args.width, arch=args.arch,
                             blocks=args.blocks if args.blocks is not None else defaults(args.arch)[1], preview_every=0,
                             checkpoint_every=0, device="cpu")
    untrained = train(TrainSettings(**{**settings.__dict__, "steps": 0, "name": args.style + "-untrained"}))
    start = time.time()
    trained = train(settings)
    seconds = time.time() - start

    features, _ = load_features(TRAIN_STYLE + [TRAIN_CONTENT])
    style = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(style_path), 2 * args.image_size))
    loss = PerceptualLoss(features, style, TRAIN_STYLE, TRAIN_CONTENT, 1, 1, 0)
    photos = sorted((args.shared / "data" / "eval").glob("*.jpg"))
    rows = {
        "photos themselves": mean_losses(lambda x: x, photos, loss, 256),
        "untrained network": mean_losses(checkpoint.load_model(untrained)[0], photos, loss, 256),
        f"trained {args.steps} steps": mean_losses(checkpoint.load_model(trained)[0], photos, loss, 256),
    }
    print(f"{'':<22} {'style':>10} {'content':>10}   (mean over {len(photos)} evaluation photos at 256 px)")
    for name, vals in rows.items():
        print(f"{name:<22} {vals['style']:>10.1f} {vals['content']:>10.1f}")
    result = {"settings": settings.__dict__, "train_seconds": round(seconds, 1), "eval_photos": len(photos),
              "losses": rows, "machine": bench.machine(),
              "command": f"python benchmarks/train_eval_cpu.py --shared {args.shared} --steps {args.steps} "
                         f"--image-size {args.image_size} --width {args.width} --arch {args.arch} --out {args.out}"}
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
