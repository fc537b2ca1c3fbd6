"""`interplm atlas ...`: build a feature atlas and query it from the shell.

    atlas build --fasta FILE --layer L --out PATH [--engine local|ray] [--unnormalized]
    atlas build --uniprot-query QUERY [--limit N] --layer L --out PATH   corpus + concepts from UniProt
    atlas max --atlas PATH --out FILE.npy        per-feature maxima of the raw SAE (float32)
    atlas top FEATURE --atlas PATH [--k K] [--json]
    atlas residues RECORD START END --atlas PATH [--json]   features firing on a residue range
    atlas concepts --atlas PATH --annotations FILE          (re)compute concept associations
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .cli_common import parse_layers, warn_if_synthetic
from .errors import InputError
from .registry import DEFAULT_MODEL, MODELS


def positive_int(text: str) -> int:
    """argparse type for counts: a whole number of at least 1 (`--limit -1` is refused, not 'all but one')."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers) -> None:
    atlas = subparsers.add_parser("atlas", help="build and query a feature atlas of a protein corpus")
    commands = atlas.add_subparsers(dest="atlas_command", required=True)

    build = commands.add_parser("build", help="compute per-feature statistics over a FASTA corpus")
    corpus = build.add_mutually_exclusive_group(required=True)
    corpus.add_argument("--fasta", help="the corpus (FASTA, any number of proteins)")
    corpus.add_argument("--uniprot-query", help="fetch the corpus and its annotations from a UniProt search, e.g. "
                        "'reviewed:true AND organism_id:9606 AND length:[50 TO 1000]' (kept in OUT/uniprot/)")
    build.add_argument("--limit", type=int, help="with --uniprot-query: at most this many entries")
    build.add_argument("--layer", required=True, help="SAE layer(s): 3, 1-6 or 1,3,5")
    build.add_argument("--out", required=True, help="atlas directory (created; resumed if it holds the same build)")
    build.add_argument("--engine", choices=("local", "ray"), default="local")
    build.add_argument("--unnormalized", action="store_true", help="report raw activations instead of the published normalised scale")
    build.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    build.add_argument("--shard-size", type=int,
                       help="proteins per shard, the unit of work and of resume (default 100, fewer for more than "
                            "3 layers: 50 at 6, so the memory stays about the same)")
    build.add_argument("--top-k", type=int, default=10, help="top proteins kept per feature")
    build.add_argument("--window", type=int, default=15, help="residues kept each side of a top example's peak")
    build.add_argument("--residue-index-min", type=float, default=0.0,
                       help="index residue activations above this value for range queries (default: every non-zero one)")
    build.add_argument("--no-residue-index", action="store_true", help="no residue index (for very large corpora)")
    build.add_argument("--map", dest="map_method", choices=("umap", "pca"), default="umap",
                       help="2-D feature map of decoder vectors: umap (default, about a minute per layer) or pca (instant)")
    build.add_argument("--annotations", help="UniProt JSON entries or a TSV (accession, concept, start, end) for concept analysis")
    build.add_argument("--ray-address", help="Ray cluster address (default: start a local instance on loopback)")
    build.add_argument("--workers", type=int, default=2, help="Ray workers (actors)")
    build.add_argument("--cpus-per-worker", type=float, default=1.0)
    build.add_argument("--gpus-per-worker", type=float, default=0.0)
    build.add_argument("--overwrite", action="store_true", help="delete an existing atlas at --out first")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(handler=_cmd_build)

    maxima = commands.add_parser("max", help="write the per-feature maximum (raw) vector as .npy")
    maxima.add_argument("--atlas", required=True)
    maxima.add_argument("--out", required=True, help="output .npy")
    maxima.add_argument("--layer", type=int)
    maxima.set_defaults(handler=_cmd_max)

    top = commands.add_parser("top", help="top activating proteins of a feature")
    top.add_argument("feature", type=int)
    top.add_argument("--atlas", required=True)
    top.add_argument("--k", type=positive_int)
    top.add_argument("--layer", type=int)
    top.add_argument("--json", action="store_true", help="print JSON")
    top.set_defaults(handler=_cmd_top)

    residues = commands.add_parser("residues", help="features firing on a residue range of a corpus protein")
    residues.add_argument("record", help="record id or accession")
    residues.add_argument("start", type=int)
    residues.add_argument("end", type=int)
    residues.add_argument("--atlas", required=True)
    residues.add_argument("--layer", type=int)
    residues.add_argument("--limit", type=positive_int, default=20)
    residues.add_argument("--json", action="store_true")
    residues.set_defaults(handler=_cmd_residues)

    concepts = commands.add_parser("concepts", help="associate features with UniProt concepts (precision/recall/F1)")
    concepts.add_argument("--atlas", required=True)
    concepts.add_argument("--annotations", required=True)
    concepts.add_argument("--layer", type=int, help="default: every layer of the atlas")
    concepts.set_defaults(handler=_cmd_concepts)


