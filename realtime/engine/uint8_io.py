"""Frames stay uint8 until the graph: wrap a float style network so it takes and returns uint8 NHWC BGR.

A float network wants NCHW float (RGB or BGR, 0-255 or 0-1) and gives the same back; turning a camera
frame into that and back is three numpy passes per frame on one core, and on CUDA four times the bytes
across the bus. The wrapper puts those steps into the graph itself (ONNX surgery):

    uint8 [1, H, W, 3] BGR -> Cast -> Transpose -> (channel swap) -> (/255) -> reflect Pad to the multiple
    -> the network -> crop -> (*255) -> Clip 0..255 -> Round -> (channel swap) -> Transpose -> Cast uint8

so the engine hands onnxruntime the frame as it is and gets the finished frame back.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PREFIX = "u8io_"


def wrap(proto: onnx.ModelProto, input_name: str, output_name: str, color_order: str = "RGB",
         value_scale: float = 255.0, pad_multiple: int = 4) -> onnx.ModelProto:
    """A copy of `proto` with uint8 NHWC BGR input `frame` and output `styled`, same height and width.
    Other inputs (a multi-style network's style weights) stay as they are."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    g = model.graph
    others = [onnx.ValueInfoProto() for i in g.input if i.name != input_name]
    for copy, original in zip(others, [i for i in g.input if i.name != input_name]):
        copy.CopyFrom(original)
    if len(others) == len(g.input):
        raise ValueError("expected one image input")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    if opset < 13:
        raise ValueError(f"opset {opset}: the wrapper needs opset 13 or newer")
    p = PREFIX

    def const(name: str, value) -> str:
        g.initializer.append(numpy_helper.from_array(np.asarray(value), p + name))
        return p + name

    bgr_to_rgb = const("rev", np.array([2, 1, 0], np.int64))
    pre = [helper.make_node("Cast", ["frame"], [p + "f"], to=TensorProto.FLOAT),
           helper.make_node("Transpose", [p + "f"], [p + "nchw"], perm=[0, 3, 1, 2])]
    x = p + "nchw"
    if color_order.upper() == "RGB":
        pre.append(helper.make_node("Gather", [x, bgr_to_rgb], [p + "rgb"], axis=1))
        x = p + "rgb"
    if value_scale != 255.0:
        pre.append(helper.make_node("Mul", [x, const("to_unit", np.array(value_scale / 255.0, np.float32))], [p + "scaled"]))
        x = p + "scaled"
    # reflect-pad bottom/right to the network's multiple: pads = (m - size % m) % m
    m = const("m", np.array([pad_multiple, pad_multiple], np.int64))
    pre += [helper.make_node("Shape", [x], [p + "shape"]),
            helper.make_node("Slice", [p + "shape", const("s2", np.array([2], np.int64)), const("s4", np.array([4], np.int64))], [p + "hw"]),
            helper.make_node("Mod", [p + "hw", m], [p + "rem"]),
            helper.make_node("Sub", [m, p + "rem"], [p + "short"]),
            helper.make_node("Mod", [p + "short", m], [p + "pad_hw"]),
            helper.make_node("Concat", [const("zeros4", np.zeros(4, np.int64)), const("zeros2", np.zeros(2, np.int64)), p + "pad_hw"],
                             [p + "pads"], axis=0),
            helper.make_node("Pad", [x, p + "pads"], [input_name], mode="reflect")]
    y = output_name
    post = [helper.make_node("Slice", [y, const("zero2", np.zeros(2, np.int64)), p + "hw", const("axes23", np.array([2, 3], np.int64))],
                             [p + "crop"])]
    y = p + "crop"
    if value_scale != 255.0:
        post.append(helper.make_node("Mul", [y, const("to_255", np.array(255.0 / value_scale, np.float32))], [p + "out255"]))
        y = p + "out255"
    post += [helper.make_node("Clip", [y, const("lo", np.array(0.0, np.float32)), const("hi", np.array(255.0, np.float32))], [p + "clip"]),
             helper.make_node("Round", [p + "clip"], [p + "round"])]
    y = p + "round"
    if color_order.upper() == "RGB":
        post.append(helper.make_node("Gather", [y, bgr_to_rgb], [p + "bgr"], axis=1))
        y = p + "bgr"
    post += [helper.make_node("Transpose", [y], [p + "nhwc"], perm=[0, 2, 3, 1]),
             helper.make_node("Cast", [p + "nhwc"], ["styled"], to=TensorProto.UINT8)]

    nodes = pre + list(g.node) + post
    del g.node[:]
    g.node.extend(nodes)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("frame", TensorProto.UINT8, [1, "height", "width", 3]))
    g.input.extend(others)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("styled", TensorProto.UINT8, [1, "height", "width", 3]))
    return model
