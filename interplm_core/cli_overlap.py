"""`interplm overlap`: which features mark which annotations of one protein (issue 11 contract).

    overlap (--uniprot ACC | --entry ENTRY.json) --layer L [--top K] [--unnormalized] --json

prints {"accession", "layer", "annotations": [{"type", "description", "start", "end",
"residues", "features": [{"feature", "f1", "precision", "recall", "threshold"}, ...]}]},
one element per located feature of the entry. Notes (merged accession, long-protein
windows, synthetic weights) go to stderr so stdout stays pure JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from .cli_common import fetch_entry_noted, note, warn_if_synthetic
from .errors import InputError

#: A saved entry is a few hundred kB at most; refuse anything absurd before parsing it.
MAX_ENTRY_BYTES = 20 * 1024 * 1024


def register(subparsers) -> None:
    overlap = subparsers.add_parser(
        "overlap", help="score every SAE feature against each UniProt annotation of one protein (precision/recall/F1)"
    )
    source = overlap.add_mutually_exclusive_group(required=True)
    source.add_argument("--uniprot", help="a UniProt accession or entry name")
    source.add_argument("--entry", help="a saved UniProt JSON entry (the REST API's format)")
    overlap.add_argument("--layer", type=int, required=True)
    overlap.add_argument("--top", type=int, default=5, help="features listed per annotation (default 5)")
    overlap.add_argument("--unnormalized", action="store_true",
                         help="threshold the raw activations (default: the normalised 0-1 scale, as InterPLM)")
    overlap.add_argument("--json", action="store_true", help="print JSON (otherwise a readable table)")
    overlap.set_defaults(handler=_cmd_overlap)


def read_entry_file(path: Path):
    """A UniProtEntry from a saved UniProtKB JSON file, with input errors (not network ones)."""
    from .uniprot import parse_entry

    if not path.is_file():
        raise InputError(f"Entry file not found: {path}")
    if path.stat().st_size > MAX_ENTRY_BYTES:
        raise InputError(f"{path} is larger than {MAX_ENTRY_BYTES // 2**20} MB: not a single UniProt entry.")
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}).") from None
    if not isinstance(data, dict) or not data.get("primaryAccession") or not (data.get("sequence") or {}).get("value"):
        raise InputError(f"{path} is not a UniProtKB JSON entry (no primaryAccession or sequence).")
    return parse_entry(data)


def _cmd_overlap(args) -> int:
    from .registry import DEFAULT_MODEL, get_model_spec
    from .sequences import SequenceRecord

    if args.top < 1:
        raise InputError("--top must be at least 1.")
    get_model_spec(DEFAULT_MODEL).check_layer(args.layer)
    if args.entry is not None:
        entry = read_entry_file(Path(args.entry))
    else:
        entry = fetch_entry_noted(args.uniprot)
    from .esm_embed import window_note
    from .overlap import annotation_label, score_overlap
    from .pipeline import FeaturePipeline  # imports torch: only once the input is known good

    record = SequenceRecord(entry.accession, entry.sequence, entry.protein_name or "")
    result = FeaturePipeline(progress=False).features([record], args.layer, normalized=not args.unnormalized)[0]
    long_chain = window_note(result.length, get_model_spec(result.model).max_residues)
    if long_chain:
        note(long_chain)
    warn_if_synthetic(result.synthetic)
    table = score_overlap(result.activations, entry.located)
    if args.json:
        print(json.dumps(table.to_json(entry.accession, args.layer, args.top), indent=2))
        return 0
    scale = "raw" if args.unnormalized else "normalised"
    print(f"{entry.accession} ({result.length} aa), layer {args.layer}, {scale}: "
          f"{len(table.annotations)} located annotation(s)")
    for index, annotation in enumerate(table.annotations):
        matches = table.top(index, args.top)
        best = ", ".join(f"f{m.feature} F1 {m.f1:.2f} (>{m.threshold:g})" for m in matches) or "no feature fires on it"
        print(f"  {annotation_label(annotation):<45} {best}")
    return 0
