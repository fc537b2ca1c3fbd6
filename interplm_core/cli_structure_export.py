"""`structure export`: the app's structure downloads from the command line, through the same
`structure_exports.export_structure` (3D view page, PyMOL / ChimeraX scripts, B-factor PDB
or mmCIF), so a user can script figures and a check can test the app's files.

    python -m interplm_core structure export --structure FILE (--sequence SEQ | --uniprot ACC)
        [--chain C] --layer L --features F1,F2,F3 --format {html,pml,cxc,pdb,cif} --out FILE
"""

from __future__ import annotations

from pathlib import Path

from .cli_common import add_structure_input, note, warn_if_synthetic
from .errors import InputError
from .inert import viewer_file_name
from .palette import FEATURE_COLOURS
from .structure_exports import EXPORT_FORMATS


def register(structure_commands) -> None:
    """Add `export` to the `structure` subcommands."""
    export = structure_commands.add_parser("export", help="a structure coloured by SAE features: html, pml, cxc, pdb, cif")
    add_structure_input(export)
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
    from .pipeline import FeaturePipeline
    from .session import ProteinRequest, Sources, StructureFile, map_structure, resolve_input
    from .structure_exports import ExportSource, export_structure
    from .structures import decode_structure_bytes, detect_format

    features = parse_features(args.features)
    path = Path(args.structure)
    if not path.is_file():
        raise InputError(f"Structure file not found: {path}. Give the path of a .pdb or .cif file.")
    if args.format in ("pml", "cxc"):
        viewer_file_name(path.name)  # the script loads it by name: refuse before any work
    text = decode_structure_bytes(path.read_bytes())
    file = StructureFile(text, detect_format(path.name, text), f"file {path.name}", path.stem, False)
    pipeline = FeaturePipeline(progress=False)
    pipeline.spec.check_layer(args.layer)
    sources = Sources.direct(pipeline.settings)
    # The app's path: the protein resolved and mapped by the session, then the app's export.
    request = ProteinRequest(accession=args.uniprot) if args.uniprot else ProteinRequest(text=args.sequence)
    found = resolve_input(request, sources, with_structure=False)
    view = map_structure(found.record, file, args.chain, sources)
    for text_note in found.notes + view.notes:
        note(text_note)
    result = pipeline.features([found.record], args.layer)[0]  # imports torch: the input is known good
    width = result.activations.shape[1]
    outside = [f for f in features if not 0 <= f < width]
    if outside:
        raise InputError(f"Feature ids run from 0 to {width - 1}; {', '.join(map(str, outside))} is outside.")
    source = ExportSource(protein=found.record.id, model=pipeline.spec.esm_name, layer=args.layer, normalized=True,
                          structure_name=path.name, synthetic=result.synthetic)
    exported = export_structure(args.format, file.text, file.fmt, view.mapping, result.activations, features,
                                source, path.name)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(exported, encoding="utf-8")
    except OSError as err:
        raise InputError(f"Cannot write {out}: {err.strerror}.") from None
    warn_if_synthetic(result.synthetic)
    print(f"Wrote {args.format} ({', '.join(f'f{f}' for f in features)}, layer {args.layer}, chain "
          f"{view.mapping.chain_id!r}) to {out}")
    if args.format in ("pml", "cxc"):
        print(f"The script loads {path.name}: keep it in the same folder.")
    return 0
