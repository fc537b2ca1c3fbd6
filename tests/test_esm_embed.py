"""Embeddings against fair-esm's own full forward pass, batching and long-protein windows."""

import numpy as np
import pytest
import torch

from interplm_core.esm_embed import Window, assign_residues, load_embedder, plan_windows
from interplm_core.registry import get_model_spec
from interplm_core.settings import get_settings
from interplm_core.synthetic import random_proteins

SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMXBZUO", "MKVLAAGIVGLLLAQPAMA" * 3]


@pytest.fixture(scope="module")
def embedder(synthetic_weights_dir):
    settings = get_settings().with_(weights_dir=synthetic_weights_dir, esm_url="http://127.0.0.1:9")
    return load_embedder(get_model_spec(), settings, progress=False)


def fair_esm_reference(embedder, seq: str, layer: int) -> np.ndarray:
    """fair-esm's full forward with repr_layers, one sequence, BOS/EOS sliced off."""
    _, _, tokens = embedder.alphabet.get_batch_converter()([("x", seq)])
    with torch.inference_mode():
        reps = embedder.model(tokens, repr_layers=[layer])["representations"][layer]
    return reps[0, 1 : len(seq) + 1].numpy()


@pytest.mark.parametrize("layer", [1, 2, 3, 4, 5, 6])
def test_embedding_matches_fair_esm_full_forward(embedder, layer):
    for seq in SEQS:
        ours = embedder.embed([seq], layer)[0]
        assert ours.shape == (len(seq), 320)
        np.testing.assert_allclose(ours, fair_esm_reference(embedder, seq, layer), rtol=1e-5, atol=1e-5)


def test_tokenizer_gives_fair_esms_tokens(embedder):
    """The lookup tokenizer against fair-esm's BatchConverter: rare letters, mixed lengths,
    and a string with a special token (which must go through the converter itself)."""
    converter = embedder.alphabet.get_batch_converter()
    batches = [SEQS, ["A"], random_proteins(7, seed=3, min_len=1, max_len=60), ["MK<mask>TA", "MKTA"]]
    for batch in batches:
        expected = converter([(str(i), s) for i, s in enumerate(batch)])[2]
        ours = embedder.tokenize(batch)
        assert ours.dtype == torch.int64 and torch.equal(ours, expected)


def test_last_layer_is_after_final_layer_norm(embedder):
    seq = SEQS[0]
    ours = embedder.embed([seq], 6)[0]
    _, _, tokens = embedder.alphabet.get_batch_converter()([("x", seq)])
    with torch.inference_mode():
        before_norm = embedder.forward_to_layer(tokens, 5)  # input of block 6
        x, _ = embedder.model.layers[5](before_norm.transpose(0, 1))
        raw_block6 = x.transpose(0, 1)[0, 1 : len(seq) + 1].numpy()
        normed = embedder.model.emb_layer_norm_after(torch.from_numpy(raw_block6)).numpy()
    np.testing.assert_allclose(ours, normed, atol=1e-5)
    assert not np.allclose(ours, raw_block6, atol=1e-2)


def test_batch_equals_one_at_a_time(embedder):
    seqs = random_proteins(7, seed=3, min_len=5, max_len=150) + SEQS
    batched = embedder.embed(seqs, 4, tokens_per_batch=2000)
    for seq, emb in zip(seqs, batched):
        single = embedder.embed([seq], 4)[0]
        assert emb.shape == (len(seq), 320)
        np.testing.assert_allclose(emb, single, atol=1e-5, rtol=1e-5)


def test_plan_windows_single_window_when_it_fits():
    assert plan_windows(1022, 1022) == [Window(0, 1022)]
    assert plan_windows(10, 1022) == [Window(0, 10)]


def test_plan_windows_cover_protein_with_last_window_flush():
    windows = plan_windows(2500, 1022, overlap=256)
    assert [w.start for w in windows] == [0, 766, 1478]
    assert windows[-1].stop == 2500
    assert all(w.stop - w.start == 1022 for w in windows)


def test_each_residue_read_from_window_where_it_is_farthest_from_an_edge():
    windows = plan_windows(2500, 1022, overlap=256)
    owner = assign_residues(2500, windows)
    for pos in range(2500):
        margins = [
            min(pos - w.start, w.stop - 1 - pos) if w.start <= pos < w.stop else -1 for w in windows
        ]
        assert owner[pos] == int(np.argmax(margins)), pos  # argmax takes the earlier window on ties
    # Residues switch windows at the middle of each overlap.
    assert owner[766 + 127] == 0 and owner[766 + 129] == 1


