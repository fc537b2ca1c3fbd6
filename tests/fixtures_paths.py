"""Where the repository and its bundled real recordings are."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The recorded real responses and structures bundled with the package (demo_data/SOURCES.md)."""
    from interplm_core.mirror import DEFAULT_FIXTURES_DIR

    return DEFAULT_FIXTURES_DIR
