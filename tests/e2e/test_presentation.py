"""Presentation mode, the 3D snapshot, the theme switch and shared links, in real headless
Chromium (same server set-up as test_browser.py). Screenshots go to test-artifacts/.

The presentation rule is measured, not eyeballed: after a protein loads, the bounding
boxes of the heatmap and of the 3D view lie inside the window at 1280x720 and 1920x1080,
side by side, with nothing scrolled; tick labels are at least 14 px.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from .test_browser import ARTIFACTS, _canvas_ink, _wait_idle

BOXES = """() => {
  const box = (sel) => { const e = document.querySelector(sel); if (!e) return null;
    const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const sizes = (sel) => Array.from(document.querySelectorAll(sel)).filter((t) => t.textContent.trim())
    .map((t) => parseFloat(getComputedStyle(t).fontSize));
  return {heat: box('.js-plotly-plot'), viewer: box('.interplm-viewer3d-box'),
          w: innerWidth, h: innerHeight, scrollY: window.scrollY,
          sidebar: !!document.querySelector('[data-testid="stSidebar"]')
                   && getComputedStyle(document.querySelector('[data-testid="stSidebar"]')).display !== 'none',
          ticks: sizes('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text, .js-plotly-plot .g-xtitle text, '
                       + '.js-plotly-plot .g-ytitle text, .js-plotly-plot .g-y2title text'),
          background: getComputedStyle(document.querySelector('.stApp')).backgroundColor};
}"""


def _open(browser, url, width, height, scheme="light"):
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme,
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for()
    _wait_idle(page)
    return context, page


def _inside(box, w, h):
    return box["left"] >= 0 and box["top"] >= 0 and box["right"] <= w + 0.5 and box["bottom"] <= h + 0.5


@pytest.mark.parametrize(("width", "height", "scheme"), [(1280, 720, "light"), (1920, 1080, "dark")])
def test_presentation_mode_fits_heatmap_and_3d_on_one_screen(app_url, browser, width, height, scheme):
    context, page = _open(browser, f"{app_url}/?acc=P61626&present=1", width, height, scheme)
    try:
        ink, total = _canvas_ink(page)
        page.evaluate("() => window.scrollTo(0, 0)")
        m = page.evaluate(BOXES)
        _shot_viewport(page, f"e2e_presentation_{width}x{height}_{scheme}.png")
        assert m["heat"] and m["viewer"], m
        assert _inside(m["heat"], width, height), m  # whole heatmap on the first screen
        assert _inside(m["viewer"], width, height), m  # whole 3D view too
        assert m["heat"]["right"] <= m["viewer"]["left"], m  # side by side
        assert m["viewer"]["bottom"] - m["viewer"]["top"] >= 0.6 * height, m  # and using the screen
        assert not m["sidebar"], "the sidebar is hidden in presentation mode"
        assert min(m["ticks"]) >= 14, m["ticks"]
        assert page.get_by_text("synthetic weights: features mean nothing").count() == 1  # the badge
        assert page.get_by_text("randomly generated stand-ins").count() == 0  # not the full banner
        assert ink > 0.01 * total
        dark = m["background"] == "rgb(15, 20, 25)"
        assert dark == (scheme == "dark"), m["background"]
    finally:
        context.close()


def _shot_viewport(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def test_3d_snapshot_png_is_twice_the_canvas_size(app_url, browser):
    from PIL import Image

    context, page = _open(browser, f"{app_url}/?acc=P61626&present=1", 1280, 720)
    try:
        _canvas_ink(page)
        css = page.evaluate("() => { const r = document.querySelector('.interplm-viewer3d canvas')"
                            ".getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; }")
        with page.expect_download() as info:
            page.locator(".interplm-viewer3d-snapshot").click()
        download = info.value
        assert download.suggested_filename == "interplm_P61626_3d.png"
        image = Image.open(io.BytesIO(Path(download.path()).read_bytes()))
        assert image.size == (2 * css[0], 2 * css[1]), (image.size, css)
        extrema = image.convert("L").getextrema()
        assert extrema[1] - extrema[0] > 50, "the snapshot is blank"
        # the live canvas is back to its own resolution afterwards
        after = page.evaluate("() => document.querySelector('.interplm-viewer3d canvas').width")
        assert after == css[0]
    finally:
        context.close()


def test_in_app_theme_switch_turns_the_app_dark_and_keeps_the_view(app_url, browser):
    context, page = _open(browser, f"{app_url}/?acc=P61626&present=1&f=953", 1280, 720)
    try:
        before = page.evaluate(BOXES)["background"]
        assert before == "rgb(255, 255, 255)"
        page.locator('[data-testid="stMainBlockContainer"]').get_by_text("Dark", exact=True).click()
        # The switch reloads the page: while it does, there is no .stApp to read yet.
        page.wait_for_function("() => { const app = document.querySelector('.stApp');"
                               " return !!app && getComputedStyle(app).backgroundColor === 'rgb(15, 20, 25)'; }",
                               timeout=60_000)
        page.locator(".js-plotly-plot .nsewdrag").first.wait_for()
        _wait_idle(page)
        assert "acc=P61626" in page.url and "present=1" in page.url
        _shot_viewport(page, "e2e_theme_switched_dark.png")
    finally:
        context.close()


def test_compare_link_recomputes_and_rejected_mutation_stays_out_of_the_url(app_url, browser):
    context, page = _open_compare(browser, f"{app_url}/compare?acc=P61626&mut=K2R")
    try:
        page.get_by_text("Features that appear in B").wait_for()
        _wait_idle(page)
        assert "mut=K2R" in page.url
        page.locator(".js-plotly-plot .annotation-text").filter(has_text="K2R").first.wait_for()  # on the axis
        box = page.get_by_label("Mutations (one-letter, UniProt numbering)")
        box.fill("W2R")  # position 2 is K: rejected
        page.get_by_role("button", name="Compare").click()
        page.get_by_text("Could not compare").wait_for()
        _wait_idle(page)
        assert "W2R" not in page.url and "mut=K2R" in page.url
        _shot_viewport(page, "e2e_compare_link.png")
    finally:
        context.close()


def _open_compare(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    return context, page


def test_long_sequence_link_carries_a_hash_that_reopens_it(app_url, browser):
    sequence = ("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWUAAATVTHALMVPASASNEATVTSEVKQWAAAAAASVEGLLAGEVDAGRAQ" * 7)[:1600].replace("U", "A")
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(app_url)
        page.get_by_text("Sequence or FASTA", exact=True).click()
        page.get_by_label("Protein sequence or FASTA").fill(sequence)
        page.get_by_role("button", name="Analyse").click()
        page.wait_for_function("() => /seq=sha256(%3A|:)[0-9a-f]{64}/.test(window.location.href)")
        link = page.url
        assert len(link) < 400
        page.get_by_text("Downloads and sharing").click()
        assert page.get_by_text("too long for an address").count() == 1
        second = context.new_page()
        second.set_default_timeout(90_000)
        second.goto(link)
        second.get_by_text("(1600 aa)").first.wait_for()
        assert re.search(r"seq=sha256(%3A|:)[0-9a-f]{64}", second.url)
    finally:
        context.close()


def test_without_3dmol_the_explanation_is_visible_on_top(app_url, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.route(re.compile(r".*3Dmol(-min)?\.js.*"), lambda route: route.abort())
        page.goto(f"{app_url}/?acc=P61626&present=1")
        message = page.locator(".interplm-viewer3d-message")
        message.wait_for(state="visible", timeout=60_000)
        assert "could not load 3Dmol.js" in message.text_content()
        box = message.bounding_box()
        on_top = page.evaluate(
            "([x, y]) => { const e = document.elementFromPoint(x, y);"
            " return !!e && !!e.closest('.interplm-viewer3d-message'); }",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
        assert on_top, "another element covers the explanation"
        assert 0 <= box["y"] and box["y"] + box["height"] <= 720
        _shot_viewport(page, "e2e_no_3dmol_message.png")
    finally:
        context.close()
