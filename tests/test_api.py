"""The Python API, run the way the README shows it."""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

import realtime
from tests.conftest import PHOTOS, REPO


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Python API.*?```python\n(.*?)```", text, re.S)
    assert block, "the README has no Python API example"
    return block.group(1)


def test_the_readme_example_runs(tmp_path):
    (tmp_path / "photo.jpg").write_bytes((PHOTOS / "kodim23.jpg").read_bytes())
    run = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = cv2.imread(str(tmp_path / "out.png"))
    photo = cv2.imread(str(tmp_path / "photo.jpg"))
    assert out is not None and out.shape == photo.shape
    assert np.abs(out.astype(np.float32) - photo).mean() > 10  # stylised, not a copy
    assert "mosaic" in run.stdout


def test_stylizer_matches_the_command_line_engine_and_takes_options():
    from realtime.engine import Engine

    frame = cv2.imread(str(PHOTOS / "kodim05.jpg"))
    notices: list[str] = []
    stylize = realtime.Stylizer("mosaic", device="cpu", notify=notices.append)
    assert stylize.device == "cpu" and stylize.model.name == "mosaic-lite.onnx"  # auto: the CPU network, said
    assert any("mosaic-lite" in n for n in notices)
    assert realtime.Stylizer("mosaic", device="cpu", net="full").model.name == "mosaic.onnx"
    assert np.array_equal(stylize(frame), Engine(stylize.model, device="cpu")(frame))
    stylize.strength = 0.0
    assert np.array_equal(stylize(frame), frame)
    with pytest.raises(realtime.UserError, match="strength"):
        stylize.strength = 3
    with pytest.raises(realtime.UserError, match="no_such_style"):
        realtime.Stylizer("no_such_style")


def test_styles_lists_the_shipped_ones_with_cards():
    found = {s.name: s for s in realtime.styles()}
    assert "mosaic" in found and found["mosaic"].path.is_file()
    assert found["mosaic"].card.get("style_image") == "mosaic.jpg"
