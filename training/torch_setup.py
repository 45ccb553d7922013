"""Torch process setup: threads, device choice, bf16 support. Plain module, no Django.

Call :func:`setup_torch` once per worker process, before any model is built. Oversubscribed
threads (several processes each using every core) make CPU training many times slower.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

_THREADS_SET: int | None = None


def set_torch_threads(threads: int = 0) -> int:
    """Set intra-op threads (0 = one per available core) and, where still possible, inter-op
    threads to 1. Returns the thread count in use."""
    global _THREADS_SET
    if threads <= 0:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    if _THREADS_SET is None:
        # Only allowed before the first parallel op of the process; later calls raise.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
    _THREADS_SET = threads
    return threads


def pick_device(preferred: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; anything else is taken as a device string."""
    if preferred != "auto":
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has native bf16 matmul (AMX tiles or AVX512-BF16)."""
    cpu = torch.cpu
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        fn = getattr(cpu, probe, None)
        if fn is not None:
            with contextlib.suppress(Exception):
                if fn():
                    return True
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def bf16_supported(device: torch.device | str) -> bool:
    """Whether bf16 compute is fast (not merely emulated) on ``device``."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_fast_bf16()
    return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """Map 'auto' | 'bf16' | 'fp32' to 'bf16' or 'fp32' for ``device``."""
    if precision not in {"auto", "bf16", "fp32"}:
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """An autocast context for 'bf16', a no-op context for 'fp32'."""
    device = torch.device(device)
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[int]:
    """Temporarily set intra-op threads (for benchmarks and tests)."""
    before = torch.get_num_threads()
    try:
        yield set_torch_threads(threads)
    finally:
        torch.set_num_threads(before)


def setup_torch(threads: int = 0, device: str = "auto", precision: str = "auto") -> tuple[torch.device, str]:
    """Set threads, pick the device and resolve precision. Returns (device, precision)."""
    set_torch_threads(threads)
    dev = pick_device(device)
    return dev, resolve_precision(precision, dev)
