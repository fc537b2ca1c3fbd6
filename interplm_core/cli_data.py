"""Command-line access to the data layer: `uniprot`, `structure map`, `mirror`, `prefetch`.

`register(subparsers)` adds the commands to the main parser in `cli.py`, whose `main`
turns any `InterPLMError` into a one-line message on stderr and a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli_common import add_structure_input, fetch_entry_noted, parse_layers
from .errors import InputError
from .registry import DEFAULT_MODEL, MODELS


def register(subparsers) -> None:
    """Add the data-layer subcommands to an argparse subparsers object."""
    uniprot = subparsers.add_parser("uniprot", help="show a UniProt entry and its annotation tracks")
    uniprot.add_argument("query", help="accession (P69905, P04406-2) or entry name (HBA_HUMAN)")
    uniprot.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    uniprot.set_defaults(handler=_cmd_uniprot)

    structure = subparsers.add_parser("structure", help="structure files: map a sequence onto a chain")
    structure_commands = structure.add_subparsers(dest="structure_command", required=True)
    mapping = structure_commands.add_parser("map", help="align a sequence to a structure chain")
    add_structure_input(mapping)
    mapping.add_argument("--placement", type=int, help="which repeat placement to use (1-based)")
    mapping.add_argument("--json", action="store_true", help="print the mapping as JSON")
    mapping.set_defaults(handler=_cmd_structure_map)
    from .cli_structure_export import register as register_structure_export

    register_structure_export(structure_commands)

    mirror = subparsers.add_parser("mirror", help="serve the recorded fixtures on a loopback port")
    mirror.add_argument("--port", type=int, default=8765)
    mirror.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    mirror.add_argument("--weights", help="weights directory to serve (default: INTERPLM_WEIGHTS_DIR)")
    mirror.add_argument("--fixtures", help="fixtures directory (default: the recordings bundled with the package)")
    mirror.set_defaults(handler=_cmd_mirror)

    prefetch = subparsers.add_parser("prefetch", help="warm the caches so a session can run offline")
    prefetch.add_argument("accessions", nargs="+", help="UniProt accessions or entry names")
    prefetch.add_argument("--layers", help="SAE layers to fetch, e.g. 1-6 or 3,4 (default: all of the model's)")
    prefetch.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    prefetch.add_argument("--no-weights", action="store_true", help="only UniProt and AlphaFold")
    prefetch.set_defaults(handler=_cmd_prefetch)


def _cmd_uniprot(args) -> int:
    entry = fetch_entry_noted(args.query)
    if args.json:
        data = entry.to_json()
        out = {
            "accession": data["accession"],
            "entry_name": data["entry_name"],
            "protein_name": data["protein_name"],
            "gene": data["gene"],
            "organism": data["organism"],
            "reviewed": data["reviewed"],
            "length": data["length"],
            "sequence": data["sequence"],
            "redirected_from": data["redirected_from"],
            "tracks": data["tracks"],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"{entry.accession} ({entry.entry_name}) {entry.protein_name}")
    print(f"  gene {entry.gene or '-'}, {entry.organism}, {entry.length} aa, "
          f"{'reviewed' if entry.reviewed else 'unreviewed'}")
    for kind, found in entry.tracks().items():
        shown = ", ".join(a.where() for a in found[:8])
        print(f"  {kind}: {shown}" + (f" ... ({len(found)} in all)" if len(found) > 8 else ""))
    return 0


def _read_sequence(text: str) -> str:
    from .sequences import parse_sequence_input

    records = parse_sequence_input(text)
    if len(records) > 1:
        print(f"Note: {len(records)} records given; mapping the first ({records[0].id}).", file=sys.stderr)
    return records[0].sequence


def _cmd_structure_map(args) -> int:
    from .mapping import map_to_structure
    from .structures import parse_structure

    path = Path(args.structure)
    if not path.is_file():
        raise InputError(f"Structure file not found: {path}. Give the path of a .pdb or .cif file.")
    structure = parse_structure(path.read_bytes(), path.name)
    for warning in structure.warnings:
        print(f"Note: {warning}", file=sys.stderr)
    if args.uniprot:
        sequence = fetch_entry_noted(args.uniprot).sequence
    else:
        sequence = _read_sequence(args.sequence)
    mapping = map_to_structure(sequence, structure, chain_id=args.chain, placement=args.placement)
    if mapping.ambiguous:
        print(
            f"Note: chain {mapping.chain_id} fits the sequence at {len(mapping.placements)} places; "
            f"using placement {mapping.chosen + 1} (choose with --placement N):",
            file=sys.stderr,
        )
        for line in mapping.describe_placements():
            print(f"  {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(mapping.to_json()))
        return 0
    placed = [p for p in mapping.positions if p.residue is not None]
    print(
        f"chain {mapping.chain_id}: coverage {mapping.coverage:.1%} of the sequence, identity "
        f"{mapping.identity:.1%}, {len(placed)} residues placed"
    )
    if placed:
        first, last = placed[0], placed[-1]
        assert first.residue is not None and last.residue is not None  # placed: residue set
        print(f"  sequence {first.position} -> {first.residue.label}, ..., {last.position} -> {last.residue.label}")
    return 0


def _cmd_mirror(args) -> int:
    from .mirror import serve
    from .settings import get_settings

    weights = Path(args.weights) if args.weights else get_settings().weights_dir
    fixtures = Path(args.fixtures) if args.fixtures else None
    if fixtures is not None and not fixtures.is_dir():
        raise InputError(f"Fixtures directory not found: {fixtures}.")
    if weights is not None and not Path(weights).is_dir():
        raise InputError(f"Weights directory not found: {weights}.")
    serve(args.port, fixtures_dir=fixtures, weights_dir=weights, host=args.host)  # a busy port: InputError
    return 0


def _cmd_prefetch(args) -> int:
    from .alphafold import fetch_model
    from .errors import NotFoundError

    for query in args.accessions:
        entry = fetch_entry_noted(query)
        print(f"UniProt {entry.accession}: {entry.length} aa, {len(entry.features)} features cached")
        try:
            model = fetch_model(entry.accession)
            print(f"  AlphaFold {model.entry_id}: {len(model.plddt)} residues, mean pLDDT {model.mean_plddt:.1f}")
        except NotFoundError as err:
            print(f"  {err}", file=sys.stderr)
    if not args.no_weights:
        from .weights import fetch_weights

        layers = parse_layers(args.layers) if args.layers else list(MODELS[args.model].sae_layers)
        files = fetch_weights(model=args.model, layers=layers, progress=False)
        print(f"Weights: {len(files)} files ready ({args.model}, SAE layers {','.join(map(str, layers))})")
    return 0

