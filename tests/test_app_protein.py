"""AppTest of the Protein page: every input route, selection, layers, URL state and errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app_fixtures import analyse, chooser, coloured_residues, new_app, texts, viewer_scenes


def _plotly(at):
    return [e for e in at.get("plotly_chart")]


def test_shared_url_opens_the_protein_with_heatmap_structure_and_banner(app_env):
    at = new_app(acc="P61626", layer="2", f="12,34")
    at.run()
    assert not at.exception
    shown = texts(at)
    assert "P61626 · LYSC_HUMAN · Lysozyme C (148 aa)" in shown
    assert "Layer 2, normalised features" in shown
    assert "Synthetic weights." in shown and "mean nothing biologically" in shown
    assert "AlphaFold DB AF-P61626-F1" in shown
    assert len(_plotly(at)) == 1
    assert at.session_state["selected"] == [12, 34]
    assert chooser(at).value == [12, 34]
    assert at.query_params["acc"] == "P61626" and at.query_params["f"] == "12,34"
    # One live 3D viewer, sent the AlphaFold model coloured by f12 (red) and f34 (blue): each
    # residue where either fires takes the colour of the stronger one (AF numbering = position).
    (scene,) = viewer_scenes(at)
    assert scene["model"].startswith("HEADER") and "ATOM" in scene["model"]
    plddt = at.session_state["protein"].structure.plddt  # the camera frames the confident residues
    assert scene["zoom"] == {"chain": "A", "resi": [i + 1 for i in range(148) if plddt[i] >= 70]}
    assert scene["legend"]["ramps"][0]["label"] == "f12" and scene["legend"]["ramps"][1]["label"] == "f34"
    acts = at.session_state["protein"].result.activations
    colours = coloured_residues(scene)
    assert set(colours) == {i + 1 for i in range(148) if max(acts[i, 12], acts[i, 34]) > 0}
    from interplm_core.structure_view import LEVELS, blend

    i = next(i for i in range(148) if acts[i, 12] > acts[i, 34])
    level = max(1, int(np.ceil(min(acts[i, 12], 1.0) * LEVELS)))
    assert colours[i + 1] == blend("#d62728", level / LEVELS)


def test_typing_an_accession_and_pressing_analyse(app_env):
    at = new_app()
    at.run()
    assert "Click one of the examples above" in texts(at)
    assert "Analyse" not in [b.label for b in at.button]  # examples load on their own button
    at.radio(key="source").set_value("UniProt").run()
    assert "press **Analyse**" in texts(at) and "Analyse" in [b.label for b in at.button]
    at.text_input(key="query").input("LYSC_HUMAN")
    at.button[[b.label for b in at.button].index("Analyse")].click().run()
    assert not at.exception
    assert "P61626 · LYSC_HUMAN" in texts(at)
    assert at.query_params["acc"] == "P61626"
    assert at.session_state["selected"], "the top feature is selected after loading"


def test_example_button_loads_haemoglobin_with_its_pdb_structure(app_env):
    at = new_app()
    at.run()
    at.button(key="example_P69905").click().run()
    assert not at.exception
    shown = texts(at)
    assert "P69905 · HBA_HUMAN" in shown
    assert "PDB 4HHB, chain A" in shown
    assert "No AlphaFold model here; showing PDB 4HHB chain A." in shown


def test_pasted_fasta_and_layer_switch(app_env):
    at = new_app()
    at.run()
    analyse(at, "Sequence", ">mini test protein\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ")
    assert not at.exception
    assert "mini test protein (33 aa)" in texts(at)
    assert "No structure for this protein" in texts(at)
    at.radio(key="layer").set_value(5).run()
    assert "Layer 5, normalised features" in texts(at)
    at.toggle(key="normalized").set_value(False).run()
    assert "Layer 5, raw features" in texts(at)
    assert at.query_params["layer"] == "5" and at.query_params["raw"] == "1"
    assert at.query_params["seq"] == "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


def test_lower_case_and_ambiguous_letters_are_reported(app_env):
    at = new_app()
    at.run()
    analyse(at, "Sequence", "mktayiakqrqisfvkshfsrqleerlgBieXq")
    assert not at.exception
    shown = texts(at)
    assert "31 lower-case letters read as upper case." in shown
    assert "query: B (D or N, ambiguous) at position 29;" in shown
    assert "query: X (unknown residue) at position 32;" in shown


@pytest.mark.parametrize("kind, value, message", [
    ("Sequence", "MKTA1YIAK", "invalid character '1' at position 5"),
    ("UniProt", "P12345678", "Could not load this protein"),
    ("UniProt", "Q0DEL0", "Could not load this protein"),
])
def test_bad_input_shows_a_message_and_keeps_the_last_protein(app_env, kind, value, message):
    at = new_app(acc="P61626")
    at.run()
    assert "LYSC_HUMAN" in texts(at)
    analyse(at, kind, value)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and message in errors[0]
    assert "unexpected" not in errors[0]
    assert "P61626 · LYSC_HUMAN" in texts(at), "the previous result stays on screen"
    assert len(_plotly(at)) == 1


def test_feature_chooser_and_sort_order_update_the_url(app_env):
    at = new_app(acc="P61626")
    at.run()
    options = chooser(at).options
    chosen = [int(o.lstrip("f")) for o in options[2:4]]
    chooser(at).set_value(chosen).run()
    assert at.session_state["selected"] == chosen
    assert at.query_params["f"] == ",".join(map(str, chosen))
    at.radio(key="sort").set_value("clustered").run()
    at.slider(key="top_n").set_value(10).run()
    assert not at.exception
    assert at.query_params["sort"] == "clustered" and at.query_params["n"] == "10"


def test_heatmap_clicks_select_and_unselect_features():
    """What the page does with a click the browser reports (ui/chart_clicks.py delivers it)."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from ui.panels import select_clicked
        from ui.state import init_state

        init_state()
        for point in st.session_state.pop("clicks", []):
            select_clicked(point)
        st.write(f"selected={st.session_state['selected']}")

    at = AppTest.from_function(script)
    at.session_state["clicks"] = [{"x": "K2", "y": "f77", "source": "cell"}]
    at.run()
    assert at.markdown[-1].value == "selected=[77]"
    at.session_state["clicks"] = [{"x": None, "y": "f5", "source": "label"}, {"x": "A1", "y": "f9 (appears)"}]
    at.run()
    assert at.markdown[-1].value == "selected=[9, 5, 77]"  # newest first; compare-map labels too
    at.session_state["clicks"] = [{"x": "A1", "y": "f12"}]
    at.run()
    assert at.markdown[-1].value == "selected=[12, 9, 5]"  # at most three
    at.session_state["clicks"] = [{"x": "A1", "y": "f9"}, {"x": "A1", "y": "pLDDT"}, {"x": "A1", "y": "Signal"}]
    at.run()
    assert at.markdown[-1].value == "selected=[12, 5]"  # a selected feature clicked again goes; tracks ignored
    at.session_state["clicks"] = [{"y": "f12"}, {"y": "f5"}, {"y": "f5"}]
    at.run()
    assert at.markdown[-1].value == "selected=[5]"  # the last one stays selected


