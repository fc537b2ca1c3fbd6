"""Atlas build (local engine): maxima, top-k, frequencies, resume, range queries, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interplm_core.atlas.build import BuildOptions, build_atlas
from interplm_core.atlas.corpus import read_corpus
from interplm_core.atlas.reader import FeatureAtlas
from interplm_core.cli import main
from interplm_core.errors import InputError
from interplm_core.settings import get_settings

from .atlas_helpers import (
    LAYER,
    assert_same_atlas,
    atlas_tables,
    residue_index,
    write_concepts_tsv,
    write_corpus,
)

SHARD_SIZE = 3  # 10 proteins -> 4 shards


@pytest.fixture(scope="module")
def atlas_env(synthetic_weights_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("atlas")
    settings = get_settings().with_(
        weights_dir=synthetic_weights_dir,
        cache_dir=base / "cache",
        esm_url="http://127.0.0.1:9/unreachable",
        hf_endpoint="http://127.0.0.1:9",
    )
    corpus = write_corpus(base / "corpus.fasta")
    concepts = write_concepts_tsv(base / "concepts.tsv")
    return settings, corpus, concepts, base


def _options(concepts=None, **changes) -> BuildOptions:
    changes.setdefault("map_method", "pca")  # UMAP is tested once, below; it costs a minute
    changes.setdefault("layers", [LAYER])
    changes.setdefault("shard_size", SHARD_SIZE)
    return BuildOptions(top_k=5, window=4, annotations=concepts, progress=False, **changes)


@pytest.fixture(scope="module")
def local_atlas(atlas_env):
    settings, corpus, concepts, base = atlas_env
    report = build_atlas(corpus, base / "local", _options(concepts), settings)
    assert report.shards_computed == report.shards_total == 4
    return base / "local"


@pytest.fixture(scope="module")
def brute_force(atlas_env):
    """Features of every corpus protein straight from the pipeline, raw and normalised."""
    from interplm_core.pipeline import FeaturePipeline

    settings, corpus, _, base = atlas_env
    pipeline = FeaturePipeline(settings=settings.with_(cache_dir=base / "bf-cache"), progress=False)
    proteins = read_corpus(corpus)
    records = [p.sequence for p in proteins]
    raw = [r.activations for r in pipeline.features(records, LAYER, normalized=False)]
    norm = [r.activations for r in pipeline.features(records, LAYER, normalized=True)]
    return proteins, raw, norm


def test_maxima_are_global_max_of_raw_features(local_atlas, brute_force):
    _, raw, _ = brute_force
    expected = np.max(np.vstack(raw), axis=0)
    maxima = FeatureAtlas(local_atlas).maxima(LAYER)
    assert maxima.dtype == np.float32 and maxima.shape == (10_240,)
    np.testing.assert_allclose(maxima, expected, rtol=1e-5, atol=1e-5)
    assert ((maxima == 0) == (expected == 0)).all()  # the same dead features


def test_frequencies_and_histograms_match_brute_force(local_atlas, brute_force):
    _, raw, norm = brute_force
    atlas = FeatureAtlas(local_atlas)
    fires = np.vstack(raw) > 0
    for feature in (0, 17, 4096, int(fires.sum(axis=0).argmax())):
        row = atlas.feature(LAYER, feature)
        assert row["active_residues"] == fires[:, feature].sum()
        assert row["active_proteins"] == sum(int((r[:, feature] > 0).any()) for r in raw)
        assert sum(row["histogram"]) == row["active_residues"]
        np.testing.assert_allclose(row["max_activation"], np.vstack(norm)[:, feature].max(), rtol=1e-5, atol=1e-5)


def test_top_k_matches_brute_force(local_atlas, brute_force):
    proteins, _, norm = brute_force
    atlas = FeatureAtlas(local_atlas)
    peaks = np.stack([a.max(axis=0) for a in norm])  # [proteins, F]
    checked = 0
    for feature in range(0, 10_240, 97):
        values = peaks[:, feature]
        order = np.lexsort((np.arange(len(values)), -values))
        order = [i for i in order if values[i] > 0][:5]
        top = atlas.top_examples(LAYER, feature)
        assert len(top) == len(order)
        np.testing.assert_allclose(top["activation"].to_numpy(), values[order], rtol=1e-5, atol=1e-5)
        gaps = np.abs(np.diff(values[order])) > 1e-4
        if gaps.all():  # no near-ties: the order must match exactly
            assert top["record_id"].tolist() == [proteins[i].record_id for i in order]
            for row, i in zip(top.itertuples(), order):
                assert row.position == int(norm[i][:, feature].argmax()) + 1
                seq = proteins[i].sequence
                assert row.window_sequence == seq[row.window_start - 1: row.window_start - 1 + len(row.window_sequence)]
                assert seq[row.position - 1] in row.window_sequence
                assert len(row.window_activations) == len(row.window_sequence)
            checked += 1
    assert checked > 50


def test_features_in_residue_range_match_brute_force(local_atlas, brute_force):
    """Read from the one shard file that holds the protein: proteins in the second and the
    last of the four shards, against the dense activations computed apart."""
    proteins, _, norm = brute_force
    atlas = FeatureAtlas(local_atlas)
    for index, (start, end) in ((4, (3, 9)), (9, (1, len(proteins[9].sequence)))):
        hits = atlas.features_in_range(LAYER, proteins[index].record_id, start, end)
        window = norm[index][start - 1:end]
        expected = np.flatnonzero((window > 0).any(axis=0))
        assert sorted(hits["feature"].tolist()) == expected.tolist()
        assert hits["max_activation"].is_monotonic_decreasing
        by_feature = hits.set_index("feature")
        # The shard runs its proteins through ESM-2 as one batch: equal to one at a time within float32 rounding.
        np.testing.assert_allclose(by_feature.loc[expected, "max_activation"], window[:, expected].max(axis=0), rtol=1e-4, atol=1e-4)
        clear = expected[~((window[:, expected] > 0) & (window[:, expected] < 1e-4)).any(axis=0)]  # no value near 0
        assert by_feature.loc[clear, "residues"].tolist() == (window[:, clear] > 0).sum(axis=0).tolist()
    protein = proteins[4]
    with pytest.raises(InputError, match="outside"):
        atlas.features_in_range(LAYER, protein.record_id, 3, 9999)
    with pytest.raises(InputError, match="not in this atlas"):
        atlas.features_in_range(LAYER, "nope", 1, 2)


def test_a_missing_residue_index_says_how_to_restore_it(atlas_env, local_atlas):
    """The index is the shards' files: an atlas whose shards folder was removed answers
    every other query, and a residue query says what is missing and what to run."""
    base = atlas_env[3]
    copy = base / "no-shards"
    shutil.copytree(local_atlas, copy)
    shutil.rmtree(copy / "shards")
    atlas = FeatureAtlas(copy)
    assert len(atlas.top_examples(LAYER, int(atlas.maxima(LAYER).argmax()))) > 0
    with pytest.raises(InputError, match=r"residue index for layer 2 is missing \(shards/layer_2/000001/residues.parquet\).*atlas build"):
        atlas.features_in_range(LAYER, "prot3", 1, 3)  # the fourth protein: shard 1 of 3-protein shards


def test_tables_are_stored_in_lookup_order(local_atlas):
    """Lookups rely on rows stored sorted: the protein summaries are inserted from 4 shards
    without a sort (zone maps), and a residue-range query skips a shard file's row groups
    by their position ranges, so check both orders."""
    import duckdb

    con = duckdb.connect(str(local_atlas / "atlas.duckdb"), read_only=True)
    try:
        summaries = con.execute("SELECT protein_index FROM protein_summaries ORDER BY rowid").fetchnumpy()
        tables = [name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    finally:
        con.close()
    assert summaries["protein_index"].tolist() == list(range(10))
    assert "residues" not in tables  # the index is not copied into the database
    residues = residue_index(local_atlas)
    keys = list(zip(residues["protein_index"].tolist(), residues["position"].tolist(), residues["feature"].tolist()))
    assert len(keys) > 1000 and keys == sorted(keys) and len(set(keys)) == len(keys)


def test_resume_after_interruption_gives_identical_atlas(atlas_env, local_atlas):
    settings, corpus, concepts, base = atlas_env
    out = base / "resumed"

    class Killed(Exception):
        pass

    done = []

    def kill_after_two(layer, shard):
        done.append(shard.number)
        if len(done) == 2:
            raise Killed

    with pytest.raises(Killed):
        build_atlas(corpus, out, _options(concepts), settings, after_shard=kill_after_two)
    assert not (out / "atlas.duckdb").exists()
    assert json.loads((out / "manifest.json").read_text())["state"] == "building"
    (out / "shards" / f"layer_{LAYER}" / "000003.tmp-999").mkdir()  # a half-written shard
    with pytest.raises(InputError, match="unfinished"):
        FeatureAtlas(out)
    report = build_atlas(corpus, out, _options(concepts), settings)
    assert report.shards_computed == 2  # only the missing ones
    assert not list((out / "shards").glob("*/*.tmp-*"))
    assert_same_atlas(local_atlas, out)


@pytest.fixture(scope="module")
def two_layer_atlas(atlas_env):
    """An atlas of layers L and L+1, and the ESM-2 passes its build made (layers of each)."""
    from interplm_core.esm_embed import EsmEmbedder

    settings, corpus, concepts, base = atlas_env
    calls = []
    real = EsmEmbedder.embed_layers

    def counted(self, sequences, layers, *args, **kwargs):
        calls.append(tuple(layers))
        return real(self, sequences, layers, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EsmEmbedder, "embed_layers", counted)
        report = build_atlas(corpus, base / "two-layers", _options(concepts, layers=[LAYER, LAYER + 1]), settings)
    assert report.shards_computed == report.shards_total == 8
    return base / "two-layers", calls


def test_multi_layer_build_runs_esm_once_per_shard_and_equals_one_layer_builds(atlas_env, local_atlas, two_layer_atlas):
    """--layer L,L+1: one ESM-2 pass per shard chunk feeds both layers, and one more the
    concept pass; each layer's tables (concepts included) and maxima are exactly those
    of a build of that layer alone."""
    settings, corpus, concepts, base = atlas_env
    both, calls = two_layer_atlas
    assert calls == [(LAYER, LAYER + 1)] * 5  # 4 shards and the concept pass, one pass each
    second = base / "second-layer"
    build_atlas(corpus, second, _options(concepts, layers=[LAYER + 1]), settings)
    tables = atlas_tables(both)
    for alone, layer in ((local_atlas, LAYER), (second, LAYER + 1)):
        single = atlas_tables(alone)
        assert len(single["best_concepts"]) > 0
        for name in ("features", "top", "residues", "concept_metrics", "best_concepts", "protein_summaries"):
            part = tables[name][tables[name]["layer"] == layer].reset_index(drop=True)
            pd.testing.assert_frame_equal(part, single[name].reset_index(drop=True), check_exact=True, obj=name)
        for file in ("maxima.npy", "decoder_unit.npy"):
            assert np.array_equal(np.load(both / f"layer_{layer}" / file), np.load(alone / f"layer_{layer}" / file))


def test_shards_bit_identical_whatever_the_thread_count(atlas_env):
    """1, 2 or 4 intra-op threads give the same shard tables, bit for bit (before MKL's
    strict mode, 1 and 2 threads differed by ~1e-6 on short proteins: the Ray engine's
    one-thread workers did not match the local engine)."""
    import torch

    from interplm_core.atlas.shard import ShardParams
    from interplm_core.atlas.worker import ShardWorker
    from interplm_core.reproducible import strict_gemm_active

    settings, corpus, _, _ = atlas_env
    assert strict_gemm_active()  # chosen on import, before torch's first product
    worker = ShardWorker("esm2_t6_8M", [LAYER, LAYER + 1], "normalized", settings)
    proteins = read_corpus(corpus)
    params = [ShardParams(layer=LAYER, top_k=5, window=4), ShardParams(layer=LAYER + 1, top_k=5, window=4)]
    threads = torch.get_num_threads()
    results = {}
    try:
        for count in (1, 2, 4):
            torch.set_num_threads(count)
            results[count] = dict(worker.run(proteins, params))  # run now, at this thread count
    finally:
        torch.set_num_threads(threads)
    for count in (2, 4):
        for layer in (LAYER, LAYER + 1):
            for name, table in results[count][layer].tables().items():
                assert table.equals(results[1][layer].tables()[name]), (count, layer, name)


def test_out_that_is_a_file_is_refused_in_one_line(atlas_env, tmp_path, capsys):
    settings, corpus, _, _ = atlas_env
    taken = tmp_path / "notes.tsv"
    taken.write_text("kept\n")
    with pytest.raises(InputError, match="is a file: an atlas is a folder"):
        build_atlas(corpus, taken, _options(), settings)
    assert taken.read_text() == "kept\n"


def test_resume_refuses_other_settings(atlas_env, local_atlas):
    settings, corpus, _, base = atlas_env
    copy = base / "copy"
    shutil.copytree(local_atlas, copy)
    with pytest.raises(InputError, match="top_k"):
        build_atlas(corpus, copy, BuildOptions(layers=[LAYER], shard_size=SHARD_SIZE, top_k=7, window=4, progress=False, map_method="pca"), settings)


def test_best_concepts_stored(local_atlas):
    atlas = FeatureAtlas(local_atlas)
    best = atlas._query("SELECT * FROM best_concepts ORDER BY f1 DESC")
    assert len(best) > 0 and best["f1"].between(0, 1).all()
    feature = int(best.iloc[0]["feature"])
    card = atlas.feature(LAYER, feature)
    assert card["best_concept"] == best.iloc[0]["concept"]
    found = atlas.search(LAYER, "test fold")
    assert found.empty or found["match"].str.contains("Test fold").all()
    assert not atlas.search(LAYER, "kinase").empty  # description keyword of top proteins


def test_similar_features_by_decoder_cosine(local_atlas, synthetic_weights_dir):
    import torch

    atlas = FeatureAtlas(local_atlas)
    similar = atlas.similar(LAYER, 42, 5)
    state = torch.load(synthetic_weights_dir / "InterPLM-esm2-8m" / f"layer_{LAYER}" / "ae_unnormalized.pt")
    decoder = state["decoder.weight"].numpy()
    unit = decoder / np.linalg.norm(decoder, axis=0, keepdims=True).clip(1e-12)
    cosine = unit.T @ unit[:, 42]
    cosine[42] = -np.inf
    assert similar["feature"].tolist() == np.argsort(-cosine)[:5].tolist()
    np.testing.assert_allclose(similar["cosine"], np.sort(cosine)[::-1][:5], rtol=1e-5)
    coords = atlas.feature_map(LAYER)
    assert len(coords) == int(unit.any(axis=0).sum())
    assert np.isfinite(coords[["map_x", "map_y"]].to_numpy()).all()


def test_cli_max_top_and_errors(weights_env, local_atlas, tmp_path, capsys):
    out = tmp_path / "max.npy"
    assert main(["atlas", "max", "--atlas", str(local_atlas), "--out", str(out)]) == 0
    assert np.array_equal(np.load(out), FeatureAtlas(local_atlas).maxima(LAYER))
    capsys.readouterr()
    assert main(["atlas", "top", "17", "--atlas", str(local_atlas), "--k", "3", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = FeatureAtlas(local_atlas).top_examples(LAYER, 17, 3)
    assert [r["record_id"] for r in printed["top"]] == expected["record_id"].tolist()
    assert {"record_id", "position", "activation"} <= set(printed["top"][0])
    bad = [
        ["atlas", "max", "--atlas", str(local_atlas), "--out", str(tmp_path / "max.txt")],
        ["atlas", "top", "99999", "--atlas", str(local_atlas), "--json"],
        ["atlas", "top", "1", "--atlas", str(tmp_path / "missing")],
        ["atlas", "top", "1", "--atlas", str(local_atlas), "--k", "50"],
        ["atlas", "build", "--fasta", str(tmp_path / "none.fasta"), "--layer", "2", "--out", str(tmp_path / "a")],
        ["atlas", "build", "--fasta", str(tmp_path / "none.fasta"), "--layer", "9", "--out", str(tmp_path / "a")],
    ]
    for argv in bad:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err


def _private_network_available() -> bool:
    """Ray's servers listen on every interface; tests run it in a loopback-only namespace."""
    import subprocess

    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True)
    return probe.returncode == 0


