"""Persistent, size-capped stores of bytes on disk: the HTTP response cache and the base of
the feature-results cache.

Why `diskcache`: it is a maintained SQLite-backed store that already gives what a
hand-written cache would get wrong: each write is one SQLite transaction (a crash never
leaves a half-written entry visible), it is safe across threads and processes (the
Streamlit server and a CLI prefetch can share it), and it records when each entry was
last read.

What this module adds on top:
- **Data only.** diskcache pickles any value that is not bytes/str/number and unpickles
  such rows on read, so a row planted in the cache folder would run code. `DataOnlyDisk`
  stores bytes only (always as a plain file, so every byte is counted) and refuses to
  decode a pickled key or value; such a row is dropped. Nothing read from disk is ever
  unpickled.
- **Damage heals.** Each value carries its SHA-256 (in diskcache's `tag` column); a value
  that does not match (bit rot, a truncated file) is dropped and reported as a miss. A
  cache database SQLite cannot read ("file is not a database", "malformed") is moved aside
  and a new one started. Either way: one warning in the log, never a traceback.
- **Eviction one entry at a time**, least recently used first and never the entry just
  written (diskcache's own culling removes up to ten entries at once, including new ones).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import diskcache

from .errors import InputError, NetworkError
from .settings import Settings, get_settings

log = logging.getLogger(__name__)

#: HTTP entry layout version (first key of the JSON header); other versions are misses.
_FORMAT = 2


class ForeignEntryError(ValueError):
    """A cache row this program did not write (pickled key or value): never decoded."""


class DataOnlyDisk(diskcache.Disk):
    """A diskcache `Disk` that stores bytes as plain files and never unpickles."""

    def get(self, key, raw):
        if not raw:
            raise ForeignEntryError("pickled cache key")
        return super().get(key, raw)

    def store(self, value, read, key=diskcache.core.UNKNOWN):
        if type(value) is not bytes:
            raise TypeError(f"only bytes are stored, not {type(value).__name__}")
        return super().store(value, read, key)

    def fetch(self, mode, filename, value, read):
        if mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY):
            raise ForeignEntryError(f"cache value in mode {mode} (not raw bytes)")
        return super().fetch(mode, filename, value, read)


def _is_damaged_database(err: sqlite3.DatabaseError) -> bool:
    text = str(err).lower()
    return "not a database" in text or "malformed" in text or "disk image" in text


def ensure_writable_dir(directory: Path) -> Path:
    """Create `directory` or say (InputError) why it cannot be used as a cache folder."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(
            f"The cache folder {directory} cannot be written ({err.strerror or err.__class__.__name__}). "
            "Set INTERPLM_CACHE_DIR to a folder you can write to."
        ) from None
    return directory


class ByteStore:
    """Bytes by string key under `directory`, capped at `max_bytes` of values, LRU."""

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = ensure_writable_dir(directory)
        self.max_bytes = int(max_bytes)
        self._heal_lock = threading.Lock()
        self._cache = self._open()

    def _open(self) -> diskcache.Cache:
        try:
            return self._new_cache()
        except sqlite3.DatabaseError as err:
            if not _is_damaged_database(err):
                raise
            self._move_database_aside(err)
            return self._new_cache()

    def _new_cache(self) -> diskcache.Cache:
        return diskcache.Cache(
            str(self.directory),
            disk=DataOnlyDisk,
            disk_min_file_size=0,  # every value in its own file: the size column counts every byte
            size_limit=2**62,  # the cap is enforced by `_evict`, one entry at a time
            cull_limit=0,
            eviction_policy="least-recently-used",
        )

    def _move_database_aside(self, err: BaseException) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        database = self.directory / diskcache.core.DBNAME
        aside = database.with_name(f"{database.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{database}{suffix}")
            if part.exists():
                part.replace(Path(f"{aside}{suffix}"))
        log.warning("Cache database %s was damaged (%s); moved to %s and started afresh", database, err, aside.name)

    def _heal(self, err: sqlite3.DatabaseError, broken: diskcache.Cache) -> None:
        """Replace a database that went bad while open (unless another thread already did)."""
        if not _is_damaged_database(err):
            raise err
        with self._heal_lock:
            if self._cache is broken:
                broken.close()
                self._move_database_aside(err)
                self._cache = self._new_cache()

    def get(self, key: str) -> bytes | None:
        """The stored bytes, or None if absent, damaged or foreign (the last two are dropped)."""
        cache = self._cache
        try:
            found = cache.get(key, default=None, tag=True, retry=True)
        except sqlite3.DatabaseError as err:
            self._heal(err, cache)
            return None
        except ForeignEntryError as err:
            log.warning("Dropped a cache entry this program did not write in %s (%s)", self.directory, err)
            self._delete(key)
            return None
        value, checksum = found
        if value is None:
            return None
        if checksum != hashlib.sha256(value).hexdigest():
            log.warning("Dropped a damaged cache entry in %s (checksum mismatch)", self.directory)
            self._delete(key)
            return None
        return value

    def put(self, key: str, value: bytes) -> None:
        """Store `value`, then evict least recently used entries down to the cap (never `key`)."""
        cache = self._cache
        try:
            cache.set(key, bytes(value), tag=hashlib.sha256(value).hexdigest(), retry=True)
            self._evict(keep=key)
        except sqlite3.DatabaseError as err:
            self._heal(err, cache)

    def drop(self, key: str) -> None:
        """Remove an entry the caller found unusable (logged once)."""
        log.warning("Dropped a damaged cache entry in %s (unreadable content)", self.directory)
        self._delete(key)

    def _delete(self, key: str) -> None:
        try:
            self._cache.delete(key, retry=True)
        except sqlite3.DatabaseError as err:
            self._heal(err, self._cache)

    def _evict(self, keep: str) -> None:
        while self.value_bytes() > self.max_bytes:
            # access_time is what diskcache's "least-recently-used" policy updates on each get;
            # rows we did not write (raw = 0) are never matched, so the loop always ends.
            rows = self._cache._sql(
                "SELECT key FROM Cache WHERE raw = 1 AND key != ? ORDER BY access_time LIMIT 1", (keep,)
            ).fetchall()
            if not rows:
                return
            self._cache.delete(rows[0][0], retry=True)

    def value_bytes(self) -> int:
        """Bytes of stored values (what the cap counts)."""
        return int(self._cache.reset("size"))

    def volume(self) -> int:
        """Bytes used on disk (SQLite file plus value files)."""
        return int(self._cache.volume())

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def __len__(self) -> int:
        return len(self._cache)

    def keys(self) -> list[str]:
        return [k for (k,) in self._cache._sql("SELECT key FROM Cache WHERE raw = 1 ORDER BY rowid").fetchall()]

    def clear(self) -> None:
        self._cache.clear(retry=True)

    def close(self) -> None:
        self._cache.close()


