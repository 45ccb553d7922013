"""A compute ceiling for reward-model training on this machine (bench-only).

Counts the matrix-multiply FLOPs one LoRA training step of a BERT-style encoder must do, batch by
batch at the padded lengths the trainer really uses, and divides by the speed this machine's bf16
GEMM reaches at the model's own shapes. Every FLOP is charged at that GEMM speed and everything
else (softmax, GELU, layer norms, the optimizer, Python) is free, so the ceiling is optimistic:
no loop on this machine can beat it at these settings.

FLOPs per sequence of padded length S, per layer (H hidden, I intermediate):
  forward   linear 2*S*(4H^2 + 2HI)             attention 4*S^2*H  (QK^T and PV)
  backward  linear the same (input grads only:  attention 8*S^2*H  (dP, dV, dS->dQ, dK)
            base weights are frozen; layer 0's
            q/k/v need no input grad)
LoRA's own FLOPs (r=8: under 1% of these) are left out.
"""

from __future__ import annotations

import time


def encoder_step_flops(n_seqs: int, seq_len: int, *, hidden: int, intermediate: int, layers: int) -> float:
    s, h, i = seq_len, hidden, intermediate
    linear = 2 * s * (4 * h * h + 2 * h * i)
    attention_fwd, attention_bwd = 4 * s * s * h, 8 * s * s * h
    per_layer = 2 * linear + attention_fwd + attention_bwd
    layer0_saving = 2 * s * 3 * h * h
    return n_seqs * (layers * per_layer - layer0_saving)


def gemm_gflops(dtype_name: str, rows: int, hidden: int, intermediate: int, repeats: int = 10) -> float:
    """Measured GFLOP/s of (rows x k) @ (k x n) at the encoder's three linear shapes, FLOP-weighted."""
    import torch

    dtype = getattr(torch, dtype_name)
    shapes = [(hidden, hidden), (hidden, intermediate), (intermediate, hidden)]
    flops = seconds = 0.0
    for k, n in shapes:
        a, b = torch.randn(rows, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        for _ in range(3):
            a @ b
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
        seconds += time.perf_counter() - t0
        flops += 2.0 * rows * k * n * repeats
    return flops / seconds / 1e9


def training_ceiling(batches: list[tuple[int, int]], n_pairs: int, hf_config, threads_note: str = "") -> dict:
    """batches: (sequences, padded length) of every training step. Returns FLOPs per pair, the
    machine's bf16/fp32 GEMM speed and the pairs/s ceiling they imply."""
    dims = {"hidden": hf_config.hidden_size, "intermediate": hf_config.intermediate_size,
            "layers": hf_config.num_hidden_layers}
    total = sum(encoder_step_flops(n, s, **dims) for n, s in batches)
    rows = round(sum(n * s for n, s in batches) / len(batches))
    bf16 = gemm_gflops("bfloat16", rows, dims["hidden"], dims["intermediate"])
    fp32 = gemm_gflops("float32", rows, dims["hidden"], dims["intermediate"])
    per_pair = total / n_pairs
    return {"gflop_per_pair": per_pair / 1e9, "rows_per_step": rows, "bf16_gemm_gflops": bf16,
            "fp32_gemm_gflops": fp32, "ceiling_bf16_pairs_s": bf16 * 1e9 / per_pair,
            "ceiling_fp32_pairs_s": fp32 * 1e9 / per_pair}
