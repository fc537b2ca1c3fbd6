"""Pytest fixtures: a loopback mirror of UniProt, AlphaFold DB, RCSB, the HF hub and fair-esm.

`mirror` (session): a running `interplm_core.mirror.Mirror` (`.url`, `.server`,
`.requests`, `.sim_url(...)`), serving the bundled recordings (`interplm_core/demo_data`) and a small weights directory
of placeholder files in the real layout (tests that need loadable weights start their
own mirror with `Mirror(weights_dir=...)`, as `weights_mirror` does).
`mirror_env` (function): points every client at the mirror and the cache at a fresh
temporary directory, with short timeouts and fast retries so failure tests stay quick.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interplm_core.mirror import Mirror

ESM_NAME = "esm2_t6_8M_UR50D"
SAE_REPO_DIR = "InterPLM-esm2-8m"


def write_placeholder_weights(out_dir: Path) -> Path:
    """Small files with distinct contents in the weights-directory layout (not loadable)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{ESM_NAME}.pt").write_bytes(b"placeholder esm checkpoint\n" * 40)
    (out_dir / f"{ESM_NAME}-contact-regression.pt").write_bytes(b"placeholder regression\n" * 7)
    for layer in range(1, 7):
        folder = out_dir / SAE_REPO_DIR / f"layer_{layer}"
        folder.mkdir(parents=True, exist_ok=True)
        for kind in ("normalized", "unnormalized"):
            (folder / f"ae_{kind}.pt").write_bytes(f"placeholder layer {layer} {kind}\n".encode() * (100 + layer))
    return out_dir


@pytest.fixture(scope="session")
def mirror_weights_dir(tmp_path_factory) -> Path:
    return write_placeholder_weights(tmp_path_factory.mktemp("mirror-weights"))


@pytest.fixture(scope="session")
def mirror(mirror_weights_dir):
    with Mirror(weights_dir=mirror_weights_dir) as server:
        yield server


def point_clients_at(mirror, monkeypatch, tmp_path) -> None:
    """Clients -> `mirror`, caches -> tmp dir, no local weights, offline off, short timeouts."""
    for name, value in mirror.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("INTERPLM_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("INTERPLM_HTTP_RETRIES", "2")
    monkeypatch.setenv("INTERPLM_HTTP_BACKOFF", "0.01")
    for name in ("INTERPLM_OFFLINE", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "INTERPLM_WEIGHTS_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mirror_env(mirror, monkeypatch, tmp_path):
    """Every client points at the mirror (see `point_clients_at`)."""
    point_clients_at(mirror, monkeypatch, tmp_path)
    return mirror
