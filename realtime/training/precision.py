"""Which arithmetic training runs in: fp32, or bf16 autocast where it is really faster.

Native bf16 instructions are necessary but not sufficient: on a 2-core AMD EPYC with AVX512-BF16 a
training step ran 2x faster in bf16, on a 2-core Intel Xeon with the same flag (no AMX) 1.2x *slower*
(benchmarks/results/train_speed_cpu_bf16.json). So on a CPU `auto` times both before it chooses.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Callable

import torch

from realtime.errors import UserError
from realtime.machine import cpu_flags, cpu_model  # noqa: F401 (cpu_model: the cards' and benchmarks' name)

Trial = Callable[[AbstractContextManager], None]  # one forward and backward pass under the given context


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: without them PyTorch emulates bf16 on the CPU, far slower than fp32."""
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


def seconds_per_pass(trial: Trial, context: Callable[[], AbstractContextManager], repeats: int = 2) -> float:
    """Best of `repeats` timed passes after one untimed (oneDNN builds its kernels on the first)."""
    trial(context())
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        trial(context())
        best = min(best, time.perf_counter() - t)
    return best


def pick_precision(choice: str, device: torch.device, trial: Trial | None = None) -> tuple[str, str]:
    """(precision, why). auto: bf16 on CUDA GPUs that support it; on a CPU with native bf16, whichever of
    fp32 and bf16 runs `trial` faster (without a trial, bf16); fp32 everywhere else."""
    if choice not in ("auto", "fp32", "bf16"):
        raise UserError(f"--precision {choice}: use auto, fp32 or bf16")
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
        where = torch.cuda.get_device_name(device)
    else:
        native = cpu_has_native_bf16()
        where = cpu_model()
    if choice == "bf16" and not native:
        return "bf16", f"bf16 autocast, EMULATED on {where}: expect it to be many times slower than fp32"
    if choice != "auto":
        return choice, f"{choice} ({where})"
    if not native:
        return "fp32", f"fp32 ({where} has no native bf16{'' if device.type == 'cuda' else ': no avx512_bf16 or amx_bf16'})"
    if device.type == "cuda" or trial is None:
        return "bf16", f"bf16 autocast ({where} has native bf16)"
    fp32 = seconds_per_pass(trial, lambda: autocast("fp32", device))
    bf16 = seconds_per_pass(trial, lambda: autocast("bf16", device))
    measured = f"measured {bf16:.2f} s per pass in bf16 against {fp32:.2f} s in fp32"
    if bf16 < fp32:
        return "bf16", f"bf16 autocast ({where}: {measured})"
    return "fp32", f"fp32 ({where} has native bf16, but {measured})"
