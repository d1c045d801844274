"""The `realtime` command line. Thin: parse options, call the module that does the work, report."""

from __future__ import annotations

import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import TextColumn

from realtime.errors import UserError
from realtime.files import check_output_path
from realtime.progress import STDERR, STDOUT

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Neural style transfer live on a webcam, on video files and on stills.")


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Optimizer(str, Enum):
    lbfgs = "lbfgs"
    adam = "adam"


class Init(str, Enum):
    content = "content"
    noise = "noise"


def say(message: str) -> None:
    STDERR.print(message, highlight=False, markup=False, soft_wrap=True)


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
    images.write_bgr(output, result.image)
    say(f"wrote {output} ({result.image.shape[1]}x{result.image.shape[0]}); style loss "
        f"{result.photo_style_loss:.1f} (photo) -> {result.final['style']:.1f}")


@app.command()
def train(
    style_image: Path = typer.Argument(..., help="The style image to learn."),
    data: Path = typer.Option(..., help="Folder (searched recursively) of JPEG/PNG training photos, e.g. COCO train2014."),
    name: str = typer.Option(..., help="Style name: files are NAME.ckpt and NAME.json."),
    out_dir: Path = typer.Option(Path("."), help="Where checkpoints, model card and previews go."),
    steps: int = typer.Option(2000, help="Training steps (batches)."),
    batch_size: int = typer.Option(4, help="Photos per batch (per process under torchrun)."),
    image_size: int = typer.Option(256, help="Training crop size in pixels."),
    style_size: int = typer.Option(512, help="Long side the style image is scaled to."),
    style_weight: float = typer.Option(10.0, help="Weight of the Gram style loss."),
    content_weight: float = typer.Option(1.0, help="Weight of the relu2_2 content loss."),
    tv_weight: float = typer.Option(0.1, help="Weight of total variation."),
    lr: float = typer.Option(1e-3, help="Adam learning rate."),
    width: int = typer.Option(32, help="Channels of the first layer: 32 is Johnson's net, 16 a 4x cheaper one."),
    resume: Optional[Path] = typer.Option(None, help="Continue from this checkpoint."),
    seed: int = typer.Option(0, help="Seed for weights and crops."),
    checkpoint_every: int = typer.Option(500, help="Write a checkpoint every N steps."),
    preview_every: int = typer.Option(200, help="Write a preview image every N steps (0: never)."),
    device: Device = typer.Option(Device.auto, help="auto uses CUDA when PyTorch sees a GPU."),
    vgg: Optional[Path] = typer.Option(None, help="Local VGG19 weights; also REALTIME_VGG."),
) -> None:
    """Train a fast style network on a folder of photos (Johnson et al.); runs under torchrun too."""
    from realtime import train as train_mod

    if not _valid_name(name):
        raise UserError(f"--name {name!r}: use letters, digits, _ and - only")
    if steps < 1 or batch_size < 1 or image_size < 32 or width < 4:
        raise UserError("--steps and --batch-size must be positive, --image-size at least 32, --width at least 4")
    settings = train_mod.TrainSettings(
        style_image=str(style_image), data=str(data), name=name, out_dir=str(out_dir), steps=steps,
        batch_size=batch_size, image_size=image_size, style_size=style_size, style_weight=style_weight,
        content_weight=content_weight, tv_weight=tv_weight, lr=lr, width=width, seed=seed,
        checkpoint_every=checkpoint_every, preview_every=preview_every, device=device.value,
        vgg=str(vgg) if vgg else None)
    try:
        ckpt = train_mod.train(settings, resume=str(resume) if resume else None)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    say(f"wrote {ckpt} and {ckpt.with_suffix('.json')}; export with: realtime export {ckpt} -o {name}.onnx")


