"""AppTest of the Feature and Compare pages and the sidebar (status, offline, presentation)."""

from __future__ import annotations

from tests.app_fixtures import new_app, texts, viewer_scenes


def test_feature_page_without_a_protein_says_what_to_do(app_env):
    at = new_app()
    at.switch_page("app_pages/feature.py").run()
    assert not at.exception
    assert "Load a protein on the Protein page first" in texts(at)


def test_feature_page_shows_profile_structure_residues_and_atlas(app_env):
    at = new_app(acc="P61626", f="7")
    at.run()
    at.switch_page("app_pages/feature.py").run()
    assert not at.exception
    shown = texts(at)
    assert "f7 on P61626" in shown
    assert "Feature 7 across proteins" in shown and "python -m interplm_core atlas build" in shown  # no atlas yet
    assert len(at.get("plotly_chart")) == 1 and len(viewer_scenes(at)) == 1
    at.number_input(key="feature_id").set_value(953).run()
    assert not at.exception
    assert "f953 on P61626" in texts(at)
    assert at.session_state["selected"][0] == 953
    table = at.dataframe[0].value
    assert list(table.columns) == ["position", "residue", "activation", "UniProt annotation"]
    assert (table["activation"].diff().dropna() <= 0).all()


def test_compare_point_mutations(app_env):
    at = new_app(acc="P61626")
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert "Enter mutations" in texts(at)
    at.text_input(key="mutations").input("K19R, E53Q")
    at.button[0].click().run()  # the form's Compare button
    assert not at.exception
    shown = texts(at)
    assert "B: K19R+E53Q (148 aa)" in shown
    labels = [m.label for m in at.metric]
    assert labels == ["Features that appear in B", "Features that vanish in B", "Residue identity A→B"]
    assert at.metric[2].value == "99%"
    table = at.dataframe[0].value
    assert {"feature", "change", "max_a", "max_b"} <= set(table.columns)
    assert at.query_params["mut"] == "K19R, E53Q"


def test_compare_rejects_mutations_that_do_not_fit(app_env):
    at = new_app(acc="P61626")
    at.run()
    at.switch_page("app_pages/compare.py").run()
    at.text_input(key="mutations").input("A19G")
    at.button[0].click().run()
    assert not at.exception
    assert "residue 19 is K, not A" in at.error[0].value


def test_sidebar_status_offline_and_presentation(app_env):
    at = new_app(acc="P61626")
    at.run()
    shown = texts(at)
    assert "**Weights** synthetic (meaningless features)" in shown
    assert "ESM-2: weights folder" in shown  # the label of WeightsFile.source "weights dir"
    assert "SAE layer 3 (normalised): weights folder" in shown
    assert "**Cache** features" in shown
    at.toggle(key="offline").set_value(True).run()
    assert "Offline: on" in texts(at)
    at.toggle(key="presentation").set_value(True).run()
    assert at.query_params["present"] == "1"
    assert any("font-size: 20px" in str(h.proto.body) for h in at.get("html"))


def test_offline_mode_serves_cached_answers_and_explains_missing_ones(app_env):
    at = new_app(acc="P61626")
    at.run()
    at.toggle(key="offline").set_value(True).run()
    at.radio(key="source").set_value("UniProt").run()
    at.text_input(key="query").input("Q5VSL9")
    at.button[[b.label for b in at.button].index("Analyse")].click().run()
    assert not at.exception
    error = at.error[0].value
    assert "Could not load this protein" in error and "unexpected" not in error
    assert "LYSC_HUMAN" in texts(at)


def test_comparison_is_not_shown_for_another_scale(app_env):
    """A comparison computed on normalised features is stale once A is shown raw."""
    at = new_app(acc="P61626")
    at.run()
    at.switch_page("app_pages/compare.py").run()
    at.text_input(key="mutations").input("K19R")
    at.button[0].click().run()
    assert "B: K19R (148 aa)" in texts(at)
    at.switch_page("app_pages/protein.py").run()
    at.toggle(key="normalized").set_value(False).run()  # the Protein page recomputes A, raw
    assert not at.exception and not at.session_state["protein"].normalized
    at.switch_page("app_pages/compare.py").run()
    assert "Enter mutations" in texts(at) and "B: K19R" not in texts(at)
