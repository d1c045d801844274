"""The `realtime` command line. Thin: parse options, call the module that does the work, report."""

from __future__ import annotations

import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, List, Optional

import typer
from rich.progress import TextColumn

from realtime.errors import UserError
from realtime.files import check_distinct, check_output_path
from realtime.progress import STDERR, STDOUT

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Neural style transfer live on a webcam, on video files and on stills.")


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


STABILIZE_HELP = ("Against flicker: blend each frame with the previous output moved by optical flow, "
                  "0 (off) to 1 (steadiest); 0.7 cuts the warping error by about 80%.")


NET_HELP = "auto: the style's CPU network (NAME-lite) when running on the CPU and one is installed; full; lite."
INT8_HELP = ("Use the style's int8 copy (NAME.int8.onnx, made by `export --int8`; none ships) when there is one: 1.3-1.6x "
             "faster on one AMD CPU with AVX-512 VNNI, 10 % slower on an Intel one with it, slower on AVX2-only ones: "
             "measure yours with `realtime bench`.")


class Net(str, Enum):
    auto = "auto"
    full = "full"
    lite = "lite"


# Options shared by the commands that stylise (image, video, webcam), declared once.
StyleOpt = Annotated[str, typer.Option(help="Style name (see `realtime styles`) or path to an .onnx file.")]
RunDevice = Annotated[Device, typer.Option(help="auto: CUDA when onnxruntime can use it, else CPU (said).")]
Fp16Opt = Annotated[bool, typer.Option(help="Use the style's half-precision copy when there is one (GPUs).")]
Int8Opt = Annotated[bool, typer.Option("--int8", help=INT8_HELP)]
NetOpt = Annotated[Net, typer.Option(help=NET_HELP)]
StrengthOpt = Annotated[float, typer.Option(help="How much style, 0 (the photo) to 1 (full); blended in Lab, colours kept vivid.")]
PreserveColorOpt = Annotated[bool, typer.Option("--preserve-color", help="Keep the input's colours: transfer the style's lightness only.")]
TileOpt = Annotated[str, typer.Option(metavar="auto|off|PIXELS", help=(
    "Frames above this many pixels (auto: 2.1 MP, so 1080p runs whole) are stylised in overlapping tiles that "
    "share the frame's normalisation: an 8K still in under 2 GB instead of 15 GB."))]

# Options of the two training commands (train, distill).
DataOpt = Annotated[Path, typer.Option(help="Folder (searched recursively) of JPEG/PNG training photos, e.g. COCO train2014.")]
NameOpt = Annotated[str, typer.Option(help="Network name: files are NAME.ckpt and NAME.json.")]
OutDirOpt = Annotated[Path, typer.Option(help="Where checkpoints, model card and previews go.")]
StepsOpt = Annotated[int, typer.Option(help="Training steps (batches).")]
BatchOpt = Annotated[int, typer.Option(help="Photos per batch (per process under torchrun).")]
ResumeOpt = Annotated[Optional[Path], typer.Option(help="Continue from this checkpoint.")]
SeedOpt = Annotated[int, typer.Option(help="Seed for weights and crops.")]
CheckpointEveryOpt = Annotated[int, typer.Option(help="Write a checkpoint every N steps.")]
LrRampOpt = Annotated[int, typer.Option(help="With --init: steps over which the learning rate ramps up from a hundredth of --lr, so that Adam's first full-size steps do not shake the trained network (40 such steps took a shipped style's judged style loss up by a third); 0: no ramp.")]


class Arch(str, Enum):
    full = "full"
    lite = "lite"
    lite4 = "lite4"