def test_a_click_during_a_run_is_not_undone_by_the_chooser_the_browser_has_not_redrawn():
    """Two quick clicks: the browser reports the second before it has drawn the first one's run.
    Its report still carries the feature chooser as it was, and that old value must not be taken
    for the user's edit (it would silently drop the first click; seen in CI)."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from ui.panels import feature_chooser, select_clicked
        from ui.state import init_state

        init_state()
        for point in st.session_state.pop("clicks", []):
            select_clicked(point)
        feature_chooser(list(range(1, 12)))
        st.write(f"selected={st.session_state['selected']}")

    at = AppTest.from_function(script)
    at.session_state["clicks"] = [{"y": "f1"}, {"y": "f2"}]
    at.run()
    assert at.markdown[-1].value == "selected=[2, 1]" and chooser(at).value == [2, 1]
    drawn = at._tree.get_widget_states()  # what the browser shows now
    at.session_state["clicks"] = [{"y": "f7"}]
    at.run()
    assert at.markdown[-1].value == "selected=[7, 2, 1]"
    # The next click arrives with the browser's widgets as drawn before the f7 run: AppTest's
    # public run() would send the current ones, so the old report is replayed by hand.
    at.session_state["clicks"] = [{"y": "f9"}]
    at._run(widget_state=drawn)
    assert at.markdown[-1].value == "selected=[9, 7, 2]"
    assert chooser(at).value == [9, 7, 2]
    # The chooser itself still works, on the widget the browser has drawn.
    chooser(at).set_value([4]).run()
    assert at.markdown[-1].value == "selected=[4]" and chooser(at).value == [4]
    at.session_state["clicks"] = [{"y": "f5"}]
    at.run()
    assert at.markdown[-1].value == "selected=[5, 4]" and chooser(at).value == [5, 4]


def test_uploaded_structure_is_analysed_on_its_own_chain(app_env, fixtures_dir):
    """File uploads cannot be driven by AppTest; the loader is called as the page calls it."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from ui.loader import ProteinRequest, load_protein

        data = st.session_state["upload"]
        name = st.session_state.get("upload_name", "1UBQ.pdb")
        loaded = load_protein(ProteinRequest(upload_name=name, upload_bytes=data), 3, True)
        st.write(f"{loaded.title}|{loaded.structure.file.source}|{loaded.structure.mapping.coverage:.2f}")

    at = AppTest.from_function(script, default_timeout=90)
    at.session_state["upload"] = (fixtures_dir / "pdb/1UBQ.pdb").read_bytes()
    at.run()
    assert not at.exception
    assert at.markdown[-1].value == "1UBQ_A chain A of 1UBQ.pdb (76 aa)|upload: 1UBQ.pdb|1.00"
    # The same file gzip-compressed (the uploader accepts .gz): read as the structure inside.
    import gzip

    at.session_state["upload"] = gzip.compress(at.session_state["upload"])
    at.session_state["upload_name"] = "1UBQ.pdb.gz"
    at.run()
    assert not at.exception
    assert at.markdown[-1].value == "1UBQ_A chain A of 1UBQ.pdb (76 aa)|upload: 1UBQ.pdb|1.00"


