"""Distil, export and judge one style's CPU network (NAME-lite) beside its teacher, as the shipped ones were made.

    python benchmarks/lite_gallery.py mosaic --shared ../shared --steps 1200 --threads 1
    python benchmarks/lite_gallery.py candy --shared ../shared --plain-steps 600 --steps 100 --init /tmp/lite/mosaic-lite.ckpt

After a teacher is retrained, its copy is re-distilled from the shipped one (which is read before it is
overwritten), keeping the card's history:

    python benchmarks/lite_gallery.py wave --shared ../shared --work /tmp/wavelite --plain-steps 200 --steps 300 \
        --lr 0.001 --gram-weight 20000 --gram-tap-weights 1,1,1,8 --init models/wave-lite.onnx --photos 12 \
        --lineage "re-distilled from the new wave"

A copy still over 10 % of its teacher's style loss gets more Gram steps (the same --work and a larger
--steps resumes); when those stall on 160-px crops, a Gram phase on 256-px crops took wave-lite from 1.14x
to 1.085x:

    python benchmarks/lite_gallery.py wave --shared ../shared --work /tmp/wl256 --plain-steps 0 --steps 400 \
        --image-size 256 --lr 0.0005 --gram-weight 40000 --gram-tap-weights 1,1,1,8 --init models/wave-lite.onnx \
        --photos 12 --lineage "the Gram phase on 256-px crops"

Runs `realtime distill` (lite4, width 12, 4 blocks) from the
shipped models/NAME.onnx into --work, in two phases: --plain-steps without the Gram term (a step costs
the teacher's and the student's passes only: the picture and its colours), then --steps with it (a VGG
pass more per step: the teacher's strokes and tiles). Exports models/NAME-lite.onnx with its model card, then judges it
beside its teacher on the 24 unseen Kodak photos at 384 px: style and content loss (the `realtime
evaluate` definitions), L* contrast, colourfulness, and PSNR/SSIM against the teacher's outputs. Writes
benchmarks/styles/NAME-lite.json and NAME-lite_sheet.jpg (photo | teacher | lite).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import onnxruntime as ort
import torch

from gallery import THIS_CARD, command_line, judged_photos, past_lineage, style_credit, write_sheet  # benchmarks/gallery.py, beside this script
from realtime.training import checkpoint
from realtime.training import colourmap
from realtime.tools import evaluate as ev
from realtime.media import images
from realtime.training.distill import DistillSettings, distill, load_teacher
from realtime.training.photos import find_photos
from realtime.engine import Engine
from realtime.tools.export import export

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("style")
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--image-size", type=int, default=160)
    ap.add_argument("--edge-weight", type=float, default=2.0)
    ap.add_argument("--gram-weight", type=float, default=3000.0)
    ap.add_argument("--gram-tap-weights", default="1,1,1,1", help="relu1_1..relu4_1 in the Gram term")
    ap.add_argument("--chroma-weight", type=float, default=0.0, help="`realtime distill --chroma-weight`: 5 keeps a teacher's reds")
    ap.add_argument("--border-weight", type=float, default=0.0, help="`realtime distill --border-weight` in the Gram phase: borders keep their tone")
    ap.add_argument("--plain-steps", type=int, default=0, help="steps without the Gram term first")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--arch", default="lite4", choices=["lite4", "fast"], help="the CPU network's architecture (width 12, 4 blocks)")
    ap.add_argument("--init", default=None, help="a w12 checkpoint of --arch to start from (e.g. another style's)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lite"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: its default); two runs side by side: 1 each")
    ap.add_argument("--skip-train", action="store_true", help="export and judge the checkpoint already in --work")
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--colour-only", action="store_true",
                    help="no training: fold the colour map (realtime.training.colourmap) into the shipped NAME-lite (or --init's "
                         "checkpoint) and ship and judge it")
    ap.add_argument("--lineage", action="append", default=[],
                    help="how this copy came about (e.g. 're-distilled from the new wave'): the shipped card's "
                         "lineage is kept and this run's steps follow this line; with --colour-only and --init: how that "
                         "checkpoint was made")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    name, lite = args.style, f"{args.style}-lite"
    teacher = REPO / "models" / f"{name}.onnx"
    if args.colour_only:
        out, card = colour_match(name, args.shared, args.work, args.init, args.lineage)
        judge(name, args.shared, teacher, out, card, args.photos)
        return
    settings = DistillSettings(teacher=str(teacher), data=str(args.shared / "data" / "train"), name=lite,
                               out_dir=str(args.work), steps=args.steps, image_size=args.image_size, arch=args.arch,
                               width=12, blocks=4, lr=args.lr, edge_weight=args.edge_weight,
                               gram_weight=args.gram_weight, chroma_weight=args.chroma_weight, border_weight=args.border_weight, init=args.init, device="cpu",
                               gram_tap_weights=tuple(float(w) for w in args.gram_tap_weights.split(",")))
    ckpt = args.work / f"{lite}.ckpt"
    lineage = []
    chroma = f", chroma weight {args.chroma_weight:g}" if args.chroma_weight else ""  # both phases have it
    border = f", border weight {args.border_weight:g}" if args.border_weight else ""  # the Gram phase only
    if args.plain_steps and not args.skip_train:  # the border term outweighs the pixel L1 without a Gram term
        plain = replace(settings, name=f"{lite}-plain", steps=args.plain_steps, gram_weight=0.0, border_weight=0.0,
                        lr=2 * args.lr)
        settings = replace(settings, init=str(args.work / f"{plain.name}.ckpt"))
        if not Path(settings.init).is_file():
            distill(plain)
        lineage.append(f"{args.plain_steps} steps without the Gram term{chroma} from {start_name(args.init, lite)}")
    taps = ("" if args.gram_tap_weights == "1,1,1,1" else f", taps {args.gram_tap_weights}") + chroma + border
    lineage.append(f"{args.steps} steps at Gram weight {args.gram_weight:g}{taps} from {start_name(settings.init, lite)}")
    shipped = REPO / "models" / f"{lite}.json"
    # A copy of another architecture than the shipped one is a new network: its own story, not a continuation.
    continues = shipped.is_file() and json.loads(shipped.read_text()).get("arch") == args.arch
    if not continues:
        lineage = introduced(lineage, args.lineage)
    if ckpt.is_file() and not args.skip_train and continues:  # a resumed run: the shipped card's story, then this
        done = json.loads(ckpt.with_suffix(".json").read_text())["steps"]
        lineage = continued_lineage(shipped, [
            f"{args.steps - done} more steps at Gram weight {args.gram_weight:g}{taps} (resumed from step {done})"])
    elif args.lineage and continues:  # a new copy that grows from the shipped one keeps its story
        lineage = continued_lineage(shipped, lineage, args.lineage)
    if not args.skip_train:
        ckpt = distill(settings, resume=str(ckpt) if ckpt.is_file() else None)
    card = json.loads(ckpt.with_suffix(".json").read_text())
    if not args.skip_train:
        folded = ", colour map folded in" if card.get("colour_map") else ""
        card["lineage"] = lineage[:-1] + [lineage[-1] + folded + THIS_CARD]
    card.update(style_credit(args.shared, name))
    card["distill_command"] = command_line("distill", "teacher", DistillSettings, card["settings"])
    card = {**described(shipped, args.arch), **card}
    out = REPO / "models" / f"{lite}.onnx"
    text = json.dumps({**card, "file": out.name, "opset": 17}, indent=2)
    (args.work / f"{lite}-card.json").write_text(text)
    export(ckpt, out, card_path=args.work / f"{lite}-card.json")  # the .onnx carries the same card
    (REPO / "models" / f"{lite}.json").write_text(text)
    judge(name, args.shared, teacher, out, card, args.photos)


SPEED_CLASS = {"fast": "CPU: real time at 640x480 (about 27 fps on two cores)",
               "lite4": "CPU: real time at 640x480 (about 16 fps on two cores)"}  # docs/benchmarks.md, the 2-core Xeon


def described(shipped: Path, arch: str) -> dict:
    """What the shipped card says of the copy that a run does not write (its summary, kind of network and
    painting), and the speed of `arch`: a copy that replaces it shows the same in `realtime styles`."""
    old = json.loads(shipped.read_text()) if shipped.is_file() else {}
    kept = {k: old[k] for k in ("summary", "network", "painting") if k in old}
    return {**kept, "speed_class": SPEED_CLASS[arch]} if arch in SPEED_CLASS else kept


def start_name(init: str | None, lite: str) -> str:
    """How a lineage line names a run's start: the shipped file as 'the previous' one (it is overwritten when
    the run ships), anything else by its file name."""
    if not init:
        return "random weights"
    path = Path(init)
    return f"the previous {path.name}" if path.resolve() == (REPO / "models" / f"{lite}.onnx").resolve() else path.name


def continued_lineage(shipped: Path, steps: list[str], how: Sequence[str] = ()) -> list[str]:
    """The shipped card's lineage, then this run's `steps`, the first joined to `how` (why this copy was
    made) when given; the settings marker goes on the newest entry once the run is done."""
    return past_lineage(shipped) + introduced(steps, how)


def introduced(steps: list[str], how: Sequence[str]) -> list[str]:
    """This run's `steps`, the first joined to `how` (why this copy was made) when given."""
    return [f"{'; '.join(how)}: {steps[0]}", *steps[1:]] if how else steps


