"""AppTest of steering on the Feature page: clamp slider, where, change map and list, the
amino-acid lens, one-click ablation (chart and 3D), and the way in from the Protein page.

The page must show exactly what the core computes for the chosen parameters (the core
itself is checked against fair-esm in test_steer.py)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from interplm_core.steer import Steerer, lens_phrase, lens_word, prediction_changes
from tests.app_fixtures import new_app, texts, viewer_scenes


def chart(at, key: str) -> dict:
    """The Plotly figure (as JSON) of the chart drawn with `key`."""
    (element,) = [e for e in at.get("plotly_chart") if e.proto.id.endswith(f"-{key}")]
    return json.loads(element.proto.spec)


def array(value) -> np.ndarray:
    """A figure value as an array: Plotly 6 writes NumPy arrays as base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value, dtype=float)


def chart_keys(at) -> set[str]:
    return {e.proto.id.rsplit("-", 1)[-1] for e in at.get("plotly_chart")}


@pytest.fixture
def feature_page(app_env):
    """The Feature page on lysozyme (P61626), showing the feature that fires most on it."""
    at = new_app(acc="P61626")
    at.run()
    protein = at.session_state["protein"]
    top = [int(f) for f in np.argsort(-protein.result.activations.max(axis=0), kind="stable")[:2]]
    at.session_state["selected"] = top
    at.switch_page("app_pages/feature.py").run()
    assert not at.exception
    assert f"f{top[0]} on P61626" in texts(at)
    from interplm_core.pipeline import FeaturePipeline

    return at, protein, top, Steerer(FeaturePipeline(progress=False))


def test_clamp_slider_where_and_changed_predictions(feature_page):
    at, protein, (feature, _), core = feature_page
    seq = protein.record.sequence
    fires = np.flatnonzero(protein.result.activations[:, feature] > 0) + 1
    # Defaults: 2x the maximum here (normalised: at least 2, the Swiss-Prot maximum being 1), where it fires.
    top = max(1.0, float(protein.result.activations[:, feature].max()))
    default = round(2 * top, 4)
    assert at.slider(key="steer_value").value == default and at.radio(key="steer_where").value == "fires"
    assert at.slider(key="steer_value").max == round(4 * top, 4)  # a few times the maximum
    expected = core.steer(seq, 3, {feature: default}, fires, True)
    fig = chart(at, "steer_heatmap")
    np.testing.assert_allclose(array(fig["data"][0]["z"]), (expected.after - expected.before).T, atol=1e-5)
    assert len(fig["data"][1]["x"]) == len(seq)  # every wild-type residue ringed (all standard here)
    assert list(fig["data"][1]["y"][:3]) == list(seq[:3])
    assert list(fig["data"][2]["x"]) == [f"{seq[p - 1]}{p}" for p in fires]  # steered residues
    shown = texts(at)
    assert f"f{feature} clamped to {default:g} at {len(fires)} of {len(seq)} residues" in shown
    changes = prediction_changes(expected)
    if changes:
        assert f"**Positions whose most likely residue changes** ({len(changes)}): `{changes[0]}`" in shown
    else:
        assert "No position's most likely residue changes." in shown

    at.slider(key="steer_value").set_value(0.0).run()  # ablate where it fires
    assert not at.exception
    ablated = core.steer(seq, 3, {feature: 0.0}, fires, True)
    np.testing.assert_allclose(array(chart(at, "steer_heatmap")["data"][0]["z"]),
                               (ablated.after - ablated.before).T, atol=1e-5)

    at.radio(key="steer_where").set_value("range").run()
    at.slider(key="steer_range").set_value((10, 20)).run()
    assert not at.exception
    assert f"f{feature} clamped to 0 at 11 of {len(seq)} residues" in texts(at)
    assert list(chart(at, "steer_heatmap")["data"][2]["x"]) == [f"{seq[p - 1]}{p}" for p in range(10, 21)]

    at.slider(key="steer_value").set_value(3.0).run()
    at.radio(key="steer_where").set_value("everywhere").run()
    assert not at.exception
    everywhere = core.steer(seq, 3, {feature: 3.0}, None, True)
    assert f"clamped to 3 at {len(seq)} of {len(seq)} residues" in texts(at)
    np.testing.assert_allclose(array(chart(at, "steer_heatmap")["data"][0]["z"]),
                               (everywhere.after - everywhere.before).T, atol=1e-5)


def test_amino_acid_lens_and_one_click_ablation(feature_page):
    at, protein, (feature, other), core = feature_page
    seq = protein.record.sequence
    lens = core.amino_acid_lens(seq, 3, feature, True)
    np.testing.assert_allclose(array(chart(at, "lens_chart")["data"][0]["y"]), lens, atol=1e-5)
    shown = texts(at)
    assert f"f{feature} {lens_phrase(lens)}: mean change" in shown
    assert f"#### Amino-acid lens{f' · {lens_word(lens)}' if lens_word(lens) else ''}\n" in shown + "\n"
    if lens_word(lens):  # no atlas here, so nothing better names the feature than its lens word
        assert f"fires on {int((protein.result.activations[:, feature] > 0).sum())} of {len(seq)} residues · lens " \
               f"{lens_word(lens)}" in shown

    assert "ablation_chart" not in chart_keys(at) and len(viewer_scenes(at)) == 1
    at.button(key="ablate_selected").click().run()
    assert not at.exception
    delta = core.ablation(seq, 3, [feature, other], True).wild_type_delta()
    fig = chart(at, "ablation_chart")
    np.testing.assert_allclose(array(fig["data"][0]["y"]), np.nan_to_num(delta), atol=1e-5)
    assert f"Ablating f{feature}, f{other} together" in fig["layout"]["title"]["text"]
    scenes = viewer_scenes(at)
    assert len(scenes) == 2  # the feature's viewer and the ablation's
    hover = json.dumps(scenes[1])
    assert "wild-type log p lost" in hover
    # Residues that lost wild-type probability are the coloured ones (AlphaFold numbering = position).
    from tests.app_fixtures import coloured_residues

    assert set(coloured_residues(scenes[1])) == {i + 1 for i in range(len(seq)) if -delta[i] > 0}
    at.run()  # the view stays until the selection changes
    assert "ablation_chart" in chart_keys(at)


def test_silent_feature_long_protein_and_the_way_in(app_env):
    at = new_app(acc="P61626", f="7")
    at.run()
    links = [e.proto.label for e in at.get("page_link")]
    assert "Steer f7 in ESM-2 →" in links
    at.switch_page("app_pages/feature.py").run()
    assert not at.exception
    shown = texts(at)
    assert "f7 is silent on this protein: nothing to amplify." in shown
    assert "This feature is silent on this protein: choose a residue range or everywhere." in shown
    assert "steer_heatmap" not in chart_keys(at)

    long = new_app(seq="MKTAYIAKQRQISFVKSHFSRQ" * 50)  # 1,100 residues: more than one window
    long.run()
    long.switch_page("app_pages/feature.py").run()
    assert not long.exception
    assert any("Steering runs one window of at most 1022 residues; this protein has 1100" in e.value
               for e in long.error)