def test_ray_engine_gives_identical_atlas(atlas_env, local_atlas):
    """The Ray engine (local instance, 2 workers, private loopback-only network) == local engine."""
    import os
    import subprocess
    import sys

    pytest.importorskip("ray")
    if not _private_network_available():
        pytest.skip("needs `unshare -n` (root) to keep the local Ray instance off the network")
    settings, corpus, concepts, base = atlas_env
    out = base / "ray"
    env = dict(
        os.environ,
        INTERPLM_WEIGHTS_DIR=str(settings.weights_dir),
        INTERPLM_CACHE_DIR=str(base / "ray-cache"),
        INTERPLM_ESM_URL="http://127.0.0.1:9/unreachable",
        HF_ENDPOINT="http://127.0.0.1:9",
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        RAY_USAGE_STATS_ENABLED="0",
    )
    build = [
        sys.executable, "-m", "interplm_core", "atlas", "build", "--engine", "ray", "--workers", "2",
        "--fasta", str(corpus), "--layer", str(LAYER), "--out", str(out), "--shard-size", str(SHARD_SIZE),
        "--top-k", "5", "--window", "4", "--annotations", str(concepts), "--map", "pca", "--quiet",
    ]
    script = "ip link set lo up && exec " + " ".join(f"'{a}'" for a in build)
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "4 of 4 shards" in done.stdout
    assert_same_atlas(local_atlas, out)


