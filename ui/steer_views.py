"""Steering on the Feature page: clamp the feature inside ESM-2 and show what the model
then predicts, the feature's amino-acid lens, and a one-click ablation of the selected
features (wild-type log-probability per residue, on the sequence and in 3D).

All computation is `interplm_core.steer.Steerer`, one per pipeline (a shared resource):
it caches the unsteered state of a protein and every steered run by its parameters, so
moving the slider back costs nothing and a new value costs half a forward pass.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from interplm_core import steer_figures, structure_view
from interplm_core.errors import InterPLMError
from interplm_core.steer import LENS_AMPLIFY, Steerer, lens_phrase, lens_word, prediction_changes

from . import panels, resources
from .loader import LoadedProtein

WHERE = ("fires", "range", "everywhere")
WHERE_LABELS = {"fires": "where it fires", "range": "a residue range", "everywhere": "everywhere"}
#: The clamp slider reaches this many times the feature's maximum.
CLAMP_RANGE = 4.0
ABLATION_COLOUR = "#6a3d9a"
MAX_LISTED = 30


@st.cache_resource(show_spinner=False, max_entries=4)
def _steerer(_pipeline, pipeline_id: int) -> Steerer:
    return Steerer(_pipeline)


def steerer() -> Steerer:
    """The steerer of this session's pipeline (shared by every session on the same weights)."""
    pipeline = resources.pipeline()
    return _steerer(pipeline, id(pipeline))


def feature_maximum(values: np.ndarray, normalized: bool) -> float:
    """What '1x' on the slider means: the feature's maximum on this protein, and at least 1
    for normalised features (the Swiss-Prot maximum); 1 for a raw feature silent here."""
    top = float(np.max(values, initial=0.0))
    if normalized:
        return max(top, 1.0)
    return top if top > 0 else 1.0


def lens_label(feature: int, protein: LoadedProtein) -> str:
    """The lens's one word for `feature` on this protein ('→C'), or '' (for label composition)."""
    try:
        lens = steerer().amino_acid_lens(protein.record.sequence, protein.layer, feature, protein.normalized)
    except InterPLMError:
        return ""
    return lens_word(lens)


def render_lens(protein: LoadedProtein, feature: int) -> None:
    """'Pushes ESM-2 towards C, away from G' with the 20-bar chart."""
    try:
        lens = steerer().amino_acid_lens(protein.record.sequence, protein.layer, feature, protein.normalized)
    except InterPLMError as err:
        st.error(str(err), icon=":material/error:")
        return
    word = lens_word(lens)
    st.markdown(f"#### Amino-acid lens{f' · {word}' if word else ''}")
    if lens is None:
        st.caption(f"f{feature} is {lens_phrase(lens)}.")
    else:
        st.caption(f"f{feature} {lens_phrase(lens)}: mean change in ESM-2's log-probability per amino acid "
                   f"when f{feature} is clamped to {LENS_AMPLIFY:g}× its maximum where it fires on this protein.")
        st.plotly_chart(steer_figures.lens_figure(lens, feature), key="lens_chart", config={"displaylogo": False})


def _positions(protein: LoadedProtein, values: np.ndarray) -> np.ndarray | None:
    """The residues the user chose to steer (1-based), or None with a note when there are none."""
    where = st.session_state["steer_where"]
    length = len(protein.record.sequence)
    if where == "everywhere":
        return np.arange(1, length + 1)
    if where == "range":
        low, high = st.session_state["steer_range"]
        return np.arange(int(low), int(high) + 1)
    fires = np.flatnonzero(values > 0) + 1
    if fires.size == 0:
        st.info("This feature is silent on this protein: choose a residue range or everywhere.")
        return None
    return fires


def _reset_controls(feature: int, protein: LoadedProtein, top: float) -> None:
    """New feature or protein: slider to 2x the maximum, range to the whole chain."""
    length = len(protein.record.sequence)
    for key in ("steer_value", "steer_where", "steer_range"):  # keep them while another page runs
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    owner = (feature, protein.input_key, protein.layer, protein.normalized)
    if st.session_state.get("_steer_for") != owner or "steer_value" not in st.session_state:
        st.session_state["_steer_for"] = owner
        st.session_state["steer_value"] = round(2.0 * top, 4)
        st.session_state["steer_range"] = (1, length)
    st.session_state.setdefault("steer_where", "fires")
    low, high = st.session_state.get("steer_range", (1, length))
    st.session_state["steer_range"] = (max(1, min(int(low), length)), max(1, min(int(high), length)))


