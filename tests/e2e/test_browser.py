"""End to end in real headless Chromium: `streamlit run app.py` on a free port, the loopback
mirror for UniProt / AlphaFold DB / RCSB, synthetic weights. Screenshots go to test-artifacts/.

What only a browser can check: the heatmap click reaching Python, the 3D canvas actually
drawing (3Dmol.js served locally, WebGL), a shared URL reopening the same view.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from interplm_core.demo import stop_process, streamlit_command, wait_until_healthy
from interplm_core.errors import InterPLMError

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(mirror, synthetic_weights_dir, tmp_path_factory):
    """A real Streamlit server for this module, pointed at the mirror and the synthetic weights."""
    port = _free_port()
    env = dict(os.environ)
    env.update(mirror.env())
    env.update({
        "INTERPLM_WEIGHTS_DIR": str(synthetic_weights_dir),
        "INTERPLM_CACHE_DIR": str(tmp_path_factory.mktemp("e2e-cache")),
        "INTERPLM_HTTP_TIMEOUT": "5", "INTERPLM_HTTP_RETRIES": "1",
    })
    for name in ("INTERPLM_OFFLINE", "HF_HUB_OFFLINE", "INTERPLM_ATLAS"):
        env.pop(name, None)
    log = open(tmp_path_factory.mktemp("e2e-log") / "streamlit.log", "w")
    proc = subprocess.Popen(streamlit_command(port), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, proc, timeout=60)
    except InterPLMError as err:
        stop_process(proc)
        pytest.fail(f"{err} See {log.name}")
    try:
        yield url
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def _wait_idle(page) -> None:
    """Until Streamlit has finished the current run (no 'running' indicator)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=60_000,
    )


def _canvas_ink(page, previous_frames: int = 0) -> tuple[int, int]:
    """(non-background pixels, total) of the live 3D viewer's canvas, from a screenshot of it,
    once the viewer has drawn more than `previous_frames` frames (ui/viewer3d.js counts them)."""
    from PIL import Image

    page.wait_for_function(
        "(n) => { const r = document.querySelector('.interplm-viewer3d');"
        " return !!(r && Number(r.dataset.rendered || 0) > n && r.querySelector('canvas')); }",
        arg=previous_frames, timeout=30_000,
    )
    canvas = page.locator(".interplm-viewer3d canvas").first
    canvas.scroll_into_view_if_needed()
    image = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")
    pixels = np.asarray(image, dtype=np.int16).reshape(-1, 3)
    background = pixels[2 * image.width + 2]  # pixel (2, 2)
    ink = int((np.abs(pixels - background).max(axis=1) > 40).sum())
    return ink, len(pixels)


def _frames(page) -> int:
    return int(page.evaluate("() => Number((document.querySelector('.interplm-viewer3d') || {dataset: {}})"
                             ".dataset.rendered || 0)"))


def test_accession_heatmap_click_and_3d_view(app_url, page):
    started = time.time()
    page.goto(app_url)
    page.get_by_text("UniProt accession / name").click()
    box = page.get_by_label("UniProt accession or entry name")
    box.fill("P61626")
    box.press("Enter")
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text("P61626 · LYSC_HUMAN · Lysozyme C (148 aa)").wait_for()
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for()
    _wait_idle(page)
    first_load = time.time() - started
    assert "acc=P61626" in page.url
    ink, total = _canvas_ink(page)
    assert ink > 0.01 * total, f"3D canvas looks blank ({ink} of {total} pixels drawn)"
    page.evaluate("() => { document.querySelector('.interplm-viewer3d canvas').__kept = true; }")
    frames = _frames(page)
    before = page.url

    # Click the 6th feature row of the heatmap: it becomes the first selected feature.
    drag = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    # Rows from the figure itself: at 14 px Plotly may label only every other row.
    rows = page.evaluate("() => document.querySelector('.js-plotly-plot').data[0].y.length")
    assert rows >= 10
    y = drag["y"] + drag["height"] * (5.5 / rows)
    x = drag["x"] + drag["width"] * 0.4
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    hover = page.locator(".hoverlayer").first.text_content() or ""
    match = re.search(r"· (f\d+)", hover)  # "A60 · f8852 · <best label>activation 0.181"
    assert match and "activation" in hover, hover
    row_label = match.group(1)
    page.mouse.click(x, y)
    page.wait_for_function(f"() => window.location.href !== {before!r}", timeout=20_000)
    _wait_idle(page)
    assert f"f={row_label.lstrip('f')}" in page.url, (row_label, page.url)
    assert page.locator('[data-testid="stMultiSelect"]').first.get_by_text(row_label, exact=True).count() == 1

    # The same viewer recoloured in place: a new frame on the very same canvas, no new page.
    ink, total = _canvas_ink(page, frames)
    _shot(page, "e2e_protein_selected.png")
    assert ink > 0.01 * total, f"3D canvas looks blank ({ink} of {total} pixels drawn)"
    assert page.evaluate("() => document.querySelectorAll('.interplm-viewer3d canvas').length === 1"
                         " && document.querySelector('.interplm-viewer3d canvas').__kept === true")
    print(f"first protein after start-up: {first_load:.1f} s")

    # Feature labels are clickable too; two clicks in quick succession, the second while the
    # first one's run is still going, both count (newest first).
    labels = page.locator(".js-plotly-plot").first.locator(".yaxislayer-above .ytick text")
    # A label may carry the feature's best name after its id ("f5452 · Disulfide bond …").
    second, third = (re.match(r"f\d+", labels.nth(i).text_content() or "").group(0) for i in (1, 2))
    assert second != row_label and third != row_label
    labels.nth(1).click()
    # 50 ms later, while the browser has not yet drawn that click's run: its report then still
    # carries the chooser as it was, which must not undo the first click (ui/state.chooser_key).
    page.wait_for_timeout(50)
    labels.nth(2).dispatch_event("click")
    expected = ",".join(f.lstrip("f") for f in (third, second, row_label))
    page.wait_for_function(f"() => decodeURIComponent(window.location.href).includes('f={expected}')",
                           timeout=20_000)
    _wait_idle(page)
    chips = page.locator('[data-testid="stMultiSelect"]').first
    assert [chips.get_by_text(f, exact=True).count() for f in (third, second, row_label)] == [1, 1, 1]


def test_shared_url_reopens_the_feature_view(app_url, page):
    page.goto(f"{app_url}/feature?acc=P61626&layer=2&f=42,7")
    page.get_by_text("f42 on P61626 · LYSC_HUMAN").wait_for()
    page.get_by_text("Layer 2, normalised").first.wait_for()
    _wait_idle(page)
    assert "f=42%2C7" in page.url or "f=42,7" in page.url
    ink, total = _canvas_ink(page)
    _shot(page, "e2e_shared_feature_url.png")
    assert ink > 0.01 * total


def test_bad_input_shows_a_message_and_keeps_the_heatmap(app_url, page):
    page.goto(f"{app_url}/?acc=P61626")
    page.get_by_text("P61626 · LYSC_HUMAN").wait_for()
    _wait_idle(page)
    page.get_by_text("Sequence or FASTA", exact=True).click()
    area = page.get_by_label("Protein sequence or FASTA")
    area.fill("MKTA1YIAK")
    page.get_by_role("button", name="Analyse").click()
    alert = page.get_by_text("invalid character '1' at position 5")
    alert.wait_for()
    _wait_idle(page)
    _shot(page, "e2e_bad_input.png")
    assert page.get_by_text("P61626 · LYSC_HUMAN").count() == 1
    assert page.locator(".js-plotly-plot").count() >= 1
    assert page.get_by_text("Traceback").count() == 0
