"""The protein corpus an atlas is built from: a FASTA file read as a stream, cut into shards.

`parse_sequence_input` caps the number of records for interactive use; a corpus such as
Swiss-Prot (570k proteins) must be read record by record instead, with the same residue
checks and the same renaming of repeated identifiers, so record ids match the app's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from ..sequences import SequenceRecord, clean_sequence

#: UniProt FASTA headers: `sp|P00750|TPA_HUMAN ...` or `tr|...|...`.
_UNIPROT_HEADER = re.compile(r"^(?:sp|tr)\|([^|]+)\|")


@dataclass(frozen=True)
class CorpusProtein:
    """One protein of the corpus, with its place in it (0-based, FASTA order)."""

    index: int
    record_id: str
    description: str
    sequence: str

    @property
    def accession(self) -> str:
        """The UniProt accession inside a UniProt header, else the record id itself."""
        return accession_of(self.record_id)


def accession_of(record_id: str) -> str:
    match = _UNIPROT_HEADER.match(record_id)
    return match.group(1) if match else record_id


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def iter_fasta(path: Path, max_length: int = 20_000) -> Iterator[CorpusProtein]:
    """Records of a FASTA file, validated, without holding the whole file in memory."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"FASTA file not found: {path}")
    seen: dict[str, int] = {}
    header: str | None = None
    body: list[str] = []
    index = 0

    def make(header_line: str, lines: list[str], number: int) -> CorpusProtein:
        header_text = header_line.strip()
        record_id = header_text.split()[0] if header_text else f"record_{number + 1}"
        description = header_text[len(record_id):].strip() if header_text else ""
        seen[record_id] = seen.get(record_id, 0) + 1
        if seen[record_id] > 1:
            record_id = f"{record_id}_{seen[record_id]}"
        sequence = clean_sequence("".join(lines), record_id, max_length)
        return CorpusProtein(number, record_id, description, sequence)

    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.rstrip("\n").lstrip("\ufeff") if line_number == 1 else line.rstrip("\n")
            if line.startswith(">"):
                if header is not None:
                    yield make(header, body, index)
                    index += 1
                header, body = line[1:], []
            elif header is None:
                if line.strip():
                    raise InputError(
                        f"{path} is not a FASTA file: line {line_number} comes before any "
                        "'>' header line."
                    )
            else:
                body.append(line)
    if header is None:
        raise InputError(f"{path} has no FASTA records: each protein needs a '>' header line.")
    yield make(header, body, index)


def read_corpus(path: Path) -> list[CorpusProtein]:
    return list(iter_fasta(path))


@dataclass(frozen=True)
class Shard:
    """A contiguous run of corpus proteins processed (and stored) as one unit of work."""

    number: int
    start: int  # first protein index
    stop: int  # one past the last protein index


def plan_shards(protein_count: int, shard_size: int) -> list[Shard]:
    """Fixed-size shards in corpus order, so a resumed build sees exactly the same ones."""
    if shard_size < 1:
        raise InputError("--shard-size must be at least 1 protein.")
    return [
        Shard(number, start, min(start + shard_size, protein_count))
        for number, start in enumerate(range(0, protein_count, shard_size))
    ]


def as_records(proteins: list[CorpusProtein]) -> list[SequenceRecord]:
    return [SequenceRecord(p.record_id, p.sequence, p.description) for p in proteins]
