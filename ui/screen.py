"""The browser window's size and the in-app light/dark switch (Streamlit v2 component,
JavaScript in `screen.js` next to this file).

Why: presentation mode fits the heatmap and the 3D view to the window, which the server
cannot otherwise see; and the theme menu of Streamlit's toolbar is hidden by
`toolbarMode = "minimal"`, so the app offers its own switch (it sets the same stored
preference as that menu, then reloads; the URL reopens the same view).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

_JS = (Path(__file__).with_name("screen.js")).read_text(encoding="utf-8")
_COMPONENT = st.components.v2.component("interplm_screen", js=_JS)
_KEY = "_screen"
#: Assumed until the browser has reported its window (a projector's 1280 x 720).
DEFAULT_SIZE = {"w": 1280, "h": 720}


def is_dark() -> bool:
    try:
        return st.context.theme.type == "dark"
    except AttributeError:
        return False


def window_size() -> dict:
    """{"w", "h"} of the browser window in CSS pixels (DEFAULT_SIZE until it is known)."""
    size = (st.session_state.get(_KEY) or {}).get("size")
    if isinstance(size, dict) and all(isinstance(size.get(k), (int, float)) and size[k] > 0 for k in ("w", "h")):
        return {"w": int(size["w"]), "h": int(size["h"])}
    return dict(DEFAULT_SIZE)


def track_window() -> None:
    """Draw the (invisible) component once per run; it reports the window size and carries
    out a theme switch requested by `theme_switch`."""
    request = st.session_state.pop("_theme_request", None)
    # The size is asked for only where a layout uses it (presentation mode), and sent only when
    # it differs from what Python assumes: no extra run otherwise (a 1280x720 window costs none).
    wanted = bool(st.session_state.get("presentation"))
    _COMPONENT(data={"known": window_size(), "wanted": wanted, "theme": request}, key=_KEY,
               default={"size": None}, on_size_change=lambda: None, height=0)


def _request_theme(key: str) -> None:
    wanted = "dark" if st.session_state.get(key) else "light"
    if wanted != ("dark" if is_dark() else "light"):
        st.session_state["_theme_request"] = wanted


def theme_switch(where=st, key: str = "dark_theme") -> None:
    """A 'Dark' toggle that switches the app's theme (the page reloads into the same view)."""
    st.session_state[key] = is_dark()
    where.toggle("Dark", key=key, on_change=_request_theme, args=(key,),
                 help="Light or dark theme (the page reloads with the same view).")
