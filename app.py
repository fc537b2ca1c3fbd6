"""InterPLM Explorer: look inside ESM-2 8M through the InterPLM sparse autoencoders.

Run: `streamlit run app.py`. This file sets up the page, the shared state (from the URL
on first load), the sidebar and the synthetic-weights banner, then runs the chosen page.
"""

import streamlit as st

from ui.loader import autoload_from_url, show_error
from ui.screen import track_window
from ui.sidebar import (
    apply_presentation_mode,
    presentation_bar,
    render_sidebar,
    render_status,
    render_synthetic_banner,
)
from ui.state import EndOfPage, init_state, sync_url

# An emoji icon: a Material icon as favicon is fetched from fonts.gstatic.com (fails offline).
st.set_page_config(page_title="InterPLM Explorer", page_icon="🧬", layout="wide")
init_state()
apply_presentation_mode()

pages = [
    st.Page("app_pages/protein.py", title="Protein", icon=":material/biotech:", default=True),
    st.Page("app_pages/feature.py", title="Feature", icon=":material/search:", url_path="feature"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
]
page = st.navigation(pages)
status_slot = render_sidebar()
track_window()
render_synthetic_banner()
if st.session_state["presentation"] and page.url_path:  # the Protein page draws its own bar
    presentation_bar(page.title)
activity = st.empty()  # a shared link's loading progress; drawn on every run (see ui/loader.py)
if st.session_state.get("_link_problem"):
    activity.error(f"This link's protein could not be opened: {st.session_state.pop('_link_problem')}",
                   icon=":material/link_off:")
try:
    before = st.session_state.get("protein")
    autoload_from_url(activity)
    if st.session_state["presentation"] and st.session_state.get("protein") is not before:
        activity.empty()  # presentation mode: the "Loaded …" note would push the view down
    page.run()
except EndOfPage:
    pass  # the page drew all it could (e.g. no protein yet); the status and URL below still follow
except Exception as err:  # a bug must not show a traceback, nor erase the sidebar and banner
    show_error(err, "This page hit a problem")
render_status(status_slot)  # after the page: it shows what this run loaded
sync_url()
