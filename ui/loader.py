"""Load what the user asked for into the session, with progress, through the core's
application layer (`interplm_core.session`).

Everything slow runs inside `st.status` with a progress bar, so the page never looks
frozen. Failures raise InterPLMError with a user-facing message; the caller shows it
and keeps the previous protein on screen.
"""

from __future__ import annotations

import logging

import streamlit as st

from interplm_core import session
from interplm_core.errors import InterPLMError
from interplm_core.memory_cache import return_freed_memory
from interplm_core.session import LoadedProtein, ProteinRequest

from . import resources
from .panels import displayed_features
from .state import set_selected

log = logging.getLogger(__name__)


def load_protein(request: ProteinRequest, layer: int, normalized: bool) -> LoadedProtein:
    """`session.load_protein` with the app's cached sources, its steps shown in `st.status`."""
    with st.status("Loading…", expanded=False) as status:
        bar = None

        def on_progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = st.progress(0.0, text=f"ESM-2 + SAE layer {layer}")
            bar.progress(done / max(total, 1), text=f"{done}/{total} sequences")

        try:
            loaded = session.load_protein(
                request, resources.pipeline(), layer, normalized, sources=resources.sources(),
                on_step=lambda label: status.update(label=label), on_progress=on_progress,
            )
        except Exception:
            status.update(label="Could not load this protein (see the message below)", state="error")
            raise
        if bar is not None:
            bar.empty()
        status.update(state="complete")
        return_freed_memory()  # what the caches evicted goes back to the system (see memory_cache)
        return loaded


def recompute(protein: LoadedProtein, layer: int, normalized: bool, slot) -> LoadedProtein:
    """The same protein at another model, layer or scale (structure and entry kept); progress in
    `slot` (see `load_into_session`)."""
    with slot.container(), st.spinner(f"Computing layer {layer} features…"):
        loaded = session.recompute(protein, resources.pipeline(), layer, normalized)
    return_freed_memory()
    return loaded


def show_error(err: BaseException, what: str = "This did not work") -> None:
    """A friendly message in the page (never a traceback); the previous view stays."""
    if isinstance(err, InterPLMError):
        st.error(f"{what}: {err}", icon=":material/error:")
    else:
        log.error("unexpected error: %s", what, exc_info=err)
        st.error(
            f"{what}: an unexpected {type(err).__name__} occurred ({err}). The previous result is kept; "
            "please report this with the input you used.", icon=":material/error:",
        )


def load_into_session(request: ProteinRequest, slot) -> bool:
    """Load `request` as the current protein; on failure show why and keep the previous one.

    Progress and errors go into `slot`, an `st.empty()` the page draws on *every* run at the
    same place: an element that appears only in a loading run shifts everything after it, and
    Streamlit then rebuilds the whole page below (the chart and the live 3D viewer included)
    in that run and again in the next.
    """
    with slot.container():
        try:
            previous = st.session_state.get("protein")
            loaded = load_protein(request, int(st.session_state["layer"]), bool(st.session_state["normalized"]))
        except Exception as err:  # shown to the user, never a traceback; the last good view stays
            show_error(err, "Could not load this protein")
            return False
    st.session_state["protein"] = loaded
    st.session_state["loaded_input"] = loaded.input_key
    if previous is None:  # the first protein of the session: features from a shared link are kept
        set_selected(st.session_state["selected"] or displayed_features(loaded)[:1])
    elif previous.record.sequence != loaded.record.sequence:
        # Another protein: features, mutations and a comparison of the last one do not carry over.
        set_selected(displayed_features(loaded)[:1])
        st.session_state["mutations"] = ""
        st.session_state.pop("compared_mutations", None)
        st.session_state.pop("comparison", None)
    return True


def autoload_from_url(slot) -> None:
    """A shared link names a protein (acc= or seq=): load it once, whatever page it opens;
    progress in `slot` (see `load_into_session`)."""
    if not st.session_state.get("_autoload"):
        return
    s = st.session_state
    if s["source"] == "UniProt":
        request = ProteinRequest(accession=s["query"], pdb_id=s["pdb_id"] or None)
    else:
        request = ProteinRequest(text=s["sequence_text"], pdb_id=s["pdb_id"] or None)
    load_into_session(request, slot)
    # Cleared only now: a run cut short by a rerun (the window reporting its size) tries again.
    s.pop("_autoload", None)