def colour_match(name: str, shared: Path, work: Path, source: str | None, made: list[str]) -> tuple[Path, dict]:
    """Fold the colour map into the shipped models/NAME-lite.onnx (or the checkpoint `source`, made as the
    `made` lines say), as `realtime distill` now ends, and ship it."""
    lite, teacher = REPO / "models" / f"{name}-lite.onnx", REPO / "models" / f"{name}.onnx"
    net = checkpoint.network(source or str(lite))
    shipped = json.loads(lite.with_suffix(".json").read_text())
    card = json.loads(Path(source).with_suffix(".json").read_text()) if source else shipped
    card.update(style_credit(shared, name))
    card["lineage"] = shipped.get("lineage", []) + made
    teacher_net, sha = load_teacher(str(teacher), torch.device("cpu"))
    if sha != card.get("teacher_sha256"):
        raise SystemExit(f"{lite.name} copies another {name} than models/{teacher.name}: distil it again instead")
    photos = find_photos(shared / "data" / "train")
    cmap = colourmap.fit(net, teacher_net, colourmap.fitting_photos(photos))
    if not cmap.worth_folding:
        raise SystemExit(f"the colour map would cost {cmap.psnr_before - cmap.psnr_after:.1f} dB of likeness: not folded")
    colourmap.fold(net, cmap)
    card["colour_map"] = cmap.card()
    card["settings"]["colour_match"] = True
    card["distill_command"] = command_line("distill", "teacher", DistillSettings, card["settings"])
    card["lineage"] += [
        f"colour map (realtime.training.colourmap) fitted on {cmap.photos} training photos and folded in"]
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / f"{name}-lite-colour.ckpt"
    checkpoint.save(ckpt, net, None, card["steps"], card["settings"], card.get("final_losses"))
    card_path = ckpt.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2))
    export(ckpt, lite, card_path=card_path)
    lite.with_suffix(".json").write_text(json.dumps({**card, "file": lite.name, "opset": 17}, indent=2))
    return lite, card


