"""Downloads heal and stay bounded: resume or restart after a cut, one deadline per request,
model files only from the configured AlphaFold host.

The servers here are tiny `http.server` handlers written for each behaviour (Range/206,
Retry-After, a trickling body, a foreign host), on loopback ports.
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from interplm_core import http
from interplm_core.errors import NetworkError
from interplm_core.settings import get_settings


class _Server:
    """A loopback server whose handler is a function (handler, request number) -> None."""

    def __init__(self, respond):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                return

            def do_GET(self):
                server.requests.append({"path": self.path, **{k: v for k, v in self.headers.items()}})
                try:
                    respond(self, len(server.requests))
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up: that is what some tests check

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(respond):
        servers.append(_Server(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def net_env(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("INTERPLM_HTTP_BACKOFF", "0.05")
    for name in ("INTERPLM_OFFLINE", "HF_HUB_OFFLINE", "INTERPLM_HTTP_TIMEOUT", "INTERPLM_HTTP_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)


def _send_file(handler, data: bytes, honour_range: bool, cut_first: bool, number: int) -> None:
    start = 0
    requested = handler.headers.get("Range")
    if honour_range and requested:
        start = int(requested.split("=")[1].split("-")[0])
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
    else:
        handler.send_response(200)
    if honour_range:
        handler.send_header("Accept-Ranges", "bytes")
    handler.send_header("Content-Length", str(len(data) - start))
    handler.end_headers()
    if cut_first and number == 1:  # half the body, then the connection drops
        handler.wfile.write(data[start: start + len(data) // 2])
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.shutdown(2)
        return
    handler.wfile.write(data[start:])


# ----------------------------------------------------------------- item 10: resume or restart


def test_cut_download_resumes_with_range_when_the_server_answers_206(serve, net_env):
    server = serve(lambda h, n: _send_file(h, PAYLOAD, honour_range=True, cut_first=True, number=n))
    dest = net_env / "ckpt" / "model.pt"
    dest.parent.mkdir()
    stale = [dest.parent / ".model.pt.abc123.part", dest.parent / "model.pt.x1.incomplete"]
    for path in stale:
        path.write_bytes(b"old")
    http.download_to_file(f"{server.url}/model.pt", dest, get_settings())
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 2
    assert "Range" not in server.requests[0]
    resumed_at = int(server.requests[1]["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(PAYLOAD) // 2  # from what was saved, whole blocks
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.pt"]  # .part and leftovers gone


def test_cut_download_restarts_when_the_server_ignores_range(serve, net_env):
    server = serve(lambda h, n: _send_file(h, PAYLOAD, honour_range=False, cut_first=True, number=n))
    dest = net_env / "model.pt"
    http.download_to_file(f"{server.url}/model.pt", dest, get_settings())
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 2 and server.requests[1].get("Range")  # asked, got it whole
    assert not list(net_env.glob("*.part"))


def test_a_server_that_always_cuts_gives_up_after_bounded_attempts(mirror_env, net_env, monkeypatch):
    monkeypatch.setenv("INTERPLM_HTTP_RETRIES", "2")
    url = mirror_env.sim_url("cut") + "/uniprotkb/P61626.json"
    before = len(mirror_env.requests)
    dest = net_env / "entry.json"
    with pytest.raises(NetworkError, match=r"failed after 3 attempts \(last: .*nothing was saved"):
        http.download_to_file(url, dest, get_settings())
    assert len(mirror_env.requests) - before == 3
    assert not dest.exists() and not list(net_env.glob("entry.json*"))


def test_download_memory_stays_constant(serve, net_env):
    big = os.urandom(24 * 1024 * 1024)
    server = serve(lambda h, n: _send_file(h, big, honour_range=True, cut_first=False, number=n))
    tracemalloc.start()
    try:
        http.download_to_file(f"{server.url}/big.pt", net_env / "big.pt", get_settings())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (net_env / "big.pt").stat().st_size == len(big)
    assert peak < 6 * 1024 * 1024  # blocks of 1 MB, not the 24 MB file


def test_weight_downloads_go_through_the_project_client(serve, net_env):
    from interplm_core.weights import download_file

    server = serve(lambda h, n: _send_file(h, PAYLOAD, honour_range=True, cut_first=False, number=n))
    download_file(f"{server.url}/w.pt", net_env / "w.pt", get_settings(), progress=False)
    assert server.requests[0]["User-Agent"] == http.USER_AGENT


# ----------------------------------------------------------------- item 11: one deadline


def test_retry_after_cannot_stretch_the_timeout(serve, net_env, monkeypatch):
    def busy(handler, number):
        handler.send_response(503)
        handler.send_header("Retry-After", "30")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server = serve(busy)
    monkeypatch.setenv("INTERPLM_HTTP_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(NetworkError) as err:
        http.get(f"{server.url}/x", get_settings(), what="UniProt entry X")
    elapsed = time.monotonic() - started
    assert elapsed < 1.5
    message = str(err.value)
    assert "limit 1 s" in message and "asked to wait 30 s" in message
    stated = float(message.split("Timed out after ")[1].split(" s")[0])
    assert abs(stated - elapsed) < 0.3  # the message states the real elapsed time


def test_a_trickling_body_is_cut_at_the_deadline(serve, net_env, monkeypatch):
    def trickle(handler, number):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)

    server = serve(trickle)
    monkeypatch.setenv("INTERPLM_HTTP_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(NetworkError, match=r"Timed out after 1\.\d s \(limit 1 s"):
        http.get(f"{server.url}/slow", get_settings())
    assert time.monotonic() - started < 1.6


def test_retries_and_backoff_fit_inside_the_deadline(serve, net_env, monkeypatch):
    def slow_then_busy(handler, number):
        time.sleep(0.4)
        handler.send_response(503)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server = serve(slow_then_busy)
    monkeypatch.setenv("INTERPLM_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("INTERPLM_HTTP_RETRIES", "5")
    started = time.monotonic()
    with pytest.raises(NetworkError, match="Timed out after"):
        http.get(f"{server.url}/x", get_settings())
    assert time.monotonic() - started < 1.5
    assert 2 <= len(server.requests) <= 3


# ----------------------------------------------------------------- item 15: AlphaFold host


def test_alphafold_model_on_another_host_is_refused(serve, net_env, monkeypatch):
    from interplm_core.alphafold import fetch_model

    elsewhere = serve(lambda h, n: _send_file(h, b"ATOM\n", honour_range=False, cut_first=False, number=n))

    def api(handler, number):
        body = json.dumps([{"entryId": "AF-P61626-F1", "uniprotAccession": "P61626",
                            "pdbUrl": f"{elsewhere.url}/files/AF-P61626-F1-model_v4.pdb"}]).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    af = serve(api)
    monkeypatch.setenv("INTERPLM_ALPHAFOLD_URL", af.url)
    with pytest.raises(NetworkError, match=r"another host.*only files from " + af.url):
        fetch_model("P61626")
    assert elsewhere.requests == []


def test_alphafold_model_on_the_configured_host_is_fetched(mirror_env):
    from interplm_core.alphafold import fetch_model

    model = fetch_model("P61626")
    assert model.url.startswith(get_settings().alphafold_url + "/")
