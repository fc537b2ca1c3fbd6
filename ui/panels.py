"""Panels the pages assemble: the feature heatmap (with click selection), the 3D view and
the feature chooser. Each reads and writes the shared selection in session state."""

from __future__ import annotations

import html
from dataclasses import replace

import numpy as np
import streamlit as st

from interplm_core import figures, palette, structure_view
from interplm_core.ranking import rank_features
from interplm_core.session import LoadedProtein, plddt_per_position

from . import resources
from .annotations import chip_label, feature_names, overlap_table
from .atlas_views import atlas_percentiles
from .chart_clicks import chart_clicks
from .screen import is_dark
from .state import MAX_SELECTED, SORT_OPTIONS, is_current, set_selected, widget_key
from .viewer3d import live_viewer

SORT_LABELS = {"max": "highest activation", "mean": "mean activation", "first": "first position",
               "clustered": "clustered (co-firing together)", "annotation": "by annotation match"}


def select_clicked(point: dict) -> None:
    """A click on a heatmap row (a cell or its feature label) selects that feature.

    It goes in front of the selection (keeping up to two earlier picks); clicking a
    selected feature again un-selects it, unless it is the only one. Rows that are not
    features (annotation tracks, pLDDT) are ignored.
    """
    feature = figures.feature_from_label(str(point.get("y", "")).split(" ")[0])
    if feature is None:
        return
    selected = list(st.session_state["selected"])
    others = [f for f in selected if f != feature]
    if feature in selected and others:
        set_selected(others)
    else:
        set_selected([feature] + others)


def _sync_from_widget(key: str) -> None:
    """The user edited the chooser. An edit reported by a chooser that has since been replaced
    (the selection changed from code meanwhile) is dropped: it was made on an outdated view."""
    if is_current("selected_widget", key):
        st.session_state["selected"] = list(st.session_state.get(key, []))[:MAX_SELECTED]


def feature_chooser(options: list[int], names: dict[int, str] | None = None) -> list[int]:
    """Multiselect fallback for selecting features (the heatmap click does the same); chips
    carry each feature's best label (`names`). Its key changes with every selection made
    from code (`state.widget_key` says why)."""
    selected = st.session_state["selected"]
    opts = list(dict.fromkeys(list(selected) + list(options)))
    key = widget_key("selected_widget", list(selected))
    st.multiselect(
        "Selected features (up to 3; or click a row of the heatmap)", opts, key=key, max_selections=MAX_SELECTED,
        format_func=chip_label(names or {}), on_change=_sync_from_widget, args=(key,),
    )
    return st.session_state["selected"]


def displayed_features(protein: LoadedProtein) -> list[int]:
    """The heatmap's rows: the top N in the chosen order, then any selected feature not among them
    (so a selection made elsewhere, e.g. from the Annotations panel, is always outlined)."""
    n, order = int(st.session_state["top_n"]), st.session_state["sort"]
    activations = protein.result.activations
    if order == "annotation":
        shown = overlap_table(protein).order_by_annotation(n, rank_features(activations, n, "max"))
    else:
        shown = rank_features(activations, n, order)
    return shown + [f for f in st.session_state.get("selected", []) if f not in shown]


def heatmap_controls() -> None:
    c1, c2 = st.columns([1, 2])
    c1.slider("Top features (N)", 5, 100, key="top_n", step=5)
    c2.radio("Order by", SORT_OPTIONS, key="sort", horizontal=True, format_func=lambda s: SORT_LABELS[s])


def render_heatmap(protein: LoadedProtein, features: list[int], chart_key: str = "heatmap", height: int | None = None):
    """The heatmap with annotation / pLDDT / error tracks; returns the figure (for export)."""
    result = protein.result
    plddt = protein.structure.plddt if protein.structure is not None else None
    ranks = atlas_percentiles(protein.layer, result.normalized, features, result.activations[:, features])
    fig = figures.heatmap_figure(
        protein.record.sequence, result.activations, features, normalized=result.normalized,
        tracks=protein.tracks(), plddt=plddt, residue_error=result.residue_error,
        selected=st.session_state["selected"], dark=is_dark(), feature_names=feature_names(protein),
        percentiles=ranks.T if ranks is not None else None, height=height,
    )
    st.plotly_chart(
        fig, key=chart_key,
        config={"displaylogo": False, "scrollZoom": False,
                "toImageButtonOptions": {"format": "svg", "filename": f"interplm_{protein.record.id}_heatmap"}},
    )
    chart_clicks(chart_key, select_clicked)
    return fig


def structure_controls(prefix: str, has_plddt: bool) -> tuple[str, str, float]:
    c1, c2, c3 = st.columns(3)
    modes = ["features", "plddt"] if has_plddt else ["features"]
    mode = c1.radio("Colour by", modes, key=f"{prefix}_colour", horizontal=True,
                    format_func=lambda m: "selected features" if m == "features" else "pLDDT (confidence)")
    style = c2.radio("Style", structure_view.STYLES, key=f"{prefix}_style", horizontal=True)
    threshold = c3.slider("Sticks above activation", 0.0, 1.0, 0.5, 0.05, key=f"{prefix}_threshold")
    return mode, style, threshold


