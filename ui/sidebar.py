"""Sidebar status panel: which weights are loaded and from where, cache sizes, the offline
switch and presentation mode. Also the synthetic-weights banner every page shows."""

from __future__ import annotations

import logging

import streamlit as st

from interplm_core.errors import InterPLMError

from . import resources

log = logging.getLogger(__name__)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def synthetic_state() -> bool | None:
    """True when the loaded (or about to be loaded) weights are synthetic; None if unknown.

    Never raises: a damaged weights file or an unusable cache folder is reported by the
    status panel and by the analysis itself, not by crashing every page here.
    """
    try:
        loaded = resources.pipeline().synthetic
        return loaded if loaded is not None else resources.weights_dir_is_synthetic()
    except (InterPLMError, OSError) as err:
        log.warning("weights status unavailable: %s", err)
        return None


def render_synthetic_banner() -> None:
    if synthetic_state():
        st.warning(
            "**Synthetic weights.** This app is running on randomly generated stand-ins for ESM-2 "
            "and the InterPLM SAEs. The features it shows mean nothing biologically; use them only "
            "to try the interface. Set `INTERPLM_WEIGHTS_DIR` to the real weights (or go online) "
            "for real features.",
            icon=":material/science:",
        )


def render_sidebar() -> None:
    with st.sidebar:
        try:
            offline = resources.offline()
        except InterPLMError as err:  # a bad setting (INTERPLM_*): say which, keep the page usable
            st.error(str(err), icon=":material/error:")
            offline = False
        st.toggle("Offline mode", key="offline", value=offline,
                  help="Use only cached downloads and weights already on disk; nothing is fetched.")
        st.toggle("Presentation mode", key="presentation",
                  help="Large fonts and no app chrome, for talks. Light/dark: ⋮ menu > Settings.")
        with st.expander("Status", expanded=False):
            try:
                _render_status()
            except (InterPLMError, OSError) as err:  # the status must never take the page down
                st.warning(f"Status unavailable: {err}", icon=":material/warning:")


def _render_status() -> None:
    status = resources.pipeline().status()
    synthetic = synthetic_state()
    kind = "synthetic (meaningless features)" if synthetic else ("real" if synthetic is False else "not loaded yet")
    st.markdown(f"**Model** {status['model']}  \n**Weights** {kind}")
    if status["files"]:
        for f in status["files"]:
            st.caption(f"{f['what']}: {f['source_label']}")
    else:
        st.caption("Weights load on the first analysis.")
    sizes = resources.cache_sizes()
    downloads = sizes["downloads"]
    st.markdown(f"**Cache** features {_size(sizes['features'])}, "
                f"downloads {downloads if isinstance(downloads, str) else _size(downloads)}")
    st.caption(f"Offline: {'on' if resources.offline() else 'off'} · cache in {resources.settings().cache_dir}")
    stats = status["stats"]
    st.caption(f"Model runs {stats['model_calls']}, cache hits {stats['memory_hits'] + stats['disk_hits']}")


PRESENTATION_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], footer, #MainMenu { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: 1rem; max-width: 100%; }
h1 { font-size: 2.6rem !important; } h2 { font-size: 2.0rem !important; } h3 { font-size: 1.6rem !important; }
[data-testid="stMarkdownContainer"] p, label, .stCaption { font-size: 1.15rem !important; }
</style>
"""


def apply_presentation_mode() -> None:
    """Large fonts, no header/toolbar/footer (the theme itself comes from .streamlit/config.toml)."""
    if st.session_state.get("presentation"):
        st.html(PRESENTATION_CSS)
