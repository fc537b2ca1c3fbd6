"""Six users open a freshly started app at the same moment (issue 10, item 6).

    python bench/concurrency_bench.py [--sessions 6]

Starts the loopback mirror and `streamlit run app.py` on synthetic weights with empty
caches, then opens `--sessions` browser sessions at once (one headless Chromium, one
context each) on a shared link (`?acc=P61626`). A session succeeds when it shows the
protein and its heatmap; it fails on Streamlit's error element or an error alert. Before
the fix, concurrent weight loads undid each other's allow-list (5 of 6, then 3 of 6
sessions failed). Results go to bench/RESULTS.md (the section between the concurrency
markers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.browser_bench import ARGS, HEATMAP_DRAWN, free_port  # noqa: E402
from bench.results_file import write_section  # noqa: E402

FAILED = ("() => !!document.querySelector('[data-testid=\"stException\"]') || "
          "[...document.querySelectorAll('[data-testid=\"stAlert\"]')].some(a => /problem|error/i.test(a.innerText))")


async def one_session(browser, url: str, number: int) -> tuple[int, bool, float, str]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    started = time.perf_counter()
    try:
        await page.goto(f"{url}/?acc=P61626")
        deadline = started + 240
        while time.perf_counter() < deadline:
            if await page.evaluate(FAILED):
                text = await page.evaluate("() => document.body.innerText")
                return number, False, time.perf_counter() - started, text[:300].replace("\n", " ")
            if await page.evaluate(HEATMAP_DRAWN, 148):
                return number, True, time.perf_counter() - started, ""
            await asyncio.sleep(0.25)
        return number, False, time.perf_counter() - started, "nothing drawn within 240 s"
    finally:
        await context.close()


async def run_sessions(url: str, sessions: int):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            return await asyncio.gather(*(one_session(browser, url, n) for n in range(1, sessions + 1)))
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from interplm_core.mirror import start_mirror
    from interplm_core.synthetic import write_synthetic_weights

    tmp = Path(tempfile.mkdtemp(prefix="interplm-concurrency-"))
    weights = write_synthetic_weights(tmp / "weights", seed=1)
    mirror = start_mirror()
    port = free_port()
    env = dict(os.environ, **mirror.env(), INTERPLM_WEIGHTS_DIR=str(weights), INTERPLM_CACHE_DIR=str(tmp / "cache"))
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        results = asyncio.run(run_sessions(url, args.sessions))
    finally:
        server.terminate()
        server.wait(timeout=30)
        mirror.stop()
    ok = sum(1 for _, success, _, _ in results if success)
    for number, success, seconds, why in results:
        print(f"session {number}: {'ok' if success else 'FAILED'} after {seconds:.1f} s {why}")
    rows = "\n".join(f"| {n} | {'ok' if s else 'failed: ' + w} | {t:.1f} |" for n, s, t, w in results)
    body = f"""## Concurrent cold sessions (bench/concurrency_bench.py)

{args.sessions} browser sessions open `?acc=P61626` at the same moment on a freshly started app
(synthetic weights, empty caches, the loopback mirror): **{ok} of {args.sessions} succeed**.

| session | result | seconds to heatmap |
|---:|---|---:|
{rows}"""
    print(body)
    if not args.no_write:
        write_section("concurrency", body)


if __name__ == "__main__":
    main()
