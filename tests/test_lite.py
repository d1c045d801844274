"""The CPU network (`--arch lite`): same I/O as the full net, a fraction of the work, trains and exports."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import pytest
import torch

from realtime.training import checkpoint
from realtime.engine import Engine
from realtime.training.transformer import TransformerNet
from tests.conftest import PHOTOS, STYLE
from tests.helpers import assert_clean_error, cli


def macs_per_pixel(net: torch.nn.Module, size: int = 128) -> float:
    total = 0

    def count(module, inputs, output):  # noqa: ANN001
        nonlocal total
        total += output.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net(torch.rand(1, 3, size, size) * 255)
    for h in hooks:
        h.remove()
    return total / size ** 2


def test_lite_is_at_least_twenty_times_cheaper_than_full():
    full, lite = macs_per_pixel(TransformerNet(32, 5, "full")), macs_per_pixel(TransformerNet(16, 4, "lite"))
    assert 140e3 < full < 170e3  # Johnson's net: about 154 k multiply-adds per pixel
    assert lite * 20 < full


@pytest.mark.parametrize("arch", ["lite", "lite4", "fast"])
@pytest.mark.parametrize("size", [(256, 256), (333, 517), (61, 47), (9, 13)])
def test_lite_keeps_size_and_has_no_border_artefacts(size, arch):
    """Any frame size comes back as it went in; a flat frame stays flat (no border or grid artefacts) where
    the architecture promises it by construction. The fast network pads with zeros and draws 2x2 blocks: it
    learns its borders and grid in training (the shipped ones pass the border check in test_stabilize)."""
    torch.manual_seed(0)
    net = TransformerNet(8, 2, arch).eval()
    with torch.no_grad():
        flat = net(torch.full((1, 3, *size), 120.0))
        photo = net(torch.rand(1, 3, *size) * 255)
    assert flat.shape == photo.shape == (1, 3, *size)
    if arch != "fast":
        assert float(flat.std(dim=(2, 3)).max()) < 1e-3


@pytest.fixture(scope="module")
def lite_ckpt(tmp_path_factory, vgg_weights):
    out = tmp_path_factory.mktemp("lite")
    result = cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "small-lite", "--out-dir", out,
                 "--arch", "lite", "--steps", "3", "--batch-size", "2", "--image-size", "64", "--style-size", "64",
                 "--preview-every", "0", "--device", "cpu")
    assert result.code == 0, result.stderr
    return out / "small-lite.ckpt"


def test_train_lite_records_the_arch_and_exports(lite_ckpt, tmp_path):
    card = json.loads(lite_ckpt.with_suffix(".json").read_text())
    assert card["arch"] == "lite" and card["width"] == 16 and card["residual_blocks"] == 4
    net, payload = checkpoint.load_model(lite_ckpt)
    assert net.arch == "lite" and payload["arch"] == "lite"
    out = tmp_path / "small-lite.onnx"
    result = cli("export", lite_ckpt, "-o", out)  # export checks parity with PyTorch itself
    assert result.code == 0, result.stderr
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["realtime.arch"] == "lite"
    photo = cv2.resize(cv2.imread(str(PHOTOS / "kodim01.jpg")), (517, 333))  # an odd size
    styled = Engine(out, device="cpu")(photo)
    assert styled.shape == photo.shape
    # and OpenCV's DNN module runs the same file to the same result
    net_cv = cv2.dnn.readNetFromONNX(str(out))
    net_cv.setInput(cv2.dnn.blobFromImage(photo, swapRB=True))
    cv_out = np.clip(net_cv.forward()[0].transpose(1, 2, 0)[:, :, ::-1], 0, 255)
    assert np.abs(cv_out - styled.astype(np.float32)).mean() < 1.0


def test_resume_with_another_arch_is_refused(lite_ckpt, tmp_path):
    result = cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "x", "--out-dir", tmp_path,
                 "--resume", lite_ckpt, "--steps", "5", "--device", "cpu")
    assert_clean_error(result, "--arch")


def test_the_fast_network_exports_and_runs_alike_in_onnxruntime_and_opencv(tmp_path):
    """The fast CPU network (zero padding, depth-to-space decoder) through `realtime export`: the same
    pixels from onnxruntime and OpenCV's DNN module on an odd-sized photo, and the card's arch in the file."""
    torch.manual_seed(0)
    net = TransformerNet(8, 2, "fast")
    with torch.no_grad():  # trained norms differ from each other; untrained ones are shared in the file
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ckpt = tmp_path / "tiny-fast.ckpt"
    checkpoint.save(ckpt, net, None, 0, {"arch": "fast", "width": 8, "blocks": 2})
    out = tmp_path / "tiny-fast.onnx"
    result = cli("export", ckpt, "-o", out)  # export checks parity with PyTorch itself
    assert result.code == 0, result.stderr
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["realtime.arch"] == "fast"
    assert checkpoint.network(str(out)).arch == "fast"  # --init reads its weights back
    photo = cv2.resize(cv2.imread(str(PHOTOS / "kodim01.jpg")), (517, 333))
    styled = Engine(out, device="cpu")(photo)
    assert styled.shape == photo.shape and styled.std() > 1
    net_cv = cv2.dnn.readNetFromONNX(str(out))
    net_cv.setInput(cv2.dnn.blobFromImage(photo, swapRB=True))
    cv_out = np.clip(net_cv.forward()[0].transpose(1, 2, 0)[:, :, ::-1], 0, 255)
    assert np.abs(cv_out - styled.astype(np.float32)).mean() < 1.0