@dataclass(frozen=True)
class CachedResponse:
    """What is kept for one URL: final URL, status, the headers that matter, the body."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """One JSON header line, then the raw body."""
        header = {"format": _FORMAT, "url": self.url, "status": int(self.status), "headers": dict(self.headers)}
        return json.dumps(header).encode() + b"\n" + bytes(self.body)

    @classmethod
    def from_bytes(cls, blob: bytes) -> CachedResponse:
        line, _, body = blob.partition(b"\n")
        header = json.loads(line)
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise ValueError("not an entry of this layout")
        headers = header["headers"]
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError("headers are not strings")
        return cls(url=str(header["url"]), status=int(header["status"]), body=body, headers=headers)


class ResponseCache:
    """Cache of `CachedResponse` keyed by request URL, stored under `directory`."""

    def __init__(self, directory: Path, size_limit: int):
        self.store = ByteStore(directory, size_limit)
        self.directory = self.store.directory

    @property
    def size_limit(self) -> int:
        return self.store.max_bytes

    @size_limit.setter
    def size_limit(self, value: int) -> None:
        self.store.max_bytes = int(value)

    def get(self, key: str) -> CachedResponse | None:
        """The stored response for `key`, or None if absent or damaged (then dropped)."""
        blob = self.store.get(key)
        if blob is None:
            return None
        try:
            return CachedResponse.from_bytes(blob)
        except (ValueError, KeyError, TypeError):
            self.store.drop(key)
            return None

    def put(self, key: str, response: CachedResponse, expected_length: int | None = None) -> None:
        """Store a complete response; refuse (NetworkError) a body shorter than announced."""
        if expected_length is not None and len(response.body) != expected_length:
            raise NetworkError(
                f"The download of {response.url} was cut ({len(response.body):,} of "
                f"{expected_length:,} bytes); nothing was saved. Try again."
            )
        self.store.put(key, response.to_bytes())

    def __contains__(self, key: str) -> bool:
        return key in self.store

    def __len__(self) -> int:
        return len(self.store)

    def keys(self) -> list[str]:
        return self.store.keys()

    def volume(self) -> int:
        """Bytes used on disk (SQLite file plus value files)."""
        return self.store.volume()

    def close(self) -> None:
        self.store.close()


_open_caches: dict[tuple[str, int], ResponseCache] = {}
_open_lock = threading.Lock()


def get_response_cache(settings: Settings | None = None) -> ResponseCache:
    """The shared cache under `settings.cache_dir / "http"` (one handle per directory)."""
    settings = settings or get_settings()
    directory = Path(settings.cache_dir) / "http"
    key = (str(directory.resolve()), int(settings.cache_max_bytes))
    with _open_lock:
        cache = _open_caches.get(key)
        if cache is None or not cache.directory.exists():
            cache = ResponseCache(directory, settings.cache_max_bytes)
            _open_caches[key] = cache
        return cache