def test_repeated_chain_placement_is_chosen_by_the_user(app_env):
    """1UBQ fits each of the nine ubiquitin repeats of P0CG48: the user picks which one is shown."""
    at = new_app(acc="P0CG48", pdb="1UBQ")
    at.run()
    assert not at.exception
    chooser = at.selectbox(key="protein3d_placement")
    assert len(chooser.options) == 9
    assert chooser.options[0].startswith("repeat 1 of 9 at 1-76")
    mapping = at.session_state["protein"].structure.mapping
    assert mapping.positions[0].residue.number == 1 and mapping.positions[76].residue is None
    chooser.set_value(3).run()
    assert not at.exception
    mapping = at.session_state["protein"].structure.mapping
    assert mapping.chosen == 2
    assert mapping.positions[152].residue.number == 1  # position 153 = first residue of repeat 3
    assert mapping.positions[0].residue is None
    assert at.selectbox(key="protein3d_placement").value == 3


def test_view_options_survive_a_visit_to_another_page(app_env):
    """Widgets the Compare page does not draw keep their values for the return to Protein."""
    at = new_app(acc="P61626")
    at.run()
    at.slider(key="top_n").set_value(12).run()
    at.radio(key="sort").set_value("mean").run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    at.switch_page("app_pages/protein.py").run()
    assert at.slider(key="top_n").value == 12 and at.radio(key="sort").value == "mean"


def test_loading_does_not_shift_the_page_below_it(app_env):
    """Progress and errors of a load sit in one placeholder drawn on every run: the elements
    below keep their place in the tree, so the browser updates them instead of rebuilding them
    (the chart redrawn from scratch, the 3D viewer re-created)."""

    def layout(at) -> list[str]:
        return [type(node).__name__ + ":" + str(getattr(node, "type", "")) for node in at.main.children.values()]

    def same_places(a: list[str], b: list[str]) -> bool:
        """Same elements at the same indices, except the one placeholder (empty, or progress)."""
        return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) <= 1

    at = new_app()
    at.run()
    at.radio(key="source").set_value("UniProt").run()
    at.text_input(key="query").set_value("P61626")
    next(b for b in at.button if b.label == "Analyse").click().run()
    assert not at.exception and "P61626 · LYSC_HUMAN" in texts(at)
    loading = layout(at)
    option = chooser(at).options[3]
    chooser(at).set_value([int(option.lstrip("f"))]).run()  # an ordinary run
    assert same_places(layout(at), loading), (layout(at), loading)
    at.text_input(key="query").set_value("NOTANACCESSION_XYZ")
    next(b for b in at.button if b.label == "Analyse").click().run()  # a failed load: message in the slot
    assert "Could not load this protein" in texts(at)
    assert same_places(layout(at), loading), (layout(at), loading)
