"""HTTP behaviour over real loopback sockets: User-Agent, retries, timeouts, refused connections."""

from __future__ import annotations

import socket
import time

import pytest

from interplm_core import __version__
from interplm_core.errors import NetworkError
from interplm_core.http import USER_AGENT, get
from interplm_core.settings import get_settings
from interplm_core.uniprot import fetch_entry


def test_user_agent_names_the_project(mirror_env):
    fetch_entry("P61626")
    agent = mirror_env.requests[-1].user_agent
    assert agent == USER_AGENT
    assert agent.startswith(f"InterPLM-Explorer/{__version__} (")


def test_503_then_200_is_retried(mirror_env, monkeypatch):
    monkeypatch.setenv("INTERPLM_UNIPROT_URL", mirror_env.sim_url("flaky", "retry-once"))
    entry = fetch_entry("P69905")
    assert entry.accession == "P69905"
    hits = [r.path for r in mirror_env.requests if r.path.startswith("/_sim/flaky/retry-once/")]
    assert hits == ["/_sim/flaky/retry-once/uniprotkb/P69905.json"] * 2


def test_service_that_stays_down_gives_a_network_error(mirror_env, monkeypatch):
    monkeypatch.setenv("INTERPLM_HTTP_RETRIES", "2")
    monkeypatch.setenv("INTERPLM_UNIPROT_URL", mirror_env.sim_url("down"))
    before = len(mirror_env.requests)
    with pytest.raises(NetworkError, match="HTTP 503 even after 2 retries.*INTERPLM_OFFLINE=1"):
        fetch_entry("P69905")
    assert len(mirror_env.requests) - before == 3  # first try + 2 retries


def test_slow_endpoint_times_out_quickly(mirror_env, monkeypatch):
    monkeypatch.setenv("INTERPLM_HTTP_TIMEOUT", "0.3")
    monkeypatch.setenv("INTERPLM_HTTP_RETRIES", "0")
    monkeypatch.setenv("INTERPLM_ALPHAFOLD_URL", mirror_env.sim_url("slow"))
    from interplm_core.alphafold import fetch_model

    started = time.monotonic()
    with pytest.raises(NetworkError, match=r"Timed out after 0.3 s.*check your internet connection"):
        fetch_model("P61626")
    assert time.monotonic() - started < 2.0


def test_refused_connection_gives_a_network_error(mirror_env, monkeypatch):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("INTERPLM_UNIPROT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("INTERPLM_HTTP_RETRIES", "1")
    with pytest.raises(NetworkError, match="Could not connect.*retry in a moment"):
        fetch_entry("P69905")


def test_not_found_is_returned_and_not_cached(mirror_env):
    settings = get_settings()
    url = f"{mirror_env.url}/uniprotkb/P12345.json"
    assert get(url, settings).status == 404
    assert get(url, settings).from_cache is False
