"""Command line: `python -m interplm_core <command>` (also the `interplm` console script).

Every command turns an `InterPLMError` into a one-line message on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .cli_atlas import register as register_atlas_commands
from .cli_data import register as register_data_commands
from .errors import InputError, InterPLMError
from .registry import DEFAULT_MODEL, MODELS


def parse_layers(text: str) -> list[int]:
    """'1-6', '3', '1,3,5' or '1-2,6' -> sorted layer numbers."""
    layers: set[int] = set()
    try:
        for part in text.split(","):
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                layers.update(range(low, high + 1))
            else:
                layers.add(int(part))
    except ValueError:
        raise InputError(f"Cannot read layers '{text}': write them like 1-6, 4 or 1,3,5.") from None
    return sorted(layers)


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
    from .sequences import parse_sequence_input

    if args.sequence is not None:
        return parse_sequence_input(args.sequence)
    if args.fasta is not None:
        path = Path(args.fasta)
        if not path.is_file():
            raise InputError(f"FASTA file not found: {path}")
        return parse_sequence_input(path.read_text(errors="replace"))
    from .sequences import SequenceRecord
    from .uniprot import fetch_entry

    entry = fetch_entry(args.uniprot)
    if entry.redirected_from:
        print(f"Note: {entry.redirect_note}", file=sys.stderr)
    return [SequenceRecord(entry.accession, entry.sequence, entry.protein_name or "")]


def _cmd_features(args) -> int:
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError(f"--out must end in .npz (got {out.name}).")
    records = _read_records(args)
    from .pipeline import FeaturePipeline  # imports torch: only once the input is known good
    pipeline = FeaturePipeline(model=args.model, progress=not args.quiet)
    results = pipeline.features(records, args.layer, normalized=not args.unnormalized)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **{r.record_id: r.activations for r in results})
    if any(r.synthetic for r in results):
        print("WARNING: synthetic weights in use: these features mean nothing biologically.", file=sys.stderr)
    scale = "normalised" if not args.unnormalized else "raw"
    for result in results:
        print(
            f"\n{result.record_id}  length {result.length}  layer {result.layer}  {scale}  "
            f"SAE reconstruction: MSE {result.mse:.4g}, variance explained {result.fraction_variance_explained:.1%}"
        )
        print(f"{'rank':>4}  {'feature':>7}  {'max':>8}  {'mean':>8}  {'at':>5}  {'residues':>8}")
        for rank, feat in enumerate(result.top_features(args.top), start=1):
            residue = result.sequence[feat["argmax_position"] - 1]
            print(
                f"{rank:>4}  {feat['feature']:>7}  {feat['max_activation']:>8.3f}  "
                f"{feat['mean_activation']:>8.4f}  {residue}{feat['argmax_position']:<4}  {feat['active_residues']:>8}"
            )
    print(f"\nWrote {len(results)} array(s) of shape [length, {results[0].activations.shape[1]}] to {out}")
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
    if pipeline.synthetic:
        print("WARNING: synthetic weights in use: these predictions mean nothing biologically.", file=sys.stderr)
    changes = prediction_changes(result)
    print(f"{records[0].id}: f{args.feature} clamped to {args.value:g} at {len(positions)} of {len(sequence)} "
          f"residues (layer {args.layer}, {'raw' if args.unnormalized else 'normalised'}); "
          f"most likely residue changes at {len(changes)} position(s)")
    for change in changes[:20]:
        print(f"  {change}")
    print(f"Wrote before, after [{len(sequence)}, 20] and positions to {out}")
    return 0


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
    features.add_argument("--out", required=True, help="output .npz, one array per record id")
    features.add_argument("--top", type=int, default=10, help="features to list per record")
    features.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    features.add_argument("--quiet", action="store_true", help="no progress bars")
    features.set_defaults(handler=_cmd_features)

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
    register_data_commands(commands)
    register_atlas_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except InterPLMError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())
