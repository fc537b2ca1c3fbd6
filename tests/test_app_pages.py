"""AppTest of the Feature and Compare pages and the sidebar (status, offline, presentation)."""

from __future__ import annotations

import re

from tests.app_fixtures import analyse, new_app, texts, viewer_scenes


def feature_box(at):
    """The Feature page's feature id box (its key moves when the selection changes elsewhere)."""
    (box,) = [n for n in at.number_input if n.label == "Feature id"]
    return box


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
    feature_box(at).set_value(953).run()
    assert not at.exception
    assert "f953 on P61626" in texts(at)
    assert at.session_state["selected"][0] == 953
    table = at.dataframe[0].value
    assert list(table.columns) == ["position", "residue", "activation", "UniProt annotation"]
    assert (table["activation"].diff().dropna() <= 0).all()


def test_a_feature_opened_from_code_is_not_undone_by_the_box_the_browser_has_not_redrawn(app_env):
    """The selection changes from code (here: the Protein page's chooser, as a heatmap click
    or an atlas pick would); the browser's next report still carries the feature box as it
    was drawn before, which must not be taken for the user typing the old id back."""
    at = new_app(acc="P61626", f="7")
    at.run()
    at.switch_page("app_pages/feature.py").run()
    assert feature_box(at).value == 7
    drawn = at._tree.get_widget_states()  # what the browser shows now
    at.session_state["selected"] = [12, 7]
    at.run()
    assert "### f12 " in texts(at) and feature_box(at).value == 12
    at._run(widget_state=drawn)  # the next event, reported with the widgets as drawn before
    assert not at.exception
    assert at.session_state["selected"][0] == 12 and "### f12 " in texts(at)
    feature_box(at).set_value(953).run()  # the box itself still works
    assert at.session_state["selected"][:2] == [953, 12]


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
    assert "mut" not in at.query_params  # a rejected mutation is not kept in the link


def test_compare_link_runs_the_comparison_and_keeps_only_accepted_mutations(app_env):
    at = new_app(acc="P61626", mut="K19R")
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert "B: K19R (148 aa)" in texts(at)  # computed without pressing Compare
    assert at.query_params["mut"] == "K19R"
    at.text_input(key="mutations").input("A19G")
    at.button[0].click().run()
    assert "residue 19 is K, not A" in at.error[0].value
    assert at.query_params["mut"] == "K19R"  # the rejected one stays out
    # the mutated residue is a labelled sphere in 3D; UniProt's sites can join it
    (scene,) = viewer_scenes(at)
    assert [op[1] for op in scene["ops"] if op[0] == "addLabel"] == ["K19R"]
    at.toggle(key="compare_sites").set_value(True).run()
    (scene,) = viewer_scenes(at)
    labels = [op[1] for op in scene["ops"] if op[0] == "addLabel"]
    assert labels[0] == "K19R" and "Active site 53" in labels and "Active site 71" in labels


def test_another_protein_resets_features_mutations_and_comparison(app_env):
    at = new_app(acc="P61626", f="12,34", mut="K19R")
    at.run()
    assert at.session_state["selected"] == [12, 34] and at.session_state["mutations"] == "K19R"
    analyse(at, "UniProt", "P69905")
    assert not at.exception
    protein = at.session_state["protein"]
    assert protein.record.id == "P69905"
    from interplm_core.ranking import rank_features

    assert at.session_state["selected"] == rank_features(protein.result.activations, 30, "max")[:1]
    assert at.session_state["mutations"] == "" and "mut" not in at.query_params
    assert "comparison" not in at.session_state


def test_sidebar_status_offline_and_presentation(app_env):
    at = new_app(acc="P61626")
    at.run()
    shown = texts(at)
    assert "**Weights** synthetic (meaningless features)" in shown
    esm_lines = [line for line in shown.splitlines() if line.startswith("ESM-2: ")]
    assert len(esm_lines) == 2 and len(set(esm_lines)) == 2, esm_lines  # each file once, by name
    assert all(line.endswith("(weights folder)") for line in esm_lines), esm_lines
    assert any(line.startswith("SAE layer 3 (normalised): ") and line.endswith("(weights folder)")
               for line in shown.splitlines())
    runs = re.search(r"Model runs (\d+), cache hits (\d+)", shown).groups()
    at.run()  # a run without a load: the panel must not change (it showed the run before, lagging one load)
    assert re.search(r"Model runs (\d+), cache hits (\d+)", texts(at)).groups() == runs
    assert "**Cache** features" in shown
    at.toggle(key="offline").set_value(True).run()
    assert "Offline: on" in texts(at)
    at.toggle(key="presentation").set_value(True).run()
    assert at.query_params["present"] == "1"
    css = " ".join(str(h.proto.body) for h in at.get("html"))
    assert '[data-testid="stSidebar"]' in css and "display: none" in css  # sidebar collapsed away
    assert "randomly generated stand-ins" not in texts(at)  # the banner became a badge
    assert "synthetic weights: features mean nothing" in texts(at)


def test_offline_mode_serves_cached_answers_and_explains_missing_ones(app_env):
    at = new_app(acc="P61626")
    at.run()
    at.toggle(key="offline").set_value(True).run()
    analyse(at, "UniProt", "Q5VSL9")
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
