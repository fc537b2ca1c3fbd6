"""Turn what the user gave (accession, sequence, FASTA, structure file, example) into a
loaded protein: sequence, UniProt annotations, structure + residue mapping, features.

Everything slow runs inside `st.status` with a progress bar, so the page never looks
frozen. Failures raise InterPLMError with a user-facing message; the caller shows it
and keeps the previous protein on screen.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from interplm_core.errors import InputError, InterPLMError, NetworkError, NotFoundError, OfflineError
from interplm_core.sequences import SequenceRecord, parse_sequence_input

from . import resources

log = logging.getLogger(__name__)

#: One click examples: proteins the loopback mirror (and UniProt / AlphaFold DB) have structures for.
EXAMPLES = {
    "P61626": ("Lysozyme C (human, 148 aa)", None),
    "P69905": ("Haemoglobin subunit alpha (human, 142 aa; PDB 4HHB)", ("4HHB", "A")),
    "P0CG48": ("Polyubiquitin-C (human, 685 aa, 9 ubiquitin repeats)", None),
    "Q5VSL9": ("STRIP1 (human, 837 aa)", None),
}


@dataclass
class StructureView:
    """A structure and how the analysed sequence maps onto it."""

    file: resources.StructureFile
    mapping: object  # interplm_core.mapping.ResidueMapping
    plddt: np.ndarray | None  # per sequence position, AlphaFold models only
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadedProtein:
    record: SequenceRecord
    layer: int
    normalized: bool
    result: object  # interplm_core.pipeline.FeatureResult
    entry: object | None = None  # interplm_core.uniprot.UniProtEntry
    structure: StructureView | None = None
    notes: list[str] = field(default_factory=list)
    input_key: tuple[str, str] = ("seq", "")
    seconds: float = 0.0

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


@dataclass(frozen=True)
class ProteinRequest:
    """What to load: exactly one of accession / text / upload, plus an optional structure."""

    accession: str | None = None
    text: str | None = None
    upload_name: str | None = None
    upload_bytes: bytes | None = None
    pdb_id: str | None = None
    chain: str | None = None
    record_index: int = 0


def _structure_upload(name: str, data: bytes):
    from interplm_core.structures import detect_format

    head = data[:4000].decode("utf-8", errors="replace")
    fmt = detect_format(name, head)
    text = data.decode("utf-8", errors="replace")
    return resources.StructureFile(text, fmt, f"upload: {name}", name.rsplit(".", 1)[0], False)


def _is_structure_name(name: str) -> bool:
    lowered = name.lower()
    return any(lowered.endswith(s) for s in (".pdb", ".ent", ".cif", ".mmcif"))


def resolve_request(request: ProteinRequest, status) -> tuple[SequenceRecord, object | None, resources.StructureFile | None, list[str], tuple[str, str]]:
    """Sequence record, UniProt entry, structure file, notes and the URL key of the input."""
    s = resources.settings()
    notes: list[str] = []
    entry = None
    structure = None
    if request.accession:
        status.update(label=f"Looking up {request.accession} in UniProt…")
        entry = resources.uniprot_entry(request.accession.strip(), s.offline)
        if not entry.sequence:
            raise NotFoundError(f"UniProt entry {entry.accession} has no sequence.")
        note = entry.redirect_note
        if note:
            notes.append(note)
        record = SequenceRecord(entry.accession, entry.sequence, entry.protein_name or "")
        key = ("acc", entry.accession)
    elif request.upload_bytes is not None:
        name = request.upload_name or "upload"
        if _is_structure_name(name) or name.lower().endswith(".gz"):
            status.update(label=f"Reading structure {name}…")
            structure = _structure_upload(name, request.upload_bytes)
            parsed = resources.parsed_structure(structure.text, structure.fmt)
            chain = request.chain or parsed.chain_ids[0]
            sequence = parsed.chain_sequence(chain)
            notes += list(parsed.warnings)
            if len(parsed.chain_ids) > 1:
                notes.append(f"The file has chains {', '.join(parsed.chain_ids)}; analysing chain {chain}.")
            record = SequenceRecord(f"{structure.file_stem}_{chain}", sequence, f"chain {chain} of {name}")
            key = ("upload", name)
        else:
            text = request.upload_bytes.decode("utf-8", errors="replace")
            records = parse_sequence_input(text)
            record = records[min(request.record_index, len(records) - 1)]
            if len(records) > 1:
                notes.append(f"The file has {len(records)} records; showing {record.id}.")
            key = ("upload", name)
    elif request.text is not None:
        records = parse_sequence_input(request.text)
        record = records[min(request.record_index, len(records) - 1)]
        if len(records) > 1:
            notes.append(f"The input has {len(records)} records; showing {record.id}.")
        key = ("seq", record.sequence)
    else:
        raise InputError("Nothing to analyse: enter a UniProt accession, paste a sequence or upload a file.")
    if structure is None and request.pdb_id:
        status.update(label=f"Downloading PDB {request.pdb_id}…")
        structure = resources.pdb_structure(request.pdb_id, s.offline)
    if structure is None and entry is not None:
        status.update(label=f"Fetching the AlphaFold DB model of {entry.accession}…")
        try:
            structure = resources.alphafold_structure(entry.accession, s.offline)
        except NotFoundError as err:
            fallback = EXAMPLES.get(entry.accession, (None, None))[1]
            if fallback:
                structure = resources.pdb_structure(fallback[0], s.offline)
                notes.append(f"No AlphaFold model here; showing PDB {fallback[0]} chain {fallback[1]}.")
            else:
                notes.append(str(err))
        except (NetworkError, OfflineError) as err:
            notes.append(f"No structure: {err}")
    return record, entry, structure, notes, key


def load_protein(request: ProteinRequest, layer: int, normalized: bool) -> LoadedProtein:
    """Resolve the input, compute features (with progress) and map the structure."""
    started = time.perf_counter()
    with st.status("Loading…", expanded=False) as status:
        try:
            return _load_with_status(request, layer, normalized, status, started)
        except Exception:
            status.update(label="Could not load this protein (see the message below)", state="error")
            raise


def _load_with_status(request: ProteinRequest, layer: int, normalized: bool, status, started: float) -> LoadedProtein:
    """The work of `load_protein`, reporting each step on `status`."""
    record, entry, structure_file, notes, key = resolve_request(request, status)
    pipe = resources.pipeline()
    first_time = pipe.status()["files"] == []
    status.update(label=("Loading ESM-2 and the SAE (first time: files are read or downloaded)…"
                         if first_time else f"Computing layer {layer} features…"))
    bar = st.progress(0.0, text=f"ESM-2 + SAE layer {layer} on {len(record.sequence)} residues")

    def on_progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{done}/{total} sequences")

    result = pipe.features([record], layer, normalized=normalized, on_progress=on_progress)[0]
    bar.empty()
    view = None
    if structure_file is not None:
        status.update(label="Mapping the sequence onto the structure…")
        chain = request.chain
        if chain is None and entry is not None:
            chain = (EXAMPLES.get(entry.accession, (None, None))[1] or (None, None))[1]
        mapping = resources.residue_mapping(record.sequence, structure_file.text, structure_file.fmt, chain)
        s_notes = []
        if mapping.coverage < 0.999:
            s_notes.append(
                f"The structure covers {mapping.coverage:.0%} of the sequence (chain {mapping.chain_id}, "
                f"{mapping.identity:.0%} identity); uncovered residues have no 3D position."
            )
        plddt = resources.plddt_per_position(mapping) if structure_file.is_alphafold else None
        view = StructureView(structure_file, mapping, plddt, s_notes)
    elapsed = time.perf_counter() - started
    status.update(label=f"Loaded {record.id} in {elapsed:.1f} s", state="complete")
    return LoadedProtein(record, layer, normalized, result, entry, view, notes, key, elapsed)


def recompute(protein: LoadedProtein, layer: int, normalized: bool, slot) -> LoadedProtein:
    """The same protein at another layer or scale (structure and entry kept); progress in `slot`
    (see `load_into_session`)."""
    started = time.perf_counter()
    with slot.container(), st.spinner(f"Computing layer {layer} features…"):
        result = resources.pipeline().features([protein.record], layer, normalized=normalized)[0]
    return LoadedProtein(protein.record, layer, normalized, result, protein.entry, protein.structure,
                         protein.notes, protein.input_key, time.perf_counter() - started)


def show_error(err: BaseException, what: str = "This did not work") -> None:
    """A friendly message in the page (never a traceback); the previous view stays."""
    if isinstance(err, InterPLMError):
        st.error(f"{what}: {err}", icon=":material/error:")
    else:
        log.error("unexpected error: %s", what, exc_info=err)
        st.error(
            f"{what}: an unexpected {type(err).__name__} occurred ({err}). The previous result is kept; "
            "please report this with the input you used.", icon=":material/error:",
        )


def load_into_session(request: ProteinRequest, slot) -> bool:
    """Load `request` as the current protein; on failure show why and keep the previous one.

    Progress and errors go into `slot`, an `st.empty()` the page draws on *every* run at the
    same place: an element that appears only in a loading run shifts everything after it, and
    Streamlit then rebuilds the whole page below (the chart and the live 3D viewer included)
    in that run and again in the next.
    """
    from .panels import displayed_features
    from .state import set_selected

    with slot.container():
        try:
            previous = st.session_state.get("protein")
            loaded = load_protein(request, int(st.session_state["layer"]), bool(st.session_state["normalized"]))
        except Exception as err:  # shown to the user, never a traceback; the last good view stays
            show_error(err, "Could not load this protein")
            return False
    st.session_state["protein"] = loaded
    st.session_state["loaded_input"] = loaded.input_key
    if previous is None or previous.record.sequence != loaded.record.sequence:
        set_selected(st.session_state["selected"] or displayed_features(loaded)[:1])
    return True


def autoload_from_url(slot) -> None:
    """A shared link names a protein (acc= or seq=): load it once, whatever page it opens;
    progress in `slot` (see `load_into_session`)."""
    if not st.session_state.pop("_autoload", False):
        return
    s = st.session_state
    if s["source"] == "UniProt":
        request = ProteinRequest(accession=s["query"], pdb_id=s["pdb_id"] or None)
    else:
        request = ProteinRequest(text=s["sequence_text"], pdb_id=s["pdb_id"] or None)
    load_into_session(request, slot)
