"""The commands that run styles: image, video, webcam, styles, web."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from realtime.cli.app import app, say, say_once
from realtime.cli.options import (ADVANCED, ENGINE, STYLE_HELP, Device, Fp16Opt, Int8Opt, Net, NetOpt, PreserveColorOpt, RunDevice,
                                  ScaleOpt, StabilizeOpt, StrengthOpt, StyleOpt, TileOpt, engine_options)
from realtime.errors import UserError
from realtime.files import check_distinct, check_output_path
from realtime.progress import STDOUT


@app.command()
def image(
    inputs: List[Path] = typer.Argument(..., help="Image files and/or folders of images."),
    output: str = typer.Option(..., "-o", "--output", help="Output image (one input), or folder (several inputs, or a path ending in /)."),
    style: StyleOpt = ...,
    strength: StrengthOpt = 1.0,
    preserve_color: PreserveColorOpt = False,
    scale: ScaleOpt = 1.0,
    device: RunDevice = Device.auto,
    net: NetOpt = Net.auto,
    fp16: Fp16Opt = False,
    int8: Int8Opt = None,
    tile: TileOpt = "auto",
) -> None:
    """Stylise still images; results keep the input size."""
    from realtime.engine.build import Runtime
    from realtime.media import stills
    from realtime.catalog.spec import parse_style

    options = engine_options(device, net, fp16, int8, scale, strength, preserve_color, tile)
    name = parse_style(style).single
    engine = Runtime(options, say).engine(name)
    files = stills.collect_inputs(inputs)
    pairs = stills.plan_outputs(files, Path(output), folder=output.endswith(("/", "\\")))
    done: list[Path] = []

    def finished(src: Path, dst: Path) -> None:
        done.append(dst)
        say(f"{src} -> {dst}")

    try:
        stills.stylise_files(engine, pairs, on_done=finished, notify=say)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: the image at hand is dropped whole, the rest kept
        say(f"interrupted: wrote {len(done)} of {len(pairs)} images" + (f" to {done[0].parent}" if done else ""))
        raise typer.Exit(130) from None


@app.command()
def video(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="Video file to stylise (.mp4, .mov, .mkv, .avi, ...), or a folder of them."),
    output: Path = typer.Option(..., "-o", "--output", help="Video file to write (.mp4, .m4v, .mov, .mkv or .avi); a folder for a folder INPUT."),
    style: Optional[str] = typer.Option(None, help=STYLE_HELP),
    style_schedule: Optional[str] = typer.Option(None, "--style-schedule", metavar="SECONDS:STYLE,...",
                                                 help="Morph along the clip, e.g. \"0:mosaic,5:candy,12:wave\" (a multi-style network's styles)."),
    strength: StrengthOpt = 1.0,
    preserve_color: PreserveColorOpt = False,
    stabilize: StabilizeOpt = 0.0,
    size: Optional[int] = typer.Option(None, metavar="LONG_SIDE", help="Long side of the output in pixels (default: the input's)."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Leave the audio out (it is copied unchanged by default)."),
    overwrite: bool = typer.Option(False, help="Replace OUTPUT (or, for a folder, outputs) that exist."),
    scale: ScaleOpt = 1.0,
    device: RunDevice = Device.auto,
    net: NetOpt = Net.auto,
    crf: int = typer.Option(18, help="x264 quality: lower is better and bigger; 18-23 is usual.", rich_help_panel=ADVANCED),
    preset: str = typer.Option("medium", help="x264 speed against size: ultrafast ... medium ... veryslow.", rich_help_panel=ADVANCED),
    fp16: Fp16Opt = False,
    int8: Int8Opt = None,
    tile: TileOpt = "auto",
) -> None:
    """Stylise a video file, or each one in a folder: every frame, same rate and size, upright, audio copied;
    Ctrl-C (or SIGTERM) keeps a playable part."""
    from realtime.engine.build import Runtime
    from realtime.engine.inflight import cpu_workers
    from realtime.media import video as video_mod, video_folder
    from realtime.catalog.schedule import parse_schedule
    from realtime.catalog.spec import parse_style

    options = engine_options(device, net, fp16, int8, scale, strength, preserve_color, tile, stabilize)
    settings = video_mod.VideoSettings(size=size, audio=not no_audio, overwrite=overwrite, crf=crf, preset=preset)
    if (style is None) == (style_schedule is None):
        raise UserError("--style or --style-schedule: give one of them")
    schedule = parse_schedule(style_schedule) if style_schedule is not None else None
    pairs = None
    if input_path.is_dir():  # checked before the model loads: a typo costs no wait
        pairs = video_folder.plan(video_folder.collect(input_path), output, overwrite)
    runtime = Runtime(options, say)
    if schedule is not None:  # the one network holding every style of the schedule
        model = runtime.model(",".join(f"{name}:1" for name in schedule.styles))
    else:
        model = runtime.model(parse_style(style).single)
    made: dict[int, list] = {}

    def engines_for(job: video_mod.Job) -> list:
        """On a CPU, frames in flight: two one-thread sessions fed alternate frames (1.15x one session on both
        cores, benchmarks/cpu_threads.py); not for frames that run in tiles. Made once per count."""
        pixels = job.width * job.height * scale * scale
        tiled = options.tile is not None and pixels > options.tile
        flight = cpu_workers() if runtime.on_cpu and not tiled else 1
        if flight not in made:
            threads = 1 if flight > 1 else None
            made[flight] = [runtime.engine(model, threads=threads, quiet=k > 0 or bool(made),
                                           frame=(job.width, job.height)) for k in range(flight)]
        return made[flight]

    if pairs is not None:
        summary = video_folder.stylise_folder(pairs, settings, engines_for, runtime.stabilizer, say,
                                              schedule=schedule.at if schedule else None)
        say(summary.line(output))
        if summary.interrupted:
            raise typer.Exit(130)
        if summary.failed:
            raise typer.Exit(1)
        return
    job = video_mod.prepare(input_path, output, settings)
    engines = engines_for(job)
    try:
        result = video_mod.stylise_video(job, engines, notify=say, post=runtime.stabilizer(),
                                         schedule=schedule.at if schedule else None)
    except video_mod.Interrupted as stop:
        say(str(stop))
        raise typer.Exit(130) from None
    fps = f" at {result.fps:.3f} fps" if result.fps else ""
    say(f"wrote {result.output}: {result.frames} frames, {result.width}x{result.height}{fps} "
        f"({result.pix_fmt}, {engines[0].device}); " + ("; ".join(result.audio) if result.audio else "no audio in input"))


@app.command()
def webcam(
    style: List[str] = typer.Option(..., help="Style name, .onnx path or painting (any image); repeat or comma-separate for several (n / p cycle)."),
    camera: Optional[int] = typer.Option(None, help="Camera index (default 0)."),
    source: Optional[Path] = typer.Option(None, help="Play a video file as if it were a camera."),
    width: Optional[int] = typer.Option(None, help="Capture width to ask the camera for (a --source is resized)."),
    height: Optional[int] = typer.Option(None, help="Capture height to ask the camera for (a --source is resized)."),
    mirror: bool = typer.Option(False, "--mirror", help="Start mirrored (key m toggles)."),
    strength: float = typer.Option(1.0, help="How much style, 0 (the photo) to 1 (full); keys [ and ] step it."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the camera's colours (key k toggles)."),
    stabilize: StabilizeOpt = 0.0,
    record: Optional[Path] = typer.Option(None, help="Record the stylised frames to this .mp4 from the start (key r toggles)."),
    virtual_cam: bool = typer.Option(False, "--virtual-cam", help="Also send the frames to a virtual camera for video calls (see the README)."),
    virtual_device: Optional[str] = typer.Option(None, help="Which virtual camera, e.g. /dev/video9 (implies --virtual-cam)."),
    scale: Optional[float] = typer.Option(None, rich_help_panel=ENGINE, help=(
        "Run the network at this fraction of the size (0.5 is about 4x faster); default 1, and 0.5 for a painting on a CPU.")),
    device: RunDevice = Device.auto,
    net: NetOpt = Net.auto,
    max_fps: float = typer.Option(0.0, "--max-fps", help="Take frames no faster than this, leaving the CPU to other programs (0: no cap).",
                                  rich_help_panel=ENGINE),
    nice: Optional[int] = typer.Option(None, "--nice", metavar="N", rich_help_panel=ENGINE, help=(
        "CPU priority as a niceness, 0 (normal) to 19: the loop yields the cores to a video call beside it "
        "and takes what the call leaves (default: 10 with --virtual-cam, else 0).")),
    in_flight: int = typer.Option(0, "--in-flight", metavar="N", rich_help_panel=ENGINE,
                                  help="Frames stylised at once (0 chooses: 2 for the CPU networks on a multi-core CPU)."),
    no_display: bool = typer.Option(False, "--no-display", help="No window: run headless (a --source then processes every frame).",
                                    rich_help_panel=ADVANCED),
    max_frames: int = typer.Option(0, help="Stop after this many frames (0: no limit).", rich_help_panel=ADVANCED),
    snapshot_dir: Optional[Path] = typer.Option(None, help="Folder for snapshots (c / space) and r recordings; default here.",
                                                rich_help_panel=ADVANCED),
    screenshot: Optional[Path] = typer.Option(None, hidden=True, help="Save the last shown frame, overlay included, as PNG."),
    fp16: Fp16Opt = False,
    int8: Int8Opt = None,
) -> None:
    """Stylise a webcam (or a video played as one) live.

    Keys: n/p style (a glide within a multi-style network), g tour, 1-9 style by number, m mirror, s side by side, c/space snapshot, r record, k keep colours,
    [ / ] less / more style, t steady, q/Esc quit."""
    from realtime.engine.arbitrary import LIVE_CPU_SCALE
    from realtime.live.run import WebcamSettings, run_webcam

    options = engine_options(device, net, fp16, int8, 1.0 if scale is None else scale, strength, preserve_color, "auto",
                             stabilize)
    settings = WebcamSettings(camera=camera, source=source, width=width, height=height, mirror=mirror,
                              display=not no_display, max_frames=max_frames, record=record, snapshot_dir=snapshot_dir,
                              screenshot=screenshot, virtual_cam=virtual_cam, virtual_device=virtual_device,
                              in_flight=in_flight, max_fps=max_fps, nice=nice,
                              painting_cpu_scale=LIVE_CPU_SCALE if scale is None else None)
    summary = run_webcam(style, options, settings, say=say)
    if summary.interrupted:
        say(f"interrupted; {len(summary.recordings)} recording(s) finalised")
    typer.echo(summary.line())
    if summary.interrupted:
        raise typer.Exit(130)


@app.command()
def styles(
    as_json: bool = typer.Option(False, "--json", help="Print the styles and their full model cards as JSON."),
    sheet: Optional[Path] = typer.Option(None, metavar="PHOTO", help="Render every installed style on this photo into one labelled image (-o)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="With --sheet: the image to write (.png or .jpg)."),
    size: int = typer.Option(512, help="With --sheet: long side the photo is stylised at."),
    style: Optional[List[str]] = typer.Option(None, help="With --sheet: these styles (names, .onnx files, paintings; "
                                              "repeat or comma-separate) instead of every installed one."),
    device: RunDevice = Device.auto,
    net: NetOpt = Net.auto,
) -> None:
    """List the installed styles, or show them all on your photo (--sheet)."""
    from realtime.catalog import arbitrary, registry
    from realtime.catalog.spec import parse_style

    found = registry.list_styles()
    if sheet is not None or output is not None:
        names = list(parse_style(style).styles) if style else [s.name for s in found if not registry.held_styles(s.card)]
        _style_sheet(names, sheet, output, size, engine_options(device, net, int8=False))
        return
    if style:
        raise UserError("--style goes with --sheet PHOTO -o SHEET.png")
    if as_json:
        typer.echo(json.dumps([{"name": s.name, "path": str(s.path), "card": s.card,
                                "lite": str(registry.lite_variant(s.name) or "") or None} for s in found], indent=2))
        return
    if not found:
        say(f"no styles installed; searched {', '.join(map(str, registry.model_dirs())) or 'nothing'} "
            f"(add folders with {registry.ENV_VAR})")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("style", "painting", "licence", "networks"):
        table.add_column(column, overflow="fold")
    for s in found:
        networks = "full + CPU" if registry.lite_variant(s.name) else "full"
        held = registry.held_styles(s.card)
        if held:  # a multi-style network: what it holds, and how to mix them
            table.add_row(s.name, f"{len(held)} styles in one network: {', '.join(held)}; blend them "
                          f"(--style {held[0]}:0.5,{held[-1]}:0.5) or morph (webcam n / p, video --style-schedule)",
                          "those of its styles", f"multi-style, {networks}")
            continue
        table.add_row(s.name, registry.painting_line(s.card), registry.licence_line(s.card), networks)
    table.add_row("PAINTING.jpg", f"any image, through {arbitrary.ATTRIBUTION}", f"{arbitrary.LICENCE} (weights)",
                  "arbitrary" + (" (cached)" if arbitrary.cached() else f" (fetched on first use: {arbitrary.PIP_PACKAGE})"))
    STDOUT.print(table)
    networks = [s.name for s in found if registry.held_styles(s.card)]
    blends = f" and {len(networks)} multi-style network{'s' * (len(networks) > 1)} for blends" if networks else ""
    say(f"{len(found) - len(networks)} styles{blends}, and any painting (--style PAINTING.jpg); `realtime styles --json` "
        "shows each model card, `--sheet PHOTO -o SHEET.jpg` shows them on a photo")


def _style_sheet(names: list[str], photo_path: Optional[Path], output: Optional[Path], size: int, options) -> None:
    from realtime import progress
    from realtime.catalog import registry
    from realtime.catalog.spec import is_painting
    from realtime.engine.build import Runtime
    from realtime.media import images
    from realtime.tools import gallery

    if photo_path is None or output is None:
        raise UserError("--sheet PHOTO and -o SHEET.png go together")
    if output.suffix.lower() not in images.IMAGE_SUFFIXES:
        raise UserError(f"-o {output}: unknown image format; use .png or .jpg")
    if not 64 <= size <= 4096:
        raise UserError(f"--size {size}: use 64 to 4096 pixels")
    if not names:
        raise UserError("no styles installed to show; see `realtime styles`")
    check_distinct(output, [photo_path])
    check_output_path(output)
    photo = images.read_bgr(photo_path, "photo")
    runtime = Runtime(options, say_once())
    bar = progress.bar()
    with bar:
        task = bar.add_task("styles", total=len(names))
        results = list(gallery.render(photo, names, lambda name, img: runtime.engine(name, quiet=True)(img),
                                      size, on_done=lambda name: bar.advance(task)))
    results = [(Path(name).stem if registry.is_path_like(name) or is_painting(name) else name, img) for name, img in results]
    images.write_bgr(output, gallery.style_sheet(images.resize_long_side(photo, size), results))
    say(f"wrote {output}: {len(results)} styles on {photo_path.name}")


@app.command()
def web(
    port: int = typer.Option(8000, help="Port to listen on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Browsers allow the camera only on localhost or https."),
) -> None:
    """Serve the browser page: the styles on your webcam with onnxruntime-web (WebGPU, else WASM); Ctrl-C stops."""
    from realtime.web import server as webserve

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