class Optimizer(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


class Init(str, Enum):
    content = "content"
    noise = "noise"


def say(message: str) -> None:
    STDERR.print(message, highlight=False, markup=False, soft_wrap=True)


def say_once() -> Callable[[str], None]:
    """`say`, but each distinct message only once (several engines share one device notice)."""
    seen: set[str] = set()

    def notify(message: str) -> None:
        if message not in seen:
            seen.add(message)
            say(message)

    return notify


@app.command()
def weights(vgg: Optional[Path] = typer.Option(None, help="Local VGG19 weights (.h5 or converted .pt); also REALTIME_VGG.")) -> None:
    """Fetch, verify and cache the VGG19 loss network; print its path and hash."""
    from realtime import vgg as vgg_mod

    w = vgg_mod.ensure_weights(vgg)
    typer.echo(f"{w.path}\nsha256 {w.sha256}")
    if w.source_md5:
        typer.echo(f"source {vgg_mod.H5_NAME} md5 {w.source_md5} (verified)")


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
    device: Device = typer.Option(Device.auto, help="auto uses CUDA when PyTorch sees a GPU."),
    seed: int = typer.Option(0, help="Seed for --init noise."),
    vgg: Optional[Path] = typer.Option(None, help="Local VGG19 weights; also REALTIME_VGG."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the input's colours: transfer the style's lightness only."),
) -> None:
    """Stylise one still by optimisation (Gatys et al.): slow, best quality."""
    from realtime import gatys as gatys_mod, images, progress
    from realtime.losses import GATYS_CONTENT, GATYS_STYLE
    from realtime.train import pick_device
    from realtime.vgg import load_features

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

        from realtime.blend import preserve_color as keep_colours

        h, w = result.image.shape[:2]
        result.image = keep_colours(cv2.resize(content_img, (w, h), interpolation=cv2.INTER_AREA), result.image)
    images.write_bgr(output, result.image)
    say(f"wrote {output} ({result.image.shape[1]}x{result.image.shape[0]}); style loss "
        f"{result.photo_style_loss:.1f} (photo) -> {result.final['style']:.1f}")


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


PrecisionOpt = Annotated[Precision, typer.Option(help="auto: bf16 autocast on CUDA; on a CPU with native bf16 (AVX512-BF16, AMX) whichever of bf16 and fp32 is faster, timed at the start; else fp32. A resumed run keeps its own.")]


class ContentTap(str, Enum):
    relu2_2 = "relu2_2"
    relu3_2 = "relu3_2"
    relu4_2 = "relu4_2"


class StyleStatistic(str, Enum):
    gram = "gram"
    covariance = "covariance"
    gram_covariance = "gram+covariance"


def _tap_weights(text: str, option: str = "--style-tap-weights", counts: tuple[int, ...] = (4,)) -> tuple[float, ...]:
    """--style-tap-weights (four, or five with relu5_1), --gram-tap-weights (four): non-negative, not all 0."""
    try:
        weights = tuple(float(part) for part in text.split(","))
    except ValueError:
        weights = ()
    if len(weights) not in counts or min(weights) < 0 or sum(weights) <= 0:
        fifth = " (and a fifth for relu5_1 if you like)" if 5 in counts else ""
        raise UserError(f"{option} {text!r}: give four weights for relu1_1,relu2_1,relu3_1,relu4_1{fifth} "
                        "such as 1,1,1,4 (none negative, not all 0)")
    return weights


@app.command()
def train(
    style_image: Path = typer.Argument(..., help="The style image to learn."),
    data: DataOpt = ...,
    name: NameOpt = ...,
    out_dir: OutDirOpt = Path("."),
    steps: StepsOpt = 2000,
    batch_size: BatchOpt = 4,
    image_size: int = typer.Option(256, help="Crop size of the finish (the last --finish-fraction of the steps)."),
    small_size: Optional[int] = typer.Option(None, help="Crop size before the finish (default 128, or --image-size if smaller): a quarter of the pixels of 256, about 4x faster steps; 0: --image-size throughout."),
    finish_fraction: float = typer.Option(0.1, help="Share of the steps at --image-size; the stability term is trained there."),
    photo_size: int = typer.Option(0, help="Short side the training photos are scaled to before a crop is cut: 0 squeezes most of each photo into the crop; 320-480 shows the network things at the size they have in a webcam frame or a 512-px still, so a small crop is a window, not a thumbnail."),
    style_size: int = typer.Option(512, help="Long side the style image is scaled to: sets the size of strokes and tiles (about the same in a photo of that size)."),
    style_weight: float = typer.Option(5.0, help="Weight of the style loss against the content loss (both relative errors): higher, more style. The shipped styles finished at 2-82 (each card's settings: udnie 2.1, shipwreck 5, wave 16, mosaic 82); from a pale network 20-40 washed the photo out."),
    content_weight: float = typer.Option(1.0, help="Weight of the content loss (at --content-tap)."),
    content_tap: ContentTap = typer.Option(ContentTap.relu2_2, help="VGG layer whose features the output keeps from the photo: relu2_2 (Johnson) holds every edge where it is, so a stroke that redraws a contour costs content; relu4_2 (Gatys, lengstrom) holds the shapes and lets strokes move edges a few pixels (a 2-px shift costs it about a sixth of what it costs relu2_2, on average)."),
    tv_weight: float = typer.Option(1e-4, help="Weight of total variation (in 0-255 units; smooths noise)."),
    colour_weight: float = typer.Option(0.0, help="Weight of the local colour term: each region keeps the photo's hue (relative error of 8x8-averaged chroma) while the style redraws it; 0 turns it off."),
    colour_shading: float = typer.Option(0.0, help="Share of the colour term given to local lightness (8x8-averaged, less the picture's mean): each region also stays as much darker or lighter than the rest as in the photo, so a dark red stays dark where chroma alone lets it turn cream. Needs --colour-weight."),
    style_statistic: StyleStatistic = typer.Option(StyleStatistic.gram, help="What the style loss matches at each VGG tap: Gram matrices; covariances (mean-free Grams); or both, which gives the style's variety of colours and strokes its own say."),
    style_tap_weights: str = typer.Option("1,1,1,1", help="Say of each style tap (relu1_1,relu2_1,relu3_1,relu4_1) in the style loss, a weighted mean: the early taps carry colour and fine grain, relu4_1 the strokes and tiles. A fifth number adds relu5_1, for the style's largest strokes."),
    lr: float = typer.Option(1e-3, help="Adam learning rate at the start; it decays (cosine) to a twentieth."),
    lr_ramp: LrRampOpt = 100,
    warmup_steps: int = typer.Option(200, help="From scratch: steps that first teach the network to reproduce the photo (no VGG, seconds)."),
    precision: PrecisionOpt = Precision.auto,
    init: Optional[str] = typer.Option(None, help="Fine-tune from a network: a shipped style's name, a .ckpt, or an .onnx from `realtime export`. A new style in a few hundred steps."),
    arch: Arch = typer.Option(Arch.full, help="full: Johnson's net (GPUs); lite: the CPU net, about 40x fewer multiply-adds."),
    width: Optional[int] = typer.Option(None, help="Channels of the first layer (default 16, the width jcjohnson ships; Johnson's paper used 32, 4x the work). With --init, a whole multiple of its width widens that network: it starts out drawing the same pictures."),
    blocks: Optional[int] = typer.Option(None, help="Residual blocks (default: 5 full, 4 lite)."),
    stability_weight: float = typer.Option(5e-4, help="Weight of the stability term (Gupta et al. 2017, squared 0-255 differences), trained in the finish: less flicker for a few % more style loss; 0 turns it off."),
    resume: ResumeOpt = None,
    seed: SeedOpt = 0,
    checkpoint_every: CheckpointEveryOpt = 500,
    preview_every: int = typer.Option(200, help="Write a preview image every N steps (0: never)."),
    device: Device = typer.Option(Device.auto, help="auto uses CUDA when PyTorch sees a GPU."),
    vgg: Optional[Path] = typer.Option(None, help="Local VGG19 weights; also REALTIME_VGG."),
) -> None:
    """Train a fast style network on a folder of photos (Johnson et al.); runs under torchrun too."""
    from realtime import train as train_mod

    if not _valid_name(name):
        raise UserError(f"--name {name!r}: use letters, digits, _ and - only")
    from realtime.transformer import defaults

    if init:  # the network's own shape unless asked otherwise (a mismatch is reported by train)
        from realtime.checkpoint import initial_weights

        _, (_, init_width, init_blocks) = initial_weights(init)
        width, blocks = width or init_width, init_blocks if blocks is None else blocks
    width = width or defaults(arch.value)[0]
    blocks = blocks if blocks is not None else defaults(arch.value)[1]
    if steps < 1 or batch_size < 1 or image_size < 32 or width < 4 or blocks < 0:
        raise UserError("--steps and --batch-size must be positive, --image-size at least 32, --width at least 4, "
                        "--blocks not negative")
    if small_size is None:
        small_size = min(128, image_size)
    if small_size and not 32 <= small_size <= image_size:
        raise UserError(f"--small-size {small_size}: use 0 (off) or 32 up to --image-size ({image_size})")
    if lr_ramp < 0:
        raise UserError(f"--lr-ramp {lr_ramp}: use 0 (no ramp) or a number of steps such as 100")
    if photo_size < 0:
        raise UserError(f"--photo-size {photo_size}: use 0 (the crop size) or a short side in pixels such as 384")
    if not 0 <= finish_fraction <= 1:
        raise UserError(f"--finish-fraction {finish_fraction}: use a share between 0 and 1")
    if style_size < 32 or warmup_steps < 0 or lr <= 0 or min(style_weight, content_weight, tv_weight, colour_weight, colour_shading) < 0:
        raise UserError("--style-size must be at least 32, --lr positive, --warmup-steps and the loss weights not negative")
    if colour_shading > 0 and colour_weight == 0:
        raise UserError(f"--colour-shading {colour_shading} is a share of the colour term, which is off: "
                        "give --colour-weight too (such as 0.3)")
    tap_weights = _tap_weights(style_tap_weights, counts=(4, 5))
    if stability_weight < 0:
        raise UserError(f"--stability-weight {stability_weight}: use 0 (off) or a positive weight such as 0.02")
    if init and resume:
        raise UserError("--init starts a new run from a network's weights, --resume continues a run: give one")
    settings = train_mod.TrainSettings(
        style_image=str(style_image), data=str(data), name=name, out_dir=str(out_dir), steps=steps,
        batch_size=batch_size, image_size=image_size, small_size=small_size or None, finish_fraction=finish_fraction,
        photo_size=photo_size, style_size=style_size, style_weight=style_weight, content_weight=content_weight,
        content_tap=content_tap.value, tv_weight=tv_weight, lr=lr, lr_ramp=lr_ramp,
        style_statistic=style_statistic.value, colour_weight=colour_weight, colour_shading=colour_shading,
        style_tap_weights=tap_weights,
        warmup_steps=warmup_steps, precision=precision.value, init=init, width=width, blocks=blocks, arch=arch.value,
        stability_weight=stability_weight, seed=seed,
        checkpoint_every=checkpoint_every, preview_every=preview_every, device=device.value,
        vgg=str(vgg) if vgg else None)
    try:
        ckpt = train_mod.train(settings, resume=str(resume) if resume else None)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    say(f"wrote {ckpt} and {ckpt.with_suffix('.json')}; export with: realtime export {ckpt} -o {name}.onnx")


@app.command()
def distill(
    teacher: str = typer.Argument(..., help="The full network to copy: a shipped style's name, a .ckpt, or an .onnx from `realtime export`."),
    data: DataOpt = ...,
    name: NameOpt = ...,
    out_dir: OutDirOpt = Path("."),
    steps: StepsOpt = 1500,
    batch_size: BatchOpt = 4,
    image_size: int = typer.Option(256, help="Crop size of the training photos."),
    arch: Arch = typer.Option(Arch.lite4, help="The CPU network to train (lite4: 1/4 size with a full-resolution photo path)."),
    width: int = typer.Option(16, help="Channels of the CPU network's first layer."),
    blocks: int = typer.Option(4, help="Residual blocks of the CPU network."),
    lr: float = typer.Option(2e-3, help="Adam learning rate at the start; it decays (cosine) to a twentieth."),
    lr_ramp: LrRampOpt = 100,
    edge_weight: float = typer.Option(1.0, help="Weight of the image-gradient term beside the pixel L1: keeps strokes and edges sharp."),
    gram_weight: float = typer.Option(0.0, help="Weight of matching the teacher's VGG Gram matrices (its texture: strokes, tiles); needs `realtime weights`, costs about a VGG pass per step."),
    gram_tap_weights: str = typer.Option("1,1,1,1", help="Say of each tap (relu1_1,relu2_1,relu3_1,relu4_1) in the Gram term, a weighted mean: relu4_1 carries the strokes and tiles, and nearly all of the style loss `evaluate` reports."),
    chroma_weight: float = typer.Option(0.0, help="Weight of matching the teacher's chroma over 4x4 blocks (L1, 0-255 units): without it a small copy turns a mosaic's reds brown; 5 keeps them."),
    stability_weight: float = typer.Option(5e-3, help="Weight of the stability term (less flicker); 0 turns it off."),
    colour_match: bool = typer.Option(True, help="At the end, fold a colour map into the network that gives it the teacher's colour spread (a pixel loss leaves it slightly greyer)."),
    init: Optional[str] = typer.Option(None, help="Start from this CPU network (a NAME-lite name or .ckpt of the same --arch, width and blocks), e.g. another style's: fewer steps."),
    resume: ResumeOpt = None,
    seed: SeedOpt = 0,
    checkpoint_every: CheckpointEveryOpt = 250,
    precision: PrecisionOpt = Precision.auto,
    device: Device = typer.Option(Device.auto, help="auto uses CUDA when PyTorch sees a GPU."),
) -> None:
    """Train a CPU network to reproduce a full style network (NAME-lite): no VGG, a few minutes on a CPU."""
    from realtime import distill as distill_mod

    if not _valid_name(name):
        raise UserError(f"--name {name!r}: use letters, digits, _ and - only")
    if arch == Arch.full:
        raise UserError("--arch full: distil into a CPU network (lite4 or lite); the teacher is the full one")
    if steps < 1 or batch_size < 1 or image_size < 32 or width < 4 or blocks < 0 or lr <= 0:
        raise UserError("--steps, --batch-size and --lr must be positive, --image-size at least 32, --width at least 4, "
                        "--blocks not negative")
    if min(edge_weight, gram_weight, chroma_weight, stability_weight, lr_ramp) < 0:
        raise UserError("--edge-weight, --gram-weight, --chroma-weight, --stability-weight and --lr-ramp must not be negative")
    tap_weights = _tap_weights(gram_tap_weights, "--gram-tap-weights")
    settings = distill_mod.DistillSettings(
        teacher=teacher, data=str(data), name=name, out_dir=str(out_dir), steps=steps, batch_size=batch_size,
        image_size=image_size, arch=arch.value, width=width, blocks=blocks, lr=lr, lr_ramp=lr_ramp,
        edge_weight=edge_weight,
        gram_weight=gram_weight, gram_tap_weights=tap_weights, chroma_weight=chroma_weight, stability_weight=stability_weight, seed=seed,
        checkpoint_every=checkpoint_every, device=device.value, init=init, colour_match=colour_match,
        precision=precision.value)
    try:
        ckpt = distill_mod.distill(settings, resume=str(resume) if resume else None)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    say(f"wrote {ckpt} and {ckpt.with_suffix('.json')}; export with: realtime export {ckpt} -o {name}.onnx")


def _valid_name(name: str) -> bool:
    from realtime.zoo import NAME_RE

    return bool(NAME_RE.match(name)) and "." not in name


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
    from realtime import export as export_mod, quantize

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
def video(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="Video file to stylise (.mp4, .mov, .mkv, .avi, ...)."),
    output: Path = typer.Option(..., "-o", "--output", help="Video file to write: .mp4, .m4v, .mov, .mkv or .avi."),
    style: StyleOpt = ...,
    scale: float = typer.Option(1.0, help="Run the network at this fraction of the size, then resize back (faster)."),
    device: RunDevice = Device.auto,
    fp16: Fp16Opt = False,
    int8: Int8Opt = False,
    net: NetOpt = Net.auto,
    no_audio: bool = typer.Option(False, "--no-audio", help="Leave the audio out (it is copied unchanged by default)."),
    size: Optional[int] = typer.Option(None, metavar="LONG_SIDE", help="Long side of the output in pixels (default: input size)."),
    overwrite: bool = typer.Option(False, help="Replace OUTPUT if it exists."),
    crf: int = typer.Option(18, help="x264 quality: lower is better and bigger; 18-23 is usual."),
    preset: str = typer.Option("medium", help="x264 speed/size trade-off: ultrafast ... medium ... veryslow."),
    strength: StrengthOpt = 1.0,
    preserve_color: PreserveColorOpt = False,
    stabilize: float = typer.Option(0.0, metavar="S", help=STABILIZE_HELP),
    tile: TileOpt = "auto",
) -> None:
    """Stylise a video file: every frame, same frame rate and size, audio copied; Ctrl-C keeps a playable part."""
    from realtime import video as video_mod, zoo
    from realtime.blend import check_strength
    from realtime.engine import Engine, runs_on_cpu
    from realtime.inflight import cpu_workers
    from realtime.stabilize import Stabilized, check_amount
    from realtime.tiling import parse_tile

    check_strength(strength)
    check_amount(stabilize)
    budget = parse_tile(tile)
    on_cpu = runs_on_cpu(device.value)
    model = zoo.pick(style, net.value, on_cpu, fp16=fp16, int8=int8, notify=say)
    settings = video_mod.VideoSettings(size=size, audio=not no_audio, overwrite=overwrite, crf=crf, preset=preset)
    job = video_mod.prepare(input_path, output, settings)
    pixels = job.width * job.height * scale * scale
    # On a CPU, frames in flight: two one-thread sessions fed alternate frames (1.15x one session on both
    # cores, benchmarks/cpu_threads.py); not with --stabilize (each frame needs the one before) or tiles.
    flight = cpu_workers() if on_cpu and not stabilize and (budget is None or pixels <= budget) else 1

    def make(notify: Callable[[str], None]) -> Engine:
        return Engine(model, device=device.value, scale=scale, notify=notify, strength=strength,
                      preserve_color=preserve_color, tile=budget, threads=1 if flight > 1 else None)
    engine = make(say)
    engines = [Stabilized(engine, stabilize) if stabilize else engine] + [make(lambda msg: None) for _ in range(flight - 1)]
    try:
        result = video_mod.stylise_video(job, engines, notify=say)
    except video_mod.Interrupted as stop:
        say(str(stop))
        raise typer.Exit(130) from None
    fps = f" at {result.fps:.3f} fps" if result.fps else ""
    say(f"wrote {result.output}: {result.frames} frames, {result.width}x{result.height}{fps} "
        f"({result.pix_fmt}, {engine.device}); " + ("; ".join(result.audio) if result.audio else "no audio in input"))


