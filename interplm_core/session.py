"""The application layer: one path from what a user asks for to what every front end shows.

A `ProteinRequest` (accession, sequence or FASTA text, an uploaded FASTA/PDB/mmCIF file,
optionally gzip-compressed, or an example) becomes a `LoadedProtein`: sequence, UniProt
entry, structure with its residue mapping, SAE features and notes for the user. A loaded
protein is compared with point mutants or a second sequence (`compare`). The Streamlit
pages, the CLI and notebooks call these functions and only collect input and draw, so
the steps and their order live here once.

The slow look-ups go through `Sources`, a set of plain callables: `Sources.direct()`
calls the core; the app passes its `st.cache_*` wrappers, so caching stays on the UI
side and this module never imports Streamlit. Progress is reported through optional
callbacks (`on_step(label)`, `on_progress(done, total)`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .compare import DEFAULT_FIRING_THRESHOLD, FeatureComparison, compare_activations
from .errors import InputError, NetworkError, NotFoundError, OfflineError
from .mutations import Mutation, apply_mutations, mutant_label, parse_mutations
from .pipeline import FeaturePipeline, FeatureResult
from .sequences import SequenceRecord, cleaning_notes, parse_sequence_input
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from .mapping import ResidueMapping
    from .uniprot import UniProtEntry

#: One-click examples: proteins the loopback mirror (and UniProt / AlphaFold DB) have
#: structures for, with the PDB entry and chain shown when AlphaFold DB has no model.
EXAMPLES: dict[str, tuple[str, tuple[str, str] | None]] = {
    "P61626": ("Lysozyme C (human, 148 aa)", None),
    "P69905": ("Haemoglobin subunit alpha (human, 142 aa; PDB 4HHB)", ("4HHB", "A")),
    "P0CG48": ("Polyubiquitin-C (human, 685 aa, 9 ubiquitin repeats)", None),
    "Q5VSL9": ("STRIP1 (human, 837 aa)", None),
}

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
GZIP_MAGIC = b"\x1f\x8b"

StepCallback = Callable[[str], None]
ProgressCallback = Callable[[int, int], None]


# ---------------------------------------------------------------- structures


@dataclass(frozen=True)
class StructureFile:
    """A structure's text and where it came from; `is_alphafold` says whether B-factors are pLDDT."""

    text: str
    fmt: str  # "pdb" or "cif"
    source: str  # e.g. "AlphaFold DB AF-P61626-F1 (v4)", "PDB 4HHB" or "upload: x.pdb"
    file_stem: str
    is_alphafold: bool


def fetch_alphafold_structure(accession: str, settings: Settings | None = None) -> StructureFile:
    """The AlphaFold DB model of a UniProt accession."""
    from .alphafold import fetch_model

    model = fetch_model(accession, settings or get_settings())
    text = model.data.decode("utf-8", errors="replace")
    version = f" (v{model.version})" if model.version else ""
    return StructureFile(text, model.format, f"AlphaFold DB {model.entry_id}{version}", model.entry_id, True)


def fetch_pdb_structure(pdb_id: str, settings: Settings | None = None) -> StructureFile:
    """An RCSB PDB entry as mmCIF."""
    from .rcsb import fetch_structure_file, normalize_pdb_id

    entry = normalize_pdb_id(pdb_id)
    data = fetch_structure_file(entry, settings or get_settings(), fmt="cif")
    return StructureFile(data.decode("utf-8", errors="replace"), "cif", f"PDB {entry}", entry, False)


def plddt_per_position(mapping: ResidueMapping) -> np.ndarray:
    """pLDDT for each sequence position [L] (NaN where the model has no residue)."""
    return np.array(
        [m.residue.b_factor if m.residue is not None and m.residue.b_factor is not None else np.nan
         for m in mapping.positions],
        dtype=float,
    )


@dataclass(frozen=True)
class Sources:
    """Where `load_protein` gets entries, structures and mappings (inject cached versions here)."""

    uniprot_entry: Callable  # (query) -> uniprot.UniProtEntry
    alphafold_structure: Callable  # (accession) -> StructureFile
    pdb_structure: Callable  # (pdb_id) -> StructureFile
    parsed_structure: Callable  # (text, fmt) -> structures.Structure
    residue_mapping: Callable  # (sequence, text, fmt, chain) -> mapping.ResidueMapping

    @classmethod
    def direct(cls, settings: Settings | None = None) -> Sources:
        """Straight calls into the core, uncached (the CLI and notebooks)."""
        from .mapping import map_to_structure
        from .structures import parse_structure
        from .uniprot import fetch_entry

        s = settings or get_settings()
        return cls(
            uniprot_entry=lambda query: fetch_entry(query, s),
            alphafold_structure=lambda accession: fetch_alphafold_structure(accession, s),
            pdb_structure=lambda pdb_id: fetch_pdb_structure(pdb_id, s),
            parsed_structure=parse_structure,
            residue_mapping=lambda sequence, text, fmt, chain: map_to_structure(
                sequence, parse_structure(text, fmt), chain_id=chain or None),
        )


