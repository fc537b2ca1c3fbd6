"""The page's one live 3D viewer: a Streamlit v2 component that keeps a 3Dmol.js viewer
alive across reruns and replays each new `structure_view.ViewerScene` on it.

Why not `st.iframe` with py3Dmol's HTML: every change (a clicked feature, a new protein)
then built a new page, loaded and parsed 3Dmol.js again and opened a new WebGL context,
about 2 s per change without a GPU. Here a recolour is one frame, and the camera stays
where the user left it. The JavaScript is in `viewer3d.js` next to this file.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from interplm_core.structure_view import ViewerScene

_JS = (Path(__file__).with_name("viewer3d.js")).read_text(encoding="utf-8")
_COMPONENT = st.components.v2.component("interplm_viewer3d", js=_JS, isolate_styles=False)


def live_viewer(scene: ViewerScene, *, key: str, js_url: str, height: int = 480, dark: bool = False,
                name: str = "structure") -> None:
    """Draw `scene` in the viewer mounted under `key` (created on first use, reused after);
    `name` names the PNG snapshot file."""
    _COMPONENT(data={**scene.to_data(), "viewer_id": key, "js_url": js_url, "height": int(height),
                     "dark": bool(dark), "name": str(name)}, key=key, height=height + 8)
