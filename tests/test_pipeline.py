"""The pipeline end to end: features equal SAE(ESM) computed independently; caches work."""

import numpy as np
import pytest
import torch

from interplm_core.errors import InputError
from interplm_core.pipeline import FeaturePipeline
from interplm_core.sequences import SequenceRecord
from interplm_core.weights import load_torch_file

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQ"


def independent_features(weights_dir, seq, layer, normalized):
    """fair-esm full forward + NumPy SAE, sharing no code with the pipeline."""
    import esm

    checkpoint = load_torch_file(weights_dir / "esm2_t6_8M_UR50D.pt")
    regression = load_torch_file(weights_dir / "esm2_t6_8M_UR50D-contact-regression.pt")
    model, alphabet = esm.pretrained.load_model_and_alphabet_core("esm2_t6_8M_UR50D", checkpoint, regression)
    _, _, tokens = alphabet.get_batch_converter()([("x", seq)])
    with torch.inference_mode():
        x = model.eval()(tokens, repr_layers=[layer])["representations"][layer][0, 1 : len(seq) + 1].numpy()
    kind = "normalized" if normalized else "unnormalized"
    state = load_torch_file(weights_dir / "InterPLM-esm2-8m" / f"layer_{layer}" / f"ae_{kind}.pt")
    w = state["encoder.weight"].numpy().astype(np.float64)
    f = np.maximum((x - state["bias"].numpy()) @ w.T + state["encoder.bias"].numpy(), 0)
    x_hat = f @ state["decoder.weight"].numpy().astype(np.float64).T + state["bias"].numpy()
    return f, x, x_hat


@pytest.mark.parametrize("layer, normalized", [(2, True), (6, False)])
def test_features_and_reconstruction_match_independent_computation(
    shared_pipeline_factory, synthetic_weights_dir, layer, normalized
):
    pipeline = shared_pipeline_factory()
    result = pipeline.features([SEQ], layer, normalized=normalized)[0]
    f, x, x_hat = independent_features(synthetic_weights_dir, SEQ, layer, normalized)
    assert result.activations.shape == (len(SEQ), 10240)
    np.testing.assert_allclose(result.activations, f, rtol=1e-3, atol=1e-4)
    assert result.mse == pytest.approx(((x - x_hat) ** 2).mean(), rel=1e-3)
    sst = ((x - x.mean(axis=0)) ** 2).sum()
    assert result.fraction_variance_explained == pytest.approx(1 - ((x - x_hat) ** 2).sum() / sst, rel=1e-3)
    assert result.synthetic is True


def test_top_features_orders(shared_pipeline_factory):
    result = shared_pipeline_factory().features([SEQ], 3)[0]
    acts = result.activations
    by_max = result.top_features(5, by="max")
    maxima = acts.max(axis=0)
    assert [t["feature"] for t in by_max] == list(np.argsort(-maxima, kind="stable")[:5])
    assert by_max[0]["argmax_position"] == int(acts[:, by_max[0]["feature"]].argmax()) + 1
    by_mean = result.top_features(5, by="mean")
    assert [t["feature"] for t in by_mean] == list(np.argsort(-acts.mean(axis=0), kind="stable")[:5])
    first = result.top_features(8, by="first")
    firsts = [int((acts[:, t["feature"]] > 0).argmax()) for t in first]
    assert firsts == sorted(firsts)
    assert {t["feature"] for t in first} == {t["feature"] for t in result.top_features(8)}


def test_second_request_costs_no_model_call_even_after_restart(shared_pipeline_factory, tmp_path):
    first = shared_pipeline_factory(cache_dir=tmp_path)
    a = first.features([SEQ], 4)[0]
    assert first.stats.model_calls == 1 and not a.from_cache
    again = first.features([SEQ], 4)[0]
    assert first.stats.model_calls == 1 and first.stats.memory_hits == 1 and again.from_cache
    first.flush()

    restarted = shared_pipeline_factory(cache_dir=tmp_path)
    b = restarted.features([SEQ], 4)[0]
    assert restarted.stats.model_calls == 0 and restarted.stats.disk_hits == 1
    assert restarted._embedder is None  # the model was never loaded
    np.testing.assert_array_equal(a.activations, b.activations)
    np.testing.assert_array_equal(a.residue_error, b.residue_error)
    assert (a.mse, a.fraction_variance_explained) == (b.mse, b.fraction_variance_explained)


