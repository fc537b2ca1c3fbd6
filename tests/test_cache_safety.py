"""Disk caches hold data only, heal themselves and evict one least-recently-used entry at a time.

Every attack file is built here, inside tmp_path: a planted pickle would only create a
marker file in tmp_path if it ran.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import diskcache
import numpy as np
import pytest

from interplm_core.disk_cache import ByteStore, CachedResponse, ResponseCache, get_response_cache
from interplm_core.results_cache import CachedArrays, DiskResultCache
from interplm_core.settings import get_settings

URL = "http://127.0.0.1:9/uniprotkb/P61626.json"


class _RunsOnUnpickle:
    """Unpickling this calls open(marker, "w"): the marker exists iff the pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _plant_pickles(directory: Path, keys: list[str], marker: Path) -> None:
    """Write pickled rows with a stock diskcache, as an attacker with the folder would."""
    stock = diskcache.Cache(str(directory))
    for key in keys:
        stock.set(key, _RunsOnUnpickle(marker))  # small: pickled inline in SQLite
        stock.set(key + "#big", [_RunsOnUnpickle(marker)] + [b"x" * 40_000])  # pickled to a file
    stock.close()


def _arrays(length: int = 7, features: int = 12, seed: int = 0) -> CachedArrays:
    rng = np.random.default_rng(seed)
    acts = np.where(rng.random((length, features)) < 0.3, rng.random((length, features)), 0).astype(np.float32)
    return CachedArrays(acts, rng.random(length).astype(np.float32), 0.25, 0.75)


def _value_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.val"))


# ----------------------------------------------------------------- item 3: no code from data


def test_planted_pickle_in_http_cache_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    _plant_pickles(tmp_path / "http", [URL], marker)
    cache = ResponseCache(tmp_path / "http", size_limit=10_000_000)
    assert cache.get(URL) is None
    assert cache.get(URL + "#big") is None
    assert not marker.exists()
    assert URL not in cache  # the foreign row was dropped


def test_planted_pickle_in_http_cache_is_refused_through_the_client(tmp_path, monkeypatch):
    from interplm_core import http

    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("INTERPLM_OFFLINE", "1")
    marker = tmp_path / "pwned"
    _plant_pickles(tmp_path / "http", [http.cache_key(URL)], marker)
    with pytest.raises(Exception, match="Offline mode is on"):
        http.get(URL, get_settings(), what="UniProt entry P61626")
    assert not marker.exists()


def test_planted_pickle_in_results_cache_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    _plant_pickles(tmp_path / "features", ["k"], marker)
    disk = DiskResultCache(tmp_path / "features", 10_000_000)
    assert disk.get("k") is None and disk.get("k#big") is None
    assert not marker.exists()


def test_npz_with_pickled_object_array_is_not_loaded(tmp_path):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, shape=np.array([1, 1]), rows=np.array([0]), cols=np.array([0]),
             values=np.array([_RunsOnUnpickle(tmp_path / "pwned")], dtype=object),
             residue_error=np.zeros(1, np.float32), scalars=np.zeros(2))
    disk = DiskResultCache(tmp_path / "features", 10_000_000)
    disk._store.put("k", buffer.getvalue())
    assert disk.get("k") is None and "k" not in disk.keys()
    assert not (tmp_path / "pwned").exists()


def test_nothing_is_pickled_on_disk(tmp_path):
    """Every value file written is our own bytes: an HTTP entry is a JSON line plus the body."""
    cache = ResponseCache(tmp_path / "http", size_limit=10_000_000)
    body = os.urandom(1000)
    cache.put(URL, CachedResponse(URL, 200, body, {"Content-Type": "application/json"}))
    (stored,) = _value_files(tmp_path / "http")
    header, _, rest = stored.read_bytes().partition(b"\n")
    assert rest == body
    assert b'"status": 200' in header and b"application/json" in header
    disk = DiskResultCache(tmp_path / "features", 10_000_000)
    arrays = _arrays()
    disk.put("k", arrays)
    (npz,) = _value_files(tmp_path / "features")
    assert npz.read_bytes() == arrays.to_bytes()
    got = disk.get("k")
    np.testing.assert_array_equal(got.activations, arrays.activations)


# ----------------------------------------------------------------- item 8: damage heals


