"""The commands that measure and diagnose: evaluate, bench, doctor."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from realtime.cli.app import app, say, say_once
from realtime.cli.options import Device, RunDevice
from realtime.errors import UserError
from realtime.files import check_distinct
from realtime.progress import STDOUT


@app.command()
def evaluate(
    models: List[str] = typer.Argument(..., help="Style names or .onnx paths to measure side by side."),
    style_image: Optional[Path] = typer.Option(None, help="The painting the losses are measured against."),
    photos: Optional[Path] = typer.Option(None, help="Folder of photos for the style and content losses."),
    clip: Optional[Path] = typer.Option(None, help="A video for the warping error (flicker) and fps."),
    teacher: Optional[str] = typer.Option(None, help="The full network the models copy (name or .onnx): adds PSNR and SSIM against it."),
    size: int = typer.Option(256, help="Long side the photos (and the style image) are scaled to."),
    clip_size: int = typer.Option(640, help="Long side clip frames are scaled to."),
    max_frames: int = typer.Option(120, help="Frames of the clip to use."),
    scale: float = typer.Option(1.0, help="Processing scale passed to the engine."),
    stabilize: float = typer.Option(0.0, metavar="S", help="Also measure each model with `--stabilize S` on the clip."),
    device: RunDevice = Device.auto,
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write all figures as JSON."),
    sheet: Optional[Path] = typer.Option(None, help="Write a contact sheet (photo | model | model ...)."),
) -> None:
    """Measure models: VGG style and content losses on photos, flicker on a clip, fps."""
    from realtime.cli.make import need_training

    need_training("evaluate")
    from realtime.engine.build import EngineOptions, Runtime
    from realtime.files import atomic_path
    from realtime.tools import evaluate as ev

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
    runtime = Runtime(EngineOptions(device=device.value, net="full", int8=False, scale=scale, stabilize=stabilize), say_once())
    result, table = ev.measure(models, runtime, style_image, photos, clip, size, clip_size, max_frames, stabilize,
                               teacher, sheet)
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
    pytorch: bool = typer.Option(True, help="Also time PyTorch eager on the same architecture (when installed)."),
    threads: int = typer.Option(0, help="Intra-op threads per session (0: onnxruntime's choice, one per core)."),
    profile: bool = typer.Option(False, "--profile", help="Also print (and write) where the network's time goes per operator type."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the results, machine and versions as JSON."),
) -> None:
    """Frames per second of the engine per provider, fp32, fp16 and int8 (when installed), next to PyTorch eager."""
    from rich.table import Table

    from realtime.engine.session import cuda_driver_present
    from realtime.catalog import registry
    from realtime.tools import bench as bench_mod

    size_list = bench_mod.parse_sizes(sizes)
    if threads < 0:
        raise UserError(f"--threads {threads}: use 1 or more, or 0 for onnxruntime's choice")
    devices = ["cpu", "cuda"] if device == Device.auto else [device.value]
    if device == Device.auto and not cuda_driver_present():
        say("no NVIDIA driver found: timing the CPU only")
        devices = ["cpu"]
    reports = []
    for name in style:
        fp32 = registry.resolve(name)
        models = [("fp32", fp32)]
        for precision, copy in (("fp16", registry.resolve(name, fp16=True)), ("int8", registry.int8_copy(fp32))):
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

        operators: list[bench_mod.OpShare] = []
        rows = bench_mod.run_bench(models, size_list, devices, runs, seconds, pytorch, say, on_row, threads or None,
                                   operators.extend if profile else None)
        STDOUT.print(table)
        if profile:
            STDOUT.print(operator_table(name, operators))
        data = bench_mod.report(rows, name, "realtime " + " ".join(sys.argv[1:]), operators if profile else None)
        for key, ratio in data["onnxruntime_over_pytorch_fps"].items():  # type: ignore[union-attr]
            typer.echo(f"onnxruntime / PyTorch eager at {key}: {ratio:.2f}x")
        reports.append(data)
    if json_path:
        bench_mod.write_json(json_path, reports[0] if len(reports) == 1 else {"styles": reports})
        say(f"wrote {json_path}")


def operator_table(name: str, operators: list) -> "Table":
    """One column per size and backend: each operator type's share of the network's time."""
    from rich.table import Table

    columns = list(dict.fromkeys((o.size, o.backend, o.precision) for o in operators))
    table = Table(title=f"realtime bench --profile: {name}, % of the network's time per operator type")
    table.add_column("operator")
    for size, backend, precision in columns:
        table.add_column(f"{size} {backend.removeprefix('onnxruntime-')} {precision}", justify="right")
    share = {(o.size, o.backend, o.precision, o.op): o for o in operators}
    for op in dict.fromkeys(o.op for o in operators):
        cells = [share.get((*c, op)) for c in columns]
        table.add_row(op, *(f"{o.percent:.1f} % ({o.ms_per_frame:.1f} ms)" if o else "" for o in cells))
    return table


@app.command()
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """What this installation can do here: versions, CUDA, CPU, styles, weights, cameras."""
    from rich.table import Table

    from realtime.tools.doctor import diagnose

    report = diagnose()
    if as_json:
        typer.echo(json.dumps(report.facts, indent=2))
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("state", overflow="fold")
    for check in report.checks:
        state = check.state if check.ok else f"[yellow]{check.state}[/yellow]"
        table.add_row(check.what, state + (f"\n  [dim]-> {check.hint}[/dim]" if check.hint else ""))
    STDOUT.print(table)
