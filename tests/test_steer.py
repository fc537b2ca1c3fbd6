"""Steering against an independent computation: fair-esm's own ESM2 built from the synthetic
checkpoint, a forward hook that edits block L's output (or the final LayerNorm's, for the
last layer), and the SAE maths written out here from the raw state dict."""

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from interplm_core.registry import get_model_spec
from interplm_core.sae import SparseAutoencoder
from interplm_core.steer import (
    AMINO_ACIDS,
    PredictionChange,
    Steerer,
    SteerResult,
    clamp_rows,
    lens_phrase,
    lens_word,
    parse_positions,
    prediction_changes,
)

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVV"
SPEC = get_model_spec()


@pytest.fixture(scope="module")
def reference_model(synthetic_weights_dir):
    """fair-esm's ESM2 loaded by fair-esm from the checkpoint files (not through our loader)."""
    import esm

    def load(name):
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(synthetic_weights_dir / name, map_location="cpu", weights_only=True)

    model, alphabet = esm.pretrained.load_model_and_alphabet_core(
        SPEC.esm_name, load(f"{SPEC.esm_name}.pt"), load(f"{SPEC.esm_name}-contact-regression.pt"))
    return model.eval(), alphabet


def raw_sae_state(weights_dir, layer, normalized):
    kind = "normalized" if normalized else "unnormalized"
    return torch.load(weights_dir / SPEC.sae_dir_name / f"layer_{layer}" / f"ae_{kind}.pt", weights_only=True)


def reference_probs(model, alphabet, sequence, layer, edit=None):
    """Softmax over the full vocabulary at the 20 amino acids, [L, 20]; `edit(h [T, D]) -> h'`
    changes the layer-`layer` representation through a forward hook."""
    _, _, tokens = alphabet.get_batch_converter()([("x", sequence)])
    module = model.emb_layer_norm_after if layer == model.num_layers else model.layers[layer - 1]

    def hook(_module, _inputs, output):
        if isinstance(output, tuple):  # a block returns (x [T, B, D], attention)
            x = output[0].clone()
            x[:, 0] = edit(x[:, 0])
            return (x,) + tuple(output[1:])
        x = output.clone()  # the final LayerNorm, still in fair-esm's [T, B, D] layout
        x[:, 0] = edit(x[:, 0])
        return x

    handle = module.register_forward_hook(hook) if edit else None
    try:
        with torch.no_grad():
            logits = model(tokens)["logits"][0, 1 : len(sequence) + 1]
    finally:
        if handle:
            handle.remove()
    columns = [alphabet.get_idx(a) for a in AMINO_ACIDS]
    return torch.softmax(logits.double(), dim=-1)[:, columns].numpy()


def clamp_edit(state, feature, value, positions):
    """h' = h + (V - a_f(h)) d_f at token rows `positions` (1-based = token index), file scale."""
    w, b_enc = state["encoder.weight"][feature].double(), state["encoder.bias"][feature].double()
    bias, d = state["bias"].double(), state["decoder.weight"][:, feature].double()

    def edit(h):
        h = h.double()
        rows = torch.as_tensor(positions)
        a = torch.clamp((h[rows] - bias) @ w + b_enc, min=0.0)
        h[rows] = h[rows] + (value - a)[:, None] * d[None, :]
        return h.float()

    return edit


@pytest.fixture(scope="module")
def steerer(shared_pipeline_factory):
    return Steerer(shared_pipeline_factory())


def test_unsteered_predictions_equal_fair_esm(steerer, reference_model):
    for layer in (3, 6):
        base = steerer.baseline(SEQ, layer)
        np.testing.assert_allclose(np.exp(base.log_probs), reference_probs(*reference_model, SEQ, layer), atol=1e-5)


@pytest.mark.parametrize("layer", [3, 6])
@pytest.mark.parametrize("normalized", [True, False])
def test_steering_matches_fair_esm_hook(steerer, reference_model, synthetic_weights_dir, layer, normalized):
    state = raw_sae_state(synthetic_weights_dir, layer, normalized)
    acts = steerer.pipeline.features([SEQ], layer, normalized)[0].activations
    feature = int(np.argmax(acts[8]))  # fires on residue 9, inside the steered positions
    np.testing.assert_allclose(steerer.activations(SEQ, layer, feature, normalized), acts[:, feature], atol=1e-5)
    value = 3.0 * float(acts[:, feature].max())
    positions = parse_positions("5-9,12", len(SEQ))
    result = steerer.steer(SEQ, layer, {feature: value}, positions, normalized)
    expected_after = reference_probs(*reference_model, SEQ, layer, clamp_edit(state, feature, value, positions))
    np.testing.assert_allclose(result.after, expected_after, atol=1e-4)
    np.testing.assert_allclose(result.before, reference_probs(*reference_model, SEQ, layer), atol=1e-4)
    assert np.abs(result.after - result.before).max() > 0.05  # the clamp really moved predictions
    np.testing.assert_array_equal(result.positions, [5, 6, 7, 8, 9, 12])