def test_cache_key_separates_layer_normalisation_and_sequence(shared_pipeline_factory):
    pipeline = shared_pipeline_factory()
    base = pipeline.features([SEQ], 4)[0]
    other_layer = pipeline.features([SEQ], 5)[0]
    raw = pipeline.features([SEQ], 4, normalized=False)[0]
    mutant = pipeline.features([SEQ[:-1] + "W"], 4)[0]
    assert pipeline.stats.model_calls == 4
    assert not np.array_equal(base.activations, other_layer.activations)
    assert not np.array_equal(base.activations, raw.activations)
    assert not np.array_equal(base.activations, mutant.activations)


def test_changed_weights_file_invalidates_cache(synthetic_weights_dir, tmp_path):
    import shutil

    from interplm_core.settings import get_settings

    weights = tmp_path / "weights"
    shutil.copytree(synthetic_weights_dir, weights)
    settings = get_settings().with_(weights_dir=weights, cache_dir=tmp_path / "cache", hf_endpoint="http://127.0.0.1:9")
    before = FeaturePipeline(settings=settings, progress=False)
    before.features([SEQ], 1)
    before.flush()
    sae_path = weights / "InterPLM-esm2-8m" / "layer_1" / "ae_normalized.pt"
    state = load_torch_file(sae_path)
    state["encoder.bias"] = state["encoder.bias"] + 0.5
    torch.save(state, sae_path)
    fresh = FeaturePipeline(settings=settings, progress=False)
    fresh.features([SEQ], 1)
    assert fresh.stats.model_calls == 1 and fresh.stats.disk_hits == 0


def test_batch_of_records_keeps_order_and_ids(shared_pipeline_factory):
    pipeline = shared_pipeline_factory()
    records = [SequenceRecord("b", SEQ[:20]), SequenceRecord("a", SEQ), SequenceRecord("c", "MKV")]
    progress = []
    results = pipeline.features(records, 2, on_progress=lambda done, total: progress.append((done, total)))
    assert [r.record_id for r in results] == ["b", "a", "c"]
    assert [r.length for r in results] == [20, len(SEQ), 3]
    assert progress[-1] == (3, 3)
    for record, result in zip(records, results):
        single = pipeline.features([record.sequence], 2)[0]
        np.testing.assert_array_equal(single.activations, result.activations)


def test_layer_without_sae_is_rejected(shared_pipeline_factory):
    with pytest.raises(InputError, match="layer 7 has none"):
        shared_pipeline_factory().features([SEQ], 7)


def test_status_reports_synthetic_weights_and_sources(shared_pipeline_factory):
    pipeline = shared_pipeline_factory()
    assert pipeline.synthetic is None
    pipeline.features([SEQ], 1)
    pipeline.flush()
    status = pipeline.status()
    assert status["synthetic"] is True
    assert {f["source"] for f in status["files"]} == {"weights dir"}
    assert status["disk_cache_bytes"] > 0


def test_device_setting(shared_pipeline_factory, monkeypatch):
    from interplm_core.settings import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="Unknown device 'tpu7'"):
        resolve_device("tpu7")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="PyTorch sees no GPU here"):
            resolve_device("cuda")
    pipeline = shared_pipeline_factory()
    pipeline.settings = pipeline.settings.with_(device="auto")
    result = pipeline.features([SEQ], 1)[0]
    assert pipeline.embedder.device == resolve_device("auto") and result.activations.dtype == np.float32


def test_activations_without_reconstruction_are_the_same_and_cached_results_stay_whole(
    shared_pipeline_factory, synthetic_weights_dir, tmp_path
):
    pipeline = shared_pipeline_factory(cache_dir=tmp_path)
    bare = list(pipeline.iter_features([SEQ], 2, remember=False, reconstruction=False))[0]
    assert (bare.residue_error, bare.mse, bare.fraction_variance_explained) == (None, None, None)
    f, _, _ = independent_features(synthetic_weights_dir, SEQ, 2, True)
    np.testing.assert_allclose(bare.activations, f, rtol=1e-3, atol=1e-4)
    whole = pipeline.features([SEQ], 2)[0]
    np.testing.assert_array_equal(bare.activations, whole.activations)  # the decode changes nothing else

    # A result that goes to the caches is computed whole even when the caller wants no error.
    other = "GSHMLEDPVKTAWQRS"
    kept = list(pipeline.iter_features([other], 2, reconstruction=False))[0]
    assert kept.mse is not None and kept.residue_error.shape == (len(other),)
    pipeline.flush()
    later = shared_pipeline_factory(cache_dir=tmp_path).features([other], 2)[0]
    assert later.from_cache and later.mse == kept.mse


def test_a_result_without_its_reconstruction_is_never_written_to_a_cache():
    from interplm_core.results_cache import CachedArrays

    with pytest.raises(ValueError, match="not cached"):
        CachedArrays(np.zeros((2, 4), np.float32), None, None, None).to_bytes()
