"""The persistent response cache: complete bodies only, damage detected, LRU under a size cap, offline."""

from __future__ import annotations

import os

import pytest

from interplm_core.disk_cache import CachedResponse, ResponseCache, get_response_cache
from interplm_core.errors import NetworkError, OfflineError
from interplm_core.http import get
from interplm_core.settings import get_settings
from interplm_core.uniprot import fetch_entry


def test_round_trip_and_persistence(tmp_path):
    cache = ResponseCache(tmp_path, size_limit=10_000_000)
    body = os.urandom(50_000)
    cache.put("k", CachedResponse("http://x/k", 200, body, {"Content-Type": "a/b"}), expected_length=len(body))
    cache.close()
    again = ResponseCache(tmp_path, size_limit=10_000_000)
    hit = again.get("k")
    assert (hit.url, hit.status, hit.body, hit.headers) == ("http://x/k", 200, body, {"Content-Type": "a/b"})


def test_short_body_is_refused_and_not_stored(tmp_path):
    cache = ResponseCache(tmp_path, size_limit=10_000_000)
    with pytest.raises(NetworkError, match="cut"):
        cache.put("k", CachedResponse("http://x/k", 200, b"12345"), expected_length=10)
    assert cache.get("k") is None and len(cache) == 0


def test_least_recently_used_entries_go_first(tmp_path):
    body = os.urandom(100_000)
    cache = ResponseCache(tmp_path, size_limit=0)
    base = cache.volume()  # the empty SQLite file counts too
    cache.size_limit = base + 3 * len(body) + 50_000  # room for three bodies, not four
    for key in "abc":
        cache.put(key, CachedResponse(key, 200, body))
    assert cache.get("a") is not None  # a is now more recent than b and c
    cache.put("d", CachedResponse("d", 200, body))
    assert sorted(cache.keys()) == ["a", "c", "d"]
    assert cache.volume() <= cache.size_limit
    big = os.urandom(cache.size_limit)  # larger than the cap: the newest entry is still kept
    cache.put("e", CachedResponse("e", 200, big))
    assert cache.keys() == ["e"]


def test_cut_download_leaves_no_entry(mirror_env):
    settings = get_settings()
    url = mirror_env.sim_url("cut") + "/uniprotkb/P61626.json"
    with pytest.raises(NetworkError, match="cut off"):
        get(url, settings, what="UniProt entry P61626")
    assert len(get_response_cache(settings)) == 0
    full = get(f"{mirror_env.url}/uniprotkb/P61626.json", settings)
    assert full.status == 200 and not full.from_cache
    assert get(f"{mirror_env.url}/uniprotkb/P61626.json", settings).from_cache
    assert len(get_response_cache(settings)) == 1


def test_offline_with_an_empty_cache_says_what_to_do(mirror_env, monkeypatch):
    monkeypatch.setenv("INTERPLM_OFFLINE", "1")
    before = len(mirror_env.requests)
    with pytest.raises(OfflineError, match="Offline mode is on and the UniProt entry P61626 is not in the local cache.*prefetch"):
        fetch_entry("P61626")
    assert len(mirror_env.requests) == before


def test_offline_after_warming_uses_only_the_cache(mirror_env, monkeypatch):
    online = fetch_entry("Q0MRG0")  # a merged accession: the 303 is cached too
    monkeypatch.setenv("INTERPLM_OFFLINE", "1")
    before = len(mirror_env.requests)
    offline = fetch_entry("Q0MRG0")
    assert offline == online and offline.redirected_from == "Q0MRG0"
    assert len(mirror_env.requests) == before
