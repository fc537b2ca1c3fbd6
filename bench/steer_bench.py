"""Benchmark of steering (interplm_core.steer) on a 300-residue protein.

Run: `python bench/steer_bench.py [--weights DIR] [--repeats N]` (not part of CI).

Target: the first steered result within 1 s of asking (model already loaded, as on the
Feature page after a protein was analysed). Measured in the same run, alternating with
the reference so a noisy neighbour hits both alike:
- reference: one plain fair-esm forward with logits (`ESM2(tokens)`), the least any
  masked-LM prediction costs;
- first result: a fresh `Steerer` (nothing cached): the layer-L state and unsteered
  predictions, then one steered half-forward;
- slider move: the same protein, a new clamp value (baseline cached);
- Feature page first draw: lens + steering map from a fresh `Steerer` (two steered runs).
Results go to bench/RESULTS.md (the section between the steer-bench markers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.results_file import write_section  # noqa: E402
from interplm_core.pipeline import FeaturePipeline  # noqa: E402
from interplm_core.settings import get_settings  # noqa: E402
from interplm_core.steer import Steerer  # noqa: E402
from interplm_core.synthetic import random_proteins, write_synthetic_weights  # noqa: E402

LENGTH = 300
LAYERS = (3, 6)


def alternate(fns: dict, repeats: int) -> dict:
    """Median seconds of each function, called in turn `repeats` times after one warm-up each."""
    for fn in fns.values():
        fn()
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def measure(pipeline, sequence: str, layer: int, plain_forward, repeats: int) -> dict:
    """Medians (s) of the plain forward and the three steering moments at one layer."""
    activations = pipeline.features([sequence], layer)[0].activations
    feature = int(np.argmax(activations.max(axis=0)))
    fires = np.flatnonzero(activations[:, feature] > 0) + 1
    pipeline.sae(layer, True)  # loaded, as after analysing the protein
    warm = Steerer(pipeline)
    warm.baseline(sequence, layer)
    values = iter(np.linspace(0.0, 4.0, 10_000))

    def first_result():
        Steerer(pipeline).steer(sequence, layer, {feature: 2.0}, fires, True)

    def slider_move():
        warm.steer(sequence, layer, {feature: float(next(values))}, fires, True)

    def page_first_draw():
        fresh = Steerer(pipeline)
        fresh.amino_acid_lens(sequence, layer, feature, True)
        fresh.steer(sequence, layer, {feature: 2.0}, fires, True)

    medians = alternate({"plain": plain_forward, "first": first_result, "slider": slider_move,
                         "page": page_first_draw}, repeats)
    print(layer, {k: f"{v * 1000:.1f} ms" for k, v in medians.items()})
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", help="weights directory (default: fresh synthetic weights)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    weights = Path(args.weights) if args.weights else write_synthetic_weights(Path(tmp.name) / "w", seed=0)
    settings = get_settings().with_(weights_dir=weights, cache_dir=Path(tmp.name) / "cache",
                                    esm_url="http://127.0.0.1:9", hf_endpoint="http://127.0.0.1:9")
    pipeline = FeaturePipeline(settings=settings, progress=False)
    (sequence,) = random_proteins(1, seed=11, min_len=LENGTH, max_len=LENGTH)
    embedder = pipeline.embedder
    _, _, tokens = embedder.alphabet.get_batch_converter()([("q", sequence)])

    def plain_forward():
        with torch.inference_mode():
            embedder.model(tokens)["logits"]

    # On a shared, oversubscribed machine, PyTorch's threads wait on each other (measured here at load 23
    # on 2 cores: a forward 5x slower with 2 threads than with 1), so both settings are measured.
    default_threads = torch.get_num_threads()
    rows = []
    for threads in dict.fromkeys((default_threads, 1)):
        torch.set_num_threads(threads)
        rows += [(threads, layer, measure(pipeline, sequence, layer, plain_forward, args.repeats)) for layer in LAYERS]
    torch.set_num_threads(default_threads)
    lines = [
        "## Steering a feature (bench/steer_bench.py)",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} on this machine (load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end: absolute times scale with the load), "
        f"{'synthetic' if pipeline.synthetic else 'real'} ESM-2 8M weights, one {LENGTH}-residue protein, the most "
        f"active feature clamped to 2 where it fires; medians of {args.repeats} alternating runs, model loaded. "
        "Reference: one plain fair-esm forward with logits in the same run. Target: first steered result < 1 s."),
        "",
        ("| torch threads | layer | plain forward (ms) | first steered result (ms) | ratio | slider move, cached baseline (ms) "
         "| ratio | Feature page first draw: lens + map (ms) | ratio |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for threads, layer, m in rows:
        lines.append(
            f"| {threads} | {layer} | {m['plain'] * 1000:.1f} | {m['first'] * 1000:.1f} | {m['first'] / m['plain']:.2f}x "
            f"| {m['slider'] * 1000:.1f} | {m['slider'] / m['plain']:.2f}x | {m['page'] * 1000:.1f} "
            f"| {m['page'] / m['plain']:.2f}x |"
        )
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("steer-bench", body)


if __name__ == "__main__":
    main()
