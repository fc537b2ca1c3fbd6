"""SAE maths against an independent NumPy computation, for both file generations."""

import collections

import numpy as np
import pytest
import torch

from interplm_core.errors import InputError
from interplm_core.sae import SparseAutoencoder, reconstruction_quality
from interplm_core.weights import is_synthetic_sae, load_torch_file

LAYER = 3


@pytest.fixture(scope="module")
def states(synthetic_weights_dir):
    layer_dir = synthetic_weights_dir / "InterPLM-esm2-8m" / f"layer_{LAYER}"
    return load_torch_file(layer_dir / "ae_unnormalized.pt"), load_torch_file(layer_dir / "ae_normalized.pt")


@pytest.fixture(scope="module")
def embeddings(states):
    """Points around the SAE's own bias, so that a realistic share of features fires."""
    rng = np.random.default_rng(0)
    bias = states[0]["bias"].numpy().astype(np.float64)
    return (bias + rng.normal(scale=1.5, size=(60, 320))).astype(np.float32)


def numpy_encode(state, x):
    x = x.astype(np.float64)
    w = state["encoder.weight"].numpy().astype(np.float64)
    b = state["encoder.bias"].numpy().astype(np.float64)
    return np.maximum((x - state["bias"].numpy()) @ w.T + b, 0.0)


def numpy_decode(state, f):
    return f @ state["decoder.weight"].numpy().astype(np.float64).T + state["bias"].numpy()


def test_real_state_dict_layout(states):
    for state in states:
        assert list(state.keys()) == ["bias", "encoder.weight", "encoder.bias", "decoder.weight"]
        assert state["encoder.weight"].shape == (10240, 320)
        assert state["decoder.weight"].shape == (320, 10240)
        assert all(t.dtype == torch.float32 for t in state.values())
        assert is_synthetic_sae(state)


def test_encode_matches_numpy(states, embeddings):
    for state in states:
        sae = SparseAutoencoder.from_state_dict(state)
        ours = sae.encode(torch.from_numpy(embeddings)).numpy()
        expected = numpy_encode(state, embeddings)
        assert (expected > 0).mean() > 0.001  # the test data fires features
        np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_sparse_decode_matches_dense_numpy(states, embeddings):
    state = states[0]
    sae = SparseAutoencoder.from_state_dict(state)
    raw = sae.encode_raw(torch.from_numpy(embeddings))
    np.testing.assert_allclose(
        sae.decode_raw(raw).numpy(), numpy_decode(state, raw.numpy().astype(np.float64)), atol=1e-4
    )


def maxima_from_folded(normalized_state):
    """A folded file's decoder column norms are the maxima (unit-norm training)."""
    return normalized_state["decoder.weight"].norm(dim=0).numpy()


def test_normalized_equals_unnormalized_over_max_with_dead_at_zero(states, embeddings):
    unnorm, norm = (SparseAutoencoder.from_state_dict(s) for s in states)
    x = torch.from_numpy(embeddings)
    raw = unnorm.encode(x).numpy()
    normalized = norm.encode(x).numpy()
    maxima = maxima_from_folded(states[1])
    dead = maxima == 0
    assert 0 < dead.sum() < 1000
    alive = ~dead
    np.testing.assert_allclose(normalized[:, alive], raw[:, alive] / maxima[alive], rtol=1e-3, atol=1e-5)
    assert (normalized[:, dead] == 0).all()
    # Folded dead features are all-zero in encoder row, encoder bias and decoder column.
    assert not states[1]["encoder.weight"][dead].any() and not states[1]["encoder.bias"][dead].any()
    assert not states[1]["decoder.weight"][:, dead].any()


def test_reconstruction_unchanged_by_folding(states, embeddings):
    x = torch.from_numpy(embeddings)
    recons = []
    for state in states:
        sae = SparseAutoencoder.from_state_dict(state)
        recons.append(sae.decode_raw(sae.encode_raw(x)).numpy())
    # Dead features may fire on inputs the calibration corpus never showed: mask those out.
    unnorm = SparseAutoencoder.from_state_dict(states[0])
    dead = maxima_from_folded(states[1]) == 0
    fired_dead = (unnorm.encode_raw(x).numpy()[:, dead] > 0).any(axis=1)
    np.testing.assert_allclose(recons[0][~fired_dead], recons[1][~fired_dead], atol=1e-3)


def rescale_state(unnormalized_state, maxima):
    """A v1.0-style file: unnormalised weights plus activation_rescale_factor."""
    state = collections.OrderedDict(unnormalized_state)
    state["activation_rescale_factor"] = torch.as_tensor(maxima, dtype=torch.float32)
    state["normalize_to_sqrt_d"] = torch.tensor(False)
    return state


def test_rescale_factor_format_gives_same_features_as_legacy_fold(states, embeddings):
    maxima = maxima_from_folded(states[1])
    v1 = SparseAutoencoder.from_state_dict(rescale_state(states[0], maxima))
    legacy = SparseAutoencoder.from_state_dict(states[1])
    x = torch.from_numpy(embeddings)
    normalized = v1.encode(x, normalized=True).numpy()
    assert np.isfinite(normalized).all()  # InterPLM v1.0 would give NaN for dead features
    np.testing.assert_allclose(normalized, legacy.encode(x).numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(v1.encode(x, normalized=False).numpy(), numpy_encode(states[0], embeddings), atol=1e-4)


def test_all_ones_rescale_factor_means_no_maxima(states):
    v1 = SparseAutoencoder.from_state_dict(rescale_state(states[0], np.ones(10240)))
    assert v1.rescale is None


def test_user_maxima_normalise_like_interplm(states, embeddings):
    sae = SparseAutoencoder.from_state_dict(states[0])
    maxima = np.linspace(0, 5, 10240).astype(np.float32)
    own = sae.with_maxima(maxima).encode(torch.from_numpy(embeddings)).numpy()
    raw = numpy_encode(states[0], embeddings)
    expected = np.where(maxima > 0, raw / np.where(maxima > 0, maxima, 1), 0)
    np.testing.assert_allclose(own, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(InputError, match="Expected 10240 maxima"):
        sae.with_maxima(np.ones(5))


def test_missing_keys_and_bad_shapes_are_explained(states):
    broken = dict(states[0])
    del broken["decoder.weight"]
    with pytest.raises(InputError, match="lacks decoder.weight"):
        SparseAutoencoder.from_state_dict(broken)
    wrong = dict(states[0])
    wrong["bias"] = torch.zeros(5)
    with pytest.raises(InputError, match="shapes"):
        SparseAutoencoder.from_state_dict(wrong)


def test_reconstruction_quality_against_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    x_hat = (x + rng.normal(scale=0.3, size=x.shape)).astype(np.float32)
    q = reconstruction_quality(torch.from_numpy(x), torch.from_numpy(x_hat))
    sse = ((x - x_hat) ** 2).sum()
    sst = ((x - x.mean(axis=0)) ** 2).sum()
    assert q.mse == pytest.approx(((x - x_hat) ** 2).mean(), rel=1e-5)
    assert q.fraction_variance_explained == pytest.approx(1 - sse / sst, rel=1e-5)
    np.testing.assert_allclose(q.residue_error, ((x - x_hat) ** 2).mean(axis=1), rtol=1e-5)