# ---------------------------------------------------------------- requests and results


@dataclass(frozen=True)
class ProteinRequest:
    """What to load: exactly one of accession / text / upload, plus an optional structure.

    `text` is a sequence or FASTA text; an upload is a file's name and bytes (FASTA, PDB or
    mmCIF, optionally .gz); `chain` picks the chain of an uploaded or given structure.
    """

    accession: str | None = None
    text: str | None = None
    upload_name: str | None = None
    upload_bytes: bytes | None = None
    pdb_id: str | None = None
    chain: str | None = None
    record_index: int = 0

    @classmethod
    def example(cls, accession: str) -> ProteinRequest:
        if accession not in EXAMPLES:
            raise InputError(f"No example {accession!r}; examples are {', '.join(EXAMPLES)}.")
        return cls(accession=accession)


@dataclass
class StructureView:
    """A structure and how the analysed sequence maps onto it."""

    file: StructureFile
    mapping: ResidueMapping
    plddt: np.ndarray | None  # [L] per sequence position, AlphaFold models only
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadedProtein:
    """Everything the app shows about one protein at one layer and scale."""

    record: SequenceRecord
    layer: int
    normalized: bool
    result: FeatureResult
    entry: UniProtEntry | None = None
    structure: StructureView | None = None
    notes: list[str] = field(default_factory=list)
    input_key: tuple[str, str] = ("seq", "")  # what reloads it from a URL: ("acc"|"seq"|"upload", value)
    seconds: float = 0.0

    @property
    def model(self) -> str:
        return self.result.model

    @property
    def title(self) -> str:
        if self.entry is not None:
            name = f"{self.entry.accession} · {self.entry.entry_name} · {self.entry.protein_name}"
        else:
            name = self.record.id + (f" {self.record.description}" if self.record.description else "")
        return f"{name} ({len(self.record.sequence)} aa)"

    def tracks(self) -> dict:
        """UniProt features as {type: [(positions, label)]} for the figures."""
        if self.entry is None:
            return {}
        return {kind: [(a.residues(), a.label()) for a in items] for kind, items in self.entry.tracks().items()}


@dataclass
class ResolvedInput:
    """A request turned into a sequence (before any features are computed)."""

    record: SequenceRecord
    entry: UniProtEntry | None
    structure: StructureFile | None
    notes: list[str]
    input_key: tuple[str, str]


# ---------------------------------------------------------------- uploads


def read_upload(name: str, data: bytes) -> tuple[str, bytes]:
    """An upload's name without `.gz` and its bytes, gunzipped when compressed.

    Compression is recognised by its magic bytes (a `.gz` name is only stripped), and the
    decompressed size is capped like any structure upload.
    """
    from .structures import gunzip_capped, max_upload_bytes

    if name.lower().endswith(".gz"):
        name = name[:-3]
    if data[:2] == GZIP_MAGIC:
        data = gunzip_capped(data, max_upload_bytes())
    return name, data


def is_structure_name(name: str) -> bool:
    return name.lower().endswith(STRUCTURE_SUFFIXES)


def _pick_record(records: list[SequenceRecord], index: int, what: str, notes: list[str]) -> SequenceRecord:
    record = records[min(max(index, 0), len(records) - 1)]
    if len(records) > 1:
        notes.append(f"{what} has {len(records)} records; showing {record.id}.")
    return record


def _structure_upload(name: str, data: bytes, chain: str | None, sources: Sources, notes: list[str]):
    from .structures import decode_structure_bytes, detect_format

    text = decode_structure_bytes(data)
    fmt = detect_format(name, text)
    file = StructureFile(text, fmt, f"upload: {name}", name.rsplit(".", 1)[0], False)
    parsed = sources.parsed_structure(text, fmt)
    if chain is not None and chain not in parsed.chain_ids:
        raise InputError(f"The file has no chain {chain!r}; its chains are {', '.join(parsed.chain_ids)}.")
    chain = chain or parsed.chain_ids[0]
    notes += list(parsed.warnings)
    if len(parsed.chain_ids) > 1:
        notes.append(f"The file has chains {', '.join(parsed.chain_ids)}; analysing chain {chain}.")
    record = SequenceRecord(f"{file.file_stem}_{chain}", parsed.chain_sequence(chain), f"chain {chain} of {name}")
    return record, file


