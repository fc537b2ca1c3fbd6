"""An in-process least-recently-used map bounded by the bytes of what it holds.

Streamlit's `cache_data`/`cache_resource` bound entries by count only, and one entry can be
a 20 MB structure or a 40 MB activation matrix; a long session then grows without limit.
Every in-process cache of large values (feature results in the pipeline, structure files
and parsed structures in the app) is one of these, with its own byte budget from settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return library if library is not None and hasattr(library, "malloc_trim") else None


def return_freed_memory() -> bool:
    """Hand the heap pages glibc keeps after frees back to the system (`malloc_trim(0)`).

    Why: evicted matrices are freed, but glibc keeps their pages for reuse, so a long-running
    server's resident memory crept about 100 MB past its caches' byte budgets after 200 loads
    (bench/memory_bench.py); the app calls this after each protein load. False where the C
    library has no `malloc_trim` (not glibc): nothing to do there.
    """
    library = _glibc()
    if library is None:
        return False
    library.malloc_trim(0)
    return True


def approximate_nbytes(value: object) -> int:
    """Bytes held by a value: `.nbytes` (arrays, results), `len` of bytes/str, else its own size."""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    return sys.getsizeof(value)


class MemoryCache(Generic[V]):
    """A thread-safe LRU map whose values add up to at most `max_bytes`.

    The newest entry is always kept, even alone over the budget, so a caller can use what
    it just stored; it goes first when anything else arrives.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int] = approximate_nbytes):
        self.max_bytes = int(max_bytes)
        self.size_of = size_of
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: V, size: int | None = None) -> None:
        """Store `value`, counted as `size` bytes (default: `size_of(value)`)."""
        size = int(self.size_of(value) if size is None else size)
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
