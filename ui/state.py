"""The whole view state (input, layer, features, options) in session state and in the URL.

Why both: session state survives reruns and keeps the last good result when new input
fails; query parameters make a link reopen the same view. The URL is read once per
session (on the first run) and rewritten after every run from session state.
"""

from __future__ import annotations

import streamlit as st

from interplm_core import shared_sequences
from interplm_core.errors import InterPLMError
from interplm_core.ranking import SORT_CHOICES
from interplm_core.registry import DEFAULT_MODEL, MODELS, get_model_spec

#: Pasted sequences longer than this stay out of the URL (browsers cap URL length).
MAX_URL_SEQUENCE = 1500
MAX_SELECTED = 3
#: Heatmap orders: the figure's own, and "annotation" (grouped under the annotations they mark, ui/panels.py).
SORT_OPTIONS = (*SORT_CHOICES, "annotation")

DEFAULTS = {
    "source": "Example",  # Example | UniProt | Sequence | Upload
    "query": "P61626",  # UniProt accession or entry name
    "sequence_text": "",
    "pdb_id": "",
    "model": DEFAULT_MODEL,  # a key of interplm_core.registry.MODELS
    "layer": get_model_spec(DEFAULT_MODEL).default_layer,
    "normalized": True,
    "top_n": 30,
    "sort": "max",
    "selected": [],
    "presentation": False,
    "mutations": "",
    "compare_text": "",
}


class EndOfPage(Exception):
    """Raised by a page that has drawn all it can (no protein yet, nothing to compare): app.py
    catches it and still draws the status panel and writes the URL, which `st.stop()` would skip
    (after it, Streamlit drops every further element of the run)."""


def end_page() -> None:
    """End the current page here; the rest of app.py's run goes on (see `EndOfPage`)."""
    raise EndOfPage


def init_state() -> None:
    """Fill session state from the defaults and, on the first run of a session, the URL.

    Re-assigning every kept key at the start of each run is Streamlit's documented way to
    keep a widget's value when a run does not draw that widget (another page, an early
    stop, a run cut short by a click): otherwise Streamlit drops the key, and the view
    would fall back to its default.
    """
    for key, value in DEFAULTS.items():
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
        else:
            st.session_state[key] = list(value) if isinstance(value, list) else value
    if st.session_state.get("_url_read"):
        return
    st.session_state["_url_read"] = True
    apply_query_params(dict(st.query_params))


def apply_query_params(params: dict) -> None:
    """Copy recognised, valid query parameters into session state (invalid ones are ignored)."""
    s = st.session_state
    if params.get("acc"):
        s["source"], s["query"] = "UniProt", params["acc"].strip()[:40]
        s["_autoload"] = True
    elif params.get("seq"):
        seq = str(params["seq"]).strip()
        if seq.startswith(shared_sequences.PREFIX):
            try:
                s["source"], s["sequence_text"] = "Sequence", shared_sequences.resolve(seq, _cache_dir())
                s["_autoload"] = True
            except InterPLMError as err:
                s["_link_problem"] = str(err)
        else:
            s["source"], s["sequence_text"] = "Sequence", seq[:MAX_URL_SEQUENCE * 2]
            s["_autoload"] = True
    if params.get("pdb"):
        s["pdb_id"] = params["pdb"].strip()[:12]
    if params.get("model") in MODELS:
        s["model"] = params["model"]
    spec = get_model_spec(s["model"])
    if str(params.get("layer", "")).isdigit() and int(params["layer"]) in spec.sae_layers:
        s["layer"] = int(params["layer"])
    elif s["layer"] not in spec.sae_layers:
        s["layer"] = spec.default_layer
    if params.get("raw") == "1":
        s["normalized"] = False
    if str(params.get("n", "")).isdigit():
        s["top_n"] = min(max(int(params["n"]), 5), 100)
    if params.get("sort") in SORT_OPTIONS:
        s["sort"] = params["sort"]
    if params.get("f"):
        s["selected"] = parse_feature_list(params["f"], spec.dict_size)
    if params.get("present") == "1":
        s["presentation"] = True
    if params.get("mut"):
        s["mutations"] = params["mut"][:400]
        s["compare_mode"] = "Point mutations"
        s["_autocompare"] = bool(s.get("_autoload"))  # the Compare page runs it once the protein is in


