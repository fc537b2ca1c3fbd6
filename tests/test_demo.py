"""`python -m interplm_core demo`: weights, mirror and app started together, and stopped together."""

from __future__ import annotations

import errno
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from interplm_core.demo import DEMO_WEIGHTS_FOLDER, find_or_write_weights, run_demo
from interplm_core.errors import InputError
from interplm_core.settings import get_settings
from interplm_core.weights import is_synthetic_file

REPO = Path(__file__).resolve().parents[1]
SAE_FILE = "InterPLM-esm2-8m/layer_4/ae_normalized.pt"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refused(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No URL overrides and no weights from the developer's machine: caches in tmp_path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INTERPLM_", "HF_")) and k not in ("TORCH_HOME",)}
    env.update(INTERPLM_CACHE_DIR=str(tmp_path / "cache"), TORCH_HOME=str(tmp_path / "torch"),
               HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", **extra)
    return env


def test_demo_runs_app_and_mirror_and_stops_both_on_ctrl_c(synthetic_weights_dir, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "interplm_core", "demo", "--port", str(port)], cwd=tmp_path,
        env=clean_env(tmp_path, INTERPLM_WEIGHTS_DIR=str(synthetic_weights_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while not any("is ready: " in line for line in seen):
            assert process.poll() is None, "".join(seen)
            assert time.monotonic() < deadline, "demo did not start:\n" + "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        output = "".join(seen)
        assert f"Using the synthetic weights found in {synthetic_weights_dir}." in output
        app_url = f"http://127.0.0.1:{port}"
        assert f"is ready: {app_url}" in output
        mirror_url = next(line.rsplit(": ", 1)[1].strip() for line in seen if line.startswith("Mirror of"))
        assert mirror_url.startswith("http://127.0.0.1:")

        health = requests.get(f"{app_url}/_stcore/health", timeout=10)
        assert health.status_code == 200 and health.text == "ok"
        entry = requests.get(f"{mirror_url}/uniprotkb/P61626.json", timeout=30).json()
        assert entry["primaryAccession"] == "P61626"
        served = requests.get(f"{mirror_url}/Elana/InterPLM-esm2-8m/resolve/main/layer_4/ae_normalized.pt", timeout=10)
        assert served.content == (synthetic_weights_dir / SAE_FILE).read_bytes()

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert refused(f"{app_url}/_stcore/health") and refused(f"{mirror_url}/uniprotkb/P61626.json")
    finally:
        if process.poll() is None:  # SIGTERM first: the demo then stops the app it started
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_without_weights_synthetic_ones_are_written_once_into_the_cache(tmp_path, monkeypatch):
    for name, value in clean_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INTERPLM_WEIGHTS_DIR", raising=False)
    settings = get_settings()
    first = find_or_write_weights(settings)
    folder = tmp_path / "cache" / DEMO_WEIGHTS_FOLDER
    assert first.folder == folder and first.synthetic and "wrote synthetic weights" in first.note
    written = sorted(p for p in folder.rglob("*.pt"))
    assert len(written) == 2 + 12  # ESM-2 checkpoint + contact regression, 6 layers x 2 SAEs
    assert all(is_synthetic_file(p) for p in written if "contact-regression" not in p.name)
    stamps = [p.stat().st_mtime_ns for p in written]
    again = find_or_write_weights(settings)
    assert again.folder == folder and "written earlier" in again.note
    assert [p.stat().st_mtime_ns for p in written] == stamps


def test_a_busy_app_port_is_refused_before_anything_starts(tmp_path, monkeypatch):
    for name, value in clean_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match=rf"127\.0\.0\.1:{port} \({os.strerror(errno.EADDRINUSE)}\)"):
            run_demo(port=port)
    assert not (tmp_path / "cache").exists()  # no weights were written


def test_missing_weights_and_unreachable_services_point_at_the_offline_ways(tmp_path, monkeypatch):
    from interplm_core.errors import NetworkError, WeightsUnavailableError
    from interplm_core.registry import get_model_spec
    from interplm_core.uniprot import fetch_entry
    from interplm_core.weights import esm_checkpoint_files, sae_file

    for name, value in clean_env(tmp_path, INTERPLM_UNIPROT_URL="http://127.0.0.1:9", INTERPLM_ESM_URL="http://127.0.0.1:9",
                                 HF_ENDPOINT="http://127.0.0.1:9", INTERPLM_HTTP_RETRIES="0",
                                 INTERPLM_HTTP_TIMEOUT="2").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INTERPLM_WEIGHTS_DIR", raising=False)
    spec = get_model_spec()
    failures = []
    for attempt, kind in [(lambda: esm_checkpoint_files(spec, progress=False), WeightsUnavailableError),
                          (lambda: sae_file(spec, 3, True), WeightsUnavailableError),
                          (lambda: fetch_entry("P61626"), NetworkError)]:
        with pytest.raises(kind) as caught:
            attempt()
        failures.append(str(caught.value))
    for message in failures:
        assert "`python -m interplm_core demo`" in message
        assert "`python -m interplm_core weights synthetic --out DIR`" in message
