"""The app hands freed heap back to the system after each load (issue 10 item 7)."""

import ctypes.util
import platform

import pytest

from interplm_core.memory_cache import return_freed_memory


def _rss() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(platform.system() != "Linux" or not ctypes.util.find_library("c"), reason="glibc only")
def test_freed_holes_in_the_heap_go_back_to_the_system():
    # 64 KiB blocks come from glibc's heap (below its mmap threshold); freeing every other one
    # leaves holes that free() alone cannot return, as evicted cache entries do.
    blocks = [bytearray(64 * 1024) for _ in range(3000)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touch every page
    del blocks[::2]
    before = _rss()
    assert return_freed_memory() is True
    after = _rss()
    assert before - after > 50 * 1024**2, (before, after)
