"""The app as the browser benches need it: Streamlit on a free loopback port, wired to the
loopback mirror and the given weights, started and stopped the way `demo` does it
(its command, health wait and shutdown), so the benches time the app a user runs."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(weights: Path, cache: Path) -> Iterator[str]:
    """Yield the URL of a freshly started app; stop it and the mirror afterwards."""
    from interplm_core.demo import stop_process, streamlit_command, wait_until_healthy
    from interplm_core.mirror import start_mirror

    mirror = start_mirror()
    port = free_port()
    env = dict(os.environ, **mirror.env(), INTERPLM_WEIGHTS_DIR=str(weights), INTERPLM_CACHE_DIR=str(cache))
    server = subprocess.Popen(streamlit_command(port), cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server)
        yield url
    finally:
        stop_process(server)
        mirror.stop()
