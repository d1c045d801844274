"""What a training loss asks for, in a minute: optimise one photo's pixels against `realtime train`'s own
loss (relative Gram, tap weights, content tap, style scale) and show the result beside the anchor.

A fast network trained on a loss can at best draw what that loss's optimum looks like, so a recipe whose
optimum has no facets (udnie) or no bold sky strokes (candy) will not learn them however long it runs.
Pixels optimised from the photo (as the network starts from a photo-like picture) are the cheap check:

    python benchmarks/loss_probe.py --shared ../shared --style udnie --anchor pytorch_examples_nc16_udnie.onnx \
        -o /tmp/probe.png --variant "shipped:sw=3,taps=0.25/0.5/1/2.25,content=relu4_2" \
        --variant "strong:sw=12,taps=0.25/0.5/1/2.25,content=relu4_2"

A variant is NAME:key=value,...; keys: sw (style weight), cw (content weight), taps (slash-separated, four
or five: relu1_1..relu4_1[,relu5_1]), content (tap), ssize (style image long side), tv. Each row is a
photo: photo | each variant | anchor; the table prints each variant's relative style and content error.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from realtime import images
from realtime import evaluate as ev
from realtime.engine import Engine
from realtime.gatys import optimise_pixels
from realtime.losses import PerceptualLoss, style_taps_for
from realtime.vgg import load_features


@dataclass
class Recipe:
    name: str
    style_weight: float = 5.0
    content_weight: float = 1.0
    taps: tuple[float, ...] = (0.25, 0.5, 1.0, 2.25)
    content_tap: str = "relu4_2"
    style_size: int = 512
    tv_weight: float = 1e-4

    @classmethod
    def parse(cls, text: str) -> "Recipe":
        name, _, spec = text.partition(":")
        recipe = cls(name)
        for item in filter(None, spec.split(",")):
            key, _, value = item.partition("=")
            if key == "sw":
                recipe.style_weight = float(value)
            elif key == "cw":
                recipe.content_weight = float(value)
            elif key == "taps":
                recipe.taps = tuple(float(v) for v in value.split("/"))
            elif key == "content":
                recipe.content_tap = value
            elif key == "ssize":
                recipe.style_size = int(value)
            elif key == "tv":
                recipe.tv_weight = float(value)
            else:
                raise SystemExit(f"error: variant {text!r}: unknown key {key!r}")
        return recipe


def optimise(photo: torch.Tensor, style_bgr: np.ndarray, recipe: Recipe, steps: int) -> tuple[torch.Tensor, dict]:
    """L-BFGS on the pixels, from the photo, against the recipe's training loss."""
    taps = style_taps_for(recipe.taps)
    vgg, _ = load_features(taps + [recipe.content_tap])
    style = images.bgr_to_tensor(images.resize_long_side(style_bgr, recipe.style_size))
    loss_fn = PerceptualLoss(vgg, style, taps, recipe.content_tap, recipe.content_weight, recipe.style_weight,
                             recipe.tv_weight, relative=True, tap_weights=list(recipe.taps))
    last: dict = {}

    def keep(losses: dict) -> None:
        last.update(losses)

    x = optimise_pixels(photo, loss_fn, loss_fn.content_features(photo), steps, on_step=keep)
    return x, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--style", required=True, help="name of a style image in shared/data/styles")
    ap.add_argument("--anchor", default=None, help="file name in shared/anchors")
    ap.add_argument("--variant", action="append", required=True, type=Recipe.parse)
    ap.add_argument("--pick", default="kodim05,kodim12", help="comma-separated Kodak names")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--models", nargs="*", type=Path, default=[], help="networks (.onnx) to show beside the variants")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    style_bgr = images.read_bgr(args.shared / "data" / "styles" / f"{args.style}.jpg")
    others = {p.stem: Engine(p, device="cpu") for p in args.models}
    if args.anchor:
        others["anchor"] = Engine(args.shared / "anchors" / args.anchor, device="cpu")
    rows, table = [], {r.name: [] for r in args.variant}
    for pick in args.pick.split(","):
        path = next((args.shared / "data" / "eval").glob(f"*{pick}.jpg"))
        photo_bgr = images.resize_long_side(images.read_bgr(path), args.size)
        row = [photo_bgr]
        for recipe in args.variant:
            x, losses = optimise(images.bgr_to_tensor(photo_bgr), style_bgr, recipe, args.steps)
            out = images.tensor_to_bgr(x)
            row.append(out)
            table[recipe.name].append({**losses, "contrast": ev.lightness_contrast(out)})
            print(f"{pick} {recipe.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in table[recipe.name][-1].items()),
                  flush=True)
        row += [fn(photo_bgr) for fn in others.values()]
        rows.append(row)
    images.write_bgr(args.out, ev.contact_sheet(rows, ["photo", *table, *others], cell=args.size))
    summary = {name: {k: float(np.mean([r[k] for r in runs])) for k in runs[0]} for name, runs in table.items()}
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