def _cmd_build(args) -> int:
    from .atlas.build import BuildOptions, build_atlas
    from .atlas.engine_ray import RayOptions

    if args.limit is not None and args.uniprot_query is None:
        raise InputError("--limit goes with --uniprot-query.")
    if args.uniprot_query is not None and args.annotations:
        raise InputError("--uniprot-query brings its own annotations (the entries it fetches): drop --annotations.")
    fasta, annotations, overwrite = args.fasta, args.annotations, args.overwrite
    if args.uniprot_query is not None:
        from .atlas.layout import remove_atlas
        from .atlas.uniprot_corpus import fetch_corpus

        if overwrite:
            remove_atlas(Path(args.out))
            overwrite = False  # the corpus about to be fetched belongs to this build
        fetched = fetch_corpus(args.uniprot_query, args.limit, Path(args.out), progress=not args.quiet)
        print(f"UniProt corpus: {fetched.proteins:,} entries ({fetched.pages_fetched} page(s) fetched now) "
              f"-> {fetched.fasta.parent}", file=sys.stderr)
        fasta, annotations = str(fetched.fasta), str(fetched.entries)
    options = BuildOptions(
        layers=parse_layers(args.layer),
        model=args.model,
        engine=args.engine,
        scale="raw" if args.unnormalized else "normalized",
        shard_size=args.shard_size,
        top_k=args.top_k,
        window=args.window,
        residue_index_min=None if args.no_residue_index else args.residue_index_min,
        map_method=args.map_method,
        annotations=Path(annotations) if annotations else None,
        ray=RayOptions(args.ray_address, args.workers, args.cpus_per_worker, args.gpus_per_worker),
        overwrite=overwrite,
        progress=not args.quiet,
    )
    report = build_atlas(Path(fasta), Path(args.out), options)
    warn_if_synthetic(report.synthetic)
    print(
        f"Atlas of {report.proteins:,} proteins ({report.residues:,} residues), layer(s) "
        f"{','.join(map(str, options.layers))}: {_work_done(report, len(options.layers))} -> {report.layout.root}"
    )
    return 0


def _work_done(report, layers: int) -> str:
    """'4 of 4 shards computed now in 3.1 s (1,200 residues/s)'; with several layers the
    units of work are (shard, layer) pairs: '2 shards × 6 layers, 12 of 12 computed now ...'."""
    done = f"{report.shards_computed} of {report.shards_total}"
    if layers > 1:
        shards = report.shards_total // layers
        done = f"{shards} shard{'s' if shards != 1 else ''} × {layers} layers, {done}"
    else:
        done += " shards"
    text = f"{done} computed now in {report.seconds_shards:.1f} s"
    if report.shards_computed == report.shards_total and report.seconds_shards > 0:
        # Each residue goes through ESM-2 once and every requested SAE: the corpus's rate.
        text += f" ({report.residues / report.seconds_shards:,.0f} residues/s" + (f" through {layers} layers)" if layers > 1 else ")")
    return text


def _open(path: str):
    from .atlas.reader import FeatureAtlas

    return FeatureAtlas(Path(path))


def _cmd_max(args) -> int:
    out = Path(args.out)
    if out.suffix != ".npy":
        raise InputError(f"--out must end in .npy (got {out.name}).")
    atlas = _open(args.atlas)
    layer = atlas.default_layer(args.layer)
    maxima = atlas.maxima(layer).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, maxima)
    print(f"Wrote {len(maxima):,} per-feature maxima (layer {layer}, raw SAE, {int((maxima == 0).sum())} dead) to {out}")
    return 0


def _cmd_top(args) -> int:
    atlas = _open(args.atlas)
    layer = atlas.default_layer(args.layer)
    top = atlas.top_examples(layer, args.feature, args.k)
    rows = [
        {"rank": int(r.rank), "record_id": r.record_id, "position": int(r.position), "activation": float(r.activation),
         "window_start": int(r.window_start), "window": r.window_sequence}
        for r in top.itertuples()
    ]
    if args.json:
        print(json.dumps({"feature": args.feature, "layer": layer, "scale": atlas.scale, "top": rows}, indent=2))
        return 0
    print(f"feature {args.feature}, layer {layer} ({atlas.scale} activations)")
    if not rows:
        print("  never fires in this corpus")
    for row in rows:
        print(f"{row['rank']:>4}  {row['record_id']:<28} {row['position']:>6}  {row['activation']:>9.4f}  {row['window']}")
    return 0


def _cmd_residues(args) -> int:
    atlas = _open(args.atlas)
    layer = atlas.default_layer(args.layer)
    hits = atlas.features_in_range(layer, args.record, args.start, args.end).head(args.limit)
    rows = [
        {"feature": int(r.feature), "max_activation": float(r.max_activation), "peak_position": int(r.peak_position), "residues": int(r.residues)}
        for r in hits.itertuples()
    ]
    if args.json:
        print(json.dumps({"record": args.record, "start": args.start, "end": args.end, "layer": layer, "features": rows}, indent=2))
        return 0
    print(f"{args.record} {args.start}-{args.end}, layer {layer}: {len(rows)} feature(s) shown")
    for row in rows:
        print(f"  feature {row['feature']:>6}  max {row['max_activation']:.4f} at {row['peak_position']}  ({row['residues']} residues)")
    return 0


def _cmd_concepts(args) -> int:
    import duckdb

    from .atlas.build import weights_fingerprints
    from .atlas.concept_pass import annotate
    from .atlas.worker import ShardWorker

    atlas = _open(args.atlas)
    layers = [atlas.default_layer(args.layer)] if args.layer is not None else atlas.layers
    manifest = atlas.manifest
    atlas.close()
    worker = ShardWorker(manifest["model"], layers, manifest["scale"])
    current = weights_fingerprints(worker, layers, manifest["scale"])
    if any(current[str(layer)] != manifest["weights"].get(str(layer)) for layer in layers):
        raise InputError(
            "The weights found now differ from those the atlas was built with (INTERPLM_WEIGHTS_DIR?): "
            "concepts would not match the atlas. Point at the same weights or rebuild the atlas."
        )
    con = duckdb.connect(str(atlas.layout.database_path))
    try:
        count = annotate(con, worker, layers, Path(args.annotations), manifest["scale"],
                         {layer: atlas.layout.maxima_path(layer) for layer in layers})
        for layer in layers:
            (best,) = con.execute("SELECT count(*) FROM best_concepts WHERE layer = ?", [layer]).fetchall()[0]
            print(f"layer {layer}: {count} annotated protein(s) scored; {best} feature(s) have a best concept")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return 0
