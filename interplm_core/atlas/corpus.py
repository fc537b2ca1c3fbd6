"""The protein corpus an atlas is built from: a FASTA file read as a stream, cut into shards.

`parse_sequence_input` caps the number of records for interactive use; a corpus such as
Swiss-Prot (570k proteins) must be read record by record instead, with the same residue
checks and the same renaming of repeated identifiers, so record ids match the app's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..sequences import iter_fasta_records

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


def iter_fasta(path: Path, max_length: int = 20_000) -> Iterator[CorpusProtein]:
    """Records of a FASTA file, validated, without holding the whole file in memory."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"FASTA file not found: {path}")
    with open(path, encoding="utf-8", errors="replace") as handle:
        for index, record in enumerate(iter_fasta_records(handle, max_length, source=str(path))):
            yield CorpusProtein(index, record.id, record.description, record.sequence)


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
