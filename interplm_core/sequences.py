"""Protein sequences from what a user pastes: a bare sequence or FASTA with one or many records.

Accepts what ESM-2's alphabet accepts: the 20 standard amino acids plus the rare letters
X (unknown), B (D/N), Z (E/Q), U (selenocysteine) and O (pyrrolysine), which ESM
tokenises as tokens of their own. Whitespace, line breaks, lower case and a final stop
`*` are tolerated; anything else is rejected with its position, so the user can fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError

STANDARD_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
RARE_AMINO_ACIDS = "XBZUO"
ALLOWED = frozenset(STANDARD_AMINO_ACIDS + RARE_AMINO_ACIDS)

#: Longest protein accepted by default; longer ones are run through overlapping windows.
DEFAULT_MAX_LENGTH = 20_000
#: Most records accepted from one paste or file.
DEFAULT_MAX_RECORDS = 10_000

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class SequenceRecord:
    """One protein: an identifier (FASTA header's first word, or `query`) and its residues."""

    id: str
    sequence: str
    description: str = ""

    def __len__(self) -> int:
        return len(self.sequence)


def clean_sequence(raw: str, record_id: str = "query", max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """Upper-case, strip whitespace and a trailing stop, and check every residue."""
    seq = _WHITESPACE.sub("", raw).upper()
    if seq.endswith("*"):
        seq = seq[:-1]
    if not seq:
        raise InputError(f"Record '{record_id}' has no residues: paste a protein sequence.")
    for index, char in enumerate(seq):
        if char not in ALLOWED:
            what = "a stop codon '*' inside the sequence" if char == "*" else f"'{char}'"
            raise InputError(
                f"Record '{record_id}': invalid character {what} at position {index + 1}. "
                f"Use one-letter amino-acid codes ({STANDARD_AMINO_ACIDS}, or X, B, Z, U, O)."
            )
    if len(seq) > max_length:
        raise InputError(
            f"Record '{record_id}' has {len(seq):,} residues; the limit is {max_length:,}. "
            "Split the protein into domains and analyse them separately."
        )
    return seq


def parse_sequence_input(
    text: str,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_records: int = DEFAULT_MAX_RECORDS,
) -> list[SequenceRecord]:
    """Parse a bare sequence or FASTA text into validated records.

    A bare sequence becomes one record named `query`. Repeated FASTA identifiers get a
    suffix (`id_2`, `id_3`) so that every record can be stored under its own name.
    """
    if text is None or not text.strip():
        raise InputError("The input is empty: paste a protein sequence or a FASTA file.")
    text = text.lstrip("\ufeff").strip()
    if not text.startswith(">"):
        if ">" in text:
            raise InputError(
                "Found '>' inside the input but not at its start: a FASTA file must begin "
                "with a header line such as '>my_protein'."
            )
        return [SequenceRecord("query", clean_sequence(text, "query", max_length))]

    records: list[SequenceRecord] = []
    seen: dict[str, int] = {}
    chunks = text.split("\n>")
    for chunk_number, chunk in enumerate(chunks, start=1):
        header, _, body = chunk.lstrip(">").partition("\n")
        header = header.strip()
        record_id = header.split()[0] if header else f"record_{chunk_number}"
        description = header[len(record_id):].strip() if header else ""
        seen[record_id] = seen.get(record_id, 0) + 1
        if seen[record_id] > 1:
            record_id = f"{record_id}_{seen[record_id]}"
        records.append(SequenceRecord(record_id, clean_sequence(body, record_id, max_length), description))
        if len(records) > max_records:
            raise InputError(
                f"The input has more than {max_records:,} records; split it into smaller files."
            )
    return records
