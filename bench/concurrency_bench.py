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
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.app_server import running_app  # noqa: E402
from bench.browser_bench import ARGS, HEATMAP_DRAWN  # noqa: E402
from bench.results_file import write_section  # noqa: E402
from bench.workdir import scratch_dir  # noqa: E402

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
    from interplm_core.synthetic import write_synthetic_weights

    tmp = scratch_dir("interplm-concurrency-")
    weights = write_synthetic_weights(tmp / "weights", seed=1)
    with running_app(weights, tmp / "cache") as url:
        results = asyncio.run(run_sessions(url, args.sessions))
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
