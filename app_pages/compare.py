"""Compare page: the current protein against point mutants or a second sequence, feature by feature."""

import numpy as np
import pandas as pd
import streamlit as st

from interplm_core import figures, palette, session, structure_view
from ui import panels, resources
from ui.chart_clicks import chart_clicks
from ui.loader import show_error
from ui.state import end_page, set_selected

st.title("Compare")
protein = st.session_state.get("protein")
if protein is None:
    st.info("Load a protein on the Protein page first (protein A); then compare it here with mutants or another sequence.")
    st.page_link("app_pages/protein.py", label="Go to the Protein page", icon=":material/biotech:")
    end_page()



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

# A Compare link (?acc=…&mut=…) runs its comparison once the protein is loaded.
if st.session_state.get("_autocompare") and mode == "Point mutations":
    go = True
if go:
    try:
        with st.spinner("Computing the features of protein B…"):
            if mode == "Point mutations":
                result = session.compare(protein, resources.pipeline(), mutations=st.session_state["mutations"])
            else:
                result = session.compare(protein, resources.pipeline(), sequence=st.session_state["compare_text"])
        # Kept with what it was computed from: another protein, model, layer or scale makes it stale.
        st.session_state["comparison"] = (_basis(protein), result)
        # Only accepted mutations go into the URL (ui/state.py); another sequence takes them out.
        st.session_state["compared_mutations"] = ", ".join(str(m) for m in result.mutations)
        if result.comparison.features.size:
            set_selected([int(result.comparison.features[0])])
    except Exception as err:
        show_error(err, "Could not compare")
    # Cleared only once done: a run cut short by a rerun (the window reporting its size) tries again.
    st.session_state.pop("_autocompare", None)

stored = st.session_state.get("comparison")
if stored is None or stored[0] != _basis(protein):
    st.caption("Enter mutations (e.g. the first residue of A is "
               f"{protein.record.sequence[0]}1) or a second sequence, then press Compare.")
    end_page()

_, result = stored
record_b, comparison = result.record_b, result.comparison
positions = [(m.position, str(m)) for m in result.mutations]
appear, vanish = comparison.of_kind("appears"), comparison.of_kind("vanishes")
c1, c2, c3 = st.columns(3)
c1.metric("Features that appear in B", len(appear))
c2.metric("Features that vanish in B", len(vanish))
c3.metric("Residue identity A→B", f"{comparison.identity:.0%}")
st.caption(f"B: {record_b.id} ({len(record_b.sequence)} aa). Appear / vanish: max activation crosses 0.05 "
           "on one protein only. Top 30 features by change.")

fig = figures.delta_figure(protein.record.sequence, comparison.residue_delta, comparison.features, comparison.kind,
                           highlight_positions=[p for p, _ in positions],
                           highlight_labels=[label for _, label in positions], selected=st.session_state["selected"],
                           title="Change per residue (B − A), mutated positions dotted")
st.plotly_chart(fig, key="delta_chart", config={"displaylogo": False})
chart_clicks("delta_chart", panels.select_clicked)

SITE_TYPES = ("Active site", "Binding site", "Site", "Metal binding")


def site_markers() -> list[tuple[int, str, str]]:
    """UniProt's single-residue sites of protein A as (position, label, colour)."""
    if protein.entry is None:
        return []
    out = []
    for kind, items in protein.entry.tracks().items():
        if kind in SITE_TYPES:
            for a in items:
                out += [(p, f"{kind} {p}", palette.SITE) for p in a.residues()]
    return out


selected = [f for f in st.session_state["selected"] if f in set(comparison.features.tolist())]
if selected:
    f = selected[0]
    k = comparison.features.tolist().index(f)
    delta = np.nan_to_num(comparison.residue_delta[:, k])
    st.markdown(f"#### f{f} change on the structure of A")
    sites = st.toggle("UniProt sites as labelled spheres", key="compare_sites", disabled=not site_markers(),
                      help="Active, binding and other single-residue sites from UniProt.")
    markers = [(p, label, palette.MUTATION) for p, label in positions] + (site_markers() if sites else [])
    tracks = [structure_view.FeatureTrack(f, np.clip(delta, 0, None), palette.GAIN),
              structure_view.FeatureTrack(f, np.clip(-delta, 0, None), palette.LOSS)]
    scale = float(max(np.abs(delta).max(), 1e-6))
    panels.render_structure(protein, tracks, "compare3d", scale=scale,
                            legend=f"<span style='color:{palette.GAIN}'>■</span> stronger in B · "
                                   f"<span style='color:{palette.LOSS}'>■</span> weaker in B"
                                   + (f" · <span style='color:{palette.MUTATION}'>●</span> mutated" if positions else ""),
                            markers=tuple(markers), legend_names=(f"f{f} stronger in B", f"f{f} weaker in B"))
else:
    st.caption("Click a row of the change map to see it on the structure.")

unit = "normalised activation" if protein.normalized else "raw activation"
COLUMNS = {
    "feature": st.column_config.NumberColumn("Feature", format="f%d", width="small"),
    "change": st.column_config.TextColumn("Change", width="small"),
    "max_a": st.column_config.NumberColumn("Max in A", format="%.3f", help=f"Highest {unit} on protein A"),
    "max_b": st.column_config.NumberColumn("Max in B", format="%.3f", help=f"Highest {unit} on protein B"),
    "delta_max": st.column_config.NumberColumn("Δ max (B − A)", format="%+.3f", help=unit),
    "total_residue_change": st.column_config.NumberColumn(
        "Σ |Δ| over residues", format="%.3f", help=f"Sum over aligned residues of |B − A|, in {unit}"),
}
st.markdown(f"#### Features by change ({unit}s)")
st.dataframe(pd.DataFrame(comparison.rows()), hide_index=True, key="compare_table", column_config=COLUMNS,
             width="stretch")
