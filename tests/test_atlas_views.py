"""The atlas views in Streamlit (AppTest on a tiny page), with and without an atlas."""

from __future__ import annotations

import numpy as np
import pytest

from interplm_core.atlas.build import BuildOptions, build_atlas
from interplm_core.atlas.reader import FeatureAtlas
from tests.app_fixtures import new_app, texts

from .atlas_helpers import LAYER, write_corpus

PAGE = """
import types
import numpy as np
import streamlit as st
from ui.atlas_views import render_atlas_section, render_feature_map, render_feature_search

feature = int(st.session_state.get("atlas_feature", FEATURE))
acts = np.zeros((30, 10240), np.float32)
acts[4, feature] = 0.5
result = types.SimpleNamespace(record_id="query", activations=acts, normalized=True)
render_atlas_section(feature, LAYER, result)
render_feature_search(LAYER)
render_feature_map(LAYER, highlight=feature)
"""


@pytest.fixture(scope="module")
def small_atlas(synthetic_weights_dir, tmp_path_factory):
    from interplm_core.settings import get_settings

    base = tmp_path_factory.mktemp("views")
    settings = get_settings().with_(weights_dir=synthetic_weights_dir, cache_dir=base / "cache",
                                    esm_url="http://127.0.0.1:9/unreachable", hf_endpoint="http://127.0.0.1:9")
    build_atlas(write_corpus(base / "c.fasta", count=4), base / "atlas",
                BuildOptions(layers=[LAYER], shard_size=4, top_k=3, progress=False, map_method="pca"), settings)
    return base / "atlas"


def _page(feature: int, layer: int = LAYER):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_string(PAGE.replace("FEATURE", str(feature)).replace("LAYER", str(layer)), default_timeout=60)


def _text(app) -> str:
    return "\n".join(e.value for e in [*app.markdown, *app.info, *app.caption, *app.subheader, *app.error])


def test_views_without_atlas(weights_env, monkeypatch, repo_root):
    monkeypatch.delenv("INTERPLM_ATLAS", raising=False)
    monkeypatch.chdir(repo_root)
    app = _page(7).run()
    assert not app.exception
    assert "Feature 7 across proteins" in _text(app)
    assert "INTERPLM_ATLAS" in app.info[0].value


def test_views_with_atlas(weights_env, small_atlas, monkeypatch, repo_root):
    monkeypatch.setenv("INTERPLM_ATLAS", str(small_atlas))
    monkeypatch.chdir(repo_root)
    atlas = FeatureAtlas(small_atlas)
    feature = int(np.argmax(atlas.maxima(LAYER)))
    top = atlas.top_examples(LAYER, feature)
    app = _page(feature).run()
    assert not app.exception, app.exception
    text = _text(app)
    assert top.iloc[0]["record_id"] in text  # the top proteins table
    assert "rgba(230, 85, 13" in text  # firing residues shaded
    assert "On query:" in text and "residue 5" in text  # activation on the current protein
    assert [m.label for m in app.metric][:4] == ["Max activation", "Raw maximum", "Residue density", "Protein density"]
    similar = atlas.similar(LAYER, feature, 6)
    assert app.button and app.button[0].label.startswith(f"f{int(similar.iloc[0]['feature'])}")
    app.button[0].click().run()  # "similar feature" opens it
    assert app.session_state["atlas_feature"] == int(similar.iloc[0]["feature"])
    assert f"Feature {int(similar.iloc[0]['feature'])} across proteins" in _text(app)
    app.text_input[0].input("kinase").run()
    assert not app.exception and len(app.dataframe) >= 1


def test_views_layer_not_in_atlas(weights_env, small_atlas, monkeypatch, repo_root):
    monkeypatch.setenv("INTERPLM_ATLAS", str(small_atlas))
    monkeypatch.chdir(repo_root)
    app = _page(3, layer=5).run()
    assert not app.exception
    assert "not layer 5" in app.info[0].value


def test_feature_page_offers_atlas_search_and_map(app_env, small_atlas, monkeypatch):
    """With an atlas, the Feature page of the real app gains search and map; without, neither."""
    monkeypatch.setenv("INTERPLM_ATLAS", str(small_atlas))
    at = new_app(acc="P61626", layer=str(LAYER), f="7")
    at.run()
    at.switch_page("app_pages/feature.py").run()
    assert not at.exception
    assert [e.label for e in at.expander][0].startswith("Find a feature in the atlas")
    assert [t.label for t in at.tabs] == ["Search", "Map"]
    at.text_input(key="atlas_search").input("7").run()
    assert not at.exception
    results = at.dataframe(key="atlas_search_results").value
    assert 7 in set(results["feature"])
    assert "f7 on P61626" in texts(at)

    monkeypatch.delenv("INTERPLM_ATLAS")
    bare = new_app(acc="P61626", layer=str(LAYER), f="7")
    bare.run()
    bare.switch_page("app_pages/feature.py").run()
    assert not bare.exception and not bare.tabs
