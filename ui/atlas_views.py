"""The feature atlas card on the Feature page.

Placeholder until the atlas (interplm_core.atlas) is built: helper-3 replaces this
file's content with the real card and keeps `render_atlas_section`'s signature.
"""

from __future__ import annotations

import streamlit as st


def render_atlas_section(feature: int, layer: int, result) -> None:
    """What is known about `feature` at `layer` across many proteins (from the atlas)."""
    st.subheader(f"Feature {feature} across proteins")
    st.info(
        "No feature atlas built yet: run `python -m interplm_core atlas build ...` to index "
        f"where feature {feature} of layer {layer} fires across a protein collection; its top "
        "proteins and matching UniProt concepts will then appear here.",
        icon=":material/folder_open:",
    )
