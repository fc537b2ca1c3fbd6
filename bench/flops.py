"""What the benches measure against: this machine's float32 matmul peak, and the matmul
FLOPs of ESM-2 and the SAE encoder (the float32 floor of a run is those FLOPs at the peak)."""

from __future__ import annotations

import time


def matmul_peak() -> float:
    """GFLOP/s of a 2048³ float32 product with torch's current threads (best of 5, warmed)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


def esm_flops(length: int, layers: int, dim: int = 320) -> float:
    """Multiply-adds x 2 of `layers` ESM-2 blocks (projections, FFN, attention) on one protein with BOS/EOS."""
    tokens = length + 2
    return layers * (24 * dim * dim * tokens + 4 * tokens * tokens * dim)


def encoder_flops(length: int, dim: int = 320, features: int = 10240) -> float:
    """Multiply-adds x 2 of the SAE encoder on one protein."""
    return 2 * dim * features * length