def judge(name: str, shared: Path, teacher: Path, lite: Path, card: dict, count: int) -> None:
    stylisers = {f"teacher {name}": Engine(teacher, device="cpu"), lite.stem: Engine(lite, device="cpu")}
    photos = judged_photos(shared, count)
    t = time.time()
    means, outputs = ev.photo_losses(stylisers, photos, images.read_bgr(shared / "data" / "styles" / f"{name}.jpg"), 384)
    like = ev.likeness(outputs, f"teacher {name}")[lite.stem]
    labels = list(outputs)
    picks = list(range(len(photos)))[:: max(1, len(photos) // 8)][:8]
    sheet = ev.contact_sheet([[outputs[n][i] for n in labels] for i in picks], labels, cell=320)
    write_sheet(REPO / "benchmarks" / "styles" / f"{lite.stem}_sheet.jpg", sheet)
    result = {"style": lite.stem, "teacher": teacher.name, "photos": f"{len(photos)} of shared/data/eval (Kodak24, never trained on)",
              "size": 384, "figures": means, "likeness_to_teacher": like,
              "ratios_to_teacher": {k: means[lite.stem][k] / means[f"teacher {name}"][k] for k in ("style", "contrast")},
              "model_card": {k: card.get(k) for k in ("steps", "train_seconds", "cpu", "recipe", "init")},
              "onnxruntime": ort.__version__}
    (REPO / "benchmarks" / "styles" / f"{lite.stem}.json").write_text(json.dumps(result, indent=2))
    print(f"{'model':<24} {'style':>9} {'content':>9} {'L* contrast':>12} {'colourful':>10}")
    for model, m in means.items():
        print(f"{model:<24} {m['style']:>9.1f} {m['content']:>9.1f} {m['contrast']:>12.1f} {m['colourfulness']:>10.1f}")
    print(f"PSNR {like['psnr']:.1f} dB, SSIM {like['ssim']:.3f} against the teacher; style x{result['ratios_to_teacher']['style']:.2f}, "
          f"contrast x{result['ratios_to_teacher']['contrast']:.2f} (judged in {time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