def test_default_map_is_umap_of_the_unit_decoder_vectors(atlas_env, local_atlas):
    """The default build draws the UMAP map (seeded, so a rebuild gives the same picture)."""
    from interplm_core.atlas.feature_map import feature_map

    settings, corpus, _, base = atlas_env
    out = base / "umap"
    options = BuildOptions(layers=[LAYER], shard_size=SHARD_SIZE, top_k=5, window=4, progress=False)
    assert options.map_method == "umap"
    build_atlas(corpus, out, options, settings)
    atlas = FeatureAtlas(out)
    assert atlas.manifest["map_method"] == "umap"
    points = atlas.feature_map(LAYER)
    unit = np.load(out / f"layer_{LAYER}" / "decoder_unit.npy")
    alive = np.flatnonzero(np.abs(unit).sum(axis=1) > 0)
    assert list(points["feature"]) == list(alive)  # every live feature is on the map, dead ones are not
    expected = feature_map(unit, "umap")[alive]
    np.testing.assert_allclose(points[["map_x", "map_y"]].to_numpy(), expected, rtol=1e-5, atol=1e-5)
    pca = FeatureAtlas(local_atlas).feature_map(LAYER)
    assert not np.allclose(pca[["map_x", "map_y"]].to_numpy(), points[["map_x", "map_y"]].to_numpy())