@st.cache_resource(show_spinner=False, max_entries=32)
def _scene(text: str, fmt: str, sequence: str, chain: str, placement: int, track_data: tuple, mode: str,
           plddt: np.ndarray | None, style: str, threshold: float, scale: float, dark: bool,
           markers: tuple = (), names: tuple | None = None, normalized: bool = True) -> structure_view.ViewerScene:
    """Cached by its arguments (arrays are hashed as bytes); a resource, not data: the scene is
    immutable, and a data cache would copy the structure text on every hit."""
    mapping = resources.residue_mapping(sequence, text, fmt, chain, placement)
    tracks = [structure_view.FeatureTrack(f, v, c, label) for f, v, c, label in track_data]
    colour_mode = mode if plddt is not None else "features"
    return structure_view.build_scene(
        text, fmt, mapping, tracks, colour_mode=mode, plddt=list(plddt) if plddt is not None else None, style=style,
        threshold=threshold, scale=scale, background=palette.VIEWER_BACKGROUND[dark], markers=markers,
        legend=structure_view.scene_legend(tracks, colour_mode, scale, normalized, names),
    )


def placement_chooser(protein: LoadedProtein, prefix: str):
    """Where a repeated chain sits on the sequence (1UBQ on the 9-repeat P0CG48): the user picks.

    The choice replaces the session's structure view, so the 3D view, the B-factor export
    and the PyMOL/ChimeraX scripts all follow it.
    """
    view = protein.structure
    mapping = view.mapping
    if not mapping.ambiguous:
        return view
    labels = mapping.describe_placements()
    chosen = st.selectbox(
        f"Chain {mapping.chain_id} fits {len(labels)} places on the sequence (repeats): show it at",
        range(1, len(labels) + 1), index=mapping.chosen, format_func=lambda i: labels[i - 1],
        key=f"{prefix}_placement",
    )
    if chosen != mapping.chosen + 1:
        remapped = resources.residue_mapping(protein.record.sequence, view.file.text, view.file.fmt,
                                             mapping.chain_id, chosen)
        plddt = plddt_per_position(remapped) if view.file.is_alphafold else None
        st.session_state["protein"] = replace(protein, structure=replace(view, mapping=remapped, plddt=plddt))
        st.rerun()  # so that everything drawn from the protein (exports too) uses the new placement
    return view


def render_structure(protein: LoadedProtein, tracks: list[structure_view.FeatureTrack], prefix: str,
                     scale: float | None = None, legend: str | None = None, *, height: int = 480,
                     compact: bool = False, markers: tuple = (), legend_names: tuple | None = None) -> None:
    """The one live 3D viewer of the page, coloured by `tracks` (or pLDDT).

    `compact` (presentation mode) puts the colour / style / sticks controls in a popover
    next to a one-line caption, so the viewer gets the height. `markers`: labelled spheres,
    (sequence position, label, colour)."""
    view = protein.structure
    if view is None:
        st.info("No structure for this protein: upload a PDB/mmCIF file or give a PDB ID to see features in 3D.")
        return
    view = placement_chooser(protein, prefix)
    if compact:
        caption, options = st.columns([5, 1], vertical_alignment="center")
        with options.popover("3D", width="stretch"):
            mode, style, threshold = structure_controls(prefix, view.plddt is not None)
    else:
        mode, style, threshold = structure_controls(prefix, view.plddt is not None)
        caption = st
    if scale is None:
        scale = structure_view.colour_scale([t.values for t in tracks], protein.normalized)
    track_data = tuple((t.feature, np.asarray(t.values, dtype=float), t.colour, t.label) for t in tracks)
    scene = _scene(view.file.text, view.file.fmt, protein.record.sequence, view.mapping.chain_id,
                   view.mapping.chosen + 1, track_data, mode,
                   view.plddt, style,
                   threshold * scale, scale, is_dark(), tuple(markers), legend_names, protein.normalized)
    if legend is None:
        legend = " ".join(f"<span style='color:{t.colour}'>■</span> f{t.feature}" for t in tracks) or "no feature selected"
    caption.markdown(f"{html.escape(view.file.source)}, chain {html.escape(view.mapping.chain_id)} · {legend}",
                     unsafe_allow_html=True)
    if not compact:
        for note in view.notes:
            st.caption(note)
    live_viewer(scene, key=f"{prefix}_viewer", js_url=resources.three_dmol_url(), height=height, dark=is_dark(),
                name=f"interplm_{protein.record.id}")


def selected_tracks(protein: LoadedProtein) -> list[structure_view.FeatureTrack]:
    return structure_view.default_tracks(st.session_state["selected"], protein.result.activations)