# ---------------------------------------------------------------- loading


def resolve_input(
    request: ProteinRequest,
    sources: Sources | None = None,
    with_structure: bool = True,
    on_step: StepCallback | None = None,
) -> ResolvedInput:
    """Sequence record, UniProt entry, structure file, notes and the URL key of a request."""
    sources = sources or Sources.direct()
    step = on_step or (lambda label: None)
    notes: list[str] = []
    entry = None
    structure = None
    if request.accession and request.accession.strip():
        step(f"Looking up {request.accession.strip()} in UniProt…")
        entry = sources.uniprot_entry(request.accession.strip())
        if not entry.sequence:
            raise NotFoundError(f"UniProt entry {entry.accession} has no sequence.")
        if entry.redirect_note:
            notes.append(entry.redirect_note)
        record = SequenceRecord(entry.accession, entry.sequence, entry.protein_name or "")
        key = ("acc", entry.accession)
    elif request.upload_bytes is not None:
        name, data = read_upload(request.upload_name or "upload", request.upload_bytes)
        if is_structure_name(name):
            step(f"Reading structure {name}…")
            record, structure = _structure_upload(name, data, request.chain, sources, notes)
        else:
            text = data.decode("utf-8", errors="replace")
            records = parse_sequence_input(text)
            record = _pick_record(records, request.record_index, "The file", notes)
            notes += cleaning_notes(text, [record])
        key = ("upload", request.upload_name or "upload")
    elif request.text is not None:
        records = parse_sequence_input(request.text)
        record = _pick_record(records, request.record_index, "The input", notes)
        notes += cleaning_notes(request.text, [record])
        key = ("seq", record.sequence)
    else:
        raise InputError("Nothing to analyse: enter a UniProt accession, paste a sequence or upload a file.")
    if with_structure and structure is None and request.pdb_id:
        step(f"Downloading PDB {request.pdb_id}…")
        structure = sources.pdb_structure(request.pdb_id)
    if with_structure and structure is None and entry is not None:
        step(f"Fetching the AlphaFold DB model of {entry.accession}…")
        try:
            structure = sources.alphafold_structure(entry.accession)
        except NotFoundError as err:
            fallback = EXAMPLES.get(entry.accession, ("", None))[1]
            if fallback:
                structure = sources.pdb_structure(fallback[0])
                notes.append(f"No AlphaFold model here; showing PDB {fallback[0]} chain {fallback[1]}.")
            else:
                notes.append(str(err))
        except (NetworkError, OfflineError) as err:
            notes.append(f"No structure: {err}")
    return ResolvedInput(record, entry, structure, notes, key)


def map_structure(record: SequenceRecord, file: StructureFile, chain: str | None, sources: Sources) -> StructureView:
    """Map the sequence onto the structure, with a note when it covers only part of it."""
    mapping = sources.residue_mapping(record.sequence, file.text, file.fmt, chain)
    notes = []
    if mapping.coverage < 0.999:
        notes.append(
            f"The structure covers {mapping.coverage:.0%} of the sequence (chain {mapping.chain_id}, "
            f"{mapping.identity:.0%} identity); uncovered residues have no 3D position."
        )
    plddt = plddt_per_position(mapping) if file.is_alphafold else None
    return StructureView(file, mapping, plddt, notes)


