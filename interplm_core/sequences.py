"""Protein sequences from what a user pastes: a bare sequence or FASTA with one or many records.

Accepts what ESM-2's alphabet accepts: the 20 standard amino acids plus the rare letters
X (unknown), B (D/N), Z (E/Q), U (selenocysteine) and O (pyrrolysine), which ESM
tokenises as tokens of their own. Whitespace, line breaks, lower case and a final stop
`*` are tolerated; anything else is rejected with its position, so the user can fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
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
            what = "a stop codon '*' inside the sequence" if char == "*" else f"invalid character '{char}'"
            raise InputError(
                f"Record '{record_id}': {what} at position {index + 1}. "
                f"Use one-letter amino-acid codes ({STANDARD_AMINO_ACIDS}, or X, B, Z, U, O)."
            )
    if len(seq) > max_length:
        raise InputError(
            f"Record '{record_id}' has {len(seq):,} residues; the limit is {max_length:,}. "
            "Split the protein into domains and analyse them separately."
        )
    return seq


def iter_fasta_records(
    lines: Iterable[str], max_length: int = DEFAULT_MAX_LENGTH, source: str = "The input"
) -> Iterator[SequenceRecord]:
    """Validated records from FASTA lines, one at a time (a corpus need not fit in memory).

    Record ids are the header's first word; repeated ids get a suffix (`id_2`, `id_3`) so
    that every record can be stored under its own name; a header with no text becomes
    `record_N`.
    """
    seen: dict[str, int] = {}
    header: str | None = None
    body: list[str] = []
    number = 0

    def finish() -> SequenceRecord:
        text = (header or "").strip()
        record_id = text.split()[0] if text else f"record_{number}"
        description = text[len(record_id):].strip() if text else ""
        seen[record_id] = seen.get(record_id, 0) + 1
        if seen[record_id] > 1:
            record_id = f"{record_id}_{seen[record_id]}"
        return SequenceRecord(record_id, clean_sequence("".join(body), record_id, max_length), description)

    for line_number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if line_number == 1:
            line = line.lstrip("\ufeff")
        if line.startswith(">"):
            if header is not None:
                yield finish()
            header, body, number = line[1:], [], number + 1
        elif header is None:
            if line.strip():
                raise InputError(
                    f"{source} is not FASTA: line {line_number} comes before any header. A FASTA "
                    "file must begin with a header line such as '>my_protein'."
                )
        else:
            body.append(line)
    if header is None:
        raise InputError(f"{source} has no FASTA records: each protein needs a '>' header line.")
    yield finish()


def parse_sequence_input(
    text: str,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_records: int = DEFAULT_MAX_RECORDS,
) -> list[SequenceRecord]:
    """Parse a bare sequence or FASTA text into validated records.

    A bare sequence becomes one record named `query`.
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
    for record in iter_fasta_records(text.splitlines(), max_length):
        records.append(record)
        if len(records) > max_records:
            raise InputError(
                f"The input has more than {max_records:,} records; split it into smaller files."
            )
    return records