def test_search_treats_percent_and_underscore_literally(local_atlas):
    """Issue 10 item 14: `%` and `_` typed by a user are characters, not SQL wildcards."""
    atlas = FeatureAtlas(local_atlas)
    assert not atlas.search(LAYER, "kinase").empty
    assert atlas.search(LAYER, "k_nase").empty  # `_` was "any one character"
    assert atlas.search(LAYER, "%").empty and atlas.search(LAYER, "kin%like").empty
    with pytest.raises(InputError, match="at least 1"):
        atlas.search(LAYER, "kinase", limit=0)


def test_residues_limit_must_be_positive(local_atlas, capsys):
    from interplm_core.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["atlas", "residues", "prot3", "1", "10", "--atlas", str(local_atlas), "--limit", "-1"])
    assert exit_info.value.code == 2 and "must be at least 1" in capsys.readouterr().err
    assert main(["atlas", "residues", "prot3", "1", "10", "--atlas", str(local_atlas), "--limit", "2"]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.strip()]) <= 3  # header + 2 rows


def test_feature_map_same_whatever_the_blas_thread_count():
    """The PCA map is drawn with single-threaded BLAS: one core or two, the same bits
    (a two-thread SVD moved map_x/map_y in the last bits between such builds)."""
    from threadpoolctl import threadpool_limits

    from interplm_core.atlas.feature_map import feature_map, unit_decoder

    decoder = np.random.default_rng(3).standard_normal((320, 2048)).astype(np.float32)
    decoder[:, 7] = 0  # a dead feature
    unit = unit_decoder(decoder)
    maps = []
    for threads in (1, 2, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            maps.append(feature_map(unit, "pca"))
    assert np.isnan(maps[0][7]).all() and not np.isnan(np.delete(maps[0], 7, axis=0)).any()
    centred = unit[np.arange(2048) != 7].astype(np.float64)
    centred -= centred.mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:2]
    np.testing.assert_allclose(np.abs(np.delete(maps[0], 7, axis=0)), np.abs(centred @ top.T), atol=1e-5)
    for other in maps[1:]:
        assert np.array_equal(maps[0], other, equal_nan=True)