def test_truncated_value_file_is_dropped_and_recomputed(shared_pipeline_factory, tmp_path, caplog):
    pipeline = shared_pipeline_factory(cache_dir=tmp_path)
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    first = pipeline.features([seq], 3)[0]
    pipeline.flush()
    (stored,) = _value_files(tmp_path / "features")
    stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])
    again = shared_pipeline_factory(cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        result = again.features([seq], 3)[0]
    assert not result.from_cache and again.stats.model_calls == 1
    np.testing.assert_array_equal(result.activations, first.activations)
    assert len([r for r in caplog.records if "damaged cache entry" in r.getMessage()]) == 1
    again.flush()
    assert shared_pipeline_factory(cache_dir=tmp_path).features([seq], 3)[0].from_cache


@pytest.mark.parametrize("damage", ["bad_zip", "bad_crc"])
def test_unreadable_npz_with_valid_checksum_is_dropped(tmp_path, damage, caplog):
    blob = bytearray(_arrays().to_bytes())
    if damage == "bad_zip":
        blob = blob[: len(blob) // 3]
    else:  # flip one data byte of the first member: zipfile reports a bad CRC-32
        blob[80] ^= 0xFF
    disk = DiskResultCache(tmp_path, 10_000_000)
    disk._store.put("k", bytes(blob))  # stored through the store: the checksum matches
    with caplog.at_level(logging.WARNING):
        assert disk.get("k") is None
    assert "k" not in disk.keys()
    assert sum("damaged cache entry" in r.getMessage() for r in caplog.records) == 1


def test_flipped_bit_in_http_value_is_dropped(tmp_path):
    cache = ResponseCache(tmp_path, size_limit=10_000_000)
    cache.put(URL, CachedResponse(URL, 200, b"original body"))
    (stored,) = _value_files(tmp_path)
    stored.write_bytes(stored.read_bytes()[:-1] + b"X")  # bit rot: "original bodX"
    assert cache.get(URL) is None and URL not in cache


@pytest.mark.parametrize("garbage", [b"this is not sqlite at all" * 200, b"SQLite format 3\x00" + b"\xff" * 4000],
                         ids=["not_a_database", "malformed_header"])
def test_damaged_database_is_moved_aside_and_rebuilt(tmp_path, garbage, caplog):
    cache = ResponseCache(tmp_path, size_limit=10_000_000)
    cache.put(URL, CachedResponse(URL, 200, b"body"))
    cache.close()
    (tmp_path / "cache.db").write_bytes(garbage)
    with caplog.at_level(logging.WARNING):
        healed = ResponseCache(tmp_path, size_limit=10_000_000)
    assert healed.get(URL) is None  # a miss, fetched again by the caller
    healed.put(URL, CachedResponse(URL, 200, b"fresh"))
    assert healed.get(URL).body == b"fresh"
    aside = list(tmp_path.glob("cache.db.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    assert sum("damaged" in r.getMessage() for r in caplog.records) == 1


def test_damaged_feature_database_does_not_stop_the_pipeline(shared_pipeline_factory, tmp_path):
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLG"
    pipeline = shared_pipeline_factory(cache_dir=tmp_path)
    expected = pipeline.features([seq], 2)[0].activations
    pipeline.flush()
    (tmp_path / "features" / "cache.db").write_bytes(b"\x00garbage" * 1000)
    again = shared_pipeline_factory(cache_dir=tmp_path)
    np.testing.assert_array_equal(again.features([seq], 2)[0].activations, expected)


# ----------------------------------------------------------------- item 9: LRU one by one


def test_results_cache_evicts_least_recently_used_one_by_one(tmp_path):
    items = {name: _arrays(length=40, features=50, seed=i) for i, name in enumerate("abcdef")}
    size = len(items["a"].to_bytes())
    disk = DiskResultCache(tmp_path, max_bytes=3 * size + size // 2)  # room for three
    kept_counts = []
    for name in "abc":
        disk.put(name, items[name])
        kept_counts.append(len(disk.keys()))
    assert disk.get("a") is not None  # a is now more recent than b
    for name in "def":
        disk.put(name, items[name])
        kept_counts.append(len(disk.keys()))
        assert name in disk.keys()  # never the entry just written
    assert kept_counts == [1, 2, 3, 3, 3, 3]
    assert sorted(disk.keys()) == ["d", "e", "f"]
    disk2 = DiskResultCache(tmp_path / "x", max_bytes=3 * size + size // 2)
    for name in "abcd":
        disk2.put(name, items[name])
    assert sorted(disk2.keys()) == ["b", "c", "d"]


def test_an_entry_bigger_than_the_cap_is_still_kept_alone(tmp_path):
    store = ByteStore(tmp_path, max_bytes=100)
    store.put("small", b"x" * 50)
    store.put("big", b"y" * 1000)
    assert store.keys() == ["big"] and store.get("big") == b"y" * 1000


def test_response_cache_shares_the_settings_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("INTERPLM_CACHE_MAX_BYTES", "3000")
    cache = get_response_cache(get_settings())
    for i in range(5):
        cache.put(f"k{i}", CachedResponse(f"k{i}", 200, b"z" * 1000))
    assert cache.keys() == ["k3", "k4"]  # two entries of ~1.1 kB fit under 3000 bytes
    assert cache.store.value_bytes() <= 3000


# ----------------------------------------------------------------- item 7: memory bounded by bytes


def test_pipeline_memory_stays_within_its_byte_budget(synthetic_weights_dir, tmp_path, monkeypatch):
    from interplm_core.pipeline import FeaturePipeline
    from interplm_core.synthetic import random_proteins

    monkeypatch.setenv("INTERPLM_WEIGHTS_DIR", str(synthetic_weights_dir))
    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("INTERPLM_MEMORY_CACHE_BYTES", "4MiB")
    pipeline = FeaturePipeline(progress=False)
    sequences = random_proteins(8, seed=3, min_len=40, max_len=60)
    results = pipeline.features(sequences, 2)
    per_result = [r.activations.nbytes + r.residue_error.nbytes for r in results]
    assert pipeline.memory.max_bytes == 4 * 1024**2
    assert pipeline.memory.nbytes <= 4 * 1024**2 and len(pipeline.memory) < len(sequences)
    # exactly the most recent results that fit are kept
    fitting, total = 0, 0
    for size in reversed(per_result):
        if total + size > 4 * 1024**2:
            break
        total, fitting = total + size, fitting + 1
    assert len(pipeline.memory) == fitting and pipeline.memory.nbytes == total


def test_memory_cache_counts_bytes_and_keeps_the_newest():
    from interplm_core.memory_cache import MemoryCache

    cache = MemoryCache(250)
    for key in "abc":
        cache.put(key, b"x" * 100)
    assert len(cache) == 2 and cache.get("a") is None and cache.nbytes == 200
    cache.get("b")  # b is now the most recent
    cache.put("d", b"y" * 100)
    assert cache.get("c") is None and cache.get("b") is not None
    cache.put("huge", "z" * 1000)
    assert len(cache) == 1 and cache.get("huge") == "z" * 1000