def load_protein(
    request: ProteinRequest,
    pipeline: FeaturePipeline,
    layer: int,
    normalized: bool = True,
    *,
    sources: Sources | None = None,
    with_structure: bool = True,
    on_step: StepCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> LoadedProtein:
    """Resolve the request, compute its features at `layer` and map its structure.

    Raises `InterPLMError` subclasses with a user-facing message (bad input, unknown
    accession, unavailable weights); a missing structure is a note, not an error.
    """
    started = time.perf_counter()
    pipeline.spec.check_layer(layer)
    sources = sources or Sources.direct(pipeline.settings)
    step = on_step or (lambda label: None)
    found = resolve_input(request, sources, with_structure, step)
    first_time = pipeline.status()["files"] == []
    step("Loading ESM-2 and the SAE (first time: files are read or downloaded)…"
         if first_time else f"Computing layer {layer} features…")
    result = pipeline.features([found.record], layer, normalized=normalized, on_progress=on_progress)[0]
    view = None
    if found.structure is not None:
        step("Mapping the sequence onto the structure…")
        chain = request.chain
        if chain is None and found.entry is not None:
            chain = (EXAMPLES.get(found.entry.accession, ("", None))[1] or (None, None))[1]
        view = map_structure(found.record, found.structure, chain, sources)
    elapsed = time.perf_counter() - started
    # No time in the label: the server's part is not what the user waits (page load, drawing).
    step(f"Loaded {found.record.id}")
    return LoadedProtein(found.record, layer, normalized, result, found.entry, view, found.notes,
                         found.input_key, elapsed)


def recompute(protein: LoadedProtein, pipeline: FeaturePipeline, layer: int, normalized: bool) -> LoadedProtein:
    """The same protein with another model, layer or scale (entry and structure kept)."""
    started = time.perf_counter()
    result = pipeline.features([protein.record], layer, normalized=normalized)[0]
    return replace(protein, layer=layer, normalized=normalized, result=result,
                   seconds=time.perf_counter() - started)


# ---------------------------------------------------------------- reading results


def top_residues(result: FeatureResult, feature: int, k: int = 5) -> list[tuple[int, str, float]]:
    """Where `feature` fires most: up to `k` (1-based position, residue, activation), highest
    first (ties by position); residues where it is silent are left out."""
    if not 0 <= feature < result.activations.shape[1]:
        raise InputError(f"Feature {feature} does not exist; features are 0-{result.activations.shape[1] - 1}.")
    values = result.activations[:, feature]
    order = np.argsort(-values, kind="stable")[:k]
    return [(int(i) + 1, result.sequence[i], float(values[i])) for i in order if values[i] > 0]


# ---------------------------------------------------------------- comparing


@dataclass
class ProteinComparison:
    """Protein A against B (its mutant or another sequence), feature by feature."""

    record_a: SequenceRecord
    record_b: SequenceRecord
    mutations: list[Mutation]
    model: str
    layer: int
    normalized: bool
    synthetic: bool
    comparison: FeatureComparison
    accession_a: str | None = None  # UniProt accession of A, when it came from UniProt

    @property
    def mutated_positions(self) -> list[int]:
        return [m.position for m in self.mutations]

    def to_json(self) -> dict:
        """What the Compare page shows, as JSON (the `compare --json` output)."""
        c = self.comparison
        return {
            "model": self.model,
            "layer": self.layer,
            "normalized": self.normalized,
            "synthetic_weights": self.synthetic,
            "a": {"id": self.record_a.id, "accession": self.accession_a, "length": len(self.record_a.sequence),
                  "sequence": self.record_a.sequence},
            "b": {"id": self.record_b.id, "length": len(self.record_b.sequence), "sequence": self.record_b.sequence},
            "mutations": [str(m) for m in self.mutations],
            "identity": c.identity,
            "firing_threshold": DEFAULT_FIRING_THRESHOLD,
            "appears": c.of_kind("appears"),
            "vanishes": c.of_kind("vanishes"),
            "features": c.rows(),
        }


def compare(
    protein: LoadedProtein,
    pipeline: FeaturePipeline,
    *,
    mutations: str | list[Mutation] | None = None,
    sequence: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ProteinComparison:
    """Compare `protein` (A) with its point mutant (`mutations`, UniProt numbering, e.g.
    "K48R, A123G") or with another sequence or FASTA text (`sequence`, first record)."""
    if (mutations is None) == (sequence is None):
        raise InputError("Compare with either mutations or a second sequence.")
    if pipeline.spec.key != protein.model:
        raise InputError(f"Protein A was computed with {protein.model}, not {pipeline.spec.key}; "
                         "analyse it again with the chosen model first.")
    if mutations is not None:
        parsed = parse_mutations(mutations) if isinstance(mutations, str) else list(mutations)
        record_b = SequenceRecord(mutant_label(parsed), apply_mutations(protein.record.sequence, parsed))
    else:
        parsed = []
        record_b = parse_sequence_input(sequence or "")[0]
    result_b = pipeline.features([record_b], protein.layer, normalized=protein.normalized,
                                 on_progress=on_progress)[0]
    comparison = compare_activations(protein.record.sequence, protein.result.activations,
                                     record_b.sequence, result_b.activations)
    return ProteinComparison(protein.record, record_b, parsed, protein.model, protein.layer, protein.normalized,
                             bool(protein.result.synthetic or result_b.synthetic), comparison,
                             protein.entry.accession if protein.entry is not None else None)
