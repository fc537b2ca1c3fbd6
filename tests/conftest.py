"""Shared pytest fixtures. Topic-specific fixtures live in tests/fixtures_*.py plugins."""

pytest_plugins = [
    "tests.fixtures_paths",
    "tests.fixtures_weights",
    "tests.fixtures_mirror",
    "tests.app_fixtures",
]