def _valid_name(name: str) -> bool:
    from realtime.zoo import NAME_RE

    return bool(NAME_RE.match(name)) and "." not in name


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A .ckpt written by `realtime train`."),
    output: Path = typer.Option(..., "-o", "--output", help="The .onnx file to write."),
    fp16: bool = typer.Option(False, help="Half-precision convolutions (instance norm stays float32): for GPUs."),
    opset: int = typer.Option(17, help="ONNX opset, 17 or newer."),
) -> None:
    """Export a trained network to ONNX (dynamic height and width), checked against PyTorch."""
    from realtime import export as export_mod

    report = export_mod.export(checkpoint, output, fp16=fp16, opset=opset)
    errors = ", ".join(f"{k} {v:.2g}" for k, v in report.max_abs_error.items())
    say(f"wrote {report.path} (opset {report.opset}, {'fp16' if fp16 else 'fp32'}); "
        f"max |onnxruntime - PyTorch| in 0-255 units: {errors}")
    say(export_mod.RUNTIME_HINTS.format(path=report.path))


@app.command()
def styles(as_json: bool = typer.Option(False, "--json", help="Print the styles and their model cards as JSON.")) -> None:
    """List the installed styles with their model cards."""
    import json

    from realtime import zoo

    found = zoo.list_styles()
    if as_json:
        typer.echo(json.dumps([{"name": s.name, "path": str(s.path), "card": s.card} for s in found], indent=2))
        return
    if not found:
        say(f"no styles installed; searched {', '.join(map(str, zoo.model_dirs())) or 'nothing'} (add folders with {zoo.ENV_VAR})")
        return
    for s in found:
        card = s.card
        note = card.get("note") or card.get("style_image", "")
        typer.echo(f"{s.name:<20} {note}  [{s.path}]")


@app.command()
def image(
    inputs: List[Path] = typer.Argument(..., help="Image files and/or folders of images."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image (one input) or folder (several)."),
    style: str = typer.Option(..., help="Style name (see `realtime styles`) or path to an .onnx file."),
    scale: float = typer.Option(1.0, help="Process at this fraction of the size, then resize back."),
    device: Device = typer.Option(Device.auto, help="auto: CUDA when onnxruntime can use it, else CPU (said)."),
    fp16: bool = typer.Option(False, help="Use the style's half-precision copy when there is one (GPUs)."),
) -> None:
    """Stylise still images with a fast network; results keep the input size."""
    from realtime import stills, zoo
    from realtime.engine import Engine

    model = zoo.resolve(style, fp16=fp16)
    files = stills.collect_inputs(inputs)
    engine = Engine(model, device=device.value, scale=scale, notify=say)
    pairs = stills.plan_outputs(files, output)
    stills.stylise_files(engine, pairs, on_done=lambda src, dst: say(f"{src} -> {dst}"))


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
    """Frames per second of the engine per provider, fp32 and fp16, next to PyTorch eager."""
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
        models = [("fp32", zoo.resolve(name))]
        half = zoo.resolve(name, fp16=True)
        if half != models[0][1]:
            models.append(("fp16", half))
        table = Table(title=f"realtime bench: {name}")
        for col in ("size", "backend", "precision", "ms/frame", "fps", "runs"):
            table.add_column(col, justify="right" if col in ("ms/frame", "fps", "runs") else "left")

        def on_row(row: bench_mod.Row) -> None:
            say(f"  {row.size:>6} {row.backend:<22} {row.precision}: {row.fps:7.2f} fps")
            table.add_row(row.size, row.backend, row.precision, f"{row.ms_per_frame:.1f}", f"{row.fps:.2f}", str(row.runs))

        rows = bench_mod.run_bench(models, size_list, devices, runs, seconds, pytorch, say, on_row)
        STDOUT.print(table)
        data = bench_mod.report(rows, name, "realtime " + " ".join(sys.argv[1:]))
        for key, ratio in data["onnxruntime_over_pytorch_fps"].items():  # type: ignore[union-attr]
            typer.echo(f"onnxruntime / PyTorch eager at {key}: {ratio:.2f}x")
        reports.append(data)
    if json_path:
        bench_mod.write_json(json_path, reports[0] if len(reports) == 1 else {"styles": reports})
        say(f"wrote {json_path}")


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
