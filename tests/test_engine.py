"""The onnxruntime engine, the style zoo, stills and bench, on real photos and models."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from realtime.media import images
from realtime.engine import Engine
from realtime.engine.session import cuda_driver_present
from tests.conftest import PHOTOS
from tests.helpers import assert_clean_error, cli


def test_engine_keeps_any_size_and_stylises(tiny_onnx):
    engine = Engine(tiny_onnx, device="cpu")
    odd = cv2.resize(images.read_bgr(PHOTOS / "kodim01.jpg"), (517, 333))
    out = engine(odd)
    assert out.shape == odd.shape and out.dtype == np.uint8
    assert np.abs(out.astype(float) - odd.astype(float)).mean() > 10
    half = Engine(tiny_onnx, device="cpu", scale=0.5)(odd)
    assert half.shape == odd.shape


def test_foreign_model_without_metadata_runs_at_odd_sizes(foreign_onnx):
    """Other projects' exports (like the anchors) carry no realtime metadata, name their tensors their own
    way and need multiples of 4: the engine pads and crops."""
    import onnxruntime as ort

    frame = np.ascontiguousarray(images.read_bgr(PHOTOS / "kodim03.jpg")[:101, :203])
    raw = ort.InferenceSession(str(foreign_onnx), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception):  # as it is, the network cannot take 101 x 203
        raw.run(None, {"img": np.zeros((1, 3, 101, 203), np.float32)})
    engine = Engine(foreign_onnx, device="cpu")
    assert engine.info.pad_multiple == 4 and engine.info.color_order == "RGB" and not engine.info.metadata
    assert (engine.info.input_name, engine.info.output_name) == ("img", "stylised")
    out = engine(frame)
    assert out.shape == (101, 203, 3)
    # the same pixels as the network on a padded copy (RGB 0-255 in and out), cropped back
    padded = cv2.copyMakeBorder(frame, 0, 3, 0, 1, cv2.BORDER_REFLECT_101)
    want = raw.run(None, {"img": padded[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)})[0]
    want = want[0, :, :101, :203].transpose(1, 2, 0)[:, :, ::-1]
    assert np.abs(out.astype(np.float32) - want).max() <= 1.0
    assert np.abs(out.astype(np.float32) - frame).mean() > 3  # it did run the network


def test_image_command_keeps_the_size(tiny_onnx, tmp_path):
    src = tmp_path / "odd.png"
    images.write_bgr(src, cv2.resize(images.read_bgr(PHOTOS / "kodim01.jpg"), (517, 333)))
    result = cli("image", src, "-o", tmp_path / "out.png", "--style", tiny_onnx, "--device", "cpu")
    assert result.code == 0, result.stderr
    assert images.read_bgr(tmp_path / "out.png").shape == (333, 517, 3)


def test_image_command_takes_a_folder(tiny_onnx, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("kodim07.jpg", "kodim13.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    result = cli("image", folder, "-o", tmp_path / "out", "--style", tiny_onnx)
    assert result.code == 0, result.stderr
    for name in ("kodim07", "kodim13"):
        out = images.read_bgr(tmp_path / "out" / f"{name}.png")
        assert out.shape == images.read_bgr(folder / f"{name}.jpg").shape


def test_styles_are_found_by_name_through_the_environment(tiny_onnx, tmp_path):
    zoo_dir = tmp_path / "zoo"
    zoo_dir.mkdir()
    shutil.copy(tiny_onnx, zoo_dir / "tinystyle.onnx")
    (zoo_dir / "tinystyle.json").write_text(json.dumps({"style_image": "mosaic.jpg"}))
    env = {"REALTIME_MODELS": str(zoo_dir)}
    listed = cli("styles", "--json", env=env)
    assert listed.code == 0, listed.stderr
    assert "tinystyle" in [s["name"] for s in json.loads(listed.stdout)]
    result = cli("image", PHOTOS / "kodim05.jpg", "-o", tmp_path / "o.png", "--style", "tinystyle", env=env)
    assert result.code == 0, result.stderr


@pytest.mark.parametrize("style,needle", [("no_such_style", "unknown style"), ("../../etc/passwd", "not a style name"),
                                          ("a/b", "not a style name")])
def test_style_names_are_validated(style, needle, tmp_path):
    result = cli("image", PHOTOS / "kodim05.jpg", "-o", tmp_path / "o.png", "--style", style)
    assert_clean_error(result, needle)
    assert not (tmp_path / "o.png").exists()


def test_corrupt_onnx_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    result = cli("image", PHOTOS / "kodim05.jpg", "-o", tmp_path / "o.png", "--style", bad)
    assert_clean_error(result, "broken.onnx")
    assert not (tmp_path / "o.png").exists()


def test_image_output_equal_to_input_is_refused(tiny_onnx, tmp_path):
    src = tmp_path / "p.png"
    shutil.copy(PHOTOS / "kodim05.jpg", tmp_path / "p.jpg")
    images.write_bgr(src, images.read_bgr(tmp_path / "p.jpg"))
    before = src.read_bytes()
    assert_clean_error(cli("image", src, "-o", src, "--style", tiny_onnx), "would overwrite the input")
    assert src.read_bytes() == before


@pytest.mark.skipif(cuda_driver_present(), reason="a GPU driver is present: --device cuda is valid here")
def test_device_cuda_without_a_gpu_is_refused(tiny_onnx, tmp_path):
    result = cli("image", PHOTOS / "kodim05.jpg", "-o", tmp_path / "o.png", "--style", tiny_onnx, "--device", "cuda")
    assert_clean_error(result, "--device cuda")


def test_auto_device_says_when_it_falls_back_to_cpu(tiny_onnx, tmp_path):
    result = cli("image", PHOTOS / "kodim05.jpg", "-o", tmp_path / "o.png", "--style", tiny_onnx)
    assert result.code == 0, result.stderr
    if not cuda_driver_present():
        assert "running on CPU" in result.stderr


@pytest.mark.skipif(not cuda_driver_present(), reason="needs an NVIDIA GPU and driver")
def test_cuda_engine_matches_cpu(tiny_onnx):
    frame = images.read_bgr(PHOTOS / "kodim05.jpg")
    gpu = Engine(tiny_onnx, device="cuda")
    assert gpu.on_cuda
    diff = np.abs(gpu(frame).astype(int) - Engine(tiny_onnx, device="cpu")(frame).astype(int))
    assert diff.max() <= 3


def test_bench_prints_a_table_and_writes_json(tiny_onnx, tmp_path):
    out = tmp_path / "bench.json"
    result = cli("bench", "--style", tiny_onnx, "--sizes", "240p,320x200", "--device", "cpu", "--runs", 2,
                 "--seconds", 0.2, "--json", out)
    assert result.code == 0, result.stderr
    assert "onnxruntime-cpu" in result.stdout and "pytorch-eager-cpu" in result.stdout
    data = json.loads(out.read_text())
    assert {r["size"] for r in data["results"]} == {"240p", "320x200"}
    assert all(r["fps"] > 0 for r in data["results"])
    assert "cpu" in data["machine"] and data["onnxruntime_over_pytorch_fps"]
    ours = [r for r in data["results"] if r["backend"] == "onnxruntime-cpu"]
    assert {r["io"] for r in ours} == {"uint8", "float"}  # frames into the graph as they are, and the float path
    assert all(r["network_ms"] > 0 and r["outside_ms"] >= 0 for r in ours)  # medians of separate timings: no ordering


def test_bench_profile_splits_the_network_time_by_operator_type(tiny_onnx, tmp_path):
    """`bench --profile`: onnxruntime's own trace, grouped by operator type, in a table and the JSON."""
    out = tmp_path / "bench.json"
    result = cli("bench", "--style", tiny_onnx, "--sizes", "160x120,240p", "--device", "cpu", "--runs", 2,
                 "--seconds", 0.1, "--no-pytorch", "--threads", 1, "--profile", "--json", out)
    assert result.code == 0, result.stderr
    assert "per operator type" in result.stdout and "Conv" in result.stdout
    ops = json.loads(out.read_text())["operators"]
    for size in ("160x120", "240p"):
        mine = [o for o in ops if o["size"] == size]
        assert abs(sum(o["percent"] for o in mine) - 100) < 0.5, mine
        assert len({o["op"] for o in mine}) == len(mine)  # one row per operator type
        assert {"Conv", "InstanceNormalization", "Cast"} <= {o["op"] for o in mine}  # the network and the uint8 wrapper
        assert all(o["ms_per_frame"] >= 0 for o in mine) and sum(o["ms_per_frame"] for o in mine) > 0
    # a bigger frame costs the convolutions more
    conv = {o["size"]: o["ms_per_frame"] for o in ops if o["op"] == "Conv"}
    assert conv["240p"] > conv["160x120"]


def test_a_profiling_engine_stylises_as_a_plain_one(tiny_onnx):
    frame = np.random.default_rng(3).integers(0, 256, (72, 96, 3), dtype=np.uint8)
    profiled = Engine(tiny_onnx, device="cpu", profile=True)
    assert np.array_equal(profiled(frame), Engine(tiny_onnx, device="cpu")(frame))
    profiled(frame)
    spent = profiled.operator_time()
    assert spent["Conv"] > 0
    assert Engine(tiny_onnx, device="cpu").operator_time() == {}  # not profiling: nothing to read
