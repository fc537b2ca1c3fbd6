"""The offline demo in one command: weights, the loopback mirror and the app, wired together.

`python -m interplm_core demo [--port N]` is for a machine with no internet (a talk, a
fresh clone): it uses the weights it finds on disk (`INTERPLM_WEIGHTS_DIR`, the torch hub
and Hugging Face caches) or else writes seeded synthetic ones into the cache folder
(saying so, since their features mean nothing biologically), serves the bundled
recordings with `mirror.Mirror` on a free loopback port, and runs `streamlit run app.py`
bound to 127.0.0.1 with every base URL pointing at the mirror. Ctrl-C (or SIGTERM) stops
the app and the mirror.
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from .errors import InputError, InterPLMError, WeightsUnavailableError
from .registry import DEFAULT_MODEL
from .settings import Settings, child_environment, get_settings

#: The Streamlit entry point, next to the package in a clone of the repository.
APP_SCRIPT = Path(__file__).resolve().parent.parent / "app.py"
#: Folder (under INTERPLM_CACHE_DIR) that receives synthetic weights when none are found.
DEMO_WEIGHTS_FOLDER = "demo-weights"
DEFAULT_APP_PORT = 8501
#: Streamlit's readiness endpoint, and how long a cold start may take on a busy machine.
HEALTH_PATH = "/_stcore/health"
STARTUP_SECONDS = 180.0
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class DemoWeights:
    """The weights the demo runs on: a folder to serve (None: found in the caches) and how they came."""

    folder: Path | None
    note: str
    synthetic: bool


def find_or_write_weights(settings: Settings | None = None, model: str = DEFAULT_MODEL) -> DemoWeights:
    """Weights already on disk if complete, else synthetic ones written once into the cache folder.

    "On disk" is decided by the weights module itself in offline mode, so the demo and the
    app agree on what they find; no network is touched.
    """
    from .synthetic import write_synthetic_weights
    from .weights import fetch_weights, is_synthetic_file

    settings = settings or get_settings()
    try:
        files = fetch_weights(model, settings=settings.with_(offline=True), progress=False)
    except WeightsUnavailableError:
        files = None
    if files is not None:
        synthetic = any(is_synthetic_file(f.path) for f in files)
        where = settings.weights_dir or "the torch hub and Hugging Face caches"
        kind = "synthetic" if synthetic else "model"
        return DemoWeights(settings.weights_dir, f"Using the {kind} weights found in {where}.", synthetic)
    folder = settings.cache_dir / DEMO_WEIGHTS_FOLDER
    searched = f"INTERPLM_WEIGHTS_DIR={settings.weights_dir} is incomplete" if settings.weights_dir else "No weights found"
    demo_settings = settings.with_(weights_dir=folder, offline=True)
    try:
        fetch_weights(model, settings=demo_settings, progress=False)
        return DemoWeights(folder, f"{searched}; using the synthetic weights written earlier in {folder}.", True)
    except WeightsUnavailableError:
        pass
    print(f"{searched}: writing seeded synthetic weights to {folder} (about a minute, once)...", flush=True)
    write_synthetic_weights(folder, seed=0, model=model)
    return DemoWeights(folder, f"{searched}; wrote synthetic weights to {folder}.", True)


def check_port_free(host: str, port: int) -> None:
    """Refuse a busy app port before anything starts, with the system's own reason."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise InputError(f"Cannot listen on {host}:{port} ({err.strerror or err}); pick another --port.") from None


def streamlit_command(port: int, app_script: Path = APP_SCRIPT) -> list[str]:
    """`streamlit run app.py` served on loopback only, without opening a browser."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app_script),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = STARTUP_SECONDS) -> None:
    """Poll the app's health endpoint until it answers, the app dies, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise InterPLMError(f"The app stopped while starting (exit code {process.returncode}); see its messages above.")
        try:
            if requests.get(url + HEALTH_PATH, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.3)
    raise InterPLMError(f"The app did not answer at {url} within {timeout:g} s.")


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM (Streamlit shuts down cleanly on it), then SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_demo(port: int = DEFAULT_APP_PORT, settings: Settings | None = None) -> int:
    """Run weights + mirror + app until Ctrl-C or SIGTERM; returns the exit code (0 on a clean stop)."""
    from .mirror import Mirror

    settings = settings or get_settings()
    if importlib.util.find_spec("streamlit") is None:
        raise InterPLMError("The demo needs Streamlit: install the app with `pip install -r requirements.txt`.")
    if not APP_SCRIPT.is_file():
        raise InterPLMError(
            f"The demo runs the app {APP_SCRIPT}, which is not there: run it from a clone of the repository."
        )
    check_port_free("127.0.0.1", port)
    weights = find_or_write_weights(settings)
    print(weights.note, flush=True)
    if weights.synthetic:
        print("Synthetic features mean nothing biologically: the demo shows how the app works.", flush=True)
    # Ctrl-C is honoured even when started from a shell that ignores SIGINT in background jobs.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    mirror = Mirror(port=0, weights_dir=weights.folder).start()
    process = None
    try:
        print(f"Mirror of UniProt, AlphaFold DB, RCSB and the weights: {mirror.url}", flush=True)
        env = child_environment(mirror.env())
        if weights.folder is not None:
            env["INTERPLM_WEIGHTS_DIR"] = str(weights.folder)
        app_url = f"http://127.0.0.1:{port}"
        # Own session: the terminal's Ctrl-C reaches only this process, which stops the app in order.
        process = subprocess.Popen(streamlit_command(port), cwd=APP_SCRIPT.parent, env=env, start_new_session=True)
        wait_until_healthy(app_url, process)
        print(f"InterPLM Explorer (offline demo) is ready: {app_url}  (Ctrl-C stops the app and the mirror)",
              flush=True)
        code = process.wait()
        print(f"The app stopped by itself (exit code {code}).", file=sys.stderr, flush=True)
        return code or 1
    except KeyboardInterrupt:
        print("Stopping the app and the mirror...", flush=True)
        return 0
    finally:
        if process is not None:
            stop_process(process)
        mirror.stop()
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
