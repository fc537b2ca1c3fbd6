"""Compare page: the current protein against point mutants or a second sequence, feature by feature."""

import numpy as np
import pandas as pd
import streamlit as st

from interplm_core import figures, session, structure_view
from ui import panels, resources
from ui.chart_clicks import chart_clicks
from ui.loader import show_error
from ui.state import set_selected

st.title("Compare")
protein = st.session_state.get("protein")
if protein is None:
    st.info("Load a protein on the Protein page first (protein A); then compare it here with mutants or another sequence.")
    st.page_link("app_pages/protein.py", label="Go to the Protein page", icon=":material/biotech:")
    st.stop()



def _basis(protein) -> tuple:
    """What a comparison was computed from: protein A, its model, layer and scale."""
    return protein.record.sequence, protein.model, protein.layer, protein.normalized


st.markdown(f"**A:** {protein.title} · layer {protein.layer}")
mode = st.radio("Compare A with", ["Point mutations", "Another sequence"], key="compare_mode", horizontal=True)
with st.form("compare_form", border=True):
    if mode == "Point mutations":
        st.text_input("Mutations (one-letter, UniProt numbering)", key="mutations", placeholder="e.g. K48R, A123G")
    else:
        st.text_area("Sequence or FASTA of protein B", key="compare_text", height=100)
    go = st.form_submit_button("Compare", type="primary")

if go:
    try:
        with st.spinner("Computing the features of protein B…"):
            if mode == "Point mutations":
                result = session.compare(protein, resources.pipeline(), mutations=st.session_state["mutations"])
            else:
                result = session.compare(protein, resources.pipeline(), sequence=st.session_state["compare_text"])
        # Kept with what it was computed from: another protein, model, layer or scale makes it stale.
        st.session_state["comparison"] = (_basis(protein), result)
        if result.comparison.features.size:
            set_selected([int(result.comparison.features[0])])
    except Exception as err:
        show_error(err, "Could not compare")

stored = st.session_state.get("comparison")
if stored is None or stored[0] != _basis(protein):
    st.caption("Enter mutations (e.g. the first residue of A is "
               f"{protein.record.sequence[0]}1) or a second sequence, then press Compare.")
    st.stop()

_, result = stored
record_b, comparison, positions = result.record_b, result.comparison, result.mutated_positions
appear, vanish = comparison.of_kind("appears"), comparison.of_kind("vanishes")
c1, c2, c3 = st.columns(3)
c1.metric("Features that appear in B", len(appear))
c2.metric("Features that vanish in B", len(vanish))
c3.metric("Residue identity A→B", f"{comparison.identity:.0%}")
st.caption(f"B: {record_b.id} ({len(record_b.sequence)} aa). Appear / vanish: max activation crosses 0.05 "
           "on one protein only. Top 30 features by change.")

fig = figures.delta_figure(protein.record.sequence, comparison.residue_delta, comparison.features, comparison.kind,
                           highlight_positions=positions, selected=st.session_state["selected"],
                           title="Change per residue (B − A), mutated positions dotted")
st.plotly_chart(fig, key="delta_chart", config={"displaylogo": False})
chart_clicks("delta_chart", panels.select_clicked)

left, right = st.columns([3, 2])
with left:
    selected = [f for f in st.session_state["selected"] if f in set(comparison.features.tolist())]
    if selected:
        f = selected[0]
        k = comparison.features.tolist().index(f)
        delta = np.nan_to_num(comparison.residue_delta[:, k])
        st.markdown(f"#### f{f} change on the structure of A")
        tracks = [structure_view.FeatureTrack(f, np.clip(delta, 0, None), "#d62728"),
                  structure_view.FeatureTrack(f, np.clip(-delta, 0, None), "#1f77b4")]
        scale = float(max(np.abs(delta).max(), 1e-6))
        panels.render_structure(protein, tracks, "compare3d", scale=scale,
                                legend="<span style='color:#d62728'>■</span> stronger in B · "
                                       "<span style='color:#1f77b4'>■</span> weaker in B")
    else:
        st.caption("Click a row of the change map to see it on the structure.")
with right:
    table = pd.DataFrame(comparison.rows())
    st.dataframe(table.round(4), hide_index=True, key="compare_table", height=420)