def parse_feature_list(text: str, dict_size: int) -> list[int]:
    """'12,345' -> [12, 345]; ignores anything that is not a feature id below `dict_size`,
    keeps at most three."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip().lstrip("f")
        if part.isdigit() and 0 <= int(part) < dict_size and int(part) not in out:
            out.append(int(part))
    return out[:MAX_SELECTED]


def current_query_params() -> dict[str, str]:
    """The URL parameters that reproduce the loaded view."""
    s = st.session_state
    params: dict[str, str] = {}
    loaded = s.get("loaded_input")
    if loaded:
        kind, value = loaded
        if kind == "acc":
            params["acc"] = value
        elif kind == "seq" and len(value) <= MAX_URL_SEQUENCE:
            params["seq"] = value
        elif kind == "seq":
            reference = _stored_reference(value)
            if reference:
                params["seq"] = reference
    if s.get("pdb_id"):
        params["pdb"] = s["pdb_id"]
    params["model"] = s["model"]
    params["layer"] = str(s["layer"])
    if not s["normalized"]:
        params["raw"] = "1"
    if s["top_n"] != DEFAULTS["top_n"]:
        params["n"] = str(s["top_n"])
    if s["sort"] != DEFAULTS["sort"]:
        params["sort"] = s["sort"]
    if s["selected"]:
        params["f"] = ",".join(str(f) for f in s["selected"])
    if s["presentation"]:
        params["present"] = "1"
    if s.get("compared_mutations"):  # only mutations that were accepted and compared
        params["mut"] = s["compared_mutations"]
    return params


def _cache_dir():
    from . import resources

    return resources.settings().cache_dir


def _stored_reference(sequence: str) -> str | None:
    """`sha256:…` for a sequence too long for the URL, stored once per session and content
    (None if it cannot be stored: `share_note` then says the link will not carry it)."""
    s = st.session_state
    cached = s.get("_stored_sequence")
    if cached and cached[0] == sequence:
        return cached[1]
    try:
        reference = shared_sequences.store(sequence, _cache_dir())
    except OSError:
        reference = None
    s["_stored_sequence"] = (sequence, reference)
    return reference


def share_note() -> str:
    """What the address bar carries, said plainly (long sequences are the exception)."""
    loaded = st.session_state.get("loaded_input")
    if loaded and loaded[0] == "upload":
        return ("The address bar holds the view (layer, features, options) but not the uploaded file: "
                "the person you share it with has to upload it too.")
    if loaded and loaded[0] == "seq" and len(loaded[1]) > MAX_URL_SEQUENCE:
        if _stored_reference(loaded[1]):
            return (f"The sequence ({len(loaded[1]):,} residues) is too long for an address: the link carries "
                    "its SHA-256 and this server keeps the sequence, so the link opens on this server (or one "
                    "sharing its cache folder) only.")
        return (f"The sequence ({len(loaded[1]):,} residues) is too long for an address and could not be "
                "stored on the server: the link will NOT carry it; share the sequence itself.")
    return "The address bar holds this view (protein, layer, features, options): copy it to share."


def sync_url() -> None:
    """Rewrite the query string from session state (only when it changed, to avoid history spam)."""
    wanted = current_query_params()
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


def on_model_change() -> None:
    """A newly chosen model keeps the layer if it has an SAE there, else opens at its default."""
    spec = get_model_spec(st.session_state["model"])
    if st.session_state["layer"] not in spec.sae_layers:
        st.session_state["layer"] = spec.default_layer


def set_selected(features: list[int]) -> None:
    """Select up to three features everywhere (heatmap, 3D view, feature page, URL)."""
    unique: list[int] = []
    for f in features:
        if int(f) not in unique:
            unique.append(int(f))
    st.session_state["selected"] = unique[:MAX_SELECTED]


def widget_key(name: str, shown) -> str:
    """The key to draw widget `name` under so that it shows `shown`, a value set from code
    (the feature chooser, the Feature page's feature id).

    When the widget last held something else, the key changes: the widget drawn is a new one.
    Why not write the new value into one fixed key: a browser that has not yet drawn it
    reports the old value with its next event (a second click during the first one's run),
    and Streamlit takes any difference for the user's edit, whose callback would undo the
    change made from code. Callbacks ask `is_current` and ignore a replaced widget's report.
    """
    versions = st.session_state.setdefault("_widget_versions", {})
    key = f"{name}_{versions.get(name, 0)}"
    if key in st.session_state and st.session_state[key] != shown:
        versions[name] = versions.get(name, 0) + 1
        key = f"{name}_{versions[name]}"
    if key not in st.session_state:
        st.session_state[key] = shown
    return key


def is_current(name: str, key: str) -> bool:
    """Is `key` the one widget `name` is drawn under now (see `widget_key`)?"""
    return key == f"{name}_{st.session_state.get('_widget_versions', {}).get(name, 0)}"
