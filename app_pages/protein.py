"""Protein page: choose a protein, see its top SAE features per residue and on the structure.

In presentation mode the page fits one screen: a one-line bar (title, badge, popovers for
the input and the options), then the heatmap and the 3D view side by side, sized to the
browser window (ui/screen.py reports it)."""

import html

import streamlit as st

from interplm_core.esm_embed import window_note
from interplm_core.palette import FEATURE_COLOURS
from interplm_core.registry import MODELS, get_model_spec
from interplm_core.session import EXAMPLES, ProteinRequest, top_residues
from ui import panels, resources
from ui.annotations import feature_names, feature_title, render_annotations_panel
from ui.atlas_views import atlas_percentiles
from ui.exports import render_exports
from ui.loader import load_into_session, recompute, show_error
from ui.screen import window_size
from ui.sidebar import presentation_bar
from ui.state import end_page, on_model_change, share_note

spec = resources.spec()
SOURCES = ("Example", "UniProt", "Sequence", "Upload")
SOURCE_LABELS = {"Example": "Example", "UniProt": "UniProt accession / name",
                 "Sequence": "Sequence or FASTA", "Upload": "Upload file"}
#: Presentation mode: pixels above the heatmap (bar and paddings) and above the 3D canvas
#: inside its column (its one-line caption); measured by tests/e2e/test_presentation.py.
BAR_PX, VIEWER_CAPTION_PX = 112, 62

presenting = bool(st.session_state.get("presentation"))
asked: dict = {"request": None, "error": None}


def model_controls() -> None:
    c0, c1, c2 = st.columns([1.3, 3.4, 1.6])
    c0.selectbox("Model", list(MODELS), key="model", format_func=lambda key: MODELS[key].label,
                 on_change=on_model_change)
    c1.radio("Layer", list(spec.sae_layers), key="layer", horizontal=True)
    c2.toggle("Normalised", key="normalized",
              help="0-1 per feature: 1 is the feature's maximum over Swiss-Prot (InterPLM's scale); off: raw SAE values.")


def input_form(with_model: bool) -> None:
    """Source choice and input; what to load goes into `asked`."""
    source = st.radio("Input", SOURCES, key="source", horizontal=True, format_func=SOURCE_LABELS.get)
    upload = None
    if source == "Example":
        cols = st.columns(2)
        for i, (acc, (label, _)) in enumerate(EXAMPLES.items()):  # two per row: labels are never cut
            if cols[i % 2].button(f"**{acc}** · {label}", key=f"example_{acc}", width="stretch"):
                st.session_state["query"] = acc
                asked["request"] = ProteinRequest.example(acc)
    elif source == "UniProt":
        c1, c2 = st.columns([3, 1])
        c1.text_input("UniProt accession or entry name", key="query", placeholder="P61626 or LYSC_HUMAN")
        c2.text_input("PDB ID (optional)", key="pdb_id", placeholder="e.g. 1REX")
    elif source == "Sequence":
        st.text_area("Protein sequence or FASTA", key="sequence_text", height=110,
                     placeholder=">my_protein\nMKTAYIAKQRQISFVKSHFSRQ…")
        st.text_input("PDB ID for the structure (optional)", key="pdb_id", placeholder="e.g. 1UBQ")
    else:
        upload = st.file_uploader("FASTA, PDB or mmCIF file (or .gz of one)",
                                  type=["fasta", "fa", "faa", "txt", "pdb", "ent", "cif", "mmcif", "gz"], key="upload")
    if with_model:
        c1, c3 = st.columns([6.3, 0.9], vertical_alignment="bottom")
        with c1:
            model_controls()
    else:
        c3 = st
    # Example mode loads on the example's own button: no Analyse button to grey out.
    if source != "Example" and c3.button("Analyse", type="primary", width="stretch"):
        if source == "UniProt":
            asked["request"] = ProteinRequest(accession=st.session_state["query"],
                                              pdb_id=st.session_state["pdb_id"] or None)
        elif source == "Sequence":
            asked["request"] = ProteinRequest(text=st.session_state["sequence_text"],
                                              pdb_id=st.session_state["pdb_id"] or None)
        elif upload is None:
            asked["error"] = "Choose a file to upload first."
        else:
            asked["request"] = ProteinRequest(upload_name=upload.name, upload_bytes=upload.getvalue())


def view_options(protein) -> None:
    model_controls()
    panels.heatmap_controls()
    if protein is not None:
        panels.feature_chooser(panels.displayed_features(protein), names=feature_names(protein))


protein = st.session_state.get("protein")
if presenting:
    bar_title = "InterPLM Explorer" if protein is None else protein.title
    presentation_bar(bar_title, [("Protein", ":material/biotech:", lambda: input_form(False)),
                                 ("View", ":material/tune:", lambda: view_options(protein))])
