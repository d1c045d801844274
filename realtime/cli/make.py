"""The commands that make networks: train, distill, export, gatys, weights (they need the `train` extra)."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import TextColumn

from realtime.cli.app import app, say
from realtime.cli.options import (ADVANCED, BatchOpt, CheckpointEveryOpt, DataOpt, Device, LrRampOpt, NameOpt,
                                  OutDirOpt, Precision, PrecisionOpt, ResumeOpt, SeedOpt, StepsOpt, TrainDevice, VggOpt)
from realtime.errors import UserError
from realtime.files import check_distinct, check_output_path

LOSS = "Loss"
SCHEDULE = "Schedule"
TRAIN_EXTRA = "pip install 'realtime-style[train]'"


def need_training(command: str) -> None:
    """One line saying how to get training, where torch is not installed (the default install)."""
    import importlib.util

    missing = [m for m in ("torch", "h5py", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"`realtime {command}` needs PyTorch and the training extras ({', '.join(missing)} missing): "
                        f"{TRAIN_EXTRA}")


class Arch(str, Enum):
    full = "full"
    lite = "lite"
    lite4 = "lite4"
    fast = "fast"


class Tune(str, Enum):
    all = "all"
    norms = "norms"


class ContentTap(str, Enum):
    relu2_2 = "relu2_2"
    relu3_2 = "relu3_2"
    relu4_2 = "relu4_2"


class Optimizer(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


class Init(str, Enum):
    content = "content"
    noise = "noise"


def _tap_weights(text: Optional[str], option: str) -> Optional[tuple[float, ...]]:
    """--style-tap-weights, --gram-tap-weights: four, non-negative, not all 0."""
    if text is None:
        return None
    try:
        weights = tuple(float(part) for part in text.split(","))
    except ValueError:
        weights = ()
    if len(weights) != 4 or min(weights) < 0 or sum(weights) <= 0:
        raise UserError(f"{option} {text!r}: give four weights for relu1_1,relu2_1,relu3_1,relu4_1 "
                        "such as 1,1,1,4 (none negative, not all 0)")
    return weights


def _valid_name(name: str) -> bool:
    from realtime.catalog.registry import NAME_RE

    return bool(NAME_RE.match(name)) and "." not in name


def _given(**options: Any) -> dict[str, Any]:
    """The options given on the command line (None: the recipe's value), as settings fields."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items() if v is not None}


def _removed(value: Optional[str], option: str, instead: str) -> None:
    if value is not None:
        raise UserError(f"{option} was removed: {instead}")


@app.command()
def weights(vgg: VggOpt = None) -> None:
    """Fetch, verify and cache the VGG19 loss network; print its path and hash."""
    need_training("weights")
    from realtime.training import vgg as vgg_mod

    w = vgg_mod.ensure_weights(vgg)
    typer.echo(f"{w.path}\nsha256 {w.sha256}")
    if w.source_md5:
        typer.echo(f"source {vgg_mod.H5_NAME} md5 {w.source_md5} (verified)")


def _check_train(s) -> None:
    """Every stage's settings, whatever set them (the recipe or an option), in one line each."""
    if s.steps < 1 or s.batch_size < 1 or s.image_size < 32 or s.width < 4 or s.blocks < 0:
        raise UserError("--steps and --batch-size must be positive, --image-size at least 32, --width at least 4, "
                        "--blocks not negative")
    if s.small_size and not 32 <= s.small_size:  # above --image-size it is clamped to it (train.small_crop)
        raise UserError(f"--small-size {s.small_size}: use 0 (off) or 32 up to --image-size ({s.image_size})")
    if s.lr_ramp < 0:
        raise UserError(f"--lr-ramp {s.lr_ramp}: use 0 (no ramp) or a number of steps such as 100")
    if s.photo_size < 0:
        raise UserError(f"--photo-size {s.photo_size}: use 0 (the crop size) or a short side in pixels such as 384")
    if not 0 <= s.finish_fraction <= 1:
        raise UserError(f"--finish-fraction {s.finish_fraction}: use a share between 0 and 1")
    if s.style_size < 32 or s.warmup_steps < 0 or s.lr <= 0 or min(s.style_weight, s.content_weight, s.tv_weight,
                                                                    s.colour_weight, s.colour_shading) < 0:
        raise UserError("--style-size must be at least 32, --lr positive, --warmup-steps and the loss weights not negative")
    if s.colour_shading > 0 and s.colour_weight == 0:
        raise UserError(f"--colour-shading {s.colour_shading} is a share of the colour term, which is off: "
                        "give --colour-weight too (such as 0.3)")
    if s.stability_weight < 0:
        raise UserError(f"--stability-weight {s.stability_weight}: use 0 (off) or a positive weight such as 0.02")
    if s.tune == "norms" and not s.init:
        raise UserError("--tune norms keeps a network's convolutions: give --init (a style, or a multi-style network "
                        "such as gallery)")


@app.command()
def train(
    style_image: Path = typer.Argument(..., help="The painting to learn."),
    data: DataOpt = None,
    name: NameOpt = ...,
    recipe: str = typer.Option("quick", help="quick: a usable style in about a minute; gallery: the stages the shipped styles went through."),
    steps: StepsOpt = None,
    init: Optional[str] = typer.Option(None, help="Start from a network: a shipped style's name, a .ckpt, an exported .onnx, a multi-style network (at the blend nearest the painting), or 'scratch'."),
    style_weight: Optional[float] = typer.Option(None, help="More style (higher) or more of the photo (lower).", rich_help_panel=LOSS),
    out_dir: OutDirOpt = Path("."),
    resume: ResumeOpt = None,
    content_weight: Optional[float] = typer.Option(None, help="Weight of the content loss.", rich_help_panel=LOSS),
    content_tap: Optional[ContentTap] = typer.Option(None, help="VGG layer whose features the output keeps: relu2_2 holds every edge, relu4_2 the shapes.", rich_help_panel=LOSS),
    style_tap_weights: Optional[str] = typer.Option(None, help="Say of relu1_1,relu2_1,relu3_1,relu4_1 in the style loss, e.g. 0.25,0.5,1,2.25.", rich_help_panel=LOSS),
    style_size: Optional[int] = typer.Option(None, help="Long side of the style image in pixels: sets the size of the strokes.", rich_help_panel=LOSS),
    tv_weight: Optional[float] = typer.Option(None, help="Weight of total variation (smoothness).", rich_help_panel=LOSS),
    colour_weight: Optional[float] = typer.Option(None, help="Keep each region's hue from the photo (0: off).", rich_help_panel=LOSS),
    colour_shading: Optional[float] = typer.Option(None, help="Share of the colour term for each region's lightness; needs --colour-weight.", rich_help_panel=LOSS),
    stability_weight: Optional[float] = typer.Option(None, help="Less flicker on video for a little style (0: off).", rich_help_panel=LOSS),
    image_size: Optional[int] = typer.Option(None, help="Crop size of the finish.", rich_help_panel=SCHEDULE),
    small_size: Optional[int] = typer.Option(None, help="Crop size before the finish (0: --image-size throughout).", rich_help_panel=SCHEDULE),
    finish_fraction: Optional[float] = typer.Option(None, help="Share of the steps at --image-size.", rich_help_panel=SCHEDULE),
    photo_size: Optional[int] = typer.Option(None, help="Short side photos are scaled to before cropping (0: whole scenes).", rich_help_panel=SCHEDULE),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate at the start (cosine decay to a twentieth).", rich_help_panel=SCHEDULE),
    lr_ramp: LrRampOpt = None,
    warmup_steps: Optional[int] = typer.Option(None, help="From scratch: steps that first teach the network to reproduce the photo.", rich_help_panel=SCHEDULE),
    batch_size: BatchOpt = 4,
    arch: Optional[Arch] = typer.Option(None, help="full: Johnson's network; lite: a CPU network (CPU copies are made with `distill`).", rich_help_panel=ADVANCED),
    width: Optional[int] = typer.Option(None, help="Channels of the first layer (default 16, or the --init network's; a multiple of it widens that network).", rich_help_panel=ADVANCED),
    blocks: Optional[int] = typer.Option(None, help="Residual blocks (default 5).", rich_help_panel=ADVANCED),
    tune: Optional[Tune] = typer.Option(None, help="What trains: all weights, or only the norms' scales and shifts (the --init network's convolutions kept).", rich_help_panel=ADVANCED),
    precision: PrecisionOpt = Precision.auto,
    seed: SeedOpt = 0,
    checkpoint_every: CheckpointEveryOpt = 500,
    preview_every: int = typer.Option(200, help="Write a preview image every N steps (0: never).", rich_help_panel=ADVANCED),
    device: TrainDevice = Device.auto,
    vgg: VggOpt = None,
    style_statistic: Optional[str] = typer.Option(None, hidden=True),
) -> None:
    """Train a fast style network on a folder of photos (Johnson et al.); runs under torchrun too."""
    if style_statistic not in (None, "gram"):  # "gram" still parses: the shipped cards' commands name it
        _removed(style_statistic, "--style-statistic", "the style loss matches Gram matrices; leave the option out")
    need_training("train")
    from realtime.training import recipes, train as train_mod
    from realtime.training.checkpoint import initial_weights
    from realtime.training.transformer import defaults

    if not _valid_name(name):
        raise UserError(f"--name {name!r}: use letters, digits, _ and - only")
    plan_of = recipes.get(recipes.TRAIN, recipe)
    if resume and init:
        raise UserError("--init starts a new run from a network's weights, --resume continues a run: give one")
    given = _given(steps=steps, style_weight=style_weight, content_weight=content_weight, content_tap=content_tap,
                   style_tap_weights=_tap_weights(style_tap_weights, "--style-tap-weights"), style_size=style_size,
                   tv_weight=tv_weight, colour_weight=colour_weight, colour_shading=colour_shading,
                   stability_weight=stability_weight, image_size=image_size, small_size=small_size,
                   finish_fraction=finish_fraction, photo_size=photo_size, lr=lr, lr_ramp=lr_ramp,
                   warmup_steps=warmup_steps, arch=arch, width=width, blocks=blocks,
                   tune=tune)
    if small_size == 0:
        given["small_size"] = None
    elif small_size is not None and image_size is not None and small_size > image_size:
        raise UserError(f"--small-size {small_size}: use 0 (off) or 32 up to --image-size ({image_size})")
    if init is not None:
        given["init"] = None if init == "scratch" else init
    start = given.get("init", plan_of.stages[0].settings.get("init"))
    shape = defaults(given.get("arch", "full"))
    if start and not resume:  # the network's own shape unless asked otherwise (a mismatch is reported by train)
        _, (_, *shape) = initial_weights(start)
    base = train_mod.TrainSettings(style_image=str(style_image), data=str(data), name=name, out_dir=str(out_dir),
                                   width=int(shape[0]), blocks=int(shape[1]),
                                   batch_size=batch_size, precision=precision.value, seed=seed,
                                   checkpoint_every=checkpoint_every, preview_every=preview_every,
                                   device=device.value, vgg=str(vgg) if vgg else None)
    for planned in recipes.plan(plan_of, base, given):
        _check_train(planned.settings)
    if data is None:  # checked options first: a typo costs no download
        from realtime.training import starter_photos

        data = starter_photos.ensure(say)
        say(f"no --data: training on {starter_photos.CREDIT} (a folder of a few hundred of your own photos "
            "gives a better network)")
        base = replace(base, data=str(data))
    try:
        ckpt = recipes.run(plan_of, base, given, lambda s, r, entry: train_mod.train(s, resume=r, recipe=entry), say,
                           resume=str(resume) if resume else None)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    say(f"wrote {ckpt} and {ckpt.with_suffix('.json')}; export with: realtime export {ckpt} -o {name}.onnx")


@app.command()
def distill(
    teacher: str = typer.Argument(..., help="The full network to copy: a shipped style's name, a .ckpt, or an .onnx from `realtime export`."),
    data: DataOpt = None,
    name: NameOpt = ...,
    recipe: str = typer.Option("quick", help="quick: a CPU copy in minutes; gallery: the stages the shipped CPU copies went through."),
    steps: StepsOpt = None,
    init: Optional[str] = typer.Option(None, help="Start from this CPU network (a NAME-lite name or .ckpt of the same shape), or 'scratch'."),
    out_dir: OutDirOpt = Path("."),
    resume: ResumeOpt = None,
    gram_weight: Optional[float] = typer.Option(None, help="Weight of matching the teacher's VGG Gram matrices (its strokes and tiles).", rich_help_panel=LOSS),
    gram_tap_weights: Optional[str] = typer.Option(None, help="Say of relu1_1,relu2_1,relu3_1,relu4_1 in the Gram term, e.g. 1,1,1,8.", rich_help_panel=LOSS),
    edge_weight: Optional[float] = typer.Option(None, help="Weight of the image-gradient term: keeps strokes and edges sharp.", rich_help_panel=LOSS),
    chroma_weight: Optional[float] = typer.Option(None, help="Weight of matching the teacher's chroma over 4x4 blocks: keeps strong reds.", rich_help_panel=LOSS),
    border_weight: Optional[float] = typer.Option(None, help="Weight of matching the teacher's tone along the edges, beside --gram-weight: borders stay as light as the rest.", rich_help_panel=LOSS),
    stability_weight: Optional[float] = typer.Option(None, help="Less flicker on video (0: off).", rich_help_panel=LOSS),
    colour_match: Optional[bool] = typer.Option(None, "--colour-match/--no-colour-match", help="Fold a colour map onto the teacher's colours into the network at the end.", rich_help_panel=LOSS),
    image_size: Optional[int] = typer.Option(None, help="Crop size of the training photos.", rich_help_panel=SCHEDULE),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate at the start (cosine decay to a twentieth).", rich_help_panel=SCHEDULE),
    lr_ramp: LrRampOpt = None,
    batch_size: BatchOpt = 4,
    arch: Optional[Arch] = typer.Option(None, help="The CPU network: fast (lite4's shape made for onnxruntime, about twice as fast), lite4 or lite.", rich_help_panel=ADVANCED),
    width: Optional[int] = typer.Option(None, help="Channels of the CPU network's first layer.", rich_help_panel=ADVANCED),
    blocks: Optional[int] = typer.Option(None, help="Residual blocks of the CPU network.", rich_help_panel=ADVANCED),
    seed: SeedOpt = 0,
    checkpoint_every: CheckpointEveryOpt = 250,
    precision: PrecisionOpt = Precision.auto,
    device: TrainDevice = Device.auto,
) -> None:
    """Train a CPU network (NAME-lite) to reproduce a full style network: minutes on a CPU."""
    need_training("distill")
    from realtime.training import distill as distill_mod, recipes

    if data is None:
        raise UserError("--data DIR: give a folder of photos to distil on (for example COCO train2014)")
    if not _valid_name(name):
        raise UserError(f"--name {name!r}: use letters, digits, _ and - only")
    if arch == Arch.full:
        raise UserError("--arch full: distil into a CPU network (fast, lite4 or lite); the teacher is the full one")
    plan_of = recipes.get(recipes.DISTILL, recipe)
    given = _given(steps=steps, gram_weight=gram_weight, gram_tap_weights=_tap_weights(gram_tap_weights, "--gram-tap-weights"),
                   edge_weight=edge_weight, chroma_weight=chroma_weight, border_weight=border_weight,
                   stability_weight=stability_weight, colour_match=colour_match, image_size=image_size, lr=lr, lr_ramp=lr_ramp, arch=arch, width=width,
                   blocks=blocks)
    if init is not None:
        given["init"] = None if init == "scratch" else init
    base = distill_mod.DistillSettings(teacher=teacher, data=str(data), name=name, out_dir=str(out_dir),
                                       batch_size=batch_size, seed=seed, checkpoint_every=checkpoint_every,
                                       precision=precision.value, device=device.value)
    for planned in recipes.plan(plan_of, base, given):
        s = planned.settings
        if s.steps < 1 or s.batch_size < 1 or s.image_size < 32 or s.width < 4 or s.blocks < 0 or s.lr <= 0:
            raise UserError("--steps, --batch-size and --lr must be positive, --image-size at least 32, --width at "
                            "least 4, --blocks not negative")
        if min(s.edge_weight, s.gram_weight, s.chroma_weight, s.border_weight, s.stability_weight, s.lr_ramp) < 0:
            raise UserError("--edge-weight, --gram-weight, --chroma-weight, --border-weight, --stability-weight and "
                            "--lr-ramp must not be negative")
    try:
        ckpt = recipes.run(plan_of, base, given, lambda s, r, entry: distill_mod.distill(s, resume=r, recipe=entry), say,
                           resume=str(resume) if resume else None)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    say(f"wrote {ckpt} and {ckpt.with_suffix('.json')}; export with: realtime export {ckpt} -o {name}.onnx")


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A .ckpt written by `realtime train` (with --int8 also an fp32 .onnx to quantise)."),
    output: Path = typer.Option(..., "-o", "--output", help="The .onnx file to write (the int8 file when quantising an .onnx)."),
    fp16: bool = typer.Option(False, help="Half-precision convolutions (instance norm stays float32): for GPUs."),
    opset: int = typer.Option(17, help="ONNX opset, 17 or newer."),
    int8: bool = typer.Option(False, "--int8", help="Also write NAME.int8.onnx: int8 convolutions (QDQ) calibrated on real frames, for CPUs."),
    calibration: Optional[Path] = typer.Option(None, help="With --int8: a folder of photos (or a video) to calibrate on; default: the bundled sample clip."),
    int8_output: Optional[Path] = typer.Option(None, help="With --int8: where the int8 file goes (default: NAME.int8.onnx beside -o)."),
) -> None:
    """Export a trained network to ONNX (dynamic height and width), checked against PyTorch."""
    need_training("export")
    from realtime.tools import export as export_mod
    from realtime.tools import quantize

    check_distinct(output, [checkpoint] + ([calibration] if calibration else []))
    if int8_output:
        check_distinct(int8_output, [checkpoint, output], "--int8-output")
    if (calibration or int8_output) and not int8:
        raise UserError("--calibration and --int8-output only apply with --int8")
    if int8 and fp16:
        raise UserError("--int8 quantises the fp32 export; leave out --fp16")
    if checkpoint.suffix == ".onnx":
        if not int8:
            raise UserError(f"{checkpoint}: an .onnx file can only be quantised (add --int8); export a .ckpt otherwise")
        if int8_output:
            raise UserError("--int8-output: when quantising an .onnx file, -o already names the int8 file")
        say(quantize.quantize(checkpoint, output, calibration).line())
        return
    target = int8_output or quantize.int8_path(output)
    if int8:  # fail before the export, not after it
        check_distinct(target, [checkpoint], "--int8-output")
        check_output_path(target)
    report = export_mod.export(checkpoint, output, fp16=fp16, opset=opset)
    errors = ", ".join(f"{k} {v:.2g}" for k, v in report.max_abs_error.items())
    say(f"wrote {report.path} (opset {report.opset}, {'fp16' if fp16 else 'fp32'}); "
        f"max |onnxruntime - PyTorch| in 0-255 units: {errors}")
    if int8:
        say(quantize.quantize(report.path, target, calibration).line())
    say(export_mod.RUNTIME_HINTS.format(path=report.path))




