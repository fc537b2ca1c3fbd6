"""Feature page: one SAE feature on the current protein (profile, structure, top residues, steering, atlas)."""

import pandas as pd
import streamlit as st

from interplm_core import figures, structure_view
from interplm_core.session import top_residues
from ui import panels, steer_views
from ui.annotations import feature_names, feature_title
from ui.atlas_views import (
    atlas_percentiles,
    current_atlas,
    render_atlas_section,
    render_feature_map,
    render_feature_search,
)
from ui.state import end_page, is_current, set_selected, widget_key

protein = st.session_state.get("protein")
st.title("Feature")
if protein is None:
    st.info("Load a protein on the Protein page first; this page then shows one of its features in detail.")
    st.page_link("app_pages/protein.py", label="Go to the Protein page", icon=":material/biotech:")
    end_page()

result = protein.result
selected = st.session_state["selected"]
default = selected[0] if selected else panels.displayed_features(protein)[0]
# Set from code whenever the selection changes elsewhere (state.widget_key says why it moves).
feature_key = widget_key("feature_id", int(default))


def _choose(key: str) -> None:
    if is_current("feature_id", key):  # not a report from a widget replaced meanwhile
        chosen = int(st.session_state[key])
        set_selected([chosen] + [f for f in st.session_state["selected"] if f != chosen])


if current_atlas() is not None:
    with st.expander("Find a feature in the atlas: by concept, keyword, or on the map of all features"):
        search_tab, map_tab = st.tabs(["Search", "Map"])
        # A pick in either opens that feature through a callback, before the page's next run.
        with search_tab:
            render_feature_search(protein.layer)
        with map_tab:
            render_feature_map(protein.layer, highlight=st.session_state[feature_key])

c1, c2 = st.columns([1, 3])
c1.number_input("Feature id", min_value=0, max_value=result.activations.shape[1] - 1, step=1, key=feature_key,
                on_change=_choose, args=(feature_key,))
feature = int(st.session_state[feature_key])
values = result.activations[:, feature]
names = feature_names(protein)
c2.markdown(f"### {feature_title(feature, names)} on {protein.title}")
# The amino-acid lens names the feature in one word only when neither the atlas nor this protein's
# annotations name it.
lens_word = "" if feature in names else steer_views.lens_label(feature, protein)
rank = atlas_percentiles(protein.layer, protein.normalized, [feature], values.max(keepdims=True)[:, None])
c2.caption(f"Layer {protein.layer}, {'normalised' if protein.normalized else 'raw'} · max {values.max():.3f}"
           + (f" ({rank[0, 0]:.1f} percentile in the atlas)" if rank is not None else "")
           + f" · fires on {(values > 0).sum()} of {len(values)} residues" + (f" · lens {lens_word}" if lens_word else ""))

scale = structure_view.colour_scale([values], protein.normalized)
threshold = st.slider("Firing threshold (share of the colour scale)", 0.0, 1.0, 0.3, 0.05, key="feature_threshold")
st.plotly_chart(figures.profile_figure(protein.record.sequence, values, feature, threshold=threshold * scale,
                                       normalized=protein.normalized, tracks=protein.tracks()),
                key="profile", config={"displaylogo": False})

left, right = st.columns([3, 2])
with left:
    st.markdown("#### Where it fires on the structure")
    track = [structure_view.FeatureTrack(feature, values, figures.FEATURE_COLOURS[0])]
    panels.render_structure(protein, track, "feature3d", scale=scale)
with right:
    st.markdown("#### Top residues")
    rows = []
    for position, residue, value in top_residues(result, feature, k=15):
        notes = protein.entry.annotations_at(position) if protein.entry is not None else []
        rows.append({"position": position, "residue": residue, "activation": round(value, 4),
                     "UniProt annotation": "; ".join(notes)})
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="top_residues")
    else:
        st.caption(f"f{feature} does not fire anywhere on this protein.")

steer_views.render_lens(protein, feature)
steer_views.render_steering(protein, feature, values)
steer_views.render_ablation(protein, feature)

render_atlas_section(feature, protein.layer, result)
