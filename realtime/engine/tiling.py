"""Large frames in bounded memory: overlapping tiles that share the whole frame's instance-norm statistics.

A style network's activations cost about half a gigabyte per megapixel (width 16), so an 8K still run
whole needs some 15 GB. Tiles bound that, but a network with instance normalisation run on each tile
alone normalises each tile by its own statistics, and the tiles then differ in tone: visible seams.

So the graph is split in two, once per model (ONNX surgery, in memory):
- a *stats* graph that returns the mean and variance each InstanceNormalization sees, run on the whole
  frame (or copies scaled down to the budget, `Tiler.statistics`);
- a *tile* graph whose InstanceNormalization nodes become `x * a + b`, with `a` and `b` per channel fed
  in from those statistics, so every tile is normalised as the whole frame is.
Tiles overlap by `MARGIN` pixels (the network's reach), and only each tile's core is kept. Up to the
budget the statistics are the frame's own and the tiles join exactly (about 96 dB against the untiled
result); above it they are extrapolated from scaled copies, which may shift the tone a little, evenly
over the frame, without seams. Refining them with passes over full-size tiles (Jacobi, every norm at
once) was tried: it diverged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from realtime.engine.moments import MomentSplit
from realtime.errors import UserError

DEFAULT_BUDGET = 2_100_000  # pixels run at once: 1080p (2.07 MP) whole, 4K and 8K in tiles
MIN_BUDGET = 65_536  # 256 x 256
MARGIN = 64  # overlap on each side of a tile's core: 32 already matched the untiled result (exact statistics)


def parse_tile(value: str) -> int | None:
    """`--tile auto|off|PIXELS` -> a pixel budget, or None for never."""
    text = value.strip().lower()
    if text == "auto":
        return DEFAULT_BUDGET
    if text == "off":
        return None
    try:
        budget = int(float(text))
    except ValueError:
        budget = -1
    if budget < MIN_BUDGET:
        raise UserError(f"--tile {value}: use auto, off, or a pixel budget of at least {MIN_BUDGET} (256x256)")
    return budget


@dataclass
class NormSplit:
    """The two graphs of a network, and what turns statistics into the tile graph's inputs."""

    stats_model: bytes
    tile_model: bytes
    scales: list[np.ndarray]  # per InstanceNormalization: gamma, beta, epsilon
    biases: list[np.ndarray]
    epsilons: list[float]

    def affine(self, stats: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        """(mean, var) per norm -> the tile graph's `a` and `b` inputs."""
        feeds = {}
        for k, (gamma, beta, eps) in enumerate(zip(self.scales, self.biases, self.epsilons)):
            mean, var = (v.reshape(-1).astype(np.float64) for v in stats[k])
            a = gamma / np.sqrt(var + eps)
            feeds[f"tile_norm_a_{k}"] = a.reshape(1, -1, 1, 1).astype(np.float32)
            feeds[f"tile_norm_b_{k}"] = (beta - mean * a).reshape(1, -1, 1, 1).astype(np.float32)
        return feeds


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def split_norms(proto: onnx.ModelProto) -> NormSplit | MomentSplit | None:
    """The stats and tile graphs, or None when the network's normalisation is not float
    InstanceNormalization nodes (it is then tiled without shared statistics).

    Constant scale and bias (one style) fold into the `a`, `b` the tile graph is fed (NormSplit); scale
    and bias computed in the graph (a multi-style network's mix of styles) stay there, and the tile graph
    is fed the mean and variance instead (MomentSplit), so one split serves every mix."""
    graph = proto.graph
    if graph.input[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        return None
    consts = _constants(graph)
    norms = [n for n in graph.node if n.op_type == "InstanceNormalization"]
    if not norms:
        return None
    computed = any(n.input[1] not in consts or n.input[2] not in consts for n in norms)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)

    def mean_over_hw(src: str, dst: str) -> list[onnx.NodeProto]:
        if opset >= 18:
            axes = f"{dst}_axes"
            return [helper.make_node("Constant", [], [axes], value=numpy_helper.from_array(np.array([2, 3], np.int64))),
                    helper.make_node("ReduceMean", [src, axes], [dst], keepdims=1)]
        return [helper.make_node("ReduceMean", [src], [dst], axes=[2, 3], keepdims=1)]

    stats = onnx.ModelProto()
    stats.CopyFrom(proto)
    del stats.graph.output[:]
    names = []
    for k, norm in enumerate(norms):
        x, mean, var = norm.input[0], f"tile_stats_mean_{k}", f"tile_stats_var_{k}"
        stats.graph.node.extend(mean_over_hw(x, mean) + [
            helper.make_node("Sub", [x, mean], [f"{mean}_d"]),
            helper.make_node("Mul", [f"{mean}_d", f"{mean}_d"], [f"{mean}_d2"]),
            *mean_over_hw(f"{mean}_d2", var)])
        stats.graph.output.extend([helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in (mean, var)])
        names.append((f"tile_norm_mean_{k}", f"tile_norm_var_{k}"))
    epsilons = [next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5) for n in norms]

    tile = onnx.ModelProto()
    tile.CopyFrom(proto)
    nodes = []
    k = 0
    for node in tile.graph.node:
        if node.op_type != "InstanceNormalization":
            nodes.append(node)
            continue
        if computed:  # y = x * a + b with a = scale / sqrt(var + eps), b = bias - mean * a, in the graph
            mean, var = names[k]
            t = f"tile_norm_{k}"
            shape = numpy_helper.from_array(np.array([1, -1, 1, 1], np.int64))
            eps = numpy_helper.from_array(np.array(epsilons[k], np.float32))
            nodes += [helper.make_node("Constant", [], [f"{t}_shape"], value=shape),
                      helper.make_node("Constant", [], [f"{t}_eps"], value=eps),
                      helper.make_node("Reshape", [node.input[1], f"{t}_shape"], [f"{t}_g"]),
                      helper.make_node("Reshape", [node.input[2], f"{t}_shape"], [f"{t}_beta"]),
                      helper.make_node("Add", [var, f"{t}_eps"], [f"{t}_ve"]),
                      helper.make_node("Sqrt", [f"{t}_ve"], [f"{t}_sd"]),
                      helper.make_node("Div", [f"{t}_g", f"{t}_sd"], [f"{t}_a"]),
                      helper.make_node("Mul", [mean, f"{t}_a"], [f"{t}_ma"]),
                      helper.make_node("Sub", [f"{t}_beta", f"{t}_ma"], [f"{t}_b"]),
                      helper.make_node("Mul", [node.input[0], f"{t}_a"], [f"{t}_x"]),
                      helper.make_node("Add", [f"{t}_x", f"{t}_b"], [node.output[0]])]
            tile.graph.input.extend([helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, None, 1, 1]) for n in names[k]])
        else:
            a, b = f"tile_norm_a_{k}", f"tile_norm_b_{k}"
            nodes += [helper.make_node("Mul", [node.input[0], a], [f"{a}_x"]),
                      helper.make_node("Add", [f"{a}_x", b], [node.output[0]])]
            channels = consts[node.input[1]].size
            tile.graph.input.extend([helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, channels, 1, 1]) for n in (a, b)])
        k += 1
    del tile.graph.node[:]
    tile.graph.node.extend(nodes)

    if computed:
        return MomentSplit(stats.SerializeToString(), tile.SerializeToString(), names)
    return NormSplit(stats.SerializeToString(), tile.SerializeToString(),
                     [consts[n.input[1]].astype(np.float64) for n in norms],
                     [consts[n.input[2]].astype(np.float64) for n in norms], epsilons)


