"""Atlas build throughput here, and what it predicts for all of Swiss-Prot.

Measures, on a seeded corpus of synthetic-composition proteins (the weights are whatever
INTERPLM_WEIGHTS_DIR holds; synthetic weights cost the same as real ones: same shapes):
  1. the local engine: residues per second, split into ESM-2, SAE and statistics time;
  2. the Ray engine (a private local instance, 2 workers): residues per second;
then extrapolates to Swiss-Prot (570k proteins, ~206M residues) on one GPU and on a
cluster, stating every assumption, and writes its section of bench/RESULTS.md.

Ray's servers listen on every interface, so the script re-runs itself inside a private
network namespace (`unshare -n`, loopback only) when it can.

    python bench/atlas_bench.py [--proteins 48] [--layer 6] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.results_file import write_section  # noqa: E402

SWISSPROT_PROTEINS = 570_000
SWISSPROT_RESIDUES = 206_000_000
#: Assumed GPU: an NVIDIA A100 (19.5 TFLOPS FP32) reaching 25% of peak on this small model.
GPU_NAME = "NVIDIA A100 40 GB"
GPU_PEAK_GFLOPS = 19_500.0
GPU_EFFICIENCY = 0.25
#: Host CPU cores per GPU node that run the statistics (NumPy) stage in parallel.
HOST_CORES_PER_GPU = 8
CLUSTER_GPUS = 16
#: Ray scaling efficiency assumed across nodes (the measured single-node figure is also shown).
CLUSTER_EFFICIENCY = 0.9


def in_private_network() -> bool:
    return os.environ.get("ATLAS_BENCH_NETNS") == "1"


def reexec_private() -> int | None:
    """Run this script again in a loopback-only network namespace; None if that is impossible."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    args = " ".join(f"'{a}'" for a in [sys.executable, *sys.argv])
    env = dict(os.environ, ATLAS_BENCH_NETNS="1", RAY_USAGE_STATS_ENABLED="0")
    done = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {args}"], env=env)
    return done.returncode


def write_corpus(path: Path, count: int) -> tuple[int, int]:
    from interplm_core.synthetic import random_proteins

    sequences = random_proteins(count, seed=2024, min_len=80, max_len=600)
    path.write_text("".join(f">bench{i}\n{s}\n" for i, s in enumerate(sequences)))
    return len(sequences), sum(map(len, sequences))


def stage_times(corpus: Path, layer: int) -> dict:
    """One pass of the local worker with ESM, SAE and statistics timed apart (warm)."""
    from interplm_core.atlas.corpus import read_corpus
    from interplm_core.atlas.shard import ShardParams, compute_shard
    from interplm_core.atlas.worker import ShardWorker

    worker = ShardWorker("esm2_t6_8M", [layer], "normalized")
    proteins = read_corpus(corpus)
    sae = worker.raw_saes[layer]
    spent = {"esm": 0.0, "sae": 0.0}

    def timed(name, fn):
        def call(*args):
            start = time.perf_counter()
            out = fn(*args)
            spent[name] += time.perf_counter() - start
            return out
        return call

    params = ShardParams(layer=layer)
    embed_layers = worker.pipeline.embedder.embed_layers
    compute_shard(proteins[:2], [params], embed_layers, {layer: sae.encode_raw}, worker.inv_scales, sae.dict_size)
    best: dict[str, float] = {}
    for _ in range(2):  # the faster of two passes: this machine is shared, so load adds noise
        spent.update(esm=0.0, sae=0.0)
        start = time.perf_counter()
        compute_shard(proteins, [params], timed("esm", embed_layers), {layer: timed("sae", sae.encode_raw)},
                      worker.inv_scales, sae.dict_size)
        total = time.perf_counter() - start
        run = {"esm": spent["esm"], "sae": spent["sae"], "stats": total - spent["esm"] - spent["sae"]}
        best = {k: min(v, best.get(k, v)) for k, v in run.items()}
    return {**best, "dict_size": sae.dict_size, "embed_dim": sae.input_dim}


