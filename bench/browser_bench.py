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
            page.goto(url)
            page.get_by_text("Sequence or FASTA", exact=True).click()
            page.get_by_label("Protein sequence or FASTA").wait_for()
            long = analyse(page, seq1500, "query (1500 aa)")
            print(f"1,500-residue protein, first analysis:        {long:.2f} s")
            box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
            started = time.perf_counter()
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 20)
            page.locator(".hoverlayer .hovertext").first.wait_for(timeout=10_000)
            print(f"1,500 aa: hover label after                   {time.perf_counter() - started:.2f} s")
            started = time.perf_counter()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 10)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + 200)
            page.mouse.up()
            page.wait_for_timeout(50)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            print(f"1,500 aa: box zoom redrawn after              {time.perf_counter() - started:.2f} s")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        mirror.stop()


if __name__ == "__main__":
    main()
