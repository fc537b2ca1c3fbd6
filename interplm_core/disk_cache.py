"""A persistent, size-capped cache of HTTP response bodies (UniProt, AlphaFold DB, RCSB).

Why `diskcache`: it is a maintained SQLite-backed store that already gives what a
hand-written cache would get wrong: each write is one SQLite transaction (a crash never
leaves a half-written entry visible), it is safe across threads and processes (the
Streamlit server and a CLI prefetch can share it), and it evicts the least recently used
entries once the total size passes `settings.cache_max_bytes`.

On top of it this module adds what it does not check: only complete bodies are stored
(the caller passes the expected length, and a short body is refused), and each entry
carries the SHA-256 of its body, verified on read, so a damaged file is dropped and
fetched again rather than served.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import diskcache

from .errors import NetworkError
from .settings import Settings, get_settings

#: Entry format version; bump to ignore entries written by an older layout.
_FORMAT = 1


@dataclass(frozen=True)
class CachedResponse:
    """What is kept for one URL: final URL, status, the headers that matter, the body."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class ResponseCache:
    """Cache of `CachedResponse` keyed by request URL, stored under `directory`."""

    def __init__(self, directory: Path, size_limit: int):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.size_limit = int(size_limit)
        # diskcache's own culling removes up to `cull_limit` (10) entries at once, which can
        # throw out the entry just written; we evict one entry at a time instead (`_evict`).
        self._cache = diskcache.Cache(
            str(self.directory),
            size_limit=self.size_limit,
            eviction_policy="least-recently-used",
            cull_limit=0,
        )

    def get(self, key: str) -> CachedResponse | None:
        """The stored response for `key`, or None if absent or damaged (then dropped)."""
        record = self._cache.get(key, default=None, retry=True)
        if record is None:
            return None
        if not _is_valid(record):
            self._cache.delete(key, retry=True)
            return None
        return CachedResponse(
            url=record["url"], status=record["status"], body=record["body"], headers=record["headers"]
        )

    def put(self, key: str, response: CachedResponse, expected_length: int | None = None) -> None:
        """Store a complete response; refuse (NetworkError) a body shorter than announced."""
        if expected_length is not None and len(response.body) != expected_length:
            raise NetworkError(
                f"The download of {response.url} was cut ({len(response.body):,} of "
                f"{expected_length:,} bytes); nothing was saved. Try again."
            )
        record = {
            "format": _FORMAT,
            "url": response.url,
            "status": int(response.status),
            "headers": dict(response.headers),
            "length": len(response.body),
            "sha256": hashlib.sha256(response.body).hexdigest(),
            "body": bytes(response.body),
        }
        self._cache.set(key, record, retry=True)
        self._evict(keep=key)

    def _evict(self, keep: str) -> None:
        """Drop least recently used entries until under the size cap (never `keep`)."""
        while self._cache.volume() > self.size_limit:
            # access_time is what diskcache's "least-recently-used" policy updates on each get.
            rows = self._cache._sql(
                "SELECT key FROM Cache WHERE key != ? ORDER BY access_time LIMIT 1", (keep,)
            ).fetchall()
            if not rows:
                return
            self._cache.delete(rows[0][0], retry=True)

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def __len__(self) -> int:
        return len(self._cache)

    def keys(self) -> list[str]:
        return list(self._cache.iterkeys())

    def volume(self) -> int:
        """Bytes used on disk (SQLite file plus value files)."""
        return int(self._cache.volume())

    def close(self) -> None:
        self._cache.close()


def _is_valid(record: object) -> bool:
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        return False
    body = record.get("body")
    return (
        isinstance(body, bytes)
        and len(body) == record.get("length")
        and hashlib.sha256(body).hexdigest() == record.get("sha256")
    )


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
