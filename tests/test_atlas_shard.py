"""Shard statistics against a dense NumPy computation written from their definitions."""

from __future__ import annotations

import numpy as np

from interplm_core.atlas.corpus import CorpusProtein
from interplm_core.atlas.histogram import BIN_COUNT, bin_of
from interplm_core.atlas.shard import ShardParams, compute_shard

FEATURES = 40
DEAD = [5, 6]  # inv_scale 0: they fire, with activation 0
SILENT = 7  # never fires
SAME_PEAK = 8  # the same peak in every protein: the top-k keeps the earliest proteins
TWICE = 9  # the peak reached at two rows of a protein: its position is the first


def _inputs() -> tuple[list[CorpusProtein], list[np.ndarray], np.ndarray]:
    """Proteins, the SAE's pre-activations of each (negative where a feature is silent,
    as the shard receives them: it applies the ReLU itself), and the inverse scale."""
    rng = np.random.default_rng(3)
    proteins, pres = [], []
    for i, length in enumerate([1, 6, 30, 12, 30, 9, 2]):
        pre = (rng.standard_normal((length, FEATURES), dtype=np.float32) - 1.0).astype(np.float32)
        pre[:, SILENT] = -1
        pre[:, SAME_PEAK] = np.where(np.arange(length) % 2, -0.5, 0)
        pre[length // 2, SAME_PEAK] = 2.5
        pre[:, TWICE] = np.minimum(pre[:, TWICE], 3)
        pre[[length - 1, 0], TWICE] = 4 + i % 2  # row 0 comes first, also when length is 1
        sequence = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=length))
        proteins.append(CorpusProtein(index=20 + i, record_id=f"p{i}", description="", sequence=sequence))
        pres.append(pre)
    inv_scale = rng.uniform(0.1, 2, FEATURES).astype(np.float32)
    inv_scale[DEAD] = 0
    return proteins, pres, inv_scale


def test_shard_statistics_equal_a_dense_computation():
    proteins, pres, inv_scale = _inputs()
    params = ShardParams(layer=1, top_k=3, window=2, residue_index_min=0.0, summary_features=4)
    by_sequence = {p.sequence: pre for p, pre in zip(proteins, pres)}
    result = dict(compute_shard(
        proteins, [params],
        embed_layers=lambda sequences, layers: [{1: by_sequence[s]} for s in sequences],
        encoders={1: lambda x: x}, inv_scales={1: inv_scale}, feature_count=FEATURES,
    ))[1]
    raws = [np.maximum(pre, 0) for pre in pres]  # the ReLU
    acts = [raw * inv_scale for raw in raws]

    stats = result.stats.to_pydict()
    assert np.array_equal(stats["max_raw"], np.vstack(raws).max(axis=0))
    assert np.array_equal(stats["max_activation"], np.vstack(acts).max(axis=0))
    per_protein_sums = []
    for act in acts:  # float64, row after row, then protein after protein
        total = np.zeros(FEATURES)
        for row in act:
            total += row.astype(np.float64)
        per_protein_sums.append(total)
    sums = np.zeros(FEATURES)
    for total in per_protein_sums:
        sums += total
    assert np.array_equal(stats["sum_activation"], sums)
    assert stats["active_residues"] == (np.vstack(raws) > 0).sum(axis=0).tolist()
    assert stats["active_proteins"] == sum((raw > 0).any(axis=0).astype(int) for raw in raws).tolist()
    histogram = np.zeros((FEATURES, BIN_COUNT), np.int64)
    for raw, act in zip(raws, acts):
        rows, cols = np.nonzero(raw > 0)
        np.add.at(histogram, (cols, bin_of(act[rows, cols])), 1)
    assert np.array_equal(np.array(stats["histogram"]), histogram)
    assert stats["max_raw"][SILENT] == 0 and stats["active_residues"][DEAD[0]] > 0

    expected_top = []
    peaks = np.stack([act.max(axis=0) for act in acts])  # [proteins, features]
    for feature in range(FEATURES):
        order = sorted((i for i in range(len(proteins)) if peaks[i, feature] > 0),
                       key=lambda i: (-peaks[i, feature], i))[: params.top_k]
        for rank, i in enumerate(order):
            column = acts[i][:, feature]
            position = next(r for r in range(len(column)) if column[r] == column.max())
            start = max(position - params.window, 0)
            stop = position + params.window + 1
            expected_top.append((feature, rank, proteins[i].index, position + 1, float(column.max()), start + 1,
                                 proteins[i].sequence[start:stop], column[start:stop].tolist()))
    top = result.top.to_pydict()
    columns = ["feature", "shard_rank", "protein_index", "position", "activation", "window_start",
               "window_sequence", "window_activations"]
    assert list(zip(*(top[c] for c in columns))) == expected_top
    assert [row[2] for row in expected_top if row[0] == SAME_PEAK] == [20, 21, 22]
    assert {row[3] for row in expected_top if row[0] == TWICE} == {1}
    assert not any(row[0] in DEAD for row in expected_top)

    expected_residues = [
        (p.index, r + 1, f, float(act[r, f]))
        for p, raw, act in zip(proteins, raws, acts)
        for r, f in zip(*np.nonzero((raw > 0) & (act > params.residue_index_min)))
    ]
    residues = result.residues.to_pydict()
    assert list(zip(*(residues[c] for c in ["protein_index", "position", "feature", "activation"]))) == expected_residues

    rows = result.proteins.to_pydict()
    for n, (raw, act) in enumerate(zip(raws, acts)):
        firing = [f for f in range(FEATURES) if (raw[:, f] > 0).any()]
        ranked = sorted(firing, key=lambda f: (-act[:, f].max(), f))[: params.summary_features]
        assert rows["active_features"][n] == len(firing)
        assert rows["mean_active_per_residue"][n] == (raw > 0).sum() / len(raw)
        assert rows["top_features"][n] == ranked
        assert rows["top_activations"][n] == [float(act[:, f].max()) for f in ranked]



