"""Tiles for networks that normalise with GlobalAveragePool moments instead of InstanceNormalization nodes.

The arbitrary-style transform (realtime.engine.arbitrary) comes from TensorFlow: each of its conditional
instance norms is `mean = GlobalAveragePool(x)`, `variance = GlobalAveragePool((x - mean)^2)`, then
`x * a + b` with `a`, `b` from the style vector, all between int8 quantise/dequantise pairs. Run tile by
tile, each tile would be normalised by its own moments: seams. So, as realtime.engine.tiling does for
InstanceNormalization, the graph is split in two:
- a *stats* graph: the network with every moment (each GlobalAveragePool's output) as an output, run on
  the whole frame or on copies scaled to the budget (`tiling.Tiler.statistics` extrapolates those);
- a *tile* graph: every GlobalAveragePool replaced by an input of the same name, so tiles read the whole
  frame's moments; the nodes that only fed the pools are dropped.
The result plugs into `tiling.Tiler` in place of a `tiling.NormSplit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

_VARIANCE_STEPS = 4  # from a variance pool back to x - mean: DequantizeLinear, QuantizeLinear, Mul, Sub


@dataclass
class MomentSplit:
    """The stats and tile graphs, and the names of the moments (mean, variance per norm, in graph order)."""

    stats_model: bytes
    tile_model: bytes
    names: list[tuple[str, str]]

    def affine(self, stats: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        """(mean, variance) per norm, measured or extrapolated -> the tile graph's moment inputs."""
        feeds = {}
        for (mean_name, var_name), (mean, var) in zip(self.names, stats):
            feeds[mean_name] = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
            feeds[var_name] = np.asarray(var, np.float32).reshape(1, -1, 1, 1)
        return feeds


def _is_variance_of(pool: onnx.NodeProto, x: str, producers: dict[str, onnx.NodeProto]) -> bool:
    """Whether `pool` averages (x - mean)^2: a Sub from `x` at most `_VARIANCE_STEPS` nodes back."""
    name = pool.input[0]
    for _ in range(_VARIANCE_STEPS):
        node = producers.get(name)
        if node is None:
            return False
        if node.op_type == "Sub":
            return node.input[0] == x
        name = node.input[0]
    return False


def split_moments(proto: onnx.ModelProto) -> MomentSplit | None:
    """The two graphs, or None when the pools are not (mean, variance) pairs of float NHWC/NCHW tensors
    (the caller then tiles with each tile normalised alone, and says so)."""
    graph = proto.graph
    pools = [n for n in graph.node if n.op_type == "GlobalAveragePool"]
    if not pools or len(pools) % 2:
        return None
    producers = {out: n for n in graph.node for out in n.output}
    pairs = list(zip(pools[0::2], pools[1::2]))
    if not all(_is_variance_of(var, mean.input[0], producers) for mean, var in pairs):
        return None
    names = [(mean.output[0], var.output[0]) for mean, var in pairs]

    stats = onnx.ModelProto()
    stats.CopyFrom(proto)
    del stats.graph.output[:]
    stats.graph.output.extend([helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for pair in names for n in pair])

    tile = onnx.ModelProto()
    tile.CopyFrom(proto)
    pooled = {n for pair in names for n in pair}
    kept = [n for n in tile.graph.node if not (n.op_type == "GlobalAveragePool" and n.output[0] in pooled)]
    tile.graph.input.extend([helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, None, 1, 1])
                             for pair in names for n in pair])
    del tile.graph.node[:]
    tile.graph.node.extend(_live(kept, [o.name for o in tile.graph.output]))
    return MomentSplit(stats.SerializeToString(), tile.SerializeToString(), names)


def _live(nodes: list[onnx.NodeProto], outputs: list[str]) -> list[onnx.NodeProto]:
    """The nodes the outputs depend on, in their order: the variance chains that fed the pools go."""
    needed = set(outputs)
    keep = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    return keep[::-1]
