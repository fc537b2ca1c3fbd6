"""`structure export`: the app's structure downloads from the command line, through the same
`structure_exports.export_structure` (3D view page, PyMOL / ChimeraX scripts, B-factor PDB
or mmCIF), so a user can script figures and a check can test the app's files.

    python -m interplm_core structure export --structure FILE (--sequence SEQ | --uniprot ACC)
        [--chain C] --layer L --features F1,F2,F3 --format {html,pml,cxc,pdb,cif} --out FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import InputError
from .figures import FEATURE_COLOURS
from .structure_exports import EXPORT_FORMATS


def register(structure_commands) -> None:
    """Add `export` to the `structure` subcommands."""
    export = structure_commands.add_parser("export", help="a structure coloured by SAE features: html, pml, cxc, pdb, cif")
    export.add_argument("--structure", required=True, help="PDB or mmCIF file")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--sequence", help="protein sequence or FASTA text (first record used)")
    source.add_argument("--uniprot", help="UniProt accession or entry name")
    export.add_argument("--chain", help="chain id (default: the best-matching chain)")
    export.add_argument("--layer", type=int, required=True)
    export.add_argument("--features", required=True, help=f"up to {len(FEATURE_COLOURS)} feature ids, e.g. 12,408,77")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--out", required=True, help="file to write")
    export.set_defaults(handler=_cmd_structure_export)


def parse_features(text: str) -> list[int]:
    """'12,408,77' -> [12, 408, 77]: at most as many as there are feature colours, no repeats."""
    try:
        features = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"Cannot read features '{text[:60]}': write feature ids like 12,408,77.") from None
    if not 1 <= len(features) <= len(FEATURE_COLOURS) or len(set(features)) != len(features):
        raise InputError(f"Give 1 to {len(FEATURE_COLOURS)} different feature ids (got '{text[:60]}').")
    return features


def _cmd_structure_export(args) -> int:
    from .cli_data import _read_sequence
    from .mapping import map_to_structure
    from .sequences import SequenceRecord
    from .structure_exports import ExportSource, export_structure
    from .structures import decode_structure_bytes, parse_structure

    features = parse_features(args.features)
    path = Path(args.structure)
    if not path.is_file():
        raise InputError(f"Structure file not found: {path}. Give the path of a .pdb or .cif file.")
    if args.format in ("pml", "cxc"):
        from .inert import viewer_file_name

        viewer_file_name(path.name)  # the script loads it by name: refuse before any work
    data = path.read_bytes()
    structure = parse_structure(data, path.name)
    for warning in structure.warnings:
        print(f"Note: {warning}", file=sys.stderr)
    if args.uniprot:
        from .uniprot import fetch_entry

        entry = fetch_entry(args.uniprot)
        if entry.redirected_from:
            print(f"Note: {entry.redirect_note}", file=sys.stderr)
        record = SequenceRecord(entry.accession, entry.sequence)
    else:
        record = SequenceRecord("query", _read_sequence(args.sequence))
    mapping = map_to_structure(record.sequence, structure, chain_id=args.chain)

    from .pipeline import FeaturePipeline  # imports torch: only once the input is known good

    pipeline = FeaturePipeline(progress=False)
    pipeline.spec.check_layer(args.layer)
    result = pipeline.features([record], args.layer)[0]
    width = result.activations.shape[1]
    outside = [f for f in features if not 0 <= f < width]
    if outside:
        raise InputError(f"Feature ids run from 0 to {width - 1}; {', '.join(map(str, outside))} is outside.")
    source = ExportSource(protein=record.id, model=pipeline.spec.esm_name, layer=args.layer, normalized=True,
                          structure_name=path.name, synthetic=result.synthetic)
    text = export_structure(args.format, decode_structure_bytes(data), structure.format, mapping,
                            result.activations, features, source, path.name)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise InputError(f"Cannot write {out}: {err.strerror}.") from None
    if result.synthetic:
        print("WARNING: synthetic weights in use: these features mean nothing biologically.", file=sys.stderr)
    print(f"Wrote {args.format} ({', '.join(f'f{f}' for f in features)}, layer {args.layer}, chain "
          f"{mapping.chain_id!r}) to {out}")
    if args.format in ("pml", "cxc"):
        print(f"The script loads {path.name}: keep it in the same folder.")
    return 0
