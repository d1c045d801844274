"""Frames stay uint8 until the graph (realtime.engine.uint8_io): the wrapped network gives the float path's
frames to within one grey level (the graph rounds where the float path truncates), for our networks,
their int8 copies, foreign exports and a 0-1 BGR model, and the engine uses it."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from realtime.media import images
from realtime.engine import uint8_io
from realtime.engine import Engine
from tests.conftest import ANCHORS, PHOTOS, REPO

SHIPPED = sorted((REPO / "models").glob("*.onnx"))


def float_path(engine: Engine, frame: np.ndarray) -> np.ndarray:
    blob, size = engine.preprocess(frame)
    return engine.postprocess(engine.run_tensor(blob), size)


def check_close(model) -> None:
    engine = Engine(model, device="cpu", tile=None)
    assert engine._u8 is not None, "the engine did not take the uint8 graph"
    for photo in sorted(PHOTOS.glob("*.jpg"))[:4]:
        frame = images.read_bgr(photo)[:251, :283]  # odd sizes: the graph pads and crops itself
        got, want = engine(frame), float_path(engine, frame)
        assert got.shape == frame.shape and got.dtype == np.uint8
        assert np.abs(got.astype(np.int16) - want).max() <= 1


@pytest.mark.parametrize("model", SHIPPED, ids=lambda p: p.name)
def test_shipped_networks_match_the_float_path(model):
    check_close(model)


def test_an_int8_copy_matches_its_float_path(tmp_path):
    """No int8 copy ships (on a 2-core Intel Xeon with AVX-512 and on an AVX2-only EPYC it was slower than fp32), but
    `export --int8` makes one on request."""
    from realtime.tools.quantize import quantize

    out = tmp_path / "mosaic.int8.onnx"
    quantize(REPO / "models" / "mosaic.onnx", out, frames=8)
    check_close(out)


@pytest.mark.parametrize("name", ["pytorch_examples_nc16_candy.onnx", "lengstrom_wave.onnx"])
def test_foreign_exports_are_wrapped_and_match(name, shared):
    """Heavy check (needs ../shared/anchors): real networks from other projects."""
    check_close(ANCHORS / name)


def test_a_foreign_export_made_here_is_wrapped_and_matches(foreign_onnx):
    """The same from a clone alone: no metadata, its own tensor names, multiples of 4 (tests/conftest.py)."""
    check_close(foreign_onnx)


def test_a_unit_range_bgr_model(tmp_path):
    """A model that wants BGR in 0-1 and darkens by half: both conventions go into the graph."""
    graph = helper.make_graph([helper.make_node("Mul", ["x", "half"], ["y"])], "darken",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    for key, value in (("realtime.value_range", "0-1"), ("realtime.color_order", "BGR")):
        model.metadata_props.add(key=key, value=value)
    path = tmp_path / "darken.onnx"
    onnx.save(model, str(path))
    frame = images.read_bgr(PHOTOS / "kodim23.jpg")[:101, :77]
    out = Engine(path, device="cpu")(frame)
    assert np.abs(out.astype(np.int16) - np.round(frame / 2)).max() <= 1


def test_the_wrapped_graph_is_uint8_nhwc_with_dynamic_size():
    engine = Engine(SHIPPED[0], device="cpu")
    wrapped = uint8_io.wrap(onnx.load(str(SHIPPED[0])), engine.info.input_name, engine.info.output_name)
    onnx.checker.check_model(wrapped)
    (inp,), (out,) = wrapped.graph.input, wrapped.graph.output
    for value in (inp, out):
        t = value.type.tensor_type
        assert t.elem_type == TensorProto.UINT8 and [d.dim_param or d.dim_value for d in t.shape.dim] == [1, "height", "width", 3]
    session = ort.InferenceSession(wrapped.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(None, {"frame": np.zeros((1, 37, 45, 3), np.uint8)})[0].shape == (1, 37, 45, 3)