@app.command()
def gatys(
    content: Path = typer.Argument(..., help="Photo to stylise."),
    style: Path = typer.Argument(..., help="Style image (a painting)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the result (.png or .jpg)."),
    size: int = typer.Option(512, help="Long side of the result in pixels."),
    steps: int = typer.Option(300, help="Optimiser steps in all (spread over 1/4, 1/2 and full size)."),
    optimizer: Optimizer = typer.Option(Optimizer.lbfgs, help="L-BFGS (best) or Adam."),
    content_weight: float = typer.Option(1.0, help="Weight of the content (relu4_2) loss."),
    style_weight: float = typer.Option(1.0, help="Weight of the Gram style loss."),
    tv_weight: float = typer.Option(0.1, help="Weight of total variation (smoothness)."),
    init: Init = typer.Option(Init.content, help="Start from the photo or from noise."),
    device: TrainDevice = Device.auto,
    seed: int = typer.Option(0, help="Seed for --init noise."),
    vgg: VggOpt = None,
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the input's colours: transfer the style's lightness only."),
) -> None:
    """Stylise one still by optimisation (Gatys et al.): slow, best quality."""
    need_training("gatys")
    from realtime import progress
    from realtime.training import gatys as gatys_mod
    from realtime.media import images
    from realtime.training.losses import GATYS_CONTENT, GATYS_STYLE
    from realtime.training.train import pick_device
    from realtime.training.vgg import load_features

    if size < 64 or steps < 1:
        raise UserError("--size must be at least 64 and --steps at least 1")
    if output.suffix.lower() not in images.IMAGE_SUFFIXES:
        raise UserError(f"{output}: unknown image format; use .png or .jpg")
    check_distinct(output, [content, style])
    check_output_path(output)
    dev = pick_device(device.value)
    content_img = images.read_bgr(content, "content image")
    style_img = images.read_bgr(style, "style image")
    features, _ = load_features(GATYS_STYLE + [GATYS_CONTENT], vgg)
    features = features.to(dev)
    settings = gatys_mod.GatysSettings(size=size, steps=steps, optimizer=optimizer.value,
                                       content_weight=content_weight, style_weight=style_weight,
                                       tv_weight=tv_weight, init=init.value, seed=seed)
    bar = progress.bar(TextColumn("{task.fields[losses]}"))
    with bar:
        task = bar.add_task("gatys", total=steps, losses="")

        def on_step(done: int, total: int, parts: dict[str, float]) -> None:
            bar.update(task, completed=done, total=total, losses=(
                f"{int(parts['size'])}px style {parts['style']:.1f} content {parts['content']:.1f} tv {parts['tv']:.1f}"))

        result = gatys_mod.stylise(content_img, style_img, features, settings, dev, on_step)
    if preserve_color:  # on the final result: the photo's colours, the optimised lightness
        import cv2

        from realtime.engine.blend import preserve_color as keep_colours

        h, w = result.image.shape[:2]
        result.image = keep_colours(cv2.resize(content_img, (w, h), interpolation=cv2.INTER_AREA), result.image)
    images.write_bgr(output, result.image)
    say(f"wrote {output} ({result.image.shape[1]}x{result.image.shape[0]}); style loss "
        f"{result.photo_style_loss:.1f} (photo) -> {result.final['style']:.1f}")