def engine_rate(corpus: Path, out: Path, layer: int, engine: str, shard_size: int) -> dict:
    from interplm_core.atlas.build import BuildOptions, build_atlas

    start = time.perf_counter()
    report = build_atlas(corpus, out, BuildOptions(layers=[layer], engine=engine, shard_size=shard_size,
                                                   progress=False, overwrite=True))
    wall = time.perf_counter() - start
    return {"shards_seconds": report.seconds_shards, "wall": wall, "residues": report.residues,
            "rate": report.residues / report.seconds_shards, "finalize": wall - report.seconds_shards}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.1f} min"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proteins", type=int, default=48)
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--shard-size", type=int, default=8)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    if not args.no_ray and not in_private_network():
        code = reexec_private()
        if code is not None:
            return code
        print("unshare is unavailable: running without Ray (its servers would listen on every interface)")
        args.no_ray = True
    import torch

    work = Path(tempfile.mkdtemp(prefix="atlas_bench_"))
    try:
        corpus = work / "corpus.fasta"
        proteins, residues = write_corpus(corpus, args.proteins)
        print(f"corpus: {proteins} proteins, {residues} residues; layer {args.layer}")
        stages = stage_times(corpus, args.layer)
        local = engine_rate(corpus, work / "local", args.layer, "local", args.shard_size)
        print(f"local: {local['rate']:.0f} residues/s")
        ray = None if args.no_ray else engine_rate(corpus, work / "ray", args.layer, "ray", args.shard_size)
        if ray:
            print(f"ray: {ray['rate']:.0f} residues/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    per_res = {k: stages[k] / residues for k in ("esm", "sae", "stats")}
    sae_gflops = 2 * stages["embed_dim"] * stages["dict_size"] / per_res["sae"] / 1e9
    gpu_gflops = GPU_PEAK_GFLOPS * GPU_EFFICIENCY
    speedup = gpu_gflops / sae_gflops
    gpu_compute = (per_res["esm"] + per_res["sae"]) / speedup
    stats_host = per_res["stats"] / HOST_CORES_PER_GPU
    gpu_rate = 1 / max(gpu_compute, stats_host)
    bound = "GPU compute" if gpu_compute >= stats_host else "host statistics"
    ray_eff = (ray["rate"] / local["rate"]) if ray else None
    cluster_rate = gpu_rate * CLUSTER_GPUS * CLUSTER_EFFICIENCY
    # One ESM pass to layer 6 feeds all six layers (build.py): measured at layer 6, it is paid once.
    depth_factor = 1.0 if args.layer == 6 else None

    def all_layers(rate_one_layer: float, esm_share: float) -> float:
        return SWISSPROT_RESIDUES * ((1 - esm_share) * 6 + esm_share * 1.0) / rate_one_layer

    local_esm_share = per_res["esm"] / sum(per_res.values())
    gpu_esm_share = (per_res["esm"] / speedup) / max(gpu_compute, stats_host) if bound == "GPU compute" else 0.0
    lines = [
        "## Feature atlas build (bench/atlas_bench.py)",
        "",
        f"Measured on this machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} CPU ({torch.get_num_threads()} threads), "
        f"corpus of {proteins} proteins / {residues:,} residues (80-600 aa), layer {args.layer}, "
        f"shards of {args.shard_size} proteins, top-k 10, full residue index; load average "
        f"{os.getloadavg()[0]:.1f} at the end (the machine is shared: figures vary by tens of percent).",
        "",
        "| engine | residues/s | shard time | merge + map + DuckDB |",
        "| --- | ---: | ---: | ---: |",
        f"| local (1 process, {torch.get_num_threads()} threads) | {local['rate']:,.0f} | {local['shards_seconds']:.1f} s | {local['finalize']:.1f} s |",
    ]
    if ray:
        lines.append(f"| ray (local instance, 2 workers x 1 CPU) | {ray['rate']:,.0f} | {ray['shards_seconds']:.1f} s "
                     f"(incl. Ray start and actor start-up) | {ray['finalize']:.1f} s |")
    lines += [
        "",
        f"Where the local engine's time goes (per residue): ESM-2 to layer {args.layer} "
        f"{per_res['esm'] * 1e3:.2f} ms, SAE encode {per_res['sae'] * 1e3:.2f} ms "
        f"({sae_gflops:.1f} GFLOP/s achieved), statistics (top-k, histograms, index) {per_res['stats'] * 1e3:.2f} ms.",
        "",
        "### Expected time for all of Swiss-Prot (570k proteins, ~206M residues)",
        "",
        "| setting | residues/s | one layer | all six layers |",
        "| --- | ---: | ---: | ---: |",
        f"| this machine, local engine | {local['rate']:,.0f} | {hours(SWISSPROT_RESIDUES / local['rate'])} | "
        f"{hours(all_layers(local['rate'], local_esm_share))} |",
        f"| one GPU ({GPU_NAME}) | {gpu_rate:,.0f} | {hours(SWISSPROT_RESIDUES / gpu_rate)} | "
        f"{hours(all_layers(gpu_rate, gpu_esm_share))} |",
        f"| Ray cluster, {CLUSTER_GPUS} such GPUs | {cluster_rate:,.0f} | {hours(SWISSPROT_RESIDUES / cluster_rate)} | "
        f"{hours(all_layers(cluster_rate, gpu_esm_share))} |",
        "",
        "Assumptions:",
        f"- GPU: {GPU_NAME}, {GPU_PEAK_GFLOPS / 1000:.1f} TFLOP/s FP32 peak at {GPU_EFFICIENCY:.0%} efficiency "
        f"= {gpu_gflops:,.0f} GFLOP/s, i.e. {speedup:,.0f}x the SAE matmul rate measured here; ESM-2 is assumed "
        "to speed up by the same factor (both are dense float32 matmuls).",
        f"- The statistics stage stays in NumPy on the host, {HOST_CORES_PER_GPU} cores per GPU in parallel "
        f"(one Ray worker per core feeding the GPU): {per_res['stats'] * 1e3 / HOST_CORES_PER_GPU:.3f} ms/residue. "
        f"With these figures one GPU is bound by **{bound}**.",
        f"- Cluster: {CLUSTER_GPUS} GPU workers at {CLUSTER_EFFICIENCY:.0%} scaling efficiency (shards are "
        "independent; the driver only writes results)."
        + (f" Measured here, 2 Ray workers reach {ray_eff:.2f}x the local engine on 2 cores, start-up included." if ray_eff else ""),
        "- All six layers: one ESM-2 pass to layer 6 per shard feeds every layer (paid once), the SAE and "
        "statistics parts are paid once per layer."
        + ("" if depth_factor else " (Measured at a layer other than 6: the six-layer figure is approximate.)"),
        "- The merge (DuckDB) is not included: with the full residue index Swiss-Prot yields tens of billions of "
        "index rows; build Swiss-Prot with `--residue-index-min 0.5` or `--no-residue-index`.",
        "- GPU rows are computed, not measured (no GPU here): workers run ESM-2 and the SAE on their GPU "
        "(`--gpus-per-worker`, INTERPLM_DEVICE=auto; see docs/atlas.md).",
        "",
    ]
    write_section("atlas-bench", "\n".join(lines), Path(args.out))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
