"""AppTest: features carry names on the first protein loaded (no atlas), the Annotations panel,
the "by annotation match" order, and atlas names with percentiles once an atlas is loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interplm_core.atlas.build import BuildOptions, build_atlas
from interplm_core.atlas.reader import FeatureAtlas
from interplm_core.atlas.uniprot_corpus import fetch_corpus
from interplm_core.figures import named_feature_label
from interplm_core.overlap import annotation_label, score_overlap
from tests.app_fixtures import chooser, new_app, texts


def _heatmap(at) -> dict:
    chart = at.get("plotly_chart")[0]
    return json.loads(chart.proto.spec)["data"][0]


def _expected_table(at):
    protein = at.session_state["protein"]
    return protein, score_overlap(protein.result.activations, protein.entry.located)


def test_features_are_named_on_the_first_protein_without_an_atlas(app_env):
    at = new_app(acc="P61626", layer="3")
    at.run()
    assert not at.exception
    _, table = _expected_table(at)
    names = table.feature_names()
    assert names, "lysozyme's one-residue active sites name features that fire only there"
    heat = _heatmap(at)
    shown = [int(label.split(" ")[0][1:]) for label in heat["y"]]
    assert heat["y"] == [named_feature_label(f, names.get(f)) for f in shown]
    # The panel: one row per located annotation, with its best features as the core computes them.
    panel = at.dataframe(key="annotation_rows").value
    assert list(panel["annotation"]) == [annotation_label(a) for a in table.annotations]
    first = table.top(0, 3)
    assert panel["best features"][0] == ", ".join(f"f{m.feature} (F1 {m.f1:.2f})" for m in first)
    assert f"Annotations · {len(table.annotations)} on this protein" in "\n".join(e.label for e in at.expander)
    # Selected chips and the selected-feature panel carry the name of a named selected feature.
    named = next(iter(names))
    at.session_state["selected"] = [named]
    at.run()
    assert f"f{named} · {names[named]}" in texts(at).replace("\\", "")
    assert chooser(at).format_func(named) == named_feature_label(named, names[named])


def test_order_by_annotation_groups_features_under_their_annotation(app_env):
    at = new_app(acc="P61626", layer="3")
    at.run()
    at.radio(key="sort").set_value("annotation").run()
    assert not at.exception and at.query_params["sort"] == "annotation"
    _, table = _expected_table(at)
    best = table.best_annotation()
    shown = [int(label.split(" ")[0][1:]) for label in _heatmap(at)["y"]]
    grouped = [f for f in shown if f in best]
    assert grouped and shown[:len(grouped)] == grouped  # named features first
    starts = [table.annotations[best[f][0]].start for f in grouped]
    assert starts == sorted(starts)  # in sequence order of the annotations they mark
    marked = {best[f][0] for f in best}
    assert {best[f][0] for f in grouped} == marked  # every annotation that names a feature has a row
    assert shown[:30] == table.order_by_annotation(30, shown[len(grouped):30])  # then any selected feature


def test_long_protein_says_it_was_computed_in_windows(app_env):
    """F1MAB7 (1,050 residues, recorded entry) is longer than ESM-2's 1,022-residue window."""
    at = new_app(acc="F1MAB7", layer="1")
    at.run()
    assert not at.exception
    warning = "\n".join(str(w.value) for w in at.warning)
    assert "1,050 residues is more than ESM-2's 1,022-residue window" in warning
    assert "2 overlapping windows (1–1022, 29–1050)" in warning


@pytest.fixture(scope="module")
def mirror_atlas(synthetic_weights_dir, tmp_path_factory, mirror):
    """An atlas of the mirror's human entries (P61626 among them), built as `--uniprot-query` builds it."""
    from interplm_core.settings import get_settings

    base = tmp_path_factory.mktemp("named-atlas")
    settings = get_settings().with_(weights_dir=synthetic_weights_dir, cache_dir=base / "cache", uniprot_url=mirror.url,
                                    esm_url="http://127.0.0.1:9/unreachable", hf_endpoint="http://127.0.0.1:9")
    corpus = fetch_corpus("reviewed:true AND organism_id:9606 AND length:[50 TO 700]", None, base / "atlas", settings,
                          progress=False)
    build_atlas(corpus.fasta, base / "atlas", BuildOptions(layers=[3], shard_size=10, top_k=3, progress=False,
                                                           map_method="pca", annotations=corpus.entries), settings)
    return base / "atlas"


def test_an_atlas_names_features_and_gives_percentiles(app_env, mirror_atlas, monkeypatch):
    monkeypatch.setenv("INTERPLM_ATLAS", str(mirror_atlas))
    at = new_app(acc="P61626", layer="3")
    at.run()
    assert not at.exception
    atlas = FeatureAtlas(mirror_atlas)
    concepts = atlas.feature_map(3).set_index("feature")
    heat = _heatmap(at)
    shown = [int(label.split(" ")[0][1:]) for label in heat["y"]]
    named = [f for f in shown if concepts.loc[f, "best_concept"]]
    assert named
    f = named[0]
    label = f"{concepts.loc[f, 'best_concept']} (F1 {concepts.loc[f, 'best_f1']:.2f})"
    assert heat["y"][shown.index(f)] == named_feature_label(f, label)
    # Hover: the percentile of each firing cell in the feature's atlas distribution.
    protein = at.session_state["protein"]
    values = protein.result.activations[:, shown]
    expected = atlas.percentiles(3, shown, values)
    row = shown.index(f)
    residue = int(np.argmax(values[:, row]))
    assert f"<br>{expected[residue, row]:.1f} percentile in the atlas" in heat["text"][row][residue]
    at.session_state["selected"] = [f]
    at.run()
    peak = atlas.percentiles(3, [f], values[:, [row]].max(axis=0, keepdims=True))[0, 0]
    assert f"({peak:.1f} percentile in the atlas)" in texts(at)
    atlas.close()