@app.command()
def styles(
    as_json: bool = typer.Option(False, "--json", help="Print the styles and their model cards as JSON."),
    sheet: Optional[Path] = typer.Option(None, metavar="PHOTO", help="Render every installed style on this photo, labelled, into one image (-o)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="With --sheet: the image to write (.png or .jpg)."),
    size: int = typer.Option(512, help="With --sheet: long side the photo is stylised at."),
    device: Device = typer.Option(Device.auto, help="With --sheet: auto uses CUDA when onnxruntime can, else the CPU (said)."),
) -> None:
    """List the installed styles with their model cards, or show them all on your photo (--sheet)."""
    import json

    from realtime import zoo

    found = zoo.list_styles()
    if sheet is not None or output is not None:
        _style_sheet(found, sheet, output, size, device.value)
        return
    if as_json:
        typer.echo(json.dumps([{"name": s.name, "path": str(s.path), "card": s.card,
                                "lite": str(zoo.lite_variant(s.name) or "") or None} for s in found], indent=2))
        return
    if not found:
        say(f"no styles installed; searched {', '.join(map(str, zoo.model_dirs())) or 'nothing'} (add folders with {zoo.ENV_VAR})")
        return
    for s in found:
        card = s.card
        note = card.get("note") or _card_summary(card)
        lite = zoo.lite_variant(s.name)
        typer.echo(f"{s.name:<20} {note}  [{s.path}]" + (f" + CPU network {lite.name}" if lite else ""))


def _card_summary(card: dict) -> str:
    """One line from a model card: the style image, how long it trained, on what."""
    parts = [card.get("style_image", "")]
    if card.get("steps"):
        trained = f"{card['steps']} steps"
        if card.get("init"):
            trained += f" from {card['init']}"
        parts.append(trained)
    if card.get("device"):
        parts.append(f"{card['device']} {card.get('precision', '')}".strip())
    return ", ".join(p for p in parts if p)


def _style_sheet(found: list, photo_path: Optional[Path], output: Optional[Path], size: int, device: str) -> None:
    from realtime import gallery, images, progress
    from realtime.engine import Engine
    if photo_path is None or output is None:
        raise UserError("--sheet PHOTO and -o SHEET.png go together")
    if output.suffix.lower() not in images.IMAGE_SUFFIXES:
        raise UserError(f"-o {output}: unknown image format; use .png or .jpg")
    if not 64 <= size <= 4096:
        raise UserError(f"--size {size}: use 64 to 4096 pixels")
    if not found:
        raise UserError("no styles installed to show; see `realtime styles`")
    check_distinct(output, [photo_path])
    check_output_path(output)
    photo = images.read_bgr(photo_path, "photo")
    notify = say_once()
    bar = progress.bar()
    with bar:
        task = bar.add_task("styles", total=len(found))
        engines = {s.name: s.path for s in found}
        results = list(gallery.render(photo, list(engines), lambda name, img: Engine(engines[name], device=device, notify=notify)(img),
                                      size, on_done=lambda name: bar.advance(task)))
    images.write_bgr(output, gallery.style_sheet(images.resize_long_side(photo, size), results))
    say(f"wrote {output}: {len(results)} styles on {photo_path.name}")


@app.command()
def image(
    inputs: List[Path] = typer.Argument(..., help="Image files and/or folders of images."),
    output: str = typer.Option(..., "-o", "--output", help="Output image (one input), or folder (several inputs, or a path ending in /)."),
    style: StyleOpt = ...,
    scale: float = typer.Option(1.0, help="Process at this fraction of the size, then resize back."),
    device: RunDevice = Device.auto,
    fp16: Fp16Opt = False,
    int8: Int8Opt = False,
    net: NetOpt = Net.auto,
    strength: StrengthOpt = 1.0,
    preserve_color: PreserveColorOpt = False,
    tile: TileOpt = "auto",
) -> None:
    """Stylise still images with a fast network; results keep the input size."""
    from realtime import stills, zoo
    from realtime.blend import check_strength
    from realtime.engine import Engine, runs_on_cpu
    from realtime.tiling import parse_tile

    check_strength(strength)
    budget = parse_tile(tile)
    model = zoo.pick(style, net.value, runs_on_cpu(device.value), fp16=fp16, int8=int8, notify=say)
    files = stills.collect_inputs(inputs)
    engine = Engine(model, device=device.value, scale=scale, notify=say, strength=strength, preserve_color=preserve_color,
                    tile=budget)
    pairs = stills.plan_outputs(files, Path(output), folder=output.endswith(("/", "\\")))
    stills.stylise_files(engine, pairs, on_done=lambda src, dst: say(f"{src} -> {dst}"))


@app.command()
def evaluate(
    models: List[str] = typer.Argument(..., help="Style names or .onnx paths (the anchors included)."),
    style_image: Optional[Path] = typer.Option(None, help="The painting the losses are measured against."),
    photos: Optional[Path] = typer.Option(None, help="Folder of photos for the style and content losses."),
    clip: Optional[Path] = typer.Option(None, help="A video for the temporal warping error and fps."),
    size: int = typer.Option(256, help="Long side the photos (and the style image) are scaled to."),
    clip_size: int = typer.Option(640, help="Long side clip frames are scaled to."),
    max_frames: int = typer.Option(120, help="Frames of the clip to use."),
    scale: float = typer.Option(1.0, help="Processing scale passed to the engine."),
    device: RunDevice = Device.auto,
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write all figures as JSON."),
    sheet: Optional[Path] = typer.Option(None, help="Write a contact sheet PNG (photo | model | model ...)."),
    stabilize: float = typer.Option(0.0, metavar="S", help="Also measure each model with `--stabilize S` on the clip."),
    teacher: Optional[str] = typer.Option(None, help="The full network the models were distilled from (name or .onnx): with --photos, adds each model's PSNR and SSIM against its outputs."),
) -> None:
    """Measure models: VGG style/content losses on photos, warping error (flicker) on a clip, fps."""
    import json

    from rich.table import Table

    from realtime import evaluate as ev, images, zoo
    from realtime.engine import Engine
    from realtime.files import atomic_path
    from realtime.stabilize import Stabilizer, check_amount

    check_amount(stabilize)
    inputs = [Path(m) for m in models if m.endswith(".onnx")] + [p for p in (style_image, clip) if p]
    if photos is not None and photos.is_dir():
        inputs += list(photos.iterdir())
    for written, option in ((json_path, "--json"), (sheet, "--sheet")):
        if written is not None:
            check_distinct(written, inputs, option)
    if photos is None and clip is None:
        raise UserError("give --photos DIR (with --style-image) and/or --clip VIDEO")
    if photos is not None and style_image is None:
        raise UserError("--photos needs --style-image, the painting to measure the style loss against")
    if teacher is not None and photos is None:
        raise UserError("--teacher compares outputs on photos: give --photos DIR and --style-image too")
    engines = {}
    notify = say_once()
    teacher_label = f"teacher {Path(teacher).stem if teacher.endswith('.onnx') else teacher}" if teacher else None
    if len(set(models)) < len(models):
        raise UserError("a model is given twice: name each network once")
    for m, label in zip(models, ev.model_labels(models)):
        engines[label] = Engine(zoo.resolve(m), device=device.value, scale=scale, notify=notify)
    if teacher_label:
        engines = {teacher_label: Engine(zoo.resolve(teacher), device=device.value, scale=scale, notify=notify), **engines}
    result: dict[str, object] = {"models": {name: str(e.info.path) for name, e in engines.items()}}
    table = Table(title="realtime evaluate")
    table.add_column("model")
    if photos is not None:
        from realtime.stills import collect_inputs

        files = collect_inputs([photos])
        losses, outputs = ev.photo_losses(engines, files, images.read_bgr(style_image, "style image"), size)
        result["photos"] = {"folder": str(photos), "count": len(files), "size": size,
                            "style_image": str(style_image), "losses": losses}
        for col in ("style loss", "content loss", "L* contrast", "colourfulness", "colour kept", "shading kept"):
            table.add_column(col, justify="right")
        like = ev.likeness(outputs, teacher_label) if teacher_label else {}
        if teacher_label:
            result["photos"]["likeness_to_teacher"] = like  # type: ignore[index]
            table.add_column("PSNR vs teacher", justify="right")
            table.add_column("SSIM vs teacher", justify="right")
        if sheet is not None:
            names = list(outputs)
            grid = ev.contact_sheet([[outputs[n][i] for n in names] for i in range(len(files))], names)
            images.write_bgr(sheet, grid)
    temporal = {}
    steady = f"steady {stabilize:g}"
    if clip is not None:
        frames = list(ev.read_frames(clip, max_frames, clip_size))
        for name, engine in engines.items():
            post = {steady: Stabilizer(stabilize)} if stabilize else {}
            for variant, t in ev.temporal_variants(frames, engine, post).items():
                temporal[name if variant == "per-frame" else f"{name} + {variant}"] = t
        result["clip"] = {"path": str(clip), "frames": len(frames), "long_side": clip_size, "stabilize": stabilize,
                          "results": {n: {k: v for k, v in vars(t).items() if k != "per_pair"} for n, t in temporal.items()}}
        for col in ("warping error", "input floor", "fps") + (("steady ms",) if stabilize else ()):
            table.add_column(col, justify="right")
    names = list(engines) if clip is None else list(temporal)
    for name in (["photo"] if photos is not None else []) + names:
        row = [name]
        if photos is not None:
            keys = ("style", "content", "contrast", "colourfulness")
            row += ([f"{losses[name][k]:.1f}" for k in keys] + [f"{losses[name][k]:.2f}" for k in ("colour_kept", "shading_kept")]
                    if name in losses else [""] * (len(keys) + 2))
            if teacher_label:
                row += [f"{like[name]['psnr']:.2f}", f"{like[name]['ssim']:.3f}"] if name in like else ["", ""]
        if clip is not None:
            t = temporal.get(name)
            row += [f"{t.warping_error:.5f}", f"{t.input_warping_error:.5f}", f"{t.fps:.1f}"] if t else ["", "", ""]
            if stabilize:
                row.append(f"{t.post_ms:.1f}" if t and t.post_ms else "")
        table.add_row(*row)
    STDOUT.print(table)
    if json_path:
        with atomic_path(json_path) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
        say(f"wrote {json_path}")


@app.command()
def bench(
    style: List[str] = typer.Option(["mosaic"], help="Style name or .onnx path (repeat for several)."),
    sizes: str = typer.Option("480p,720p,1080p", help="Comma-separated: 240p 360p 480p 720p 1080p or WxH."),
    device: Device = typer.Option(Device.auto, help="auto: every provider that works here; or just cpu / cuda."),
    runs: int = typer.Option(3, help="At least this many timed frames per cell (after one warm-up)."),
    seconds: float = typer.Option(5.0, help="Keep timing a cell until this many seconds have passed."),
    pytorch: bool = typer.Option(True, help="Also time PyTorch eager on the same architecture."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the results, machine and versions as JSON."),
) -> None:
    """Frames per second of the engine per provider, fp32, fp16 and int8 (when installed), next to PyTorch eager."""
    from rich.table import Table

    from realtime import bench as bench_mod, zoo
    from realtime.engine import cuda_driver_present

    size_list = bench_mod.parse_sizes(sizes)
    devices = ["cpu", "cuda"] if device == Device.auto else [device.value]
    if device == Device.auto and not cuda_driver_present():
        say("no NVIDIA driver found: timing the CPU only")
        devices = ["cpu"]
    reports = []
    for name in style:
        fp32 = zoo.resolve(name)
        models = [("fp32", fp32)]
        for precision, copy in (("fp16", zoo.resolve(name, fp16=True)), ("int8", zoo.int8_copy(fp32))):
            if copy != fp32:
                models.append((precision, copy))
        table = Table(title=f"realtime bench: {name}")
        numbers = ("ms/frame", "network ms", "outside ms", "fps", "runs")
        for col in ("size", "backend", "precision", "io") + numbers:
            table.add_column(col, justify="right" if col in numbers else "left")

        def on_row(row: bench_mod.Row) -> None:
            say(f"  {row.size:>6} {row.backend:<22} {row.precision} {row.io or '':<5}: {row.fps:7.2f} fps")
            ms = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
            table.add_row(row.size, row.backend, row.precision, row.io, f"{row.ms_per_frame:.1f}", ms(row.network_ms),
                          ms(row.outside_ms), f"{row.fps:.2f}", str(row.runs))

        rows = bench_mod.run_bench(models, size_list, devices, runs, seconds, pytorch, say, on_row)
        STDOUT.print(table)
        data = bench_mod.report(rows, name, "realtime " + " ".join(sys.argv[1:]))
        for key, ratio in data["onnxruntime_over_pytorch_fps"].items():  # type: ignore[union-attr]
            typer.echo(f"onnxruntime / PyTorch eager at {key}: {ratio:.2f}x")
        reports.append(data)
    if json_path:
        bench_mod.write_json(json_path, reports[0] if len(reports) == 1 else {"styles": reports})
        say(f"wrote {json_path}")


@app.command()
def webcam(
    style: List[str] = typer.Option(..., help="Style name or .onnx path; repeat (or comma-separate) for several. "
                                               "One alone: n / p also cycle through the installed styles."),
    camera: Optional[int] = typer.Option(None, help="Camera index (default 0)."),
    source: Optional[Path] = typer.Option(None, help="Play a video file as if it were a camera."),
    width: Optional[int] = typer.Option(None, help="Capture width to ask the camera for (a --source is resized)."),
    height: Optional[int] = typer.Option(None, help="Capture height to ask the camera for (a --source is resized)."),
    mirror: bool = typer.Option(False, "--mirror", help="Start mirrored (key m toggles)."),
    scale: float = typer.Option(1.0, help="Run the network at this fraction of the size: the speed lever on CPUs."),
    device: RunDevice = Device.auto,
    fp16: Fp16Opt = False,
    net: NetOpt = Net.auto,
    record: Optional[Path] = typer.Option(None, help="Record the stylised frames to this .mp4 from the start (key r toggles)."),
    no_display: bool = typer.Option(False, "--no-display", help="No window: run headless (a --source then processes every frame)."),
    max_frames: int = typer.Option(0, help="Stop after this many frames (0: no limit)."),
    snapshot_dir: Optional[Path] = typer.Option(None, help="Folder for snapshots (keys c / space) and r recordings; default here."),
    screenshot: Optional[Path] = typer.Option(None, hidden=True, help="Save the last shown frame, overlay included, as PNG."),
    strength: float = typer.Option(1.0, help="How much style, 0 (the photo) to 1 (full); keys [ and ] step it."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the input's colours: transfer the style's lightness only (key k toggles)."),
    stabilize: float = typer.Option(0.0, metavar="S", help=STABILIZE_HELP + " Key t toggles (0.7 when not given)."),
    virtual_cam: bool = typer.Option(False, "--virtual-cam", help="Also send the stylised frames to a virtual camera "
                                     "for video calls (v4l2loopback on Linux, OBS on Windows/macOS; see the README)."),
    virtual_device: Optional[str] = typer.Option(None, help="Which virtual camera, e.g. /dev/video9 (implies --virtual-cam)."),
    int8: Int8Opt = False,
    in_flight: int = typer.Option(0, "--in-flight", metavar="N",
                                  help="Frames stylised at once: 2 gives about 1.3x the frames per second on a "
                                       "2-core CPU for about 35 ms more latency. 0 chooses: 2 for the CPU networks on a "
                                       "multi-core CPU, else 1."),
) -> None:
    """Stylise a webcam (or a video played as one) live. Keys: n/p style, 1-9 style by number, m mirror,
    s side by side, c/space snapshot, r record, k keep colours, [ / ] less / more style, t steady, q/Esc quit."""
    from realtime import webcam as webcam_mod

    summary = webcam_mod.run_webcam(style, camera=camera, source=source, width=width, height=height,
                                    mirror=mirror, scale=scale, device=device.value, fp16=fp16, record=record,
                                    display=not no_display, max_frames=max_frames, snapshot_dir=snapshot_dir,
                                    screenshot=screenshot, say=say, notify=say_once(), strength=strength,
                                    preserve_color=preserve_color, stabilize=stabilize,
                                    virtual_cam=virtual_cam, virtual_device=virtual_device, net=net.value, int8=int8,
                                    in_flight=in_flight)
    if summary.interrupted:
        say(f"interrupted; {len(summary.recordings)} recording(s) finalised")
    typer.echo(summary.line())
    if summary.interrupted:
        raise typer.Exit(130)


@app.command()
def web(
    port: int = typer.Option(8000, help="Port to listen on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Browsers allow the camera only on localhost or https."),
) -> None:
    """Serve the browser page: the styles on your webcam with onnxruntime-web (WebGPU, else WASM); Ctrl-C stops.

    Needs web/ from the source checkout; runs `npm ci --prefix web` first when onnxruntime-web is missing."""
    from realtime import webserve

    server = webserve.make_server(host, port, say=say)
    if not webserve.is_loopback(host):
        say("note: browsers refuse the camera to plain-http pages from other machines; open the page on this one")
    typer.echo(f"serving the page at {webserve.url(server)} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("stopped")
        raise typer.Exit(130) from None
    finally:
        server.server_close()


def _format_warning(message, category, filename, lineno, file=None, line=None) -> str:  # noqa: ANN001
    return f"warning: {message}\n"


def main() -> None:
    warnings.formatwarning = _format_warning
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        app()  # commands that must tidy up on Ctrl-C catch it and leave with typer.Exit(130)
    except UserError as exc:
        STDERR.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
