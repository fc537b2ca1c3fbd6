"""Protein page: choose a protein, see its top SAE features per residue and on the structure."""

import streamlit as st

from interplm_core.figures import FEATURE_COLOURS
from interplm_core.registry import MODELS
from interplm_core.session import EXAMPLES, ProteinRequest, top_residues
from ui import panels, resources
from ui.exports import render_exports
from ui.loader import load_into_session, recompute, show_error
from ui.state import on_model_change

spec = resources.spec()
st.title("InterPLM Explorer")
st.caption(f"{spec.label} · InterPLM sparse autoencoders ({spec.dict_size:,} features per layer, "
           f"layers {', '.join(map(str, spec.sae_layers))})")

SOURCES = ("Example", "UniProt", "Sequence", "Upload")
SOURCE_LABELS = {"Example": "Example", "UniProt": "UniProt accession / name",
                 "Sequence": "Sequence or FASTA", "Upload": "Upload file"}

with st.container(border=True):
    source = st.radio("Input", SOURCES, key="source", horizontal=True, format_func=SOURCE_LABELS.get)
    request = None
    if source == "Example":
        cols = st.columns(len(EXAMPLES))
        for col, (acc, (label, _)) in zip(cols, EXAMPLES.items()):
            if col.button(f"{acc}\n\n{label}", key=f"example_{acc}", width="stretch"):
                st.session_state["query"] = acc
                request = ProteinRequest.example(acc)
    elif source == "UniProt":
        c1, c2 = st.columns([3, 1])
        c1.text_input("UniProt accession or entry name", key="query", placeholder="P61626 or LYSC_HUMAN")
        c2.text_input("PDB ID (optional)", key="pdb_id", placeholder="e.g. 1REX")
    elif source == "Sequence":
        st.text_area("Protein sequence or FASTA", key="sequence_text", height=110,
                     placeholder=">my_protein\nMKTAYIAKQRQISFVKSHFSRQ…")
        st.text_input("PDB ID for the structure (optional)", key="pdb_id", placeholder="e.g. 1UBQ")
    else:
        upload = st.file_uploader("FASTA, PDB or mmCIF file (or .gz of one)", type=["fasta", "fa", "faa", "txt", "pdb", "ent", "cif", "mmcif", "gz"],
                                  key="upload")
    c0, c1, c2, c3 = st.columns([1.3, 3.4, 1.6, 0.9])
    c0.selectbox("Model", list(MODELS), key="model", format_func=lambda key: MODELS[key].label,
                 on_change=on_model_change)
    c1.radio("Layer", list(spec.sae_layers), key="layer", horizontal=True)
    c2.toggle("Normalised", key="normalized",
              help="0-1 per feature: 1 is the feature's maximum over Swiss-Prot (InterPLM's scale); off: raw SAE values.")
    analyse = c3.button("Analyse", type="primary", width="stretch", disabled=source == "Example")

# Loading progress and errors: one placeholder on every run, so the page below keeps its
# place in Streamlit's element tree (see ui/loader.load_into_session).
activity = st.empty()

if analyse:
    if source == "UniProt":
        request = ProteinRequest(accession=st.session_state["query"], pdb_id=st.session_state["pdb_id"] or None)
    elif source == "Sequence":
        request = ProteinRequest(text=st.session_state["sequence_text"], pdb_id=st.session_state["pdb_id"] or None)
    elif source == "Upload":
        if upload is None:
            activity.error("Choose a file to upload first.", icon=":material/error:")
        else:
            request = ProteinRequest(upload_name=upload.name, upload_bytes=upload.getvalue())
if request is not None:
    load_into_session(request, activity)

protein = st.session_state.get("protein")
if protein is None:
    st.info("Pick an example, or enter a UniProt accession or a sequence and press **Analyse**.")
    st.stop()
wanted = (st.session_state["model"], st.session_state["layer"], st.session_state["normalized"])
if (protein.model, protein.layer, protein.normalized) != wanted:
    try:
        protein = recompute(protein, int(st.session_state["layer"]), bool(st.session_state["normalized"]), activity)
        st.session_state["protein"] = protein
    except Exception as err:
        with activity.container():
            show_error(err, f"Could not compute {spec.label} layer {st.session_state['layer']}")

st.subheader(protein.title)
result = protein.result
st.caption(
    f"{MODELS[protein.model].label} · Layer {protein.layer}, {'normalised' if protein.normalized else 'raw'} features · "
    f"SAE reconstruction: {result.fraction_variance_explained:.1%} of variance explained (MSE {result.mse:.4f})"
    + (" · from cache" if result.from_cache else "")
)
for note in protein.notes:
    st.caption(note)

panels.heatmap_controls()
features = panels.displayed_features(protein)
panels.feature_chooser(features)
# The heatmap is drawn above the structure but built after it: the browser draws the 3D view
# while the server builds the (larger) figure, instead of one after the other.
heatmap_slot = st.container()

left, right = st.columns([3, 2])
with left:
    st.markdown("#### Structure")
    panels.render_structure(protein, panels.selected_tracks(protein), "protein3d")
with right:
    st.markdown("#### Selected features")
    selected = st.session_state["selected"]
    if not selected:
        st.caption("Click a row of the heatmap (or use the chooser above) to select up to three features.")
    for f, colour in zip(selected, FEATURE_COLOURS):
        values = result.activations[:, f]
        where = ", ".join(f"{residue}{position} ({value:.2f})" for position, residue, value in top_residues(result, f))
        st.markdown(f"<span style='color:{colour}'>■</span> **f{f}** · max {values.max():.3f} · "
                    f"fires on {(values > 0).sum()} residues  \n{where or 'silent here'}", unsafe_allow_html=True)
    if selected:
        st.page_link("app_pages/feature.py", label=f"Open feature f{selected[0]} →", icon=":material/search:")
        st.page_link("app_pages/feature.py", label=f"Steer f{selected[0]} in ESM-2 →", icon=":material/tune:")

with heatmap_slot:
    fig = panels.render_heatmap(protein, features)

with st.expander("Downloads and sharing"):
    st.caption("The address bar holds this view (protein, layer, features, options): copy it to share.")
    render_exports(protein, features, fig)
