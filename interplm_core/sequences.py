"""Protein sequences from what a user pastes: a bare sequence or FASTA with one or many records.

Accepts what ESM-2's alphabet accepts: the 20 standard amino acids plus the rare letters
X (unknown), B (D/N), Z (E/Q), U (selenocysteine) and O (pyrrolysine), which ESM
tokenises as tokens of their own. Whitespace, line breaks, lower case and a final stop
`*` are tolerated; anything else is rejected with its position, so the user can fix it.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

STANDARD_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
RARE_AMINO_ACIDS = "XBZUO"
ALLOWED = frozenset(STANDARD_AMINO_ACIDS + RARE_AMINO_ACIDS)

#: Longest protein accepted by default; longer ones are run through overlapping windows.
DEFAULT_MAX_LENGTH = 20_000
#: Most records accepted from one paste or file.
DEFAULT_MAX_RECORDS = 10_000

_WHITESPACE = re.compile(r"\s+")
#: Control characters other than whitespace: in a header they are not text, and printed
#: as they are they would drive the reader's terminal (an ESC starts a command).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


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
    seq = seq.removesuffix("*")
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
        raise _too_long(record_id, f"{len(seq):,}", max_length)
    return seq


def _too_long(record_id: str, count: str, max_length: int) -> InputError:
    return InputError(
        f"Record '{record_id}' has {count} residues; the limit is {max_length:,}. "
        "Split the protein into domains and analyse them separately."
    )


def _first_free(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    suffix = 2
    while f"{name}_{suffix}" in taken:
        suffix += 1
    return f"{name}_{suffix}"


_LEADING_DOTS = re.compile(r"^[.-]+")


def safe_name(text: str, fallback: str = "record", keep: str = "") -> str:
    """`text` as a file or archive member name: letters, digits, '_', '-', '.' (and the
    characters in `keep`) only, not starting with '.' or '-' (no folder, no hidden or
    option-like name), at most 100 characters."""
    unsafe = re.compile(f"[^A-Za-z0-9_.{re.escape(keep)}-]")
    name = unsafe.sub("_", str(text))
    name = _LEADING_DOTS.sub(lambda m: "_" * len(m.group(0)), name)[:100]
    return name or fallback


def unique_safe_names(ids: Iterable[str], keep: str = "") -> list[str]:
    """`safe_name` of each id, made unique in order (two ids can become the same safe name)."""
    taken: set[str] = set()
    out = []
    for record_id in ids:
        name = _first_free(safe_name(record_id, keep=keep), taken)
        taken.add(name)
        out.append(name)
    return out


def iter_fasta_records(
    lines: Iterable[str], max_length: int = DEFAULT_MAX_LENGTH, source: str = "The input"
) -> Iterator[SequenceRecord]:
    """Validated records from FASTA lines, one at a time (a corpus need not fit in memory).

    Record ids are the header's first word; a repeated id gets the first free suffix (`a`,
    `a` and `a_2` become `a`, `a_2`, `a_2_2`) so that every record can be stored under its
    own name; a header with no text becomes `record_N`. A record is refused as soon as it
    outgrows `max_length` (a 200 MB record is not gathered first).
    """
    taken: set[str] = set()
    header: str | None = None
    body: list[str] = []
    body_length = 0
    number = 0

    def finish() -> SequenceRecord:
        text = _CONTROL.sub("?", header or "").strip()
        record_id = text.split()[0] if text else f"record_{number}"
        description = text[len(record_id):].strip() if text else ""
        record_id = _first_free(record_id, taken)
        taken.add(record_id)
        return SequenceRecord(record_id, clean_sequence("".join(body), record_id, max_length), description)

    for line_number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if line_number == 1:
            line = line.lstrip("\ufeff")
        if line.startswith(">"):
            if header is not None:
                yield finish()
            header, body, body_length, number = line[1:], [], 0, number + 1
        elif header is None:
            if line.strip():
                raise InputError(
                    f"{source} is not FASTA: line {line_number} comes before any header. A FASTA "
                    "file must begin with a header line such as '>my_protein'."
                )
        else:
            body.append(line)
            body_length += len(_WHITESPACE.sub("", line))
            if body_length > max_length + 1:  # + 1: a final stop '*' is not a residue
                record_id = header.strip().split()[0] if header.strip() else f"record_{number}"
                raise _too_long(record_id, f"more than {max_length:,}", max_length)
    if header is None:
        raise InputError(f"{source} has no FASTA records: each protein needs a '>' header line.")
    yield finish()


#: What the rare letters stand for (ESM-2 has a token of its own for each: they are kept).
RARE_MEANINGS = {"X": "unknown residue", "B": "D or N, ambiguous", "Z": "E or Q, ambiguous",
                 "U": "selenocysteine", "O": "pyrrolysine"}


def cleaning_notes(text: str, records: Iterable[SequenceRecord]) -> list[str]:
    """What was done to accepted input that the user may not expect: lower case read as upper
    case, rare or ambiguous letters kept (with where they are). Empty when there is nothing to say."""
    notes = []
    body = "".join(line for line in str(text).splitlines() if not line.lstrip().startswith(">"))
    lower = sum(1 for c in body if c.islower())
    if lower:
        notes.append(f"{lower:,} lower-case letter{'s' if lower != 1 else ''} read as upper case.")
    for record in records:
        for letter, meaning in RARE_MEANINGS.items():
            where = [i + 1 for i, c in enumerate(record.sequence) if c == letter]
            if where:
                shown = ", ".join(str(p) for p in where[:8]) + (f" and {len(where) - 8} more" if len(where) > 8 else "")
                notes.append(f"{record.id}: {letter} ({meaning}) at position{'s' if len(where) > 1 else ''} {shown}; "
                             "kept as is: ESM-2 reads it as a token of its own, so features there are less reliable.")
    return notes


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


#: Bytes read at a time from a FASTA file (a record never needs the whole file in memory).
_READ_CHUNK = 1 << 20


def binary_kind(head: bytes) -> str | None:
    """What a file that is not plain (UTF-8/ASCII) text is, from its first bytes; None for text."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32 text"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (or an Office document)"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        if even.count(0) > 0.4 * len(even) or odd.count(0) > 0.4 * len(odd):
            return "UTF-16 text without a byte-order mark"
        return "a binary file"
    return None


