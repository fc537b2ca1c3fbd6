"""Helpers every command-line module shares (`cli`, `cli_data`, `cli_atlas` import this,
never each other): argument parsing and the notes a command prints on stderr."""

from __future__ import annotations

import sys

from .errors import InputError

SYNTHETIC_WARNING = "WARNING: synthetic weights in use: these features mean nothing biologically."


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


def note(text: str) -> None:
    """A note for the user on stderr (stdout stays machine-readable)."""
    print(f"Note: {text}", file=sys.stderr)


def fetch_entry_noted(query: str):
    """A UniProt entry; a merged accession is said on stderr (the note's text is the entry's)."""
    from .uniprot import fetch_entry

    entry = fetch_entry(query)
    if entry.redirect_note:
        note(entry.redirect_note)
    return entry


def warn_if_synthetic(synthetic: bool | None) -> None:
    if synthetic:
        print(SYNTHETIC_WARNING, file=sys.stderr)


def add_structure_input(parser) -> None:
    """`--structure FILE (--sequence SEQ | --uniprot ACC) [--chain C]`: a protein and its structure
    (`structure map` and `structure export`)."""
    parser.add_argument("--structure", required=True, help="PDB or mmCIF file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sequence", help="protein sequence or FASTA text (first record used)")
    source.add_argument("--uniprot", help="UniProt accession or entry name")
    parser.add_argument("--chain", help="chain id (default: the best-matching chain)")