def test_layers_enter_the_database_in_ascending_order_whatever_order_they_complete(atlas_env, two_layer_atlas, tmp_path):
    """Ray finishes shards out of order: when layer L+1 completes before layer L, nothing is
    written until L is complete, and the tables come out as an in-order build's."""
    from interplm_core.atlas.build import LayerFinisher
    from interplm_core.atlas.corpus import plan_shards
    from interplm_core.atlas.layout import AtlasLayout
    from interplm_core.atlas.worker import ShardWorker

    settings, corpus, _, _ = atlas_env
    both, _ = two_layer_atlas
    copy = tmp_path / "copy"
    shutil.copytree(both / "shards", copy / "shards")
    shutil.copy(both / "corpus.parquet", copy / "corpus.parquet")
    layout = AtlasLayout(copy)
    late = layout.shard_dir(LAYER, 2)
    late.rename(late.with_name("late"))  # layer L still lacks shard 2; layer L+1 is complete
    proteins = read_corpus(corpus)
    options = _options(layers=[LAYER, LAYER + 1])
    worker = ShardWorker(options.model, options.layers, options.scale, settings)
    finisher = LayerFinisher(layout, options, worker, plan_shards(len(proteins), SHARD_SIZE), len(proteins),
                             sum(len(p.sequence) for p in proteins))
    try:
        finisher.shard_written(LAYER + 1, 3)
        assert not finisher.temporary.exists()  # L+1 waits for L
        late.with_name("late").rename(late)
        finisher.shard_written(LAYER, 2)
        con = finisher.database()
        ours = {name: con.execute(f"SELECT * FROM {name} ORDER BY rowid").df() for name in ("features", "top", "protein_summaries")}
    except BaseException:
        finisher.abandon()
        raise
    con.close()
    reference = atlas_tables(both)
    for name, table in ours.items():
        assert table["layer"].is_monotonic_increasing, name
        pd.testing.assert_frame_equal(table, reference[name], check_exact=True, obj=name)


