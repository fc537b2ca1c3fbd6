"""Fixtures for the app tests: synthetic weights + the loopback mirror, one feature cache per session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = str(REPO_ROOT / "app.py")


@pytest.fixture(scope="session")
def app_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app-cache")


@pytest.fixture
def app_env(mirror_env, synthetic_weights_dir, app_cache_dir, monkeypatch):
    """Clients -> mirror, weights -> synthetic, one cache for the session (the model loads once)."""
    monkeypatch.setenv("INTERPLM_WEIGHTS_DIR", str(synthetic_weights_dir))
    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(app_cache_dir))
    monkeypatch.delenv("INTERPLM_ATLAS", raising=False)
    return mirror_env


def new_app(**params):
    """An AppTest of the whole app (navigation, sidebar, banner), with URL query parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def analyse(at, source: str, value: str) -> None:
    """Choose an input source ("Sequence" or "UniProt"), type `value` and press Analyse."""
    at.radio(key="source").set_value(source).run()
    box = at.text_area(key="sequence_text") if source == "Sequence" else at.text_input(key="query")
    box.input(value)
    at.button[[b.label for b in at.button].index("Analyse")].click().run()


def chooser(at):
    """The Protein page's feature chooser (its key changes with the selection: ui/state.widget_key)."""
    (widget,) = [m for m in at.multiselect if m.label.startswith("Selected features")]
    return widget


def texts(at) -> str:
    """All visible text of markdown, captions, headers, alerts: what a user reads."""
    parts = []
    for group in (at.title, at.header, at.subheader, at.markdown, at.caption, at.info, at.warning, at.error,
                  at.success):
        parts += [str(e.value) for e in group]
    return "\n".join(parts)


def viewer_scenes(at) -> list[dict]:
    """The data each live 3D viewer on the page was sent (ui/viewer3d.py): model, ops, hover."""
    import json

    return [json.loads(e.proto.json) for e in at.get("bidi_component")
            if e.proto.component_name == "interplm_viewer3d"]


def coloured_residues(scene: dict) -> dict[int, str]:
    """{residue number: colour} from a scene's per-residue style calls (chain A, main style)."""
    out = {}
    for method, *args in scene["ops"]:
        if method == "setStyle" and "resi" in args[0] and args[0].get("chain") == "A":
            style = next(iter(args[1].values()))
            for number in args[0]["resi"]:
                out[number] = style["color"]
    return out