else:
    st.title("InterPLM Explorer")
    st.caption(f"{spec.label} · InterPLM sparse autoencoders ({spec.dict_size:,} features per layer, "
               f"layers {', '.join(map(str, spec.sae_layers))})")
    with st.container(border=True):
        input_form(True)

# Loading progress and errors: one placeholder on every run, so the page below keeps its
# place in Streamlit's element tree (see ui/loader.load_into_session).
activity = st.empty()
if asked["error"]:
    activity.error(asked["error"], icon=":material/error:")
if asked["request"] is not None and load_into_session(asked["request"], activity) and presenting:
    activity.empty()  # the "Loaded …" note would push the view below the screen's edge

protein = st.session_state.get("protein")
if protein is None:
    first_step = ("Click one of the examples above to analyse it" if st.session_state["source"] == "Example"
                  else "Enter a UniProt accession, a sequence or a file above and press **Analyse**")
    st.info(
        f"A **feature** is one of the {spec.dict_size:,} directions the InterPLM sparse autoencoder finds in ESM-2's "
        "view of each residue; many track a piece of biology (a binding site, a disulfide bond, a domain). "
        "The **heatmap** shows which features fire on which residues of your protein, each named after the "
        f"annotation it matches best. {first_step}, then click a row of the heatmap or an annotation to see "
        "those features on the 3D structure.",
        icon=":material/lightbulb:",
    )
    end_page()
wanted = (st.session_state["model"], st.session_state["layer"], st.session_state["normalized"])
if (protein.model, protein.layer, protein.normalized) != wanted:
    try:
        protein = recompute(protein, int(st.session_state["layer"]), bool(st.session_state["normalized"]), activity)
        st.session_state["protein"] = protein
    except Exception as err:
        with activity.container():
            show_error(err, f"Could not compute {spec.label} layer {st.session_state['layer']}")

result = protein.result
summary = (
    f"{MODELS[protein.model].label} · Layer {protein.layer}, {'normalised' if protein.normalized else 'raw'} features · "
    f"SAE reconstruction: {result.fraction_variance_explained:.1%} of variance explained (MSE {result.mse:.4f})"
    + (" · from cache" if result.from_cache else "")
)
long_chain = window_note(len(protein.record.sequence), get_model_spec(result.model).max_residues)
names = feature_names(protein)
features = panels.displayed_features(protein)


def selected_panel() -> None:
    st.markdown("#### Selected features")
    selected = st.session_state["selected"]
    if not selected:
        st.caption("Click a row of the heatmap (or use the chooser above) to select up to three features.")
    peaks = result.activations[:, selected].max(axis=0, keepdims=True) if selected else None
    ranks = atlas_percentiles(protein.layer, result.normalized, list(selected), peaks) if selected else None
    for k, (f, colour) in enumerate(zip(selected, FEATURE_COLOURS)):
        values = result.activations[:, f]
        where = ", ".join(f"{residue}{position} ({value:.2f})" for position, residue, value in top_residues(result, f))
        rank = f" ({ranks[0, k]:.1f} percentile in the atlas)" if ranks is not None else ""
        title = html.escape(feature_title(f, names))
        st.markdown(f"<span style='color:{colour}'>■</span> **{title}** · max {values.max():.3f}{rank} · "
                    f"fires on {(values > 0).sum()} residues  \n{html.escape(where) or 'silent here'}",
                    unsafe_allow_html=True)
    if selected:
        st.page_link("app_pages/feature.py", label=f"Open feature f{selected[0]} →", icon=":material/search:")
        st.page_link("app_pages/feature.py", label=f"Steer f{selected[0]} in ESM-2 →", icon=":material/tune:")


if presenting:
    # Heatmap and 3D view side by side, both whole on the first screen.
    height = max(window_size()["h"] - BAR_PX, 360)
    left, right = st.columns([3, 2])
    with right:
        panels.render_structure(protein, panels.selected_tracks(protein), "protein3d",
                                height=height - VIEWER_CAPTION_PX, compact=True)
    with left:
        fig = panels.render_heatmap(protein, features, height=height)
    st.caption(summary)
    for note in protein.notes:
        st.caption(note)
    if long_chain:
        st.caption(long_chain)
    selected_panel()
else:
    st.subheader(protein.title)
    st.caption(summary)
    for note in protein.notes:
        st.caption(note)
    if long_chain:
        st.warning(long_chain, icon=":material/view_week:")
    panels.heatmap_controls()
    panels.feature_chooser(features, names=names)
    # The heatmap is drawn above the structure but built after it: the browser draws the 3D view
    # while the server builds the (larger) figure, instead of one after the other.
    heatmap_slot = st.container()
    render_annotations_panel(protein)
    left, right = st.columns([3, 2])
    with left:
        st.markdown("#### Structure")
        panels.render_structure(protein, panels.selected_tracks(protein), "protein3d")
    with right:
        selected_panel()
    with heatmap_slot:
        fig = panels.render_heatmap(protein, features)

with st.expander("Downloads and sharing"):
    st.caption(share_note())
    render_exports(protein, features, fig)
