"""The mirror serves only its own folders, resumes byte ranges, and says what is wrong.

Requests go through `http.client` so that paths reach the server exactly as written
(`requests` and browsers would normalise `..` away before sending).
"""

from __future__ import annotations

import errno
import http.client
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from interplm_core.alphafold import fetch_model
from interplm_core.errors import InputError, NotFoundError
from interplm_core.mirror import Mirror
from interplm_core.rcsb import fetch_structure_file
from tests.fixtures_mirror import write_placeholder_weights

SECRET = b"outside the served folders\n"
SAE_FILE = "InterPLM-esm2-8m/layer_2/ae_normalized.pt"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A mirror whose weights folder sits next to a secret file and holds a symlink pointing out."""
    root = tmp_path_factory.mktemp("served")
    (root / "secret.txt").write_bytes(SECRET)
    weights = write_placeholder_weights(root / "weights")
    (weights / "InterPLM-esm2-8m" / "link.pt").symlink_to(root / "secret.txt")
    with Mirror(weights_dir=weights) as mirror:
        yield mirror, weights


def raw_get(mirror, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    host, port = mirror.server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


@pytest.mark.parametrize("path", [
    "/a/../../../resolve/main/etc/passwd",
    "/a/../../../../../../../../resolve/main/etc/passwd",
    "/a/../resolve/main/secret.txt",
    "/Elana/InterPLM-esm2-8m/resolve/main/../../secret.txt",
    "/Elana/InterPLM-esm2-8m/resolve/main/%2e%2e/%2e%2e/secret.txt",
    "/Elana/..%2f../resolve/main/secret.txt",
    "/Elana/InterPLM-esm2-8m/resolve/main//etc/passwd",
    "/Elana/InterPLM-esm2-8m/resolve/main/link.pt",
    "/fair-esm/models/..%2f..%2fsecret.txt",
    "/fair-esm/regression/..",
    "/Elana/InterPLM-esm2-8m/resolve/main/%2Fetc%2Fpasswd",
])
def test_no_path_leaves_the_served_folders(served, path):
    mirror, _ = served
    status, body, _ = raw_get(mirror, path)
    assert status == 404
    assert SECRET not in body and b"root:" not in body


@pytest.mark.parametrize("path", ["/api/models/a/..", "/api/models/a/../tree/main", "/api/models/../weights",
                                  "/api/models/Elana/..%2f..", "/api/models/Elana/."])
def test_repo_listing_needs_an_owner_name_repo_id(served, path):
    mirror, _ = served
    status, body, _ = raw_get(mirror, path)
    assert status == 404 and b"secret.txt" not in body and b"weights" not in body


def test_real_repo_is_still_listed_and_served(served):
    mirror, weights = served
    status, body, _ = raw_get(mirror, "/api/models/Elana/InterPLM-esm2-8m")
    listed = {s["rfilename"] for s in requests.models.complexjson.loads(body)["siblings"]}
    assert status == 200 and "layer_2/ae_normalized.pt" in listed
    status, body, _ = raw_get(mirror, f"/Elana/{SAE_FILE.replace('InterPLM-esm2-8m/', 'InterPLM-esm2-8m/resolve/main/')}")
    assert status == 200 and body == (weights / SAE_FILE).read_bytes()


@pytest.mark.parametrize("url_path", ["/Elana/InterPLM-esm2-8m/resolve/main/layer_2/ae_normalized.pt",
                                      "/fair-esm/models/esm2_t6_8M_UR50D.pt"])
@pytest.mark.parametrize("header,first,last", [
    ("bytes=100-", 100, None), ("bytes=0-9", 0, 9), ("bytes=-25", -25, None), ("bytes=50-99999999", 50, None),
])
def test_range_requests_get_206_with_the_exact_bytes(served, url_path, header, first, last):
    mirror, weights = served
    name = SAE_FILE if "resolve" in url_path else "esm2_t6_8M_UR50D.pt"
    data = (weights / name).read_bytes()
    expected = data[first:] if last is None else data[first:last + 1]
    status, body, headers = raw_get(mirror, url_path, {"Range": header})
    start = len(data) + first if first < 0 else first
    assert status == 206 and body == expected
    assert headers["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(data)}"
    assert headers["Accept-Ranges"] == "bytes" and int(headers["Content-Length"]) == len(expected)


def test_unsatisfiable_range_is_416(served):
    mirror, weights = served
    size = (weights / "esm2_t6_8M_UR50D.pt").stat().st_size
    status, _, headers = raw_get(mirror, "/fair-esm/models/esm2_t6_8M_UR50D.pt", {"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"


def test_a_cut_download_resumes_with_range(served):
    """`cutonce` cuts the first transfer; a Range request for the rest completes the file."""
    mirror, weights = served
    url = mirror.sim_url("cutonce", "resume-test") + "/fair-esm/models/esm2_t6_8M_UR50D.pt"
    data = (weights / "esm2_t6_8M_UR50D.pt").read_bytes()
    received = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with requests.get(url, stream=True, timeout=10) as response:
            for chunk in response.iter_content(64):
                received.extend(chunk)
    assert 0 < len(received) < len(data) and data.startswith(bytes(received))
    rest = requests.get(url, headers={"Range": f"bytes={len(received)}-"}, timeout=10)
    assert rest.status_code == 206
    assert bytes(received) + rest.content == data


def test_unrecorded_things_are_not_recorded_in_this_mirror(mirror_env):
    with pytest.raises(NotFoundError, match="AlphaFold DB model of P12345 is not recorded in this mirror") as af:
        fetch_model("P12345")
    assert "AlphaFold DB has no predicted model" not in str(af.value)
    with pytest.raises(NotFoundError, match="PDB entry 9ZZZ is not recorded in this mirror.*1REX") as pdb:
        fetch_structure_file("9ZZZ")
    assert "The PDB has no entry" not in str(pdb.value)


def test_a_busy_port_names_the_real_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError) as caught:
            Mirror(port=port)
    assert f"Cannot listen on 127.0.0.1:{port} ({os.strerror(errno.EADDRINUSE)})" in str(caught.value)


def test_a_missing_fixtures_folder_is_not_a_port_problem(tmp_path):
    with pytest.raises(NotFoundError, match="fixtures folder .*missing-fixtures does not exist") as caught:
        Mirror(fixtures_dir=tmp_path / "missing-fixtures")
    assert "listen" not in str(caught.value) and "port" not in str(caught.value)
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "interplm_core", "mirror", "--port", "0", "--fixtures", str(tmp_path / "nope")],
        cwd=repo, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "Fixtures directory not found" in proc.stderr and "listen" not in proc.stderr
