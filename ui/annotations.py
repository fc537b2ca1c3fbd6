"""The Annotations panel of the Protein page, and the names every feature carries in the app.

A feature's name is its atlas concept when an atlas covers the layer, else the annotation
of the loaded protein it marks best (F1 >= 0.5, see interplm_core.overlap). The overlap
table is computed once per protein, layer, scale and set of tracks, and kept in session
state (its arrays are [annotations x 10,240]; hashing the activations for st.cache_data
on every run would cost more than it saves).
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from interplm_core import figures
from interplm_core.errors import InterPLMError
from interplm_core.overlap import OverlapTable, annotation_label, parse_user_tracks, score_overlap

from .atlas_views import best_concept_labels
from .state import MAX_SELECTED, set_selected

_TABLE_KEY = "_overlap_table"
_TRACKS_KEY = "user_tracks"  # {sequence digest: [Annotation]} uploaded by the user
_PANEL_KEY = "annotation_rows"
#: Largest track file read (a few hundred rows are a few kB).
MAX_TRACK_BYTES = 200_000


def _digest(sequence: str) -> str:
    return hashlib.sha256(sequence.encode()).hexdigest()[:16]


def user_tracks(protein) -> list:
    return list(st.session_state.get(_TRACKS_KEY, {}).get(_digest(protein.record.sequence), []))


def overlap_table(protein) -> OverlapTable:
    """The protein's overlap table (UniProt's located features, then the user's tracks)."""
    annotations = (list(protein.entry.located) if protein.entry is not None else []) + user_tracks(protein)
    key = (_digest(protein.record.sequence), protein.layer, protein.normalized, tuple(annotations))
    kept = st.session_state.get(_TABLE_KEY)
    if kept is None or kept[0] != key:
        kept = (key, score_overlap(protein.result.activations, annotations))
        st.session_state[_TABLE_KEY] = kept
    return kept[1]


def feature_names(protein) -> dict[int, str]:
    """Feature -> its best label: the atlas concept, else the best annotation on this protein."""
    names = overlap_table(protein).feature_names()
    names.update(best_concept_labels(protein.layer))
    return names


def feature_title(feature: int, names: dict[int, str]) -> str:
    """'f5190 · Disulfide bond 30–148 (F1 0.91)' in full, or 'f5190'."""
    return f"f{feature} · {names[feature]}" if names.get(feature) else f"f{feature}"


def _select_annotation() -> None:
    """A row picked in the panel selects the features that mark that annotation best."""
    state = st.session_state.get(_PANEL_KEY)
    rows = state.selection.rows if state is not None else []
    choices = st.session_state.get("_annotation_choices", [])
    if rows and rows[0] < len(choices) and choices[rows[0]]:
        set_selected(list(choices[rows[0]])[:MAX_SELECTED])


def _read_upload(protein) -> None:
    upload = st.session_state.get("user_tracks_file")
    digest = _digest(protein.record.sequence)
    tracks = dict(st.session_state.get(_TRACKS_KEY, {}))
    if upload is None:
        tracks.pop(digest, None)
    else:
        data = upload.getvalue()
        if len(data) > MAX_TRACK_BYTES:
            st.session_state["_tracks_error"] = f"{upload.name} is larger than {MAX_TRACK_BYTES // 1000} kB."
            return
        try:
            tracks[digest] = parse_user_tracks(data.decode("utf-8", errors="replace"), len(protein.record.sequence),
                                               source=upload.name)
        except InterPLMError as err:
            st.session_state["_tracks_error"] = str(err)
            return
    st.session_state.pop("_tracks_error", None)
    st.session_state[_TRACKS_KEY] = tracks


def render_annotations_panel(protein) -> None:
    """Each annotation of the protein with the features that mark it best; a click selects them."""
    table = overlap_table(protein)
    with st.expander(f"Annotations · {len(table.annotations)} on this protein, with the features that mark them",
                     expanded=True):
        st.caption(
            "F1 of each feature against the residues an annotation marks (a disulfide bond marks its two "
            "cysteines), at InterPLM's best threshold (activation > 0, 0.15, 0.5, 0.6 or 0.8). "
            "Click a row to select its best features."
        )
        st.file_uploader("Add your own tracks (TSV or CSV: start, end, label; 1-based)", type=["tsv", "csv", "txt"],
                         key="user_tracks_file", on_change=_read_upload, args=(protein,))
        if st.session_state.get("_tracks_error"):
            st.error(st.session_state["_tracks_error"], icon=":material/error:")
        if not table.annotations:
            st.info("No located UniProt annotation for this protein: upload tracks above to score features against them.")
            return
        rows, choices = [], []
        for index, annotation in enumerate(table.annotations):
            top = table.top(index, MAX_SELECTED)
            choices.append([m.feature for m in top])
            rows.append({
                "annotation": annotation_label(annotation),
                "residues": len(table.residues[index]),
                "best features": ", ".join(f"f{m.feature} (F1 {m.f1:.2f})" for m in top) or "none fires on it",
                "best F1": round(top[0].f1, 3) if top else 0.0,
            })
        st.session_state["_annotation_choices"] = choices
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=_PANEL_KEY, on_select=_select_annotation,
                     selection_mode="single-row", width="stretch", height=min(38 + 35 * len(rows), 320))


def chip_label(names: dict[int, str]):
    """format_func of the selected-features chips: the feature's label, cut like the heatmap's."""
    return lambda f: figures.named_feature_label(f, names.get(f))
