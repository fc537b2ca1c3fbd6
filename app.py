"""InterPLM Explorer: look inside ESM-2 8M through the InterPLM sparse autoencoders.

Run: `streamlit run app.py`. This file sets up the page, the shared state (from the URL
on first load), the sidebar and the synthetic-weights banner, then runs the chosen page.
"""

import streamlit as st

from ui.loader import autoload_from_url, show_error
from ui.sidebar import apply_presentation_mode, render_sidebar, render_synthetic_banner
from ui.state import init_state, sync_url

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
render_sidebar()
render_synthetic_banner()
activity = st.empty()  # a shared link's loading progress; drawn on every run (see ui/loader.py)
try:
    autoload_from_url(activity)
    page.run()
except Exception as err:  # a bug must not show a traceback, nor erase the sidebar and banner
    show_error(err, "This page hit a problem")
sync_url()
