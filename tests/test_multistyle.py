"""The multi-style network (conditional instance norm): shipped styles in one set of convolutions."""

from __future__ import annotations

import onnx
import pytest
import torch

from realtime.training import multistyle
from realtime.training.checkpoint import network


def frame(n: int = 1, h: int = 70, w: int = 90) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(1)) * 255


@pytest.fixture(scope="module")
def two_styles() -> multistyle.MultiStyleTransformer:
    return multistyle.from_shipped({"mosaic": "mosaic", "candy": "candy"}).eval()


def test_the_base_style_draws_its_own_networks_picture_and_every_style_keeps_its_norms(two_styles):
    x = frame()
    with torch.no_grad():
        diff = (two_styles(x, two_styles.one_hot(0)) - network("mosaic")(x)).abs().max()
    assert float(diff) < 0.05, float(diff)
    candy = dict(network("candy").net.named_modules())
    for name, norm in two_styles.net.named_modules():
        if isinstance(norm, multistyle.ConditionalInstanceNorm):
            assert torch.equal(norm.weight[1], candy[name].weight) and torch.equal(norm.bias[1], candy[name].bias)


def test_weights_are_clipped_and_scaled_and_a_batch_mixes_per_frame(two_styles):
    assert torch.allclose(multistyle.mix(torch.tensor([[2.0, 2.0], [-1.0, 3.0]])), torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    x = frame(2)
    weights = torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    with torch.no_grad():
        batch = two_styles(x, weights)
        alone = torch.cat([two_styles(x[i:i + 1], weights[i:i + 1]) for i in range(2)])
        doubled = two_styles(x[1:], 2 * weights[1:])
    assert float((batch - alone).abs().max()) < 0.05
    assert float((doubled - alone[1:]).abs().max()) < 0.05


def test_a_wider_start_draws_the_same_picture():
    model = multistyle.from_shipped({"mosaic": "mosaic", "pencil": "pencil"}, width=32).eval()
    assert model.width == 32
    x = frame()
    with torch.no_grad():
        diff = (model(x, model.one_hot(0)) - network("mosaic")(x)).abs().max()
    assert float(diff) < 0.05, float(diff)


def test_export_takes_a_frame_of_any_size_and_a_weight_vector(two_styles, tmp_path):
    path = tmp_path / "two.onnx"
    errors = multistyle.export_onnx(two_styles, path, step=7)
    assert max(errors.values()) < 0.05, errors
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["realtime.styles"] == "mosaic,candy"
    assert meta["realtime.input_name"] == "input" and meta["realtime.output_name"] == "output"
    assert meta["realtime.width"] == "16" and meta["realtime.steps"] == "7"
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert inputs == {"input": [1, 3, "height", "width"], multistyle.WEIGHTS_INPUT: [1, 2]}


def test_a_checkpoint_round_trips(two_styles, tmp_path):
    multistyle.save(tmp_path / "m.pt", two_styles, 5)
    loaded, payload = multistyle.load(tmp_path / "m.pt")
    assert payload["step"] == 5 and loaded.styles == ["mosaic", "candy"]
    x = frame()
    w = torch.tensor([[0.4, 0.6]])
    with torch.no_grad():
        assert torch.equal(loaded(x, w), two_styles(x, w))


def test_the_cpu_network_holds_styles_too(tmp_path):
    """A multi-style `fast` network from the shipped fast CPU copies: the base style draws its own copy's
    picture, another style its own norms; it exports with the weight vector, and reads back from the .onnx."""
    model = multistyle.from_shipped({"mosaic": "mosaic-lite", "udnie": "udnie-lite"}).eval()
    assert (model.arch, model.width, model.blocks) == ("fast", 12, 4)
    x = frame()
    with torch.no_grad():
        assert float((model(x, model.one_hot(0)) - network("mosaic-lite")(x)).abs().max()) < 0.05
        single = multistyle.at_mix(model, model.one_hot(1))
        assert float((model(x, model.one_hot(1)) - single(x)).abs().max()) < 0.05
    udnie = dict(network("udnie-lite").named_modules())
    norms = [(name, m) for name, m in model.named_modules() if isinstance(m, multistyle.ConditionalInstanceNorm)]
    assert len(norms) == 8 and all(torch.equal(m.weight[1], udnie[name].weight) for name, m in norms)
    errors = multistyle.export_onnx(model, tmp_path / "two-lite.onnx", step=3)
    assert max(errors.values()) < 0.05, errors
    back = multistyle.read_onnx(tmp_path / "two-lite.onnx")
    w = torch.tensor([[0.3, 0.7]])
    with torch.no_grad():
        assert back.arch == "fast" and float((back(x, w) - model(x, w)).abs().max()) < 1e-3
        even = network(str(tmp_path / "two-lite.onnx"))  # what `--init` starts from: the even mix, as one network
        assert even.arch == "fast" and float((even(x) - model(x, torch.ones(1, 2))).abs().max()) < 1e-3
    multistyle.save(tmp_path / "m.pt", model, 5)
    assert multistyle.load(tmp_path / "m.pt")[0].arch == "fast"
