"""Browser timings of the explorer against the issue's targets (run by hand, not in tests).

    python bench/browser_bench.py [--weights DIR]

Starts the loopback mirror and `streamlit run app.py` (synthetic weights unless --weights
points at real ones), then measures in headless Chromium:
1. first protein after start-up (weights on disk, cold caches): target < 8 s;
2. cached proteins with structures (lysozyme 148 aa, polyubiquitin 685 aa; the mirror has no
   300-residue structure): a fresh page load until heatmap + 3D canvas exist (an upper bound
   for pressing Analyse): target < 1.5 s;
3. a 1,500-residue protein: load time, then how long a hover and a zoom take to answer.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.results_file import write_section  # noqa: E402
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_drawn(page, text: str, canvas: bool = True) -> None:
    """Until `text` is shown, the heatmap exists and (with a structure) the 3D canvas was created."""
    page.get_by_text(text).first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for(timeout=120_000)
    if not canvas:
        return
    deadline = time.time() + 60
    while time.time() < deadline:
        if any(f.locator("canvas").count() for f in page.frames if f != page.main_frame):
            return
        page.wait_for_timeout(25)
    raise TimeoutError("no 3D canvas")


def analyse_accession(page, accession: str, name: str) -> tuple[float, float]:
    """Type an accession, press Analyse: seconds until the heatmap, and until the new 3D canvas."""
    navigated: list[float] = []

    def on_navigated(frame) -> None:
        if frame != page.main_frame:
            navigated.append(time.perf_counter())

    page.on("framenavigated", on_navigated)
    box = page.get_by_label("UniProt accession or entry name")
    box.fill(accession)
    box.press("Tab")
    page.wait_for_timeout(300)
    started = time.perf_counter()
    page.get_by_role("button", name="Analyse").click()
    page.get_by_role("heading", name=name).first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot .nsewdrag").first.wait_for(timeout=120_000)
    heatmap = time.perf_counter() - started
    deadline = time.time() + 60
    while time.time() < deadline:
        if any(t > started for t in navigated) and any(
            f.locator("canvas").count() for f in page.frames if f != page.main_frame
        ):
            break
        page.wait_for_timeout(20)
    page.remove_listener("framenavigated", on_navigated)
    return heatmap, time.perf_counter() - started


def analyse(page, sequence: str, expect: str) -> float:
    page.get_by_label("Protein sequence or FASTA").fill(sequence)
    started = time.perf_counter()
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_timeout(50)
    wait_drawn(page, expect, canvas=False)  # a pasted sequence has no structure
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="INTERPLM_WEIGHTS_DIR (default: fresh synthetic weights)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from interplm_core.mirror import start_mirror
    from interplm_core.synthetic import write_synthetic_weights

    tmp = Path(tempfile.mkdtemp(prefix="interplm-bench-"))
    weights = Path(args.weights) if args.weights else write_synthetic_weights(tmp / "weights", seed=1)
    mirror = start_mirror()
    port = free_port()
    env = dict(os.environ, **mirror.env(), INTERPLM_WEIGHTS_DIR=str(weights), INTERPLM_CACHE_DIR=str(tmp / "cache"))
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    results: list[tuple[str, float, float | None]] = []
    rng = random.Random(0)
    seq300 = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(300))
    seq1500 = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(1500))
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(url)
            page.get_by_text("Sequence or FASTA", exact=True).click()
            page.get_by_label("Protein sequence or FASTA").wait_for()
            first = analyse(page, seq300, "query (300 aa)")
            print(f"first protein after start-up (300 aa, cold): {first:.2f} s   target < 8 s")
            results.append(("first protein after start-up (300 aa pasted, weights on disk, cold caches)", first, None))
            for acc, name in (("P61626", "LYSC_HUMAN"), ("P0CG48", "UBC_HUMAN")):
                page.goto(f"{url}/?acc={acc}")
                wait_drawn(page, name)  # warm the caches
                timings = []
                for _ in range(3):
                    started = time.perf_counter()
                    page.goto(f"{url}/?acc={acc}")  # a fresh page: the old heatmap cannot be mistaken for the new
                    wait_drawn(page, name)
                    timings.append(time.perf_counter() - started)
                print(f"cached {acc}: page load -> heatmap + 3D canvas: {min(timings):.2f} s   target < 1.5 s (300 aa)")
                results.append((f"cached {acc} ({name}): fresh page load to heatmap + 3D canvas", min(timings), None))
            page.goto(url)
            page.get_by_text("UniProt accession / name", exact=True).click()
            page.get_by_label("UniProt accession or entry name").wait_for()
            for acc, name in (("P61626", "LYSC_HUMAN"), ("P0CG48", "UBC_HUMAN"), ("P61626", "LYSC_HUMAN")):
                heat, canvas = analyse_accession(page, acc, name)
                print(f"cached {acc}: press Analyse -> heatmap {heat:.2f} s, 3D canvas {canvas:.2f} s")
                results.append((f"cached {acc}: press Analyse to heatmap / to new 3D canvas", heat, canvas))
            page.goto(url)
            page.get_by_text("Sequence or FASTA", exact=True).click()
            page.get_by_label("Protein sequence or FASTA").wait_for()
            long = analyse(page, seq1500, "query (1500 aa)")
            print(f"1,500-residue protein, first analysis:        {long:.2f} s")
            results.append(("1,500-residue protein, first analysis (no structure)", long, None))
            box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
            started = time.perf_counter()
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 20)
            page.locator(".hoverlayer .hovertext").first.wait_for(timeout=10_000)
            print(f"1,500 aa: hover label after                   {time.perf_counter() - started:.2f} s")
            results.append(("1,500 aa: hover label shown after", time.perf_counter() - started, None))
            started = time.perf_counter()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 10)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + 200)
            page.mouse.up()
            page.wait_for_timeout(50)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            print(f"1,500 aa: box zoom redrawn after              {time.perf_counter() - started:.2f} s")
            results.append(("1,500 aa: box zoom redrawn after", time.perf_counter() - started, None))
            browser.close()
        lines = ["## Explorer in a browser (bench/browser_bench.py)", "",
                 f"Measured {time.strftime('%Y-%m-%d')} in headless Debian Chromium with software WebGL "
                 "(`--disable-gpu`: every 3D frame is drawn on the CPU, slower than any desktop browser), "
                 "synthetic weights, the loopback mirror. Targets: cached protein, Analyse to heatmap and "
                 "structure < 1.5 s; first protein after start-up < 8 s.", "",
                 "| what | seconds | 3D canvas (s) |", "|---|---:|---:|"]
        lines += [f"| {what} | {a:.2f} | {'' if b is None else f'{b:.2f}'} |" for what, a, b in results]
        write_section("browser-bench", "\n".join(lines))
    finally:
        server.terminate()
        server.wait(timeout=10)
        mirror.stop()


if __name__ == "__main__":
    main()
