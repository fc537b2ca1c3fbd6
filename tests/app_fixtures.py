"""Fixtures for the app tests: synthetic weights + the loopback mirror, one feature cache per session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = str(REPO_ROOT / "app.py")


@pytest.fixture(scope="session")
def app_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app-cache")


@pytest.fixture
def app_env(mirror_env, synthetic_weights_dir, app_cache_dir, monkeypatch):
    """Clients -> mirror, weights -> synthetic, one cache for the session (the model loads once)."""
    monkeypatch.setenv("INTERPLM_WEIGHTS_DIR", str(synthetic_weights_dir))
    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(app_cache_dir))
    monkeypatch.delenv("INTERPLM_ATLAS", raising=False)
    return mirror_env


def new_app(**params):
    """An AppTest of the whole app (navigation, sidebar, banner), with URL query parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def texts(at) -> str:
    """All visible text of markdown, captions, headers, alerts: what a user reads."""
    parts = []
    for group in (at.title, at.header, at.subheader, at.markdown, at.caption, at.info, at.warning, at.error,
                  at.success):
        parts += [str(e.value) for e in group]
    return "\n".join(parts)
