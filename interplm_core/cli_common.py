"""Helpers every command-line module shares (`cli`, `cli_data`, `cli_atlas` import this,
never each other): argument parsing and the notes a command prints on stderr."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

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


class ListingOutlivesReader:
    """sys.stdout for a command whose listing's reader may leave early (`... | head`).

    The first write or flush that meets the closed pipe points file descriptor 1 at
    /dev/null and the command carries on: `features` still writes its whole output file,
    `atlas build` its atlas. Without this the BrokenPipeError ended the command, and the
    file the user asked for was never written.
    """

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        # The text still buffered goes to /dev/null at the next flush, with all that follows.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextmanager
def listing_outlives_reader():
    """Run a command with `ListingOutlivesReader` as sys.stdout (restored afterwards)."""
    original = sys.stdout
    guard = ListingOutlivesReader(original)
    sys.stdout = guard
    try:
        yield guard
    finally:
        sys.stdout = original
