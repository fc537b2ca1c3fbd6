"""Bit-identical float32 results whatever the number of threads or cores.

MKL (torch's CPU BLAS) splits a matrix product's sums differently with 1, 2 or 4
threads, so the same protein gave activations differing in the last bit from one
machine, thread setting or engine to the next (an atlas built by Ray workers with one
thread each differed from the local engine's two). MKL's strict Conditional Numerical
Reproducibility (`MKL_CBWR=AUTO,STRICT`) fixes the order of those sums for any thread
count. MKL reads the variable once, at its first call, so importing `interplm_core`
chooses it (a value the user set wins); `strict_gemm_active` says whether it took.
Where it did not (a torch without MKL, or torch used before this package was imported),
the atlas pins its computation to one thread, whose order is fixed too.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STRICT_MODE = "AUTO,STRICT"
_MKL_CBWR_ALL = -1
_MKL_CBWR_STRICT = 0x10000


def request_strict_gemm() -> str:
    """Ask MKL for order-fixed sums (effective only before torch's first matrix product);
    returns the mode in force, which Ray workers are given too."""
    from .settings import library_default

    return library_default("MKL_CBWR", STRICT_MODE)


def strict_gemm_active() -> bool:
    """True if this process's MKL runs in strict reproducible mode."""
    import torch

    if not torch.backends.mkl.is_available():
        return False
    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        get_mode = library.mkl_serv_cbwr_get
    except (OSError, AttributeError):  # MKL linked differently: cannot tell, so not relied on
        return False
    get_mode.restype, get_mode.argtypes = ctypes.c_int, [ctypes.c_int]
    return bool(get_mode(_MKL_CBWR_ALL) & _MKL_CBWR_STRICT)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch threads, then restore the previous number."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
