"""`atlas build`: corpus -> shards (local or Ray engine) -> merged DuckDB atlas.

Resumable: shards already on disk are reused (the manifest must match: same corpus,
weights and parameters), a half-written shard is discarded, and the final merge is
recomputed from the shards, so a resumed build ends byte-for-byte like an uninterrupted
one. `after_shard` lets tests interrupt a build after N shards as a kill would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..hashing import file_sha256
from ..registry import DEFAULT_MODEL, get_model_spec
from ..settings import Settings, get_settings
from ..weights import file_fingerprint
from .corpus import CorpusProtein, Shard, plan_shards, read_corpus
from .database import create_database
from .engine_local import run_local
from .engine_ray import RayOptions, run_ray
from .feature_map import MAP_METHODS, feature_map, unit_decoder
from .layout import FORMAT_VERSION, AtlasLayout, check_resumable, only_fetched_corpus, remove_atlas
from .merge import merge_layer
from .shard import ShardParams, ShardResult
from .shard_store import clear_partial_shards, write_shard
from .worker import SCALES, ShardWorker

ENGINES = ("local", "ray")


@dataclass
class BuildOptions:
    layers: list[int]
    model: str = DEFAULT_MODEL
    engine: str = "local"
    scale: str = "normalized"
    shard_size: int = 100
    top_k: int = 10
    window: int = 15
    residue_index_min: float | None = 0.0
    map_method: str = "umap"
    annotations: Path | None = None
    ray: RayOptions = field(default_factory=RayOptions)
    overwrite: bool = False
    progress: bool = True


@dataclass
class BuildReport:
    layout: AtlasLayout
    proteins: int
    residues: int
    shards_total: int
    shards_computed: int
    seconds_shards: float
    synthetic: bool


def build_atlas(
    fasta: Path,
    out: Path,
    options: BuildOptions,
    settings: Settings | None = None,
    after_shard: Callable[[int, Shard], None] | None = None,
) -> BuildReport:
    import time

    settings = settings or get_settings()
    _check_options(options)
    spec = get_model_spec(options.model)
    for layer in options.layers:
        spec.check_layer(layer)
    layout = AtlasLayout(Path(out))
    if layout.root.exists() and not layout.root.is_dir():
        raise InputError(f"--out {layout.root} is a file: an atlas is a folder; choose a new or empty folder.")
    if options.overwrite:
        remove_atlas(layout.root)
    corpus = read_corpus(Path(fasta))
    residues = sum(len(p.sequence) for p in corpus)
    if options.annotations is not None:
        _check_annotations(Path(options.annotations), corpus)

    worker = ShardWorker(options.model, options.layers, options.scale, settings)
    manifest = _manifest(fasta, corpus, options, worker)
    existing = layout.read_manifest()
    if existing is not None:
        check_resumable(existing, manifest, layout.root)
    elif layout.root.exists() and not only_fetched_corpus(layout.root):
        raise InputError(f"{layout.root} exists and is not an atlas: choose an empty or new --out directory.")
    manifest["state"] = "building"
    layout.write_manifest(manifest)
    if not layout.corpus_path.is_file():
        _write_corpus(layout.corpus_path, corpus, options.shard_size)
    clear_partial_shards(layout.root / "shards")

    shards = plan_shards(len(corpus), options.shard_size)
    # One work item per shard, for every layer it still lacks: one ESM-2 pass feeds them all.
    work = [
        (shard, [_params(options, layer) for layer in options.layers if not layout.shard_done(layer, shard.number)])
        for shard in shards
    ]
    work = [(shard, params) for shard, params in work if params]
    if not worker.strict_gemm:
        print("Note: MKL's strict reproducible mode is off in this process (torch ran before interplm_core "
              "was imported, or MKL_CBWR is set otherwise): shards are computed on one thread, and may differ "
              "in the last bit from shards of a fresh process.", file=sys.stderr)

    def sink(layer: int, shard: Shard, result: ShardResult) -> None:
        write_shard(layout.shard_dir(layer, shard.number), result)
        if after_shard is not None:
            after_shard(layer, shard)

    started = time.perf_counter()
    progress = _progress_bar(options, corpus, work)
    try:
        if options.engine == "local":
            run_local(worker, corpus, work, sink, progress)
        else:
            run_ray(options.model, options.layers, options.scale, settings, corpus, work, sink, options.ray, progress)
    finally:
        if progress is not None:
            progress.close()
    seconds = time.perf_counter() - started

    _finalize(layout, manifest, options, worker, shards, len(corpus), residues, settings)
    computed = sum(len(params) for _, params in work)
    return BuildReport(layout, len(corpus), residues, len(shards) * len(options.layers), computed, seconds, worker.synthetic)


def _check_options(options: BuildOptions) -> None:
    if options.engine not in ENGINES:
        raise InputError(f"Unknown engine '{options.engine}': use local or ray.")
    if options.scale not in SCALES:
        raise InputError(f"Unknown scale '{options.scale}'.")
    if options.map_method not in MAP_METHODS:
        raise InputError(f"Unknown map method '{options.map_method}': use {' or '.join(MAP_METHODS)}.")
    if options.top_k < 1 or options.window < 0:
        raise InputError("--top-k must be at least 1 and --window at least 0.")
    if not options.layers:
        raise InputError("Give at least one layer.")
    if options.annotations is not None and not Path(options.annotations).is_file():
        raise InputError(f"Annotation file not found: {options.annotations}")


def _check_annotations(path: Path, corpus: list[CorpusProtein]) -> None:
    """Fail before hours of computing if the annotations cannot be used."""
    from .annotations import load_annotations

    _, accessions = load_annotations(path)
    if not accessions & {p.accession for p in corpus}:
        raise InputError(
            f"None of the {len(accessions)} annotated accessions in {path} is in the corpus "
            "(record ids such as sp|P00750|TPA_HUMAN or P00750 are matched by accession)."
        )


def _params(options: BuildOptions, layer: int) -> ShardParams:
    return ShardParams(layer=layer, top_k=options.top_k, window=options.window, residue_index_min=options.residue_index_min)


def weights_fingerprints(worker: ShardWorker, layers: list[int], scale: str) -> dict:
    """Fingerprints of the weight files a build depends on, per layer (kept in the manifest)."""
    weights = {}
    for layer in layers:
        esm_path, raw_path = worker.pipeline.weight_paths(layer, normalized=False)
        entry = {"esm": file_fingerprint(esm_path), "sae_raw": file_fingerprint(raw_path)}
        if scale == "normalized":
            entry["sae_normalized"] = file_fingerprint(worker.pipeline.weight_paths(layer, normalized=True)[1])
        weights[str(layer)] = entry
    return weights


def _manifest(fasta: Path, corpus: list[CorpusProtein], options: BuildOptions, worker: ShardWorker) -> dict:
    weights = weights_fingerprints(worker, options.layers, options.scale)
    return {
        "format_version": FORMAT_VERSION,
        "model": options.model,
        "layers": sorted(options.layers),
        "scale": options.scale,
        "corpus_file": str(Path(fasta).resolve()),
        "corpus_sha256": file_sha256(Path(fasta)),
        "proteins": len(corpus),
        "residues": sum(len(p.sequence) for p in corpus),
        "shard_size": options.shard_size,
        "top_k": options.top_k,
        "window": options.window,
        "residue_index_min": options.residue_index_min,
        "map_method": options.map_method,
        "weights": weights,
        "synthetic": worker.synthetic,
    }


def _write_corpus(path: Path, corpus: list[CorpusProtein], shard_size: int) -> None:
    table = pa.table({
        "protein_index": pa.array([p.index for p in corpus], pa.int64()),
        "record_id": [p.record_id for p in corpus],
        "accession": [p.accession for p in corpus],
        "description": [p.description for p in corpus],
        "sequence": [p.sequence for p in corpus],
        "length": pa.array([len(p.sequence) for p in corpus], pa.int32()),
        "shard": pa.array([p.index // shard_size for p in corpus], pa.int32()),
    })
    temporary = path.with_suffix(".parquet.tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, path)


def _progress_bar(options: BuildOptions, corpus: list[CorpusProtein], work):
    if not options.progress or not work:
        return None
    from tqdm import tqdm

    total = sum(sum(len(p.sequence) for p in corpus[s.start:s.stop]) for s, _ in work)
    return tqdm(total=total, unit="res", unit_scale=True, desc=f"atlas ({options.engine}, {len(work)} shards)")


def _finalize(layout, manifest, options, worker, shards, protein_count, residue_count, settings) -> None:
    layers = {}
    for layer in options.layers:
        shard_dirs = [layout.shard_dir(layer, s.number) for s in shards]
        stats = merge_layer(shard_dirs)
        layout.layer_dir(layer).mkdir(parents=True, exist_ok=True)
        np.save(layout.maxima_path(layer), stats.max_raw.astype(np.float32))
        unit = unit_decoder(worker.decoder_weight(layer))
        np.save(layout.decoder_path(layer), unit)
        if options.progress and options.map_method == "umap":
            print(f"Layer {layer}: drawing the feature map (UMAP of 10,240 decoder vectors, about a minute; "
                  "--map pca is instant)…", file=sys.stderr, flush=True)
        layers[layer] = (stats, feature_map(unit, options.map_method), shard_dirs)
    temporary = layout.database_path.with_suffix(".duckdb.tmp")
    con = create_database(temporary, layout.corpus_path, layers, options.top_k, protein_count, residue_count)
    try:
        if options.annotations is not None:
            from .concept_pass import annotate

            annotate(con, worker, options.layers, Path(options.annotations), options.scale,
                     {layer: layout.maxima_path(layer) for layer in options.layers})
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(temporary, layout.database_path)
    manifest = dict(manifest, state="complete", annotations=str(options.annotations) if options.annotations else None)
    layout.write_manifest(manifest)