def _lines(handle, limit: int, source: str) -> Iterator[str]:
    """Text lines of a binary file, each at most `limit` characters, read in bounded pieces."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    number = 0
    while True:
        chunk = handle.read(_READ_CHUNK)
        pending += decoder.decode(chunk, final=not chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            number += 1
            yield line
        if len(pending) > limit:
            raise InputError(
                f"{source}: line {number + 1} is over {limit:,} characters long; a record can have at most "
                f"{limit - _LINE_SLACK:,} residues. Split the protein into domains and analyse them separately."
            )
        if not chunk:
            if pending:
                yield pending
            return


_LINE_SLACK = 65_536


def read_fasta_file(path, max_length: int = DEFAULT_MAX_LENGTH,
                    max_records: int = DEFAULT_MAX_RECORDS) -> list[SequenceRecord]:
    """Validated records of a FASTA file (or a bare sequence in it), read as a stream: a
    file that is not text is named for what it is, and an oversized record is refused
    as soon as it passes the limit, not after the whole file is read."""
    path = Path(path)
    source = f"The file {path.name}"
    try:
        handle = path.open("rb")
    except OSError as err:
        raise InputError(f"Cannot read {path}: {err.strerror}.") from None
    with handle:
        kind = binary_kind(handle.read(4096))
        if kind is not None:
            raise InputError(
                f"{source} is {kind}, not a plain-text FASTA file. Save it as plain text (UTF-8 or ASCII)"
                + (" or decompress it first." if "compressed" in kind or "ZIP" in kind else ".")
            )
        handle.seek(0)
        lines = _lines(handle, max_length + _LINE_SLACK, source)
        first = next((line for line in lines if line.strip()), None)
        if first is None:
            raise InputError(f"{source} is empty: it needs a FASTA record or a protein sequence.")
        if not first.lstrip("\ufeff").lstrip().startswith(">"):
            rest = [first] + list(_bounded(lines, max_length + _LINE_SLACK))
            return parse_sequence_input("\n".join(rest), max_length, max_records)
        records: list[SequenceRecord] = []
        for record in iter_fasta_records(itertools.chain([first.lstrip().lstrip("\ufeff")], lines), max_length,
                                         source):
            records.append(record)
            if len(records) > max_records:
                raise InputError(f"{source} has more than {max_records:,} records; split it into smaller files.")
        return records


def _bounded(lines: Iterator[str], limit: int) -> Iterator[str]:
    """`lines` until their total length passes `limit` (a bare sequence longer than that is refused)."""
    total = 0
    for line in lines:
        total += len(line)
        if total > limit:
            raise InputError(f"The sequence is over {limit - _LINE_SLACK:,} residues long; split the protein into "
                             "domains and analyse them separately.")
        yield line
