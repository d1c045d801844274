"""`realtime train` under torchrun: two CPU ranks (gloo) for a few steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from tests.conftest import PHOTOS, STYLE


def test_train_runs_under_torchrun_with_two_cpu_ranks(tmp_path, vgg_weights):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "realtime", "train", "--recipe", "custom", str(STYLE), "--data", str(PHOTOS), "--name", "wave",
           "--out-dir", str(tmp_path), "--steps", "3", "--batch-size", "1", "--image-size", "48",
           "--width", "4", "--device", "cpu", "--preview-every", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = torch.load(tmp_path / "wave.ckpt", weights_only=True)
    assert payload["step"] == 3
    card = json.loads((tmp_path / "wave.json").read_text())
    assert card["processes"] == 2
