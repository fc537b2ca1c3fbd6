"""Concept labels for corpus proteins, from UniProt JSON entries or a plain TSV.

A concept instance is (accession, concept, start, end), 1-based inclusive. Concept names
are the UniProt feature type, qualified where the type alone says little: "Domain:
Kringle", "Modified residue: Phosphoserine", "Binding site: Zn(2+)". Numbered repeats
("Kringle 1", "Kringle 2") share one concept. Residue-level concepts are exactly InterPLM's
(`per_aa_concepts` in interplm/analysis/concepts/concept_constants.py: active site,
cofactor, glycosylation, modified residue, amino acid, disulfide bond); all others,
binding sites included, are domain-level and are also scored per domain. Features are
read by `uniprot.located_features` (the app reads them the same way), so disulfide bonds
and cross-links mark their two bonded residues, not the span between.

TSV: a header `accession  concept  start  end` (tab-separated), one instance per row.
JSON: one entry, a list of entries, or a UniProt search answer (`{"results": [...]}`).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..uniprot import feature_residues, located_features

#: InterPLM's per-amino-acid concepts; every other concept is domain-level.
RESIDUE_LEVEL_TYPES = frozenset({
    "Active site", "Cofactor", "Glycosylation", "Modified residue", "Amino acid", "Disulfide bond",
})
#: UniProt feature types that are concepts (others: chain, variants, conflicts... are not).
CONCEPT_TYPES = RESIDUE_LEVEL_TYPES | frozenset({
    "Binding site", "Site", "Lipidation", "Cross-link", "Signal", "Transit peptide", "Propeptide", "Topological domain", "Transmembrane",
    "Intramembrane", "Domain", "Repeat", "Region", "Zinc finger", "DNA binding", "Coiled coil",
    "Motif", "Compositional bias", "Helix", "Beta strand", "Turn",
})
#: Types whose description names the concept (the type alone is too broad).
QUALIFIED_TYPES = frozenset({
    "Domain", "Repeat", "Region", "Zinc finger", "Motif", "Compositional bias", "Modified residue",
    "Glycosylation", "Binding site", "Lipidation", "Topological domain", "DNA binding",
})
_TRAILING_NUMBER = re.compile(r"\s+\d+$")


@dataclass(frozen=True)
class ConceptInstance:
    accession: str
    concept: str
    start: int
    end: int

    @property
    def kind(self) -> str:
        return concept_type(self.concept)

    @property
    def residue_level(self) -> bool:
        return self.kind in RESIDUE_LEVEL_TYPES

    def positions(self) -> list[int]:
        """1-based residues the instance labels."""
        return list(feature_residues(self.kind, self.start, self.end))


def concept_type(concept: str) -> str:
    return concept.split(":", 1)[0].strip()


def concept_name(feature_type: str, description: str) -> str:
    description = _TRAILING_NUMBER.sub("", (description or "").strip())
    if feature_type in QUALIFIED_TYPES and description:
        return f"{feature_type}: {description}"
    return feature_type


def instances_from_entry(entry: dict) -> list[ConceptInstance]:
    """Concept instances of one UniProtKB JSON entry."""
    accession = entry.get("primaryAccession")
    if not accession:
        raise InputError("A UniProt JSON entry has no primaryAccession: is this UniProtKB JSON?")
    return [
        ConceptInstance(accession, concept_name(a.type, a.description), a.start, a.end)
        for a in located_features(entry) if a.type in CONCEPT_TYPES
    ]


def load_annotations(path: Path) -> tuple[list[ConceptInstance], set[str]]:
    """Concept instances and the accessions the file annotates (their other residues are negatives)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Annotation file not found: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}).") from None
        entries = data.get("results", [data]) if isinstance(data, dict) else data
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise InputError(f"{path}: expected a UniProt entry, a list of entries or a search answer.")
        instances = [i for entry in entries for i in instances_from_entry(entry)]
        return instances, {str(e["primaryAccession"]) for e in entries}
    return _load_tsv(path, text)


def _load_tsv(path: Path, text: str) -> tuple[list[ConceptInstance], set[str]]:
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if header[:4] != ["accession", "concept", "start", "end"]:
        raise InputError(
            f"{path}: a concept TSV must start with the header 'accession<TAB>concept<TAB>start<TAB>end'."
        )
    instances, accessions = [], set()
    for line_number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 4:
            raise InputError(f"{path} line {line_number}: expected 4 tab-separated columns.")
        accession, concept = row[0].strip(), row[1].strip()
        try:
            start, end = int(row[2]), int(row[3])
        except ValueError:
            raise InputError(f"{path} line {line_number}: start and end must be whole numbers.") from None
        if not accession or not concept or start < 1 or end < start:
            raise InputError(f"{path} line {line_number}: need an accession, a concept and 1 <= start <= end.")
        instances.append(ConceptInstance(accession, concept, start, end))
        accessions.add(accession)
    if not instances:
        raise InputError(f"{path} has no concept rows.")
    return instances, accessions
