"""Static int8 quantisation: a real QDQ graph that onnxruntime runs, close to fp32 on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from realtime.media import images
from realtime.catalog import registry
from realtime.engine import Engine
from realtime.errors import UserError
from realtime.tools.quantize import int8_path, psnr, quantize
from tests.conftest import EVAL, PHOTOS
from tests.helpers import assert_clean_error, cli

PHOTO = "kodim05.jpg"


@pytest.fixture(scope="module")
def tiny_int8(tiny_onnx, tmp_path_factory) -> Path:
    """The tiny network quantised with the default calibration source, the clip shipped in the package."""
    out = tmp_path_factory.mktemp("int8") / "tiny.int8.onnx"
    report = quantize(tiny_onnx, out, frames=8)
    assert report.calibration == "big_buck_bunny_360p.mp4" and report.calibration_frames == 8
    assert report.quantised_convs == report.convs == 16
    assert min(report.psnr_db) > 25
    return out


def test_int8_graph_is_qdq_with_float_norms_and_our_metadata(tiny_onnx, tiny_int8):
    model = onnx.load(str(tiny_int8))
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") >= 16 and ops.count("DequantizeLinear") >= 32
    dequantized = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    weights = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    for conv in convs:  # int8 weights behind every conv, one scale per output channel
        dq = dequantized[conv.input[1]]
        w, scale = weights[dq.input[0]], weights[dq.input[1]]
        assert w.data_type == onnx.TensorProto.INT8 and len(w.dims) == 4
        assert list(scale.dims) == [w.dims[0]]
        values = onnx.numpy_helper.to_array(w)  # 7 bits: no saturation in VPMADDUBSW on CPUs without VNNI
        assert values.min() >= -64 and values.max() <= 64 and np.abs(values).max() > 32
        assert conv.input[0] in dequantized  # and uint8 activations in
    norms = [n for n in model.graph.node if n.op_type == "InstanceNormalization"]
    assert norms and all(weights[n.input[1]].data_type == onnx.TensorProto.FLOAT for n in norms)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # same I/O as fp32
    meta = {p.key: p.value for p in model.metadata_props}
    fp32_meta = {p.key: p.value for p in onnx.load(str(tiny_onnx)).metadata_props}
    assert meta["realtime.precision"] == "int8" and fp32_meta["realtime.precision"] == "fp32"
    assert {k: v for k, v in meta.items() if k not in ("realtime.precision", "realtime.quantization")} == \
        {k: v for k, v in fp32_meta.items() if k != "realtime.precision"}
    assert "calibration on 8 frames of big_buck_bunny_360p.mp4" in meta["realtime.quantization"]


def test_int8_output_is_close_to_fp32_on_a_real_photo(tiny_onnx, tiny_int8):
    photo = images.read_bgr(PHOTOS / PHOTO)[:383, :511]  # odd size: the graph's own padding runs in int8 too
    fp32, int8 = Engine(tiny_onnx, device="cpu"), Engine(tiny_int8, device="cpu")
    assert int8.info.precision == "int8" and int8.info.name == "tiny"
    a, b = fp32(photo), int8(photo)
    assert b.shape == a.shape == photo.shape
    assert not np.array_equal(a, b)  # really a different computation
    assert psnr(a, b) > 25, psnr(a, b)


def test_export_int8_writes_both_files_and_the_zoo_finds_the_copy(tiny_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "tinyq.onnx"
    result = cli("export", tiny_checkpoint, "-o", out, "--int8", timeout=120)  # the bundled clip calibrates
    assert result.code == 0, result.stderr
    assert out.is_file() and int8_path(out) == tmp_path / "tinyq.int8.onnx" and int8_path(out).is_file()
    assert "int8 QDQ" in result.stderr and "frames of big_buck_bunny_360p.mp4" in result.stderr and "PSNR vs fp32" in result.stderr
    monkeypatch.setenv(registry.ENV_VAR, str(tmp_path))
    assert "tinyq.int8" not in [s.name for s in registry.list_styles()]
    assert registry.resolve("tinyq") == out
    assert registry.int8_copy(registry.resolve("tinyq")) == int8_path(out)
    stylised = tmp_path / "kodim05.png"
    result = cli("image", PHOTOS / PHOTO, "-o", stylised, "--style", "tinyq", "--int8", "--device", "cpu",
                 env={registry.ENV_VAR: str(tmp_path)})
    assert result.code == 0, result.stderr
    assert stylised.is_file() and "no int8 copy" not in result.stderr


def test_refusals(tiny_onnx, tiny_int8, tiny_checkpoint, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a photo")
    result = cli("export", tiny_onnx, "-o", tmp_path / "x.int8.onnx", "--int8", "--calibration", empty)
    assert_clean_error(result, "--calibration", "no JPEG or PNG photos")
    assert not (tmp_path / "x.int8.onnx").exists()
    assert_clean_error(cli("export", tiny_checkpoint, "-o", tmp_path / "y.onnx", "--int8", "--fp16"), "--fp16")
    assert_clean_error(cli("export", tiny_onnx, "-o", tmp_path / "z.onnx"), "--int8")
    assert not (tmp_path / "y.onnx").exists() and not (tmp_path / "z.onnx").exists()
    with pytest.raises(UserError, match="is int8"):
        quantize(tiny_int8, tmp_path / "twice.onnx")
