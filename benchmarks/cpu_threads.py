"""Engine fps on a CPU by onnxruntime thread count and frames in flight, and `realtime video`'s loop.

Does onnxruntime already use every core, or do frames in flight help?

Times a style network at 640x480 (uint8 frames in and out, as the engine runs it) four ways:
- `default`: one onnxruntime session, onnxruntime's own thread count;
- `intra 1` / `intra N`: one session with that many intra-op threads;
- `2 in flight`: two sessions of N/2 threads each, fed alternately from two Python threads
  (onnxruntime releases the GIL in run), so one frame's serial parts overlap the other's.

    python benchmarks/cpu_threads.py models/mosaic.onnx --frames 60 --video realtime/samples/big_buck_bunny_360p.mp4

`--video CLIP` also times `realtime video`'s own loop (decode, engine, encode) on the clip with one
session on both cores against two one-thread sessions in flight (what `realtime video` now does on a CPU).

Pause any training first (`kill -STOP`): the cores are shared. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from realtime.engine import uint8_io
from realtime.engine import Engine
from realtime.training.precision import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"


def uint8_graph(model: Path) -> bytes:
    """The engine's uint8 wrapper of the network, so every variant runs the graph the engine runs."""
    info = Engine(model, device="cpu", tile=None).info
    wrapped = uint8_io.wrap(onnx.load(str(model)), info.input_name, info.output_name, info.color_order,
                            info.value_scale, info.pad_multiple)
    return wrapped.SerializeToString()


def session(graph: bytes, intra: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra:
        options.intra_op_num_threads = intra
    return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])


def fps_one(sess: ort.InferenceSession, frames: list[np.ndarray]) -> float:
    sess.run(["styled"], {"frame": frames[0][None]})  # warm-up
    start = time.perf_counter()
    for f in frames:
        sess.run(["styled"], {"frame": f[None]})
    return len(frames) / (time.perf_counter() - start)


def fps_in_flight(sessions: list[ort.InferenceSession], frames: list[np.ndarray]) -> float:
    """Each session takes every len(sessions)-th frame in its own thread; fps of the whole stream."""
    for s in sessions:
        s.run(["styled"], {"frame": frames[0][None]})

    def work(k: int) -> None:
        for f in frames[k::len(sessions)]:
            sessions[k].run(["styled"], {"frame": f[None]})
    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(sessions))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(frames) / (time.perf_counter() - start)


def time_video(model: Path, clip: Path, rounds: int) -> dict[str, float]:
    """Frames per second of video.stylise_video end to end, best of `rounds` alternating rounds."""
    import tempfile

    from realtime.media import video

    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for label, engines in (("1 session", [Engine(model, device="cpu")]),
                                   ("2 in flight", [Engine(model, device="cpu", threads=1) for _ in range(2)])):
                job = video.prepare(clip, Path(tmp) / "out.mp4", video.VideoSettings(overwrite=True))
                start = time.perf_counter()
                result = video.stylise_video(job, engines, show_progress=False)
                best[label] = max(best.get(label, 0.0), result.frames / (time.perf_counter() - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each variant counts")
    ap.add_argument("--video", type=Path, default=None, help="also time realtime video's loop on this clip")
    ap.add_argument("-o", "--out", type=Path, default=RESULTS / "cpu_threads.json")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(args.frames)]
    graph = uint8_graph(args.model)
    variants = {
        "default": lambda: fps_one(session(graph, None), frames),
        "intra 1": lambda: fps_one(session(graph, 1), frames),
        f"intra {cores}": lambda: fps_one(session(graph, cores), frames),
        "2 in flight": lambda: fps_in_flight([session(graph, max(1, cores // 2)) for _ in range(2)], frames),
    }
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, run in variants.items():
            best[name] = max(best.get(name, 0.0), run())
    base = best["default"]
    print(f"{args.model.name} at 640x480, {args.frames} frames, best of {args.rounds} alternating rounds, {cores} cores")
    print(f"{'variant':<14} {'fps':>7} {'vs default':>11}")
    for name, fps in best.items():
        print(f"{name:<14} {fps:>7.2f} {fps / base:>10.2f}x")
    video_fps = time_video(args.model, args.video, args.rounds) if args.video else None
    if video_fps:
        print(f"realtime video on {args.video.name}: " + ", ".join(f"{k} {v:.2f} fps" for k, v in video_fps.items()))
    args.out.write_text(json.dumps({
        "model": args.model.name, "size": "640x480", "frames": args.frames, "rounds": args.rounds,
        "cpu": cpu_model(), "cores": cores, "onnxruntime": ort.__version__,
        "fps": best, "video": {"clip": args.video.name, "fps": video_fps} if video_fps else None}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
