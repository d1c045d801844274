"""Cheaper graphs for the CPU network: each rewrite's ms per frame beside the graph the engine runs, and its pixels.

Candidates, all on the engine's uint8 graph (realtime.engine.uint8_io) with one intra-op thread (what each
of the webcam's two frames in flight gets), in interleaved rounds at 640x480 and 1280x720:

- `opt extended` / `opt basic`: onnxruntime's lower graph optimisation levels (no blocked NCHWc layout);
- `pad before upsample`: the rewrite below (the same pixels);
- `fold output`: the skip conv, the sum and the output scale folded into the last conv (see fold_output);
- `both exact rewrites`: the two above together;
- `zero pad in conv`: every reflect Pad folded into its Conv as zero padding (a look change: dark borders).

Pixels are compared with the shipped graph on a frame of the clip: identical, or PSNR in dB (a rewrite
below 45 dB changes the look and may not ship as a speed-up). Pause any training first (`kill -STOP`).

    python benchmarks/graph_trials.py models/mosaic-lite.onnx --clip ../shared/data/video/office.mp4

onnxruntime runs convolutions in a blocked channel layout (NCHWc) and converts to and from it around every
operator that lacks that layout, such as Pad; `realtime bench --profile` puts Pad and those conversions at
a third of the CPU network's time. The decoder's "nearest 2x upsample, reflect-pad 1, 3x3 conv" is the
costliest case: a full-size copy and a full-size conversion per step. The same values come from padding
before the upsample instead (repeating the edge at half size) and cropping the conv's result by one pixel,
because reflecting a 2x nearest upsample by one pixel repeats its edge pixel:

    reflect_pad1(up2(x)) == up2(edge_pad1(x))[1:-1, 1:-1]

so the pad runs at a quarter of the size (hoping the conversion would follow it there; onnxruntime 1.31
keeps Resize out of the blocked layout, so it does not). The crop waits until after the 1x1 conv that follows (fewer channels to copy), just before the
normalisation, whose statistics must see the frame's pixels only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import onnx
from onnx import helper, numpy_helper

from realtime.engine import uint8_io

PREFIX = "cheap_"


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _const(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name and node.attribute[0].name == "value":
            return numpy_helper.to_array(node.attribute[0].t)
    return None


def _is_up2_nearest(graph: onnx.GraphProto, node: onnx.NodeProto) -> bool:
    a = _attrs(node)
    scales = _const(graph, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return (node.op_type == "Resize" and a.get("mode", b"nearest") == b"nearest"
            and a.get("coordinate_transformation_mode") == b"asymmetric" and a.get("nearest_mode", b"round_prefer_floor") == b"floor"
            and (len(node.input) < 2 or not node.input[1]) and len(node.input) < 4
            and scales is not None and scales.tolist() == [1.0, 1.0, 2.0, 2.0])


def pad_before_upsample(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of `proto` with each Resize(2x nearest) -> Pad(reflect 1) -> Conv(3x3) -> Conv(1x1) ->
    InstanceNormalization run as edge Pad -> Resize -> Conv -> Conv -> crop -> InstanceNormalization;
    also how many it rewrote (0: the graph is returned unchanged)."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    g = model.graph
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in g.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    outputs = {o.name for o in g.output}

    def only_user(name: str, op: str) -> onnx.NodeProto | None:
        found = users.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op and name not in outputs else None

    rewrites = 0
    new_nodes: list[onnx.NodeProto] = []
    crops: dict[str, onnx.NodeProto] = {}  # the 1x1 conv's output -> the crop after it
    drop: set[str] = set()  # outputs of the nodes to leave out
    edge_pads = {}
    for node in g.node:
        if not _is_up2_nearest(g, node):
            continue
        pad = only_user(node.output[0], "Pad")
        if pad is None or _attrs(pad).get("mode") != b"reflect" or len(pad.input) > 2 and pad.input[2]:
            continue
        pads = _const(g, pad.input[1])
        if pads is None or pads.tolist() != [0, 0, 1, 1, 0, 0, 1, 1]:
            continue
        dw = only_user(pad.output[0], "Conv")
        if dw is None or _const(g, dw.input[1]) is None or _const(g, dw.input[1]).shape[2:] != (3, 3) \
                or any(v not in (None, [0, 0, 0, 0], [1, 1]) for k, v in _attrs(dw).items() if k in ("pads", "strides", "dilations")) \
                or _attrs(dw).get("auto_pad", b"NOTSET") != b"NOTSET":
            continue
        pw = only_user(dw.output[0], "Conv")
        if pw is None or _const(g, pw.input[1]) is None or _const(g, pw.input[1]).shape[2:] != (1, 1) \
                or any(v not in (None, [0, 0, 0, 0], [1, 1]) for k, v in _attrs(pw).items() if k in ("pads", "strides", "dilations")):
            continue
        if only_user(pw.output[0], "InstanceNormalization") is None:
            continue
        k = rewrites
        rewrites += 1
        small = node.input[0]
        edge_pads[node.output[0]] = helper.make_node("Pad", [small, pad.input[1]], [f"{PREFIX}edge{k}"], mode="edge",
                                               name=f"{PREFIX}edge_pad{k}")
        node.input[0] = f"{PREFIX}edge{k}"
        dw.input[0] = node.output[0]
        drop.add(pad.output[0])
        cropped = f"{PREFIX}crop{k}"
        crops[pw.output[0]] = helper.make_node("Slice", [pw.output[0], f"{PREFIX}one", f"{PREFIX}minus_one", f"{PREFIX}hw"],
                                         [cropped], name=f"{PREFIX}crop{k}")
        for user in users[pw.output[0]]:
            user.input[0] = cropped
    if not rewrites:
        return proto, 0
    g.initializer.extend([numpy_helper.from_array(np.array([1, 1], np.int64), f"{PREFIX}one"),
                          numpy_helper.from_array(np.array([-1, -1], np.int64), f"{PREFIX}minus_one"),
                          numpy_helper.from_array(np.array([2, 3], np.int64), f"{PREFIX}hw")])
    for node in g.node:
        if node.output[0] in drop:
            continue
        if node.output[0] in edge_pads:
            new_nodes.append(edge_pads[node.output[0]])
        new_nodes.append(node)
        if node.output[0] in crops:
            new_nodes.append(crops[node.output[0]])
    del g.node[:]
    g.node.extend(new_nodes)
    return model, rewrites


def zero_pad_in_conv(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Every constant reflect Pad feeding one Conv folded into the Conv's own (zero) padding."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    g = model.graph
    drop: set[str] = set()
    for pad in g.node:
        pads = _const(g, pad.input[1]) if pad.op_type == "Pad" else None
        users = [n for n in g.node if pad.output[0] in n.input]
        if pads is None or len(users) != 1 or users[0].op_type != "Conv" or pads[[0, 1, 4, 5]].any():
            continue
        conv = users[0]
        conv.input[0] = pad.input[0]
        for a in [a for a in conv.attribute if a.name == "pads"]:
            conv.attribute.remove(a)
        conv.attribute.append(helper.make_attribute("pads", [int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7])]))
        drop.add(pad.output[0])
    kept = [n for n in g.node if n.output[0] not in drop]
    del g.node[:]
    g.node.extend(kept)
    return model, len(drop)


def fold_output(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """The CPU network's ending `(conv3x3(pad(h)) + conv1x1(x)) * 127.5 + 127.5` as one conv:
    `conv3x3'(pad(concat(h, x)))`, the photo's 1x1 weights at the centre tap of x's channels and the
    scale and offset folded into the weights, so the full-size skip conv, its layout conversion and three
    full-size Add/Mul passes go. The same sums in another order: a rounding difference."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    g = model.graph
    by_output = {n.output[0]: n for n in g.node}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in g.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    for add in g.node:
        if add.op_type != "Add" or len(add.input) != 2:
            continue
        convs = [by_output.get(i) for i in add.input]
        if any(c is None or c.op_type != "Conv" for c in convs):
            continue
        shapes = [(_const(g, c.input[1]).shape if _const(g, c.input[1]) is not None else None) for c in convs]
        if None in shapes:
            continue
        order = sorted(range(2), key=lambda k: shapes[k][2])  # the 1x1 first
        skip, main_conv = convs[order[0]], convs[order[1]]
        pad = by_output.get(main_conv.input[0])
        if shapes[order[0]][2:] != (1, 1) or shapes[order[1]][2:] != (3, 3) or pad is None or pad.op_type != "Pad" \
                or len(users[pad.output[0]]) != 1 or any(len(users[c.output[0]]) != 1 for c in convs):
            continue
        mul = users[add.output[0]][0] if len(users.get(add.output[0], [])) == 1 else None
        offset = users[mul.output[0]][0] if mul is not None and mul.op_type == "Mul" and len(users[mul.output[0]]) == 1 else None
        if offset is None or offset.op_type != "Add":
            continue
        scale, shift = _const(g, mul.input[1]), _const(g, offset.input[1])
        if scale is None or shift is None or scale.size != 1 or shift.size != 1:
            continue
        w3, b3 = _const(g, main_conv.input[1]), _const(g, main_conv.input[2])
        w1, b1 = _const(g, skip.input[1]), _const(g, skip.input[2])
        weight = np.zeros((w3.shape[0], w3.shape[1] + w1.shape[1], 3, 3), np.float32)
        weight[:, :w3.shape[1]] = w3
        weight[:, w3.shape[1]:, 1, 1] = w1[:, :, 0, 0]
        weight *= float(scale)
        bias = ((b3 + b1) * float(scale) + float(shift)).astype(np.float32)
        g.initializer.extend([numpy_helper.from_array(weight, f"{PREFIX}fold_w"), numpy_helper.from_array(bias, f"{PREFIX}fold_b")])
        joined = f"{PREFIX}joined"
        concat = helper.make_node("Concat", [pad.input[0], skip.input[0]], [joined], axis=1, name=f"{PREFIX}concat")
        pad.input[0] = joined
        main_conv.input[1], main_conv.input[2] = f"{PREFIX}fold_w", f"{PREFIX}fold_b"
        for user in users[offset.output[0]]:
            for k, name in enumerate(user.input):
                if name == offset.output[0]:
                    user.input[k] = main_conv.output[0]
        gone = {skip.output[0], add.output[0], mul.output[0], offset.output[0]}
        nodes = []
        for node in g.node:
            if node.output[0] in gone:
                continue
            if node.output[0] == pad.output[0]:
                nodes.append(concat)
            nodes.append(node)
        del g.node[:]
        g.node.extend(nodes)
        return model, 1
    return proto, 0


