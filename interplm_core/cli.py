"""Command line: `python -m interplm_core <command>` (also the `interplm` console script).

Every command turns an `InterPLMError` into a one-line message on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
import threading
from pathlib import Path

import numpy as np

from .cli_atlas import register as register_atlas_commands
from .cli_common import listing_outlives_reader, note, parse_layers, warn_if_synthetic
from .cli_data import register as register_data_commands
from .cli_overlap import register as register_overlap_command
from .errors import InputError, InterPLMError
from .registry import DEFAULT_MODEL, MODELS


def _cmd_weights_synthetic(args) -> int:
    from .synthetic import write_synthetic_weights

    layers = parse_layers(args.layers) if args.layers else None
    out = write_synthetic_weights(Path(args.out), seed=args.seed, model=args.model, layers=layers)
    print(f"Synthetic weights (seed {args.seed}) written to {out}.")
    print(f"Use them with: export INTERPLM_WEIGHTS_DIR={out.resolve()}")
    print("Their features mean nothing biologically: they exist for tests and offline development.")
    return 0


def _cmd_weights_fetch(args) -> int:
    from .weights import fetch_weights

    layers = parse_layers(args.layers) if args.layers else None  # None: every SAE layer of the model
    for wf in fetch_weights(args.model, layers, progress=not args.quiet):
        print(f"{wf.source:>16}  {wf.path}")
    return 0


def _read_records(args):
    """The records of --sequence / --fasta / --uniprot (a UniProt look-up goes through the session)."""
    from .sequences import parse_sequence_input

    if args.fasta is not None:
        from .sequences import read_fasta_file

        path = Path(args.fasta)
        if not path.is_file():
            raise InputError(f"FASTA file not found: {path}")
        return read_fasta_file(path)
    if args.sequence is not None:
        return parse_sequence_input(args.sequence)
    from .session import ProteinRequest, resolve_input

    found = resolve_input(ProteinRequest(accession=args.uniprot), with_structure=False)
    for text in found.notes:
        note(text)
    return [found.record]


def npz_member_names(record_ids: list[str]) -> list[str]:
    """Safe, unique .npz member names for the records; every renaming is printed (stderr)."""
    from .sequences import unique_safe_names

    names = unique_safe_names(record_ids, keep="|")  # UniProt's `sp|P69905|HBA_HUMAN` stays as it is
    for record_id, name in zip(record_ids, names):
        if name != record_id:
            note(f"record {record_id!r} is stored as {name!r} in the .npz")
    return names


def _cmd_features(args) -> int:
    from .feature_export import FeatureFile, check_output_path

    out = Path(args.out)
    check_output_path(out)
    records = _read_records(args)
    # .npz member names are file names: made safe and unique; parquet keeps ids as data.
    names = npz_member_names([r.id for r in records]) if out.suffix == ".npz" else [r.id for r in records]
    from .pipeline import FeaturePipeline  # imports torch: only once the input is known good

    pipeline = FeaturePipeline(model=args.model, progress=not args.quiet)
    scale = "normalised" if not args.unnormalized else "raw"
    written, synthetic, width = 0, False, 0
    with FeatureFile(out, compress=args.compress) as output:
        # The output file is the durable copy: the result caches are read, not filled.
        results = pipeline.iter_features(
            records, args.layer, normalized=not args.unnormalized, remember=False, reconstruction=args.reconstruction,
            allocate=output.array,
        )
        for name, result in zip(names, results):
            written, synthetic, width = written + 1, synthetic or result.synthetic, result.activations.shape[1]
            _print_top_features(result, scale, args.top, args.reconstruction)
            output.write(name, result.activations)  # [length, dict size] float32; the file's from here on
    warn_if_synthetic(synthetic)
    if out.suffix == ".parquet":
        print(f"\nWrote the non-zero activations of {written} record(s) (record, position, feature, value) to {out}")
    else:
        print(f"\nWrote {written} array(s) of shape [length, {width}] to {out}")
    return 0


def _print_top_features(result, scale: str, top: int, reconstruction: bool) -> None:
    from .esm_embed import window_note
    from .registry import get_model_spec

    heading = f"\n{result.record_id}  length {result.length}  layer {result.layer}  {scale}"
    if reconstruction and result.mse is not None and result.fraction_variance_explained is not None:
        heading += (
            f"  SAE reconstruction: MSE {result.mse:.4g}, variance explained {result.fraction_variance_explained:.1%}"
        )
    print(heading)
    note = window_note(result.length, get_model_spec(result.model).max_residues)
    if note:
        print(f"note: {note}")
    print(f"{'rank':>4}  {'feature':>7}  {'max':>8}  {'mean':>8}  {'at':>5}  {'residues':>8}")
    for rank, feat in enumerate(result.top_features(top), start=1):
        residue = result.sequence[feat["argmax_position"] - 1]
        print(
            f"{rank:>4}  {feat['feature']:>7}  {feat['max_activation']:>8.3f}  "
            f"{feat['mean_activation']:>8.4f}  {residue}{feat['argmax_position']:<4}  {feat['active_residues']:>8}"
        )


def _cmd_compare(args) -> int:
    from .registry import get_model_spec

    get_model_spec(args.model).check_layer(args.layer)  # before any download or model load
    if args.mutations is not None:
        from .mutations import parse_mutations

        parse_mutations(args.mutations)  # a typo fails here, before the model loads
    from .pipeline import FeaturePipeline
    from .session import ProteinRequest, compare, load_protein

    request = ProteinRequest(accession=args.uniprot) if args.uniprot else ProteinRequest(text=args.sequence)
    pipeline = FeaturePipeline(model=args.model, progress=not args.quiet)
    protein = load_protein(request, pipeline, args.layer, normalized=not args.unnormalized, with_structure=False)
    for text in protein.notes:
        note(text)
    if args.mutations is not None:
        result = compare(protein, pipeline, mutations=args.mutations)
    else:
        result = compare(protein, pipeline, sequence=args.sequence_b)
    warn_if_synthetic(result.synthetic)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    c = result.comparison
    print(f"A {result.record_a.id} ({len(result.record_a.sequence)} aa)  vs  B {result.record_b.id} "
          f"({len(result.record_b.sequence)} aa), layer {result.layer}, identity {c.identity:.1%}")
    print(f"appear in B: {len(c.of_kind('appears'))}, vanish in B: {len(c.of_kind('vanishes'))}")
    print(f"{'feature':>7}  {'change':<9}  {'max A':>8}  {'max B':>8}  {'total':>8}")
    for row in c.rows():
        print(f"{row['feature']:>7}  {row['change']:<9}  {row['max_a']:>8.3f}  {row['max_b']:>8.3f}  "
              f"{row['total_residue_change']:>8.3f}")
    return 0


def _cmd_steer(args) -> int:
    from .steer import parse_positions

    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError(f"--out must end in .npz (got {out.name}).")
    if not np.isfinite(args.value):
        raise InputError(f"--value must be a finite number (got {args.value}).")
    records = _read_records(args)
    if len(records) != 1:
        raise InputError(f"Steering takes one protein; the input holds {len(records)} records.")
    sequence = records[0].sequence
    positions = parse_positions(args.positions, len(sequence))
    from .pipeline import FeaturePipeline  # imports torch: only once the input is known good
    from .steer import Steerer, prediction_changes

    pipeline = FeaturePipeline(model=args.model, progress=not args.quiet)
    result = Steerer(pipeline).steer(sequence, args.layer, {args.feature: args.value}, positions,
                                     normalized=not args.unnormalized)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, before=result.before, after=result.after, positions=result.positions)
    warn_if_synthetic(pipeline.synthetic)
    changes = prediction_changes(result)
    print(f"{records[0].id}: f{args.feature} clamped to {args.value:g} at {len(positions)} of {len(sequence)} "
          f"residues (layer {args.layer}, {'raw' if args.unnormalized else 'normalised'}); "
          f"most likely residue changes at {len(changes)} position(s)")
    for change in changes[:20]:
        print(f"  {change}")
    print(f"Wrote before, after [{len(sequence)}, 20] and positions to {out}")
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interplm", description="InterPLM Explorer command line.")
    commands = parser.add_subparsers(dest="command", required=True)

    weights = commands.add_parser("weights", help="find, fetch or generate model weights")
    weights_commands = weights.add_subparsers(dest="weights_command", required=True)
    synthetic = weights_commands.add_parser("synthetic", help="write seeded synthetic weights in the real formats")
    synthetic.add_argument("--out", required=True, help="directory to write")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    synthetic.add_argument("--layers", help="SAE layers to write, e.g. 1-6 (default: all)")
    synthetic.set_defaults(handler=_cmd_weights_synthetic)
    fetch = weights_commands.add_parser("fetch", help="download and cache the real weights")
    fetch.add_argument("--layers", help="SAE layers, e.g. 1-6 (default: all)")
    fetch.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    fetch.add_argument("--quiet", action="store_true", help="no progress bars")
    fetch.set_defaults(handler=_cmd_weights_fetch)

    features = commands.add_parser("features", help="SAE feature activations of proteins")
    source = features.add_mutually_exclusive_group(required=True)
    source.add_argument("--sequence", help="a protein sequence (one-letter codes)")
    source.add_argument("--fasta", help="a FASTA file with one or more records")
    source.add_argument("--uniprot", help="a UniProt accession or entry name")
    features.add_argument("--layer", type=int, required=True)
    features.add_argument("--unnormalized", action="store_true", help="raw activations (not scaled to max 1)")
    features.add_argument("--out", required=True,
                          help="output .npz (dense: one [residues, features] array per record id) or .parquet "
                               "(sparse: one row per non-zero record, position, feature, value)")
    features.add_argument("--compress", action="store_true", help="deflate the .npz (smaller, much slower to write)")
    features.add_argument("--top", type=int, default=10, help="features to list per record")
    features.add_argument("--reconstruction", action="store_true",
                          help="also report how well the SAE reconstructs each record's embeddings (MSE, variance "
                               "explained): one more matrix product per residue, a run about a tenth longer")
    features.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    features.add_argument("--quiet", action="store_true", help="no progress bars")
    features.set_defaults(handler=_cmd_features)
    comparison = commands.add_parser("compare", help="how SAE features change between a protein and its mutant or another sequence")
    a_source = comparison.add_mutually_exclusive_group(required=True)
    a_source.add_argument("--uniprot", help="protein A: a UniProt accession or entry name")
    a_source.add_argument("--sequence", help="protein A: a sequence or FASTA text (first record)")
    b_source = comparison.add_mutually_exclusive_group(required=True)
    b_source.add_argument("--mutations", help="protein B as point mutants of A, e.g. K48R,A123G (A's numbering)")
    b_source.add_argument("--sequence-b", help="protein B: a sequence or FASTA text (first record)")
    comparison.add_argument("--layer", type=int, required=True)
    comparison.add_argument("--json", action="store_true", help="print JSON (see README) instead of a table")
    comparison.add_argument("--unnormalized", action="store_true", help="raw activations (not scaled to max 1)")
    comparison.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    comparison.add_argument("--quiet", action="store_true", help="no progress bars")
    comparison.set_defaults(handler=_cmd_compare)

    steer = commands.add_parser("steer", help="clamp an SAE feature inside ESM-2 and save its predictions")
    steer_source = steer.add_mutually_exclusive_group(required=True)
    steer_source.add_argument("--sequence", help="a protein sequence (one-letter codes)")
    steer_source.add_argument("--uniprot", help="a UniProt accession or entry name")
    steer.add_argument("--layer", type=int, required=True)
    steer.add_argument("--feature", type=int, required=True, help="SAE feature id")
    steer.add_argument("--value", type=float, required=True, help="clamp value (0 ablates)")
    steer.add_argument("--positions", help="1-based residues to steer, e.g. 5-9,12 (default: all)")
    steer.add_argument("--unnormalized", action="store_true", help="clamp in the raw SAE scale")
    steer.add_argument("--out", required=True, help="output .npz with before, after, positions")
    steer.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    steer.add_argument("--quiet", action="store_true", help="no progress bars")
    steer.set_defaults(handler=_cmd_steer, fasta=None)
    demo = commands.add_parser(
        "demo", help="the offline demo: weights (synthetic if none), the mirror and the app, wired together"
    )
    demo.add_argument("--port", type=int, default=8501, help="the app's port on 127.0.0.1 (default 8501)")
    demo.set_defaults(handler=_cmd_demo)
    register_data_commands(commands)
    register_overlap_command(commands)
    register_atlas_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with listing_outlives_reader() as stdout:
        try:
            code = args.handler(args)
        except InterPLMError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        stdout.flush()  # here, not at exit, so a reader gone by now is met by the guard
        return code


def main_exit() -> None:
    """Entry point of `python -m interplm_core` and the console script."""
    leave(main())


def leave(code: int) -> None:
    """End the process once the command's work is safely out, without tearing the
    interpreter down.

    Python's teardown of torch's modules and C++ statics costs 0.4-0.6 s after every
    command (`python -c "import torch"` alone spends 0.43 s exiting here), a tenth of a
    corpus export. What shutdown does that matters is done first, in its order: join
    worker threads (pending result-cache writes, via `threading._shutdown`), run the
    atexit handlers (logging, Ray), flush stdout and stderr. Output files are closed by
    the commands themselves. Where that private hook is missing, or a profiler, debugger
    or coverage tool is watching (it writes its results after the program), exit normally.
    """
    shutdown_threads = getattr(threading, "_shutdown", None)
    if shutdown_threads is None or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    shutdown_threads()
    atexit._run_exitfuncs()
    with contextlib.suppress(BrokenPipeError):  # main() flushed already; this is a late reader's loss
        sys.stdout.flush()
    try:
        sys.stderr.flush()
    finally:
        os._exit(code)