def test_ablation_everywhere_matches_hook_with_two_features(steerer, reference_model, synthetic_weights_dir):
    layer = 4
    acts = steerer.pipeline.features([SEQ], layer, True)[0].activations
    f1, f2 = (int(f) for f in np.argsort(-acts.max(axis=0))[:2])
    state = raw_sae_state(synthetic_weights_dir, layer, True)
    everywhere = np.arange(1, len(SEQ) + 1)
    # Both activations are read from the same h, then both corrections added (InterPLM's joint clamp).
    w = state["encoder.weight"][[f1, f2]].double()
    b_enc, bias = state["encoder.bias"][[f1, f2]].double(), state["bias"].double()
    d = state["decoder.weight"][:, [f1, f2]].double()

    def both(h):
        h = h.double()
        rows = torch.as_tensor(everywhere)
        a = torch.clamp((h[rows] - bias) @ w.T + b_enc, min=0.0)
        h[rows] = h[rows] - a @ d.T
        return h.float()

    result = steerer.ablation(SEQ, layer, [f1, f2], True)
    np.testing.assert_allclose(result.after, reference_probs(*reference_model, SEQ, layer, both), atol=1e-4)
    wt = result.wild_type_delta()
    i = 10
    column = AMINO_ACIDS.index(SEQ[i])
    assert wt[i] == pytest.approx(np.log(result.after[i, column]) - np.log(result.before[i, column]), abs=1e-4)


def test_clamping_to_own_value_changes_nothing(steerer):
    layer = 3
    acts = steerer.pipeline.features([SEQ], layer, True)[0].activations
    feature = int(np.argmax(acts.max(axis=0)))
    values = acts[:, feature]
    silent = np.flatnonzero(values == 0) + 1
    assert silent.size > 0
    unchanged = steerer.steer(SEQ, layer, {feature: 0.0}, silent, True)  # 0 where it is silent
    np.testing.assert_allclose(unchanged.after_log, unchanged.before_log, atol=1e-5)
    peak = int(np.argmax(values))
    same = steerer.steer(SEQ, layer, {feature: float(values[peak])}, [peak + 1], True)
    np.testing.assert_allclose(same.after_log, same.before_log, atol=1e-4)
    moved = steerer.steer(SEQ, layer, {feature: 0.0}, [peak + 1], True)  # ablating where it fires does act
    assert np.abs(moved.after_log - moved.before_log).max() > 1e-3


def test_normalised_clamp_is_raw_clamp_times_maximum():
    """A v1.0 file (maxima in `activation_rescale_factor`): V in normalised units = V * max raw."""
    g = torch.Generator().manual_seed(0)
    sae = SparseAutoencoder(torch.randn(8, generator=g), torch.randn(5, 8, generator=g), torch.zeros(5),
                            torch.randn(8, 5, generator=g))
    maxima = np.array([2.0, 0.5, 0.0, 4.0, 1.0], dtype=np.float32)
    rescaled = sae.with_maxima(maxima)
    rows = torch.randn(6, 8, generator=g)
    np.testing.assert_allclose(clamp_rows(rescaled, rows, [(3, 0.7)], True).numpy(),
                               clamp_rows(sae, rows, [(3, 0.7 * 4.0)], False).numpy(), atol=1e-5)
    # by hand: h + (V - relu(W(h - b) + c) / m) * d * m
    a = torch.relu((rows - sae.bias) @ sae.encoder_weight[3]) / 4.0
    by_hand = rows + (0.7 - a)[:, None] * (sae.decoder_weight[:, 3] * 4.0)[None, :]
    np.testing.assert_allclose(clamp_rows(rescaled, rows, [(3, 0.7)], True).numpy(), by_hand.numpy(), atol=1e-5)
    # A dead feature (maximum 0) has no direction in the normalised scale: clamping it does nothing.
    np.testing.assert_allclose(clamp_rows(rescaled, rows, [(2, 5.0)], True).numpy(), rows.numpy(), atol=1e-6)


def test_results_are_cached_by_parameters(shared_pipeline_factory):
    steerer = Steerer(shared_pipeline_factory())
    first = steerer.steer(SEQ, 2, {7: 1.0}, [3, 4], True)
    runs = steerer.model_runs
    assert steerer.steer(SEQ, 2, {7: 1.0}, [4, 3], True) is first
    assert steerer.model_runs == runs
    steerer.steer(SEQ, 2, {7: 2.0}, [3, 4], True)
    assert steerer.model_runs == runs + 1  # same baseline, one more half-forward


def test_amino_acid_lens_is_mean_change_where_feature_fires(steerer):
    layer = 5
    acts = steerer.pipeline.features([SEQ], layer, True)[0].activations
    feature = int(np.argmax(acts.max(axis=0)))
    where = np.flatnonzero(acts[:, feature] > 0) + 1
    lens = steerer.amino_acid_lens(SEQ, layer, feature, True)
    run = steerer.steer(SEQ, layer, {feature: 3.0 * float(acts[:, feature].max())}, where, True)
    np.testing.assert_allclose(lens, (run.after_log - run.before_log)[where - 1].mean(axis=0), atol=1e-5)
    silent = int(np.flatnonzero(acts.max(axis=0) == 0)[0])
    assert steerer.amino_acid_lens(SEQ, layer, silent, True) is None