def session(proto: onnx.ModelProto, level=None):
    from realtime.engine.session import session_options

    options = session_options(threads=1)
    if level is not None:
        options.graph_optimization_level = level
    wrapped = uint8_io.wrap(proto, "input", "output", "RGB", 255.0, 1)
    return ort.InferenceSession(wrapped.SerializeToString(), options, providers=["CPUExecutionProvider"])


def psnr(a: np.ndarray, b: np.ndarray) -> float | None:
    """None for identical pixels."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return None if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main() -> None:
    from realtime.machine import cpu_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--clip", type=Path, default=Path("../shared/data/video/office.mp4"))
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "results" / "graph_trials.json")
    args = parser.parse_args()
    shipped = onnx.load(str(args.model))
    levels = ort.GraphOptimizationLevel
    sessions = {"shipped": session(shipped), "opt extended": session(shipped, levels.ORT_ENABLE_EXTENDED),
                "opt basic": session(shipped, levels.ORT_ENABLE_BASIC),
                "pad before upsample": session(pad_before_upsample(shipped)[0]),
                "fold output": session(fold_output(shipped)[0]),
                "both exact rewrites": session(fold_output(pad_before_upsample(shipped)[0])[0]),
                "zero pad in conv": session(zero_pad_in_conv(shipped)[0])}
    ok, still = cv2.VideoCapture(str(args.clip)).read()
    if not ok:
        raise SystemExit(f"{args.clip}: no frame")
    rows = []
    for w, h in ((640, 480), (1280, 720)):
        frame = np.ascontiguousarray(cv2.resize(still, (w, h), interpolation=cv2.INTER_AREA)[None])
        outs = {k: s.run(None, {"frame": frame})[0] for k, s in sessions.items()}
        times: dict[str, list[float]] = {k: [] for k in sessions}
        for _ in range(args.rounds):
            for k, s in sessions.items():
                start = time.perf_counter()
                s.run(None, {"frame": frame})
                times[k].append(time.perf_counter() - start)
        base = statistics.median(times["shipped"])
        for k in sessions:
            ms = statistics.median(times[k])
            rows.append({"size": f"{w}x{h}", "graph": k, "ms": round(1000 * ms, 1), "x_shipped": round(base / ms, 3),
                         "psnr_db": psnr(outs["shipped"], outs[k])})
    cpu = cpu_model()
    print(f"{args.model.name}, one intra-op thread, median of {args.rounds} interleaved rounds, {cpu}")
    print(f"{'size':>9}  {'graph':<20} {'ms':>7} {'speed':>6}  pixels")
    for r in rows:
        look = "identical" if r["psnr_db"] is None else f"{r['psnr_db']:.1f} dB"
        print(f"{r['size']:>9}  {r['graph']:<20} {r['ms']:>7.1f} {r['x_shipped']:>5.2f}x  {look}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"model": args.model.name, "cpu": cpu, "rounds": args.rounds, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
