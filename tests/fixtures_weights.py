"""Synthetic weights for the whole test session, and an environment that uses them."""

from __future__ import annotations

import pytest

from interplm_core.synthetic import write_synthetic_weights

SYNTHETIC_SEED = 7


@pytest.fixture(scope="session")
def synthetic_weights_dir(tmp_path_factory):
    """A complete INTERPLM_WEIGHTS_DIR with seeded synthetic weights (all 6 layers)."""
    return write_synthetic_weights(tmp_path_factory.mktemp("weights"), seed=SYNTHETIC_SEED)


@pytest.fixture
def weights_env(synthetic_weights_dir, tmp_path, monkeypatch):
    """Point the product at the synthetic weights, a fresh cache, and no network."""
    monkeypatch.setenv("INTERPLM_WEIGHTS_DIR", str(synthetic_weights_dir))
    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("INTERPLM_ESM_URL", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return synthetic_weights_dir


@pytest.fixture(scope="session")
def shared_pipeline_factory(synthetic_weights_dir, tmp_path_factory):
    """Build FeaturePipelines on the synthetic weights with explicit settings (no env needed)."""
    from interplm_core.pipeline import FeaturePipeline
    from interplm_core.settings import get_settings

    def make(cache_dir=None):
        settings = get_settings().with_(
            weights_dir=synthetic_weights_dir,
            cache_dir=cache_dir or tmp_path_factory.mktemp("cache"),
            esm_url="http://127.0.0.1:9/unreachable",
            hf_endpoint="http://127.0.0.1:9",
        )
        return FeaturePipeline(settings=settings, progress=False)

    return make


@pytest.fixture(scope="session")
def weights_mirror(synthetic_weights_dir):
    """A loopback mirror serving the synthetic weights as fair-esm's server and the HF hub."""
    from interplm_core.mirror import Mirror

    with Mirror(weights_dir=synthetic_weights_dir) as server:
        yield server


@pytest.fixture
def online_env(weights_mirror, tmp_path, monkeypatch):
    """No local weights; every download goes to the mirror of the synthetic weights; fresh caches."""
    from tests.fixtures_mirror import point_clients_at

    point_clients_at(weights_mirror, monkeypatch, tmp_path)
    return weights_mirror