def test_lens_words():
    lens = np.zeros(20)
    lens[AMINO_ACIDS.index("C")], lens[AMINO_ACIDS.index("G")] = 0.8, -0.5
    assert lens_word(lens) == "→C"
    assert lens_phrase(lens) == "pushes ESM-2 towards C, away from G"
    assert lens_word(np.full(20, 0.01)) == "" and lens_word(None) == ""
    assert lens_phrase(np.zeros(20)) == "barely changes ESM-2's predictions"


def test_prediction_changes_list_the_new_favourite():
    before = np.log(np.full((3, 20), 0.01))
    after = before.copy()
    k, r = AMINO_ACIDS.index("K"), AMINO_ACIDS.index("R")
    before[1, k], before[1, r] = np.log(0.5), np.log(0.21)
    after[1, k], after[1, r] = np.log(0.1), np.log(0.64)
    before[2, k] = after[2, k] = np.log(0.9)
    result = SteerResult("AKK", 3, True, ((1, 0.0),), np.array([1, 2, 3]), before, after)
    changes = prediction_changes(result)
    assert changes == [PredictionChange(2, "K", "K", "R", pytest.approx(0.21), pytest.approx(0.64))]
    assert str(changes[0]) == "K2 → R, p 0.21 → 0.64"


@pytest.mark.parametrize("text, message", [
    ("0-3", "Position 0 is outside"), ("3-99", "Position 99 is outside"), ("9-5", "runs backwards"),
    ("a-b", "Cannot read positions"),
])
def test_parse_positions_rejects_bad_input(text, message):
    from interplm_core.errors import InputError

    with pytest.raises(InputError, match=message):
        parse_positions(text, 20)


def test_long_protein_refused_with_a_message(steerer):
    from interplm_core.errors import InputError

    with pytest.raises(InputError, match="at most 1022 residues"):
        steerer.steer("A" * 1100, 3, {1: 0.0})


# ------------------------------------------------------------------ CLI, as a user runs it

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "interplm_core", "steer", *args], check=False, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)


def test_cli_writes_contract_arrays(weights_env, reference_model, tmp_path):
    out = tmp_path / "s.npz"
    state = raw_sae_state(weights_env, 6, False)
    proc = run_cli("--sequence", SEQ, "--layer", "6", "--feature", "11", "--value", "2.5", "--positions", "5-9,12",
                   "--unnormalized", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    saved = np.load(out)
    assert sorted(saved.files) == ["after", "before", "positions"]
    assert saved["before"].dtype == saved["after"].dtype == np.float32
    assert saved["before"].shape == saved["after"].shape == (len(SEQ), 20)
    assert saved["positions"].dtype.kind == "i"
    np.testing.assert_array_equal(saved["positions"], [5, 6, 7, 8, 9, 12])
    positions = np.array([5, 6, 7, 8, 9, 12])
    np.testing.assert_allclose(saved["after"], reference_probs(*reference_model, SEQ, 6,
                                                               clamp_edit(state, 11, 2.5, positions)), atol=1e-4)
    np.testing.assert_allclose(saved["before"], reference_probs(*reference_model, SEQ, 6), atol=1e-4)


@pytest.mark.parametrize("args, message", [
    (["--layer", "3", "--feature", "10240", "--value", "1"], "Feature 10240 does not exist"),
    (["--layer", "9", "--feature", "1", "--value", "1"], "layer 9 has none"),
    (["--layer", "3", "--feature", "1", "--value", "1", "--positions", "60-80"], "Position 80 is outside"),
    (["--layer", "3", "--feature", "1", "--value", "inf"], "finite"),
])
def test_cli_bad_input_exits_2_with_one_line(weights_env, tmp_path, args, message):
    out = tmp_path / "s.npz"
    proc = run_cli("--sequence", SEQ[:40], *args, "--out", str(out))
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_reads_a_uniprot_entry(app_env, tmp_path):
    """--uniprot goes through the UniProt client (here the loopback mirror): lysozyme, 148 residues."""
    out = tmp_path / "u.npz"
    proc = run_cli("--uniprot", "P61626", "--layer", "3", "--feature", "5", "--value", "0", "--positions", "1-3",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    saved = np.load(out)
    assert saved["before"].shape == (148, 20)
    np.testing.assert_array_equal(saved["positions"], [1, 2, 3])
    from interplm_core.pipeline import FeaturePipeline
    from interplm_core.uniprot import fetch_entry

    sequence = fetch_entry("P61626").sequence
    np.testing.assert_allclose(saved["before"], np.exp(Steerer(FeaturePipeline(progress=False)).baseline(sequence, 3)
                                                       .log_probs), atol=1e-5)