def test_bin_of_is_searchsorted_on_the_edges_at_every_value():
    """The bit-pattern table gives searchsorted's bin for every float32, at the edges and
    on both sides of each (the only places it could go wrong)."""
    from interplm_core.atlas.histogram import EDGES

    near = np.concatenate([EDGES, np.nextafter(EDGES, np.float32(0)), np.nextafter(EDGES, np.float32(np.inf))])
    spread = np.random.default_rng(3).lognormal(-2, 3, 200_000).astype(np.float32)
    extremes = np.array([0, 1e-45, 1e-38, 1e-3, 1e2, 3e38, np.inf], dtype=np.float32)
    values = np.concatenate([near, spread, extremes]).astype(np.float32)
    assert np.array_equal(bin_of(values), np.searchsorted(EDGES, values, side="right"))
    assert np.array_equal(bin_of(values.reshape(-1, 1)), np.searchsorted(EDGES, values, side="right").reshape(-1, 1))


def test_each_layer_is_yielded_before_the_next_is_encoded_and_equals_a_build_of_it_alone():
    """Layer-major within a chunk: the caller gets layer 1's tables (to write them, and the
    builder to put them in the database) before any protein is encoded at layer 2; and each
    layer's shard is the one a build of that layer alone makes."""
    proteins, pres, inv_scale = _inputs()
    by_sequence = {p.sequence: pre for p, pre in zip(proteins, pres)}
    encoded: list[int] = []

    def encoder(layer):
        def encode(x):
            encoded.append(layer)
            return x * layer  # a different array per layer
        return encode

    progress: list[int] = []

    def run(layers):
        return compute_shard(
            proteins, [ShardParams(layer=layer, top_k=3, window=2) for layer in layers],
            embed_layers=lambda sequences, wanted: [{layer: by_sequence[s] for layer in wanted} for s in sequences],
            encoders={layer: encoder(layer) for layer in layers}, inv_scales={layer: inv_scale for layer in layers},
            feature_count=FEATURES, on_protein=progress.append,
        )

    both = run([1, 2])
    layer, first = next(both)
    assert layer == 1 and encoded == [1] * len(proteins)  # nothing encoded at layer 2 yet
    (layer, second), = list(both)
    assert layer == 2 and encoded == [1] * len(proteins) + [2] * len(proteins)
    # Progress in whole residues, each protein's length split over the layers, summing to the corpus.
    assert all(isinstance(n, int) for n in progress) and sum(progress) == sum(len(p.sequence) for p in proteins)
    for layer, result in ((1, first), (2, second)):
        (_, alone), = list(run([layer]))
        for name, table in result.tables().items():
            assert table.equals(alone.tables()[name]), (layer, name)
    empty = compute_shard([], [ShardParams(layer=1), ShardParams(layer=2)], embed_layers=lambda s, w: [],
                          encoders={}, inv_scales={1: None, 2: None}, feature_count=FEATURES)
    assert [(layer, result.proteins.num_rows) for layer, result in empty] == [(1, 0), (2, 0)]
