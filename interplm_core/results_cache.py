"""Caches of computed feature results: in this process, and on disk across restarts.

A result is keyed by everything that determines it: the sequence, the model, the layer,
normalised or not, and fingerprints of the ESM and SAE files actually used. On disk the
activations are stored sparsely (most SAE features are zero at most residues) as an `.npz`
in a `disk_cache.ByteStore` (data only, size cap, least-recently-used eviction, damage
dropped); it is read back with `allow_pickle=False`, so a planted entry cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .disk_cache import ByteStore

log = logging.getLogger(__name__)


def result_key(sequence: str, model: str, layer: int, normalized: bool, fingerprints: tuple[str, ...]) -> str:
    text = "|".join([model, str(layer), "norm" if normalized else "raw", *fingerprints, sequence])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CachedArrays:
    """What a cache holds for one protein: activations and reconstruction figures.

    The figures are None only in a result computed without its reconstruction, which
    the pipeline never hands to a cache (`to_bytes` refuses one).
    """

    activations: np.ndarray  # [L, F] float32
    residue_error: np.ndarray | None  # [L] float32
    mse: float | None
    fve: float | None

    @property
    def nbytes(self) -> int:
        return self.activations.nbytes + (0 if self.residue_error is None else self.residue_error.nbytes)

    def to_bytes(self) -> bytes:
        if self.residue_error is None or self.mse is None or self.fve is None:
            raise ValueError("a result without its reconstruction figures is not cached")
        rows, cols = np.nonzero(self.activations)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            shape=np.array(self.activations.shape, dtype=np.int64),
            rows=rows.astype(np.int32),
            cols=cols.astype(np.int32),
            values=self.activations[rows, cols],
            residue_error=self.residue_error,
            scalars=np.array([self.mse, self.fve], dtype=np.float64),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> CachedArrays:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            shape = tuple(int(n) for n in data["shape"])
            if len(shape) != 2 or shape[0] != len(data["residue_error"]):
                raise ValueError("activation shape does not match the residues")
            activations = np.zeros(shape, dtype=np.float32)
            activations[data["rows"], data["cols"]] = data["values"]
            mse, fve = data["scalars"]
            return cls(activations, data["residue_error"], float(mse), float(fve))


#: What np.load and the unpacking raise on a damaged or foreign `.npz` (pickled arrays too).
_UNREADABLE = (zipfile.BadZipFile, ValueError, KeyError, IndexError, OSError, EOFError, TypeError, MemoryError)


class DiskResultCache:
    """Feature results on disk, surviving restarts; capped in size, LRU eviction.

    Writes happen on one background thread (`put_later`), so a user never waits for the
    cache; `flush()` waits for them, and the interpreter waits for them at exit.
    """

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = Path(directory)
        self._store = ByteStore(self.directory, max_bytes)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interplm-cache-writer")
        self._pending: list[Future] = []
        self._pending_lock = threading.Lock()
        self._write_error_logged = False

    def get(self, key: str) -> CachedArrays | None:
        """The stored result, or None if absent or unreadable (then dropped, to be recomputed)."""
        blob = self._store.get(key)
        if blob is None:
            return None
        try:
            return CachedArrays.from_bytes(blob)
        except _UNREADABLE:
            self._store.drop(key)
            return None

    def put(self, key: str, item: CachedArrays) -> None:
        self._store.put(key, item.to_bytes())

    def put_later(self, key: str, item: CachedArrays) -> None:
        future = self._writer.submit(self.put, key, item)
        future.add_done_callback(self._log_write_error)
        with self._pending_lock:
            self._pending = [f for f in self._pending if not f.done()] + [future]

    def _log_write_error(self, future: Future) -> None:
        """A failed background write is logged once per cache (a full disk fails every write):
        results are still returned, only not kept for next time."""
        error = future.exception()
        if error is None:
            return
        with self._pending_lock:
            if self._write_error_logged:
                return
            self._write_error_logged = True
        log.warning("Could not write to the feature cache in %s (%s: %s); results are not kept on disk "
                    "until this is fixed. Further write errors are not logged.",
                    self.directory, type(error).__name__, error)

    def flush(self) -> None:
        """Wait for queued writes; re-raise the first one that failed."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def size_bytes(self) -> int:
        return int(self._store.volume())

    def keys(self) -> list[str]:
        return self._store.keys()

    def clear(self) -> None:
        self._store.clear()
