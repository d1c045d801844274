"""ONNX export: dynamic sizes, parity with PyTorch, metadata, fp16, and running in other runtimes."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from realtime.training import checkpoint
from realtime.tools.export import Clipped
from tests.helpers import assert_clean_error, cli


@pytest.mark.parametrize("size", [(256, 256), (480, 640), (333, 517)])
def test_onnx_runs_at_any_size_and_matches_pytorch(tiny_checkpoint, tiny_onnx, size):
    net, _ = checkpoint.load_model(tiny_checkpoint)
    session = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1)) * 255
    got = session.run(["output"], {"input": x.numpy()})[0]
    with torch.no_grad():
        ref = Clipped(net)(x).numpy()
    assert got.shape == (1, 3, *size)
    assert np.abs(got - ref).max() < 0.05


def test_onnx_is_valid_and_carries_its_card(tiny_onnx):
    model = onnx.load(str(tiny_onnx))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[2].dim_param and dims[3].dim_param  # dynamic height and width
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["realtime.style"] == "tiny"
    assert (meta["realtime.input_name"], meta["realtime.output_name"]) == ("input", "output")
    assert (meta["realtime.layout"], meta["realtime.color_order"], meta["realtime.value_range"]) == ("NCHW", "RGB", "0-255")
    card = json.loads(meta["realtime.card"])
    assert card["width"] == 8 and card["style_image"] == "starry_night.jpg"


def test_fp16_keeps_instance_norm_in_float32(tiny_checkpoint, tmp_path):
    out = tmp_path / "tiny.fp16.onnx"
    result = cli("export", tiny_checkpoint, "-o", out, "--fp16")
    assert result.code == 0, result.stderr
    model = onnx.load(str(out))
    inits = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    norms = [n for n in model.graph.node if n.op_type == "InstanceNormalization"]
    assert convs and norms
    assert all(inits[n.input[1]].data_type == onnx.TensorProto.FLOAT16 for n in convs)
    assert all(inits[n.input[1]].data_type == onnx.TensorProto.FLOAT for n in norms)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # same I/O as fp32
    assert "max |onnxruntime - PyTorch|" in result.stderr


def test_opset_18_also_exports(tiny_checkpoint, tmp_path):
    out = tmp_path / "tiny18.onnx"
    result = cli("export", tiny_checkpoint, "-o", out, "--opset", "18")
    assert result.code == 0, result.stderr
    assert onnx.load(str(out)).opset_import[0].version == 18


def test_opencv_dnn_loads_the_export(tiny_onnx):
    """OpenCV's DNN module runs our file directly and agrees with onnxruntime."""
    import cv2

    net = cv2.dnn.readNetFromONNX(str(tiny_onnx))
    bgr = (np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)
    blob = cv2.dnn.blobFromImage(bgr, swapRB=True)
    net.setInput(blob)
    got = net.forward()
    ref = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"]).run(["output"], {"input": blob})[0]
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 0.5


def test_export_refusals(tiny_checkpoint, tmp_path):
    assert_clean_error(cli("export", tmp_path / "missing.ckpt", "-o", tmp_path / "x.onnx"), "not found")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00" * 100)
    assert_clean_error(cli("export", junk, "-o", tmp_path / "x.onnx"), "checkpoint")
    assert_clean_error(cli("export", tiny_checkpoint, "-o", tmp_path / "x.txt"), ".onnx")
    assert not (tmp_path / "x.onnx").exists()
