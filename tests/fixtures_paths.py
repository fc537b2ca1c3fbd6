"""Where the repository and the shared real fixtures are."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The recorded real responses and structures in ../shared/fixtures."""
    path = REPO_ROOT.parent / "shared" / "fixtures"
    if not path.is_dir():
        pytest.fail(f"shared fixtures not found at {path}: the checkout must sit beside shared/")
    return path
