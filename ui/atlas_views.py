"""The feature atlas in the app: a card per feature, feature search, and the map of all features.

The atlas is a directory built by `python -m interplm_core atlas build` and named by the
environment variable INTERPLM_ATLAS. Without it every view says how to build one and
the rest of the page works as before.

Entry points for the Feature page:
    render_atlas_section(feature, layer, result)  the atlas card of one feature
    render_feature_search(layer)                   search by concept / keyword / number
    render_feature_map(layer, highlight)           clickable map of all features
    open_feature(feature)                          make `feature` the selected one
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from interplm_core.atlas.layout import AtlasLayout
from interplm_core.atlas.reader import FeatureAtlas
from interplm_core.errors import InterPLMError
from interplm_core.settings import get_settings

from .state import set_selected

#: Session-state key of the feature the atlas views asked to open.
OPEN_KEY = "atlas_feature"


@st.cache_resource(show_spinner=False, max_entries=2)
def _open_atlas(path: str, manifest_mtime: float) -> FeatureAtlas:
    return FeatureAtlas(Path(path))


def current_atlas() -> FeatureAtlas | None:
    """The atlas named by INTERPLM_ATLAS (reopened when it is rebuilt), or None if unset.

    Raises InterPLMError (with a message for the user) if the path is not a finished atlas.
    """
    location = _atlas_location()
    return None if location is None else _open_atlas(*location)


def _atlas_location() -> tuple[str, float] | None:
    """(atlas folder, manifest mtime) from INTERPLM_ATLAS; the mtime keys the caches."""
    folder = get_settings().atlas
    if folder is None:
        return None
    manifest = AtlasLayout(folder).manifest_path
    return str(folder), (manifest.stat().st_mtime if manifest.is_file() else 0.0)


@st.cache_data(show_spinner=False, max_entries=8)
def _best_concepts(path: str, manifest_mtime: float, layer: int) -> dict[int, str]:
    points = _open_atlas(path, manifest_mtime).feature_map(layer)
    named = points[points["best_concept"] != ""]
    # best_f1 is InterPLM's ranking score, f1_per_domain (= f1 for residue-level concepts)
    return {int(f): f"{c} (F1 {s:.2f})" for f, c, s in zip(named["feature"], named["best_concept"], named["best_f1"])}


def best_concept_labels(layer: int) -> dict[int, str]:
    """Feature -> its best concept in the atlas (empty without an atlas, or for a layer it lacks)."""
    try:
        atlas = current_atlas()
    except InterPLMError:
        return {}  # the atlas card on the Feature page explains what is wrong with it
    if atlas is None or layer not in atlas.layers:
        return {}
    return _best_concepts(*_atlas_location(), layer)


def atlas_percentiles(layer: int, normalized: bool, features: list[int], values: np.ndarray) -> np.ndarray | None:
    """Percentiles [L, K] of `values` (the K `features`' activations) in the atlas, or None
    without an atlas of this layer on the same scale (normalised vs raw)."""
    try:
        atlas = current_atlas()
    except InterPLMError:
        return None
    if atlas is None or layer not in atlas.layers or (atlas.scale == "normalized") != normalized or not features:
        return None
    return atlas.percentiles(layer, features, values)


def open_feature(feature: int) -> None:
    """Make `feature` the one shown: first in the page's selection, and in OPEN_KEY."""
    st.session_state[OPEN_KEY] = int(feature)
    set_selected([int(feature), *st.session_state.get("selected", [])])


def _atlas_or_message(layer: int) -> FeatureAtlas | None:
    try:
        atlas = current_atlas()
    except InterPLMError as err:
        st.error(f"Feature atlas unavailable: {err}")
        return None
    if atlas is None:
        st.info(
            "No feature atlas configured. Build one over a protein collection and point the app at it:\n\n"
            "```\npython -m interplm_core atlas build --fasta proteins.fasta --layer 1-6 --out atlas/\n"
            "export INTERPLM_ATLAS=$PWD/atlas\n```\n"
            "Each feature then shows its top proteins, activation histogram, density and UniProt concepts.",
            icon=":material/inventory_2:",
        )
        return None
    if layer not in atlas.layers:
        st.info(f"The feature atlas covers layer(s) {', '.join(map(str, atlas.layers))}, not layer {layer}.")
        return None
    return atlas


# ---------------------------------------------------------------------------- the card


def render_atlas_section(feature: int, layer: int, result) -> None:
    """What `feature` of `layer` does across the atlas corpus, and on the current protein (`result`)."""
    st.subheader(f"Feature {feature} across proteins")
    atlas = _atlas_or_message(layer)
    if atlas is None:
        return
    try:
        card = atlas.feature(layer, feature)
    except InterPLMError as err:
        st.error(str(err))
        return
    scale = "normalised" if atlas.scale == "normalized" else "raw"
    corpus = atlas.manifest
    if atlas.synthetic:
        st.warning("This atlas was built with synthetic weights: its features mean nothing biologically.")
    st.caption(
        f"Atlas of {corpus['proteins']:,} proteins ({corpus['residues']:,} residues), {scale} activations."
    )
    if card["dead"]:
        st.info(f"Feature {feature} never fires in the atlas corpus.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Max activation", f"{card['max_activation']:.3f}", help="Highest activation over the corpus")
    c2.metric("Raw maximum", f"{card['max_raw']:.3f}", help="InterPLM's normalisation value: max of the raw feature")
    c3.metric("Residue density", f"{card['residue_frequency']:.2%}", help="Share of residues where it fires")
    c4.metric("Protein density", f"{card['protein_frequency']:.1%}", help="Share of proteins where it fires")
    _render_current_protein(atlas, layer, feature, card, result)
    if card["best_concept"]:
        st.markdown(
            f"**Best concept:** {html.escape(str(card['best_concept']))} "
            f"(F1 per domain {card['best_f1_per_domain']:.2f}, F1 {card['best_f1']:.2f}, precision "
            f"{card['best_precision']:.2f}, recall {card['best_recall']:.2f} at activation > {card['best_threshold']:g})"
        )
    _render_top_proteins(atlas, layer, feature)
    left, right = st.columns(2)
    with left:
        _render_histogram(atlas, layer, feature)
    with right:
        concepts = atlas.concepts(layer, feature, limit=8)
        if not concepts.empty:
            st.markdown("**Concepts** (best threshold each)")
            st.table(concepts[["concept", "threshold", "precision", "recall", "recall_per_domain", "f1",
                               "f1_per_domain"]].round(3).set_index("concept"))
        _render_similar(atlas, layer, feature)


def _render_current_protein(atlas: FeatureAtlas, layer: int, feature: int, card: dict, result) -> None:
    if result is None or getattr(result, "activations", None) is None:
        return
    values = np.asarray(result.activations[:, feature], dtype=np.float64)
    if not result.normalized and atlas.scale == "normalized":
        maximum = float(card["max_raw"]) or None
        note = "raw here; shown against the atlas's raw maximum"
        peak_share = float(values.max()) / maximum if maximum else 0.0
    else:
        peak_share = float(values.max()) / float(card["max_activation"]) if card["max_activation"] > 0 else 0.0
        note = "same scale as the atlas"
    firing = int((values > 0).sum())
    top = atlas.top_examples(layer, feature)
    rank = int((top["activation"].to_numpy() > values.max()).sum()) + 1 if not top.empty else 1
    where = int(values.argmax()) + 1
    st.markdown(
        f"**On {html.escape(result.record_id)}:** peak {values.max():.3f} at residue {where}, fires on {firing} of "
        f"{len(values)} residues; {peak_share:.0%} of the atlas maximum ({note})"
        + (f" - it would rank #{rank} among the atlas's top proteins." if values.max() > 0 else ".")
    )


def window_html(sequence: str, activations, peak_index: int, maximum: float) -> str:
    """A sequence window with each residue shaded by its activation; the peak is underlined."""
    maximum = maximum if maximum > 0 else 1.0
    cells = []
    for i, (letter, value) in enumerate(zip(sequence, activations)):
        alpha = 0.0 if value is None or not np.isfinite(value) else min(max(float(value) / maximum, 0.0), 1.0)
        style = f"background: rgba(230, 85, 13, {alpha:.2f}); padding: 0 1px;"
        if i == peak_index:
            style += " text-decoration: underline; font-weight: bold;"
        cells.append(f"<span style='{style}' title='{float(value or 0):.3f}'>{html.escape(letter)}</span>")
    return "<code style='font-size: 0.95em; letter-spacing: 1px;'>" + "".join(cells) + "</code>"


def _render_top_proteins(atlas: FeatureAtlas, layer: int, feature: int) -> None:
    top = atlas.top_examples(layer, feature)
    st.markdown("**Top proteins** (firing residues shaded)")
    if top.empty:
        st.caption("No protein of the corpus activates this feature.")
        return
    maximum = float(top["activation"].max())
    rows = []
    for row in top.itertuples():
        start = int(row.window_start)
        window = window_html(row.window_sequence, list(row.window_activations), int(row.position) - start, maximum)
        rows.append(
            f"<tr><td>{int(row.rank)}</td><td>{html.escape(row.record_id)}</td><td>{int(row.position)}</td>"
            f"<td>{float(row.activation):.3f}</td><td>{start}&nbsp;{window}</td></tr>"
        )
    st.markdown(
        "<table><tr><th>#</th><th>protein</th><th>peak</th><th>activation</th><th>window</th></tr>"
        + "".join(rows) + "</table>",
        unsafe_allow_html=True,
    )


def histogram_figure(histogram) -> go.Figure:
    """Bar chart of non-zero activations on the atlas's logarithmic bins (x: log10 activation)."""
    bins = histogram[histogram["count"] > 0]
    low, high = bins["low"].to_numpy(), bins["high"].to_numpy()
    width = 0.1  # bins are a tenth of a decade wide; the two open-ended bins are drawn as one more
    left = np.where(low > 0, np.log10(np.where(low > 0, low, 1)), np.log10(high) - width)
    fig = go.Figure(go.Bar(
        x=left + width / 2, y=bins["count"], width=width * 0.95, marker_color="#e6550d",
        hovertext=[f"{lo:.3g} to {hi:.3g}: {c} residues" for lo, hi, c in zip(low, high, bins["count"])],
        hoverinfo="text",
    ))
    ticks = list(range(-3, 3))
    fig.update_layout(height=220, margin=dict(l=10, r=10, t=30, b=10), title="Activation histogram (non-zero)",
                      xaxis=dict(title="activation", tickvals=ticks, ticktext=[f"{10.0 ** t:g}" for t in ticks]),
                      yaxis=dict(title="residues"))
    return fig


def _render_histogram(atlas: FeatureAtlas, layer: int, feature: int) -> None:
    histogram = atlas.histogram(layer, feature)
    if int(histogram["count"].sum()) == 0:
        return
    st.plotly_chart(histogram_figure(histogram), key=f"atlas_hist_{layer}_{feature}", config={"displaylogo": False})


def _render_similar(atlas: FeatureAtlas, layer: int, feature: int) -> None:
    similar = atlas.similar(layer, feature, 6)
    if similar.empty:
        return
    st.markdown("**Similar features** (decoder cosine)")
    columns = st.columns(3)
    for i, row in enumerate(similar.itertuples()):
        columns[i % 3].button(
            f"f{int(row.feature)} ({row.cosine:.2f})", key=f"atlas_similar_{layer}_{feature}_{int(row.feature)}",
            on_click=open_feature, args=(int(row.feature),),
        )


# ---------------------------------------------------------------------------- search and map


def render_feature_search(layer: int, key: str = "atlas_search") -> None:
    """Search box: concept (e.g. 'zinc', 'Active site'), protein keyword, or feature number.

    Picking a result opens that feature (first in the selection) before the next run.
    """
    atlas = _atlas_or_message(layer)
    if atlas is None:
        return
    text = st.text_input("Find features by concept, keyword or number", key=key,
                         placeholder="e.g. Disulfide bond, kinase, 1234")
    if not text.strip():
        return
    try:
        found = atlas.search(layer, text, limit=50)
    except InterPLMError as err:
        st.error(str(err))
        return
    if found.empty:
        st.caption(f"No feature of layer {layer} matches '{text}'.")
        return
    results_key = f"{key}_results"

    def picked() -> None:  # a callback: runs only when the pick changes, before the next run
        rows = st.session_state[results_key].selection.rows
        if rows:
            open_feature(int(found.iloc[rows[0]]["feature"]))

    st.dataframe(found, key=results_key, hide_index=True, on_select=picked, selection_mode="single-row")


def feature_map_figure(points, highlight: int | None = None) -> go.Figure:
    """Scatter of all live features (decoder-vector map), coloured by residue density."""
    fig = go.Figure(go.Scattergl(
        x=points["map_x"], y=points["map_y"], mode="markers",
        marker=dict(size=4, color=np.log10(points["residue_frequency"].clip(lower=1e-6)), colorscale="Viridis",
                    colorbar=dict(title="log10 density")),
        customdata=points["feature"],
        text=[f"f{f}" + (f": {c} (F1 {s:.2f})" if c else "")
              for f, c, s in zip(points["feature"], points["best_concept"], points["best_f1"])],
        hovertemplate="%{text}<extra></extra>",
    ))
    if highlight is not None:
        here = points[points["feature"] == highlight]
        if not here.empty:
            fig.add_trace(go.Scattergl(x=here["map_x"], y=here["map_y"], mode="markers", hoverinfo="skip",
                                       marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2, color="red"))))
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=30, b=10), showlegend=False,
                      title="All features (2-D map of decoder directions; click to open)",
                      xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False), dragmode="pan")
    return fig


def render_feature_map(layer: int, highlight: int | None = None, key: str = "atlas_map") -> None:
    """The interactive map of all features; a clicked point opens that feature before the next run."""
    atlas = _atlas_or_message(layer)
    if atlas is None:
        return
    points = atlas.feature_map(layer)
    if points.empty:
        st.caption("No live features to map.")
        return
    method = atlas.manifest.get("map_method", "pca")
    chart_key = f"{key}_{layer}"

    def picked() -> None:  # a callback: runs only when the pick changes, before the next run
        points = st.session_state[chart_key].selection.points
        if points:
            chosen = points[0].get("customdata")
            open_feature(int(chosen[0] if isinstance(chosen, (list, tuple)) else chosen))

    st.plotly_chart(feature_map_figure(points, highlight), key=chart_key, on_select=picked,
                    selection_mode=("points",), config={"displaylogo": False})
    st.caption("Map: " + ("UMAP of decoder vectors (cosine)." if method == "umap" else
                          "first two principal components of the unit decoder vectors (a linear projection)."))