def tile_grid(length: int, core: int) -> list[tuple[int, int]]:
    """Split 0..length into near-equal cores of at most `core` pixels, each a multiple of 4 but the last."""
    count = max(1, -(-length // core))
    step = -(-length // count)
    step += (-step) % 4
    return [(start, min(start + step, length)) for start in range(0, length, step)]


def core_size(budget: int, margin: int = MARGIN) -> int:
    """The side of a square core whose tile, margins included, fits the pixel budget."""
    return max(64, int(budget ** 0.5) - 2 * margin)


class Tiler:
    """Stylises one big frame tile by tile, with the whole frame's instance-norm statistics.

    `prepare(tile)` turns a BGR tile into the network's input (padded) and its unpadded size; `finish`
    turns an output back into BGR uint8. `session(model_bytes)` opens a graph on the engine's device.
    The statistics are the frame's own up to the budget; above it, see `statistics`.
    """

    def __init__(self, budget: int, split: NormSplit | MomentSplit | None, session: Callable[[bytes], object],
                 prepare: Callable, finish: Callable, input_name: str, output_name: str, plain_session,
                 margin: int = MARGIN):
        self.budget, self.margin, self.split = budget, margin, split
        self.prepare, self.finish, self.input_name, self.output_name = prepare, finish, input_name, output_name
        if split is None:
            self.tile_session, self.stats_session = plain_session, None
        else:
            self.stats_session, self.tile_session = session(split.stats_model), session(split.tile_model)

    def tiles(self, h: int, w: int) -> Iterator[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
        """(core box, tile box) as (y0, y1, x0, x1), cores covering the frame once."""
        core, m = core_size(self.budget, self.margin), self.margin
        for y0, y1 in tile_grid(h, core):
            for x0, x1 in tile_grid(w, core):
                yield (y0, y1, x0, x1), (max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m))

    def statistics(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """The tile graph's norm inputs: the frame's own statistics when it fits the budget; else
        measured on copies scaled to the budget and to a quarter of it, and extrapolated to full size
        (mean linear, variance log-linear in log pixels). On a 1.6 MP photo stats from 0.8 MP give
        31.8 dB against the untiled result, extrapolated from 0.8 and 0.2 MP 37.9 dB."""
        if self.split is None:
            return {}
        h, w = frame.shape[:2]
        if h * w <= self.budget:
            return self.split.affine(self._measure(frame, 1.0))
        big, small = self.budget / (h * w), self.budget / (4 * h * w)
        at_big, at_small = self._measure(frame, big ** 0.5), self._measure(frame, small ** 0.5)
        t = np.log(1 / big) / np.log(big / small)
        return self.split.affine([(mb + (mb - ms) * t, np.exp(np.log(vb) + (np.log(vb) - np.log(vs)) * t))
                                  for (mb, vb), (ms, vs) in zip(at_big, at_small)])

    def _measure(self, frame: np.ndarray, shrink: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """(mean, variance) per norm of the frame scaled by `shrink`."""
        if shrink < 1.0:
            h, w = frame.shape[:2]
            frame = cv2.resize(frame, (max(8, round(w * shrink)), max(8, round(h * shrink))), interpolation=cv2.INTER_AREA)
        out = self.stats_session.run(None, {self.input_name: self.prepare(frame)[0]})
        return [(m.astype(np.float64), np.maximum(v.astype(np.float64), 1e-12)) for m, v in zip(out[0::2], out[1::2])]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        feeds = self.statistics(frame)
        out = np.empty_like(frame)
        for (y0, y1, x0, x1), (ty0, ty1, tx0, tx1) in self.tiles(h, w):
            blob, size = self.prepare(np.ascontiguousarray(frame[ty0:ty1, tx0:tx1]))
            result = self.finish(self.tile_session.run([self.output_name], {self.input_name: blob, **feeds})[0], size)
            out[y0:y1, x0:x1] = result[y0 - ty0:y1 - ty0, x0 - tx0:x1 - tx0]
        return out
