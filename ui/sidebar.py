"""Sidebar status panel: which weights are loaded and from where, cache sizes, the offline
switch and presentation mode. Also the synthetic-weights banner every page shows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import PurePath

import streamlit as st

from interplm_core.errors import InterPLMError

from . import resources
from .screen import theme_switch

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
    """The full warning; in presentation mode a compact badge in the page's top bar instead."""
    if synthetic_state() and not st.session_state.get("presentation"):
        st.warning(
            "**Synthetic weights.** This app is running on randomly generated stand-ins for ESM-2 "
            "and the InterPLM SAEs. The features it shows mean nothing biologically; use them only "
            "to try the interface. Set `INTERPLM_WEIGHTS_DIR` to the real weights (or go online) "
            "for real features.",
            icon=":material/science:",
        )


def synthetic_badge() -> str:
    """Markdown for the compact synthetic-weights badge ('' with real weights)."""
    return ":orange-badge[:material/science: synthetic weights: features mean nothing]" if synthetic_state() else ""


def render_sidebar():
    """The sidebar's switches; returns the slot the status panel goes in, filled by
    `render_status` at the end of the run (so it shows this run's loads, not the last one's)."""
    with st.sidebar:
        try:
            offline = resources.offline()
        except InterPLMError as err:  # a bad setting (INTERPLM_*): say which, keep the page usable
            st.error(str(err), icon=":material/error:")
            offline = False
        st.toggle("Offline mode", key="offline", value=offline,
                  help="Use only cached downloads and weights already on disk; nothing is fetched.")
        st.toggle("Presentation mode", key="presentation",
                  help="Heatmap and 3D view side by side on one screen, large fonts, no app chrome: for talks.")
        theme_switch(st, key="dark_theme_sidebar")
        return st.empty()


def render_status(slot) -> None:
    """The status panel, drawn in `slot` at the end of the run (so it shows this run's loads)."""
    with slot.container(), st.expander("Status", expanded=False):
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
        for f in status["files"]:  # by file name: ESM-2 has two files (model, contact regression)
            st.caption(f"{f['what']}: {PurePath(f['path']).name} ({f['source_label']})")
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
html, body, [data-testid="stAppViewContainer"] { font-size: 18px; }
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], footer, #MainMenu,
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"] { display: none !important; }
[data-testid="stMainBlockContainer"] { padding: 0.6rem 1.2rem 1rem 1.2rem; max-width: 100%; }
[data-testid="stMarkdownContainer"] p, label, .stCaption { font-size: 1.05rem !important; }
</style>
"""


def apply_presentation_mode() -> None:
    """No header, toolbar, footer or sidebar, larger text (the page lays itself out to fit the
    window: see `presentation_bar` and app_pages/protein.py)."""
    if st.session_state.get("presentation"):
        st.html(PRESENTATION_CSS)


def _leave_presentation() -> None:
    st.session_state["presentation"] = False


def presentation_bar(title: str, menus: Sequence[tuple[str, str, Callable[[], None]]] = ()) -> None:
    """One line replacing the app chrome in presentation mode: the title with the synthetic
    badge, a popover per menu (label, icon, draw), the theme switch and a way out."""
    widths = [6] + [1.4] * len(menus) + [1.1, 1.1]
    cols = st.columns(widths, vertical_alignment="center")
    badge = synthetic_badge()
    cols[0].markdown(f"**{title}**" + (f" {badge}" if badge else ""))
    for col, (label, icon, draw) in zip(cols[1:], menus):
        with col.popover(label, icon=icon, width="stretch"):
            draw()
    theme_switch(cols[-2], key="dark_theme_bar")
    cols[-1].button("Exit", icon=":material/close_fullscreen:", on_click=_leave_presentation,
                    help="Leave presentation mode", width="stretch")