def test_a_one_shard_atlas_ranks_like_a_four_shard_one(atlas_env, local_atlas):
    """An atlas built as one shard (whose top-k goes into the database as it is) has the
    four-shard atlas's top-k (re-ranked across shards): the same proteins, positions and
    windows, in the same order. Values agree to float32 rounding only: ESM-2 batches a
    shard's proteins together, and a batch equals one-at-a-time within 1e-5, not bit for bit."""
    settings, corpus, concepts, base = atlas_env
    one = base / "one-shard"
    options = _options(concepts)
    options.shard_size = 1000
    assert build_atlas(corpus, one, options, settings).shards_total == 1
    ours, theirs = atlas_tables(one)["top"], atlas_tables(local_atlas)["top"]
    exact = ["layer", "feature", "rank", "protein_index", "record_id", "position", "window_start", "window_sequence"]
    pd.testing.assert_frame_equal(ours[exact], theirs[exact], check_exact=True)
    np.testing.assert_allclose(ours["activation"], theirs["activation"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(ours["window_activations"].tolist()),
                               np.concatenate(theirs["window_activations"].tolist()), rtol=1e-4, atol=1e-5)


def test_the_build_database_works_within_a_bounded_memory(local_atlas, tmp_path):
    """DuckDB's default memory (80% of RAM) let a six-layer, 2,000-protein build keep 5.9 GB of
    written blocks; the build's connection is capped instead."""
    from interplm_core.atlas.database import open_database

    con = open_database(tmp_path / "a.duckdb", local_atlas / "corpus.parquet")
    try:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        rows = con.execute("SELECT count(*) FROM proteins").fetchall()[0][0]
    finally:
        con.close()
    number, unit = limit.split()
    assert unit in ("MiB", "KiB") and (unit == "KiB" or float(number) <= 1024), limit
    assert rows == 10


def test_the_build_line_counts_shards_and_layers_apart():
    """With several layers the units of work are (shard, layer) pairs: the line says so,
    and the rate is the corpus's residues per second through all of them."""
    from types import SimpleNamespace

    from interplm_core.cli_atlas import _work_done

    six = SimpleNamespace(shards_total=12, shards_computed=12, seconds_shards=4.0, residues=10_000)
    assert _work_done(six, 6) == "2 shards × 6 layers, 12 of 12 computed now in 4.0 s (2,500 residues/s through 6 layers)"
    resumed = SimpleNamespace(shards_total=6, shards_computed=3, seconds_shards=1.0, residues=10_000)
    assert _work_done(resumed, 6) == "1 shard × 6 layers, 3 of 6 computed now in 1.0 s"  # no rate for part of the work
    one = SimpleNamespace(shards_total=4, shards_computed=4, seconds_shards=2.0, residues=1_000)
    assert _work_done(one, 1) == "4 of 4 shards computed now in 2.0 s (500 residues/s)"


def test_the_reader_works_within_a_bounded_memory(local_atlas):
    """The app keeps its atlas open for as long as it runs: DuckDB's caches (database blocks,
    and the shard files residue queries read) are capped, not left at 80% of RAM."""
    atlas = FeatureAtlas(local_atlas)
    try:
        limit = atlas._query("SELECT current_setting('memory_limit') AS limit")["limit"][0]
        atlas.features_in_range(LAYER, "prot3", 1, 5)
    finally:
        atlas.close()
    number, unit = limit.split()
    assert unit == "MiB" and float(number) <= 256, limit


def test_default_shards_shrink_with_many_layers():
    """A shard holds the residue index of every requested layer until its last protein:
    the default keeps proteins x layers about constant (2,000 proteins, 6 layers: 2,323 MiB
    at 100 proteins a shard, 1,819 MiB at 50)."""
    from interplm_core.atlas.build import default_shard_size

    assert [default_shard_size(n) for n in (1, 2, 3, 4, 5, 6)] == [100, 100, 100, 75, 60, 50]
    assert default_shard_size(33) == 9  # ESM-2 650M's layers, all of them


def test_a_resumed_build_keeps_its_shard_size_when_none_is_given(atlas_env, local_atlas):
    """An atlas started with 3-protein shards resumes with them when --shard-size is left
    out (the default would otherwise differ and the resume be refused)."""
    settings, corpus, concepts, base = atlas_env
    copy = base / "resume-default-size"
    shutil.copytree(local_atlas, copy)
    shutil.rmtree(copy / "shards" / f"layer_{LAYER}" / "000002")  # one shard to redo
    report = build_atlas(corpus, copy, _options(concepts, shard_size=None), settings)
    assert (report.shards_computed, report.shards_total) == (1, 4)
    assert json.loads((copy / "manifest.json").read_text())["shard_size"] == SHARD_SIZE
    assert_same_atlas(local_atlas, copy)
