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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..hashing import file_sha256
from ..registry import DEFAULT_MODEL, get_model_spec
from ..settings import Settings, get_settings
from ..weights import file_fingerprint
from .corpus import CorpusProtein, Shard, plan_shards, read_corpus
from .database import create_concept_tables, insert_layer, open_database
from .engine_local import run_local
from .engine_ray import RayOptions, run_ray
from .feature_map import MAP_METHODS, feature_map, unit_decoder
from .layout import FORMAT_VERSION, AtlasLayout, check_resumable, only_fetched_corpus, remove_atlas
from .merge import merge_layer
from .shard import ShardParams, ShardResult
from .shard_store import clear_partial_shards, write_shard
from .worker import SCALES, ShardWorker

ENGINES = ("local", "ray")


#: Proteins per shard when none is asked for: 100, fewer when many layers are built. A
#: shard keeps the residue index of every requested layer until its last protein, so its
#: memory grows with proteins x layers; 300 protein-layers (100 proteins up to 3 layers,
#: 50 at 6) keep a build's peak about the same whatever the layers: a 2,000-protein,
#: 6-layer build peaked at 2,323 MiB with 100-protein shards, 1,819 MiB with 50, as fast.
DEFAULT_SHARD_PROTEINS = 100
PROTEIN_LAYERS_PER_SHARD = 300


def default_shard_size(layer_count: int) -> int:
    return max(1, min(DEFAULT_SHARD_PROTEINS, PROTEIN_LAYERS_PER_SHARD // max(layer_count, 1)))


@dataclass
class BuildOptions:
    layers: list[int]
    model: str = DEFAULT_MODEL
    engine: str = "local"
    scale: str = "normalized"
    shard_size: int | None = None  # None: default_shard_size(len(layers))
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
    existing = layout.read_manifest()
    shard_size = options.shard_size
    if shard_size is None:  # a build being resumed keeps its shards; a new one takes the default
        shard_size = (existing or {}).get("shard_size") or default_shard_size(len(options.layers))
    options = replace(options, shard_size=shard_size)  # the manifest records the size used
    corpus = read_corpus(Path(fasta))
    residues = sum(len(p.sequence) for p in corpus)
    if options.annotations is not None:
        _check_annotations(Path(options.annotations), corpus)

    worker = ShardWorker(options.model, options.layers, options.scale, settings)
    manifest = _manifest(fasta, corpus, options, worker)
    if existing is not None:
        check_resumable(existing, manifest, layout.root)
    elif layout.root.exists() and not only_fetched_corpus(layout.root):
        raise InputError(f"{layout.root} exists and is not an atlas: choose an empty or new --out directory.")
    manifest["state"] = "building"
    layout.write_manifest(manifest)
    if not layout.corpus_path.is_file():
        _write_corpus(layout.corpus_path, corpus, shard_size)
    clear_partial_shards(layout.root / "shards")

    shards = plan_shards(len(corpus), shard_size)
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

    # Each layer is merged and put in the database as soon as its last shard is on disk,
    # on a thread, while the main thread still builds and writes the later layers' shards.
    finisher = LayerFinisher(layout, options, worker, shards, len(corpus), residues)

    def sink(layer: int, shard: Shard, result: ShardResult) -> None:
        write_shard(layout.shard_dir(layer, shard.number), result)
        finisher.shard_written(layer, shard.number)
        if after_shard is not None:
            after_shard(layer, shard)

    started = time.perf_counter()
    progress = _progress_bar(options, corpus, work)
    try:
        if options.engine == "local":
            run_local(worker, corpus, work, sink, progress)
        else:
            run_ray(options.model, options.layers, options.scale, settings, corpus, work, sink, options.ray, progress)
        seconds = time.perf_counter() - started
        con = finisher.database()
    except BaseException:
        finisher.abandon()
        raise
    finally:
        if progress is not None:
            progress.close()
    _complete(layout, manifest, options, worker, con, finisher.temporary)
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
    return tqdm(total=total, unit="res", unit_scale=True, desc=f"atlas ({options.engine}, {len(work)} shard{'' if len(work) == 1 else 's'})")


class LayerFinisher:
    """Turns each layer's shards into its merged statistics, maxima, feature map and
    database rows, on one thread, as soon as the layer's last shard is written.

    Layers are finished in ascending order whatever order their shards arrive in (Ray
    completes shards out of order; a resumed build may find a layer already complete),
    so the database is the same bits however the build ran. In a multi-layer build every
    layer completes with the last shard, so the database work of one layer overlaps the
    building and writing of the next layers' shard tables.
    """

    def __init__(self, layout: AtlasLayout, options: BuildOptions, worker: ShardWorker, shards: list[Shard],
                 protein_count: int, residue_count: int):
        self.layout, self.options, self.worker, self.shards = layout, options, worker, shards
        self.protein_count, self.residue_count = protein_count, residue_count
        self.temporary = layout.database_path.with_suffix(".duckdb.tmp")
        self._missing = {
            layer: {s.number for s in shards if not layout.shard_done(layer, s.number)} for layer in options.layers
        }
        self._queue = sorted(options.layers)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atlas-layers")
        self._finished: list[Future] = []
        self._con: duckdb.DuckDBPyConnection | None = None
        self._submit_ready()

    def shard_written(self, layer: int, number: int) -> None:
        self._missing[layer].discard(number)
        for future in self._finished:
            if future.done():
                future.result()  # a failure (a full disk) stops the build now, not at the end
        self._submit_ready()

    def database(self) -> duckdb.DuckDBPyConnection:
        """The open database once every layer is in it (raises a layer's failure)."""
        for future in self._finished:
            future.result()
        if self._queue or self._con is None:
            raise RuntimeError(f"layers {self._queue} still have shards missing")
        self._executor.shutdown()  # its thread ends here, not at interpreter exit
        return self._con

    def abandon(self) -> None:
        """Stop the layer in progress (its query is interrupted) and remove the unfinished database."""
        if self._con is not None:
            self._con.interrupt()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._con is not None:
            self._con.close()
        self.temporary.unlink(missing_ok=True)

    def _submit_ready(self) -> None:
        while self._queue and not self._missing[self._queue[0]]:
            self._finished.append(self._executor.submit(self._finish, self._queue.pop(0)))

    def _finish(self, layer: int) -> None:
        layout, options = self.layout, self.options
        shard_dirs = [layout.shard_dir(layer, s.number) for s in self.shards]
        stats = merge_layer(shard_dirs)
        layout.layer_dir(layer).mkdir(parents=True, exist_ok=True)
        np.save(layout.maxima_path(layer), stats.max_raw.astype(np.float32))
        unit = unit_decoder(self.worker.decoder_weight(layer))
        np.save(layout.decoder_path(layer), unit)
        if options.progress and options.map_method == "umap":
            print(f"Layer {layer}: drawing the feature map (UMAP of 10,240 decoder vectors, about a minute; "
                  "--map pca is instant)…", file=sys.stderr, flush=True)
        coords = feature_map(unit, options.map_method)
        if self._con is None:
            self._con = open_database(self.temporary, layout.corpus_path)
        insert_layer(self._con, layer, stats, coords, shard_dirs, options.top_k, self.protein_count,
                     self.residue_count)


def _complete(layout, manifest, options, worker, con, temporary: Path) -> None:
    """Concepts (when annotated), then the database and manifest put in place."""
    try:
        create_concept_tables(con)
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