def test_windowed_embedding_is_stitched_from_the_owning_windows(embedder):
    seq = random_proteins(1, seed=11, min_len=250, max_len=250)[0]
    window, overlap = 100, 40
    stitched = embedder.embed([seq], 2, window=window, overlap=overlap)[0]
    windows = plan_windows(len(seq), window, overlap)
    owner = assign_residues(len(seq), windows)
    for index, win in enumerate(windows):
        piece = fair_esm_reference(embedder, seq[win.start:win.stop], 2)
        rows = np.nonzero(owner == index)[0]
        np.testing.assert_allclose(stitched[rows], piece[rows - win.start], atol=1e-5)


def test_window_path_equals_single_pass_when_protein_fits(embedder):
    seq = SEQS[2]
    np.testing.assert_allclose(
        embedder.embed([seq], 3, window=len(seq))[0], fair_esm_reference(embedder, seq, 3), atol=1e-5
    )


def test_protein_longer_than_context_gets_one_row_per_residue(embedder):
    seq = random_proteins(1, seed=5, min_len=1500, max_len=1500)[0]
    emb = embedder.embed([seq], 1)[0]
    assert emb.shape == (1500, 320)  # not 1,023 rows as InterPLM's embedder returns
    assert np.isfinite(emb).all()
    head = fair_esm_reference(embedder, seq[:1022], 1)
    np.testing.assert_allclose(emb[:500], head[:500], atol=1e-5)


def test_layers_match_hugging_face_hidden_states(embedder, tmp_path):
    """InterPLM embeds with transformers' EsmModel: our layer L must be its hidden_states[L]."""
    from bench.hf_reference import HFReference, export_hf_model

    export_hf_model(embedder.model, embedder.alphabet, tmp_path / "hf")
    reference = HFReference(tmp_path / "hf", sae=None, reload_per_call=False)
    seq = SEQS[0]
    for layer in (1, 4, 6):
        np.testing.assert_allclose(
            embedder.embed([seq], layer)[0], reference.embed(seq, layer).numpy(), atol=1e-4
        )


def test_one_pass_for_several_layers_equals_one_pass_per_layer(embedder):
    """embed_layers keeps each requested layer from one forward pass, bit for bit."""
    seqs = [SEQS[0]] + random_proteins(4, seed=5, min_len=20, max_len=120) + ["MKVLAAGIVGLLLAQPAMA" * 3]
    together = embedder.embed_layers(seqs, [1, 3, 6], window=40, overlap=10)  # long ones windowed too
    for layer in (1, 3, 6):
        apart = embedder.embed(seqs, layer, window=40, overlap=10)
        for seq, both, alone in zip(seqs, together, apart):
            assert sorted(both) == [1, 3, 6]
            assert both[layer].shape == (len(seq), 320)
            assert np.array_equal(both[layer], alone)
    assert len(seqs[0]) <= 40  # fits one window: comparable with fair-esm's full forward
    np.testing.assert_allclose(together[0][6], fair_esm_reference(embedder, seqs[0], 6), rtol=1e-5, atol=1e-5)


def test_rotary_tables_are_fair_esms_angles_rounded_from_float64(embedder):
    """The cos/sin tables are fair-esm's float32 angles evaluated in float64 and rounded:
    the same bits in every process (torch's float32 cos went through MKL's vector maths,
    whose first call gave another last bit in about one process in ten)."""
    rot = embedder.model.layers[0].self_attn.rot_emb
    cos, sin = embedder._rotary_tables(300)
    positions = np.arange(300, dtype=np.float32)
    angles = (positions[:, None] * rot.inv_freq.numpy()[None, :]).astype(np.float32)  # float32 products, as fair-esm
    angles = np.concatenate([angles, angles], axis=1).astype(np.float64)
    assert np.array_equal(cos.numpy(), np.cos(angles).astype(np.float32))
    assert np.array_equal(sin.numpy(), np.sin(angles).astype(np.float32))
    fair_cos, fair_sin = rot._update_cos_sin_tables(torch.zeros(1, 300, 16), seq_dimension=1)
    assert torch.allclose(cos, fair_cos[0], atol=1e-6) and torch.allclose(sin, fair_sin[0], atol=1e-6)