def render_steering(protein: LoadedProtein, feature: int, values: np.ndarray) -> None:
    """Clamp slider, where, the residue x amino-acid change map and the changed predictions."""
    sequence = protein.record.sequence
    top = feature_maximum(values, protein.normalized)
    _reset_controls(feature, protein, top)
    st.markdown(f"#### Steer f{feature} in ESM-2")
    c1, c2 = st.columns([3, 2])
    c1.slider(f"Clamp f{feature} to (0 = ablate; 1× = {top:.3g}, its maximum here"
              f"{' or the Swiss-Prot maximum' if protein.normalized else ''})",
              0.0, round(CLAMP_RANGE * top, 4), step=round(top / 20, 6), key="steer_value", format="%.3f")
    c2.radio("Where", WHERE, key="steer_where", horizontal=True, format_func=WHERE_LABELS.get)
    if st.session_state["steer_where"] == "range" and len(sequence) > 1:
        st.slider("Residues", 1, len(sequence), key="steer_range")
    positions = _positions(protein, values)
    if positions is None:
        return
    value = float(st.session_state["steer_value"])
    started, runs = time.perf_counter(), steerer().model_runs
    try:
        result = steerer().steer(sequence, protein.layer, {feature: value}, positions, protein.normalized)
    except InterPLMError as err:
        st.error(str(err), icon=":material/error:")
        return
    seconds = time.perf_counter() - started
    st.caption(f"f{feature} clamped to {value:g} at {len(positions)} of {len(sequence)} residues · layer "
               f"{protein.layer} · {'cached' if steerer().model_runs == runs else f'{seconds * 1000:.0f} ms'}. Colour: change in probability (after − before); "
               "rings: the wild-type residue; squares at the bottom: steered residues.")
    st.plotly_chart(steer_figures.steer_delta_figure(result), key="steer_heatmap", config={"displaylogo": False})
    changes = prediction_changes(result)
    if not changes:
        st.caption("No position's most likely residue changes.")
        return
    listed = " · ".join(f"`{change}`" for change in changes[:MAX_LISTED])
    more = f" … and {len(changes) - MAX_LISTED} more" if len(changes) > MAX_LISTED else ""
    st.markdown(f"**Positions whose most likely residue changes** ({len(changes)}): {listed}{more}")


def render_ablation(protein: LoadedProtein, feature: int) -> None:
    """One click: ablate the selected features together; Δ log p of the wild type per residue, in 2D and 3D."""
    features = list(dict.fromkeys(list(st.session_state.get("selected") or []) or [feature]))
    names = ", ".join(f"f{f}" for f in features)
    st.markdown("#### How much ESM-2's predictions depend on the selected features")
    owner = (protein.input_key, protein.layer, protein.normalized, tuple(features))
    if st.button(f"Ablate {names} together", key="ablate_selected", icon=":material/block:"):
        st.session_state["_ablation_for"] = owner
    if st.session_state.get("_ablation_for") != owner:
        st.caption(f"Sets {names} to 0 at every residue and shows how the probability of each wild-type "
                   "residue changes.")
        return
    try:
        result = steerer().ablation(protein.record.sequence, protein.layer, features, protein.normalized)
    except InterPLMError as err:
        st.error(str(err), icon=":material/error:")
        return
    delta = result.wild_type_delta()
    st.plotly_chart(steer_figures.wild_type_dependence_figure(protein.record.sequence, delta, features),
                    key="ablation_chart", config={"displaylogo": False})
    loss = np.clip(-np.nan_to_num(delta), 0.0, None)
    most = np.argsort(-loss, kind="stable")[:5]
    listed = ", ".join(f"{protein.record.sequence[i]}{i + 1} ({delta[i]:+.2f})" for i in most if loss[i] > 0)
    st.caption(f"Mean Δ log p of the wild type {np.nanmean(delta):+.3f} nats; most dependent: {listed or 'none'}.")
    track = structure_view.FeatureTrack(features[0], loss, ABLATION_COLOUR, label="wild-type log p lost")
    legend = (f"<span style='color:{ABLATION_COLOUR}'>■</span> wild-type log-probability lost when {names} "
              "are ablated (darker: more)")
    panels.render_structure(protein, [track], "ablation3d", scale=max(float(loss.max(initial=0.0)), 1e-6),
                            legend=legend)
