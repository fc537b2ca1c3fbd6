"""Background writes of the feature cache: a failing disk is reported once, never silently."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from interplm_core.results_cache import CachedArrays, DiskResultCache


def _item(seed: int) -> CachedArrays:
    rng = np.random.default_rng(seed)
    acts = np.where(rng.random((5, 12)) > 0.7, rng.random((5, 12)), 0).astype(np.float32)
    return CachedArrays(acts, rng.random(5).astype(np.float32), 0.1, 0.9)


def test_put_later_writes_round_trip(tmp_path):
    cache = DiskResultCache(tmp_path / "c", 10**8)
    item = _item(1)
    cache.put_later("k", item)
    cache.flush()
    got = cache.get("k")
    np.testing.assert_array_equal(got.activations, item.activations)


def test_put_later_failures_are_logged_once(tmp_path, caplog, monkeypatch):
    cache = DiskResultCache(tmp_path / "c", 10**8)

    def disk_full(key, value, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache._store, "put", disk_full)
    with caplog.at_level(logging.WARNING, logger="interplm_core.results_cache"):
        for i in range(3):
            cache.put_later(f"k{i}", _item(i))
        with pytest.raises(OSError, match="No space left"):
            cache.flush()  # flush still reports the failure to whoever waits for the writes
        cache._writer.shutdown(wait=True)  # every done-callback has run
    warnings = [r for r in caplog.records if r.name == "interplm_core.results_cache"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(tmp_path / "c") in message and "No space left on device" in message
    assert cache.get("k0") is None
