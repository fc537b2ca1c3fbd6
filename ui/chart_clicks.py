"""Clicks on a Plotly heatmap drawn by `st.plotly_chart`, delivered to Python.

Streamlit's own chart selections cover scatter-type traces only (clicks on `Heatmap`
cells arrive empty). This invisible v2 component listens to plotly.js in the page and
sends each click on a cell, or on a y-axis label, as a trigger; `on_click` runs before
the next script run, like any widget callback, so what it changes is drawn in that run.
Clicks made during a run are queued in the page until Python acknowledges them, so none
is lost when reruns pile up (see the JavaScript).
The JavaScript is in `chart_clicks.js` next to this file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

_JS = (Path(__file__).with_name("chart_clicks.js")).read_text(encoding="utf-8")
_COMPONENT = st.components.v2.component("interplm_chart_clicks", js=_JS)


def chart_clicks(chart_key: str, on_click: Callable[[dict], None]) -> None:
    """Listen to clicks on the chart drawn with `key=chart_key`; `on_click({"x", "y", ...})`."""
    key = f"{chart_key}_clicks"
    ack_key = f"_{key}_ack"

    def deliver() -> None:
        done = st.session_state.get(ack_key, 0)
        for click in sorted((st.session_state.get(key) or {}).get("clicks") or [], key=lambda c: c.get("at", 0)):
            if click.get("at", 0) > done:
                on_click(click)
                done = click.get("at", 0)
        st.session_state[ack_key] = done

    _COMPONENT(data={"chart": chart_key, "ack": st.session_state.get(ack_key, 0)}, key=key,
               on_clicks_change=deliver, height=0)
