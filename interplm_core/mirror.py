"""A loopback HTTP server that stands in for UniProt, AlphaFold DB, RCSB, Hugging Face and fair-esm.

Tests, demos and offline talks point the clients at it (`INTERPLM_UNIPROT_URL`,
`INTERPLM_ALPHAFOLD_URL`, `INTERPLM_RCSB_URL`, `INTERPLM_ESM_URL` = url + "/fair-esm",
`HF_ENDPOINT`) and everything runs over real HTTP on 127.0.0.1, in the real URL
layouts and JSON schemas, with nothing leaving the machine.

What it serves, from the fixtures directory (default: the recordings bundled in
`interplm_core/demo_data/`, provenance and licences in its SOURCES.md)
and an optional weights directory:

* UniProt  `/uniprotkb/{acc}.json|.fasta`, `/uniprotkb/{acc}?format=json|fasta`,
  `/uniprotkb/search?query=id:HBA_HUMAN OR accession:P69905&format=json`, and searches such
  as `reviewed:true AND organism_id:9606 AND length:[50 TO 1000]` over every entry below,
  paged as UniProt pages them (`size`, `cursor`, `Link: rel="next"`; see `search_page`).
  Recorded entries (O00115, the F1MAB7/O14975 search, the 8-entry FASTA) are served as
  recorded. For proteins that only have a structure fixture the entry is *built* in
  the UniProt JSON schema (see `BUILT_ENTRIES`): sequence from the structure's residues
  (P69905/HBA_HUMAN = 4HHB chain A and P68871/HBB_HUMAN = 4HHB chain B, each with the
  initiator Met that the mature chains in the crystal lack), plus a few features whose
  positions follow from the fixtures (e.g. lysozyme's signal peptide 1-18, absent from
  1REX). Built entries say so in `extraAttributes.mirrorNote`.
* AlphaFold DB `/api/prediction/{acc}` (a JSON array whose `pdbUrl`/`cifUrl` point back
  here) and `/files/AF-{acc}-F1-model_vN.pdb|.cif`.
* RCSB `/download/{ID}.cif|.pdb`; a missing .cif is converted from the .pdb with biotite.
* fair-esm `/fair-esm/models/{name}.pt`, `/fair-esm/regression/{name}-contact-regression.pt`
  and the Hugging Face hub `/{owner}/{repo}/resolve/{revision}/{path}` (HEAD with
  X-Repo-Commit, ETag/X-Linked-Etag, X-Linked-Size; GET) and `/api/models/{owner}/{repo}`,
  from a weights directory laid out as `write_synthetic_weights` writes it (the repo
  `Elana/InterPLM-esm2-8m` is the folder `InterPLM-esm2-8m/`). Weight files honour a
  single `Range: bytes=...` (206 with Content-Range; 416 when unsatisfiable), so resumed
  downloads can be tested end to end.

Only files inside the fixtures and weights folders are ever served: every requested path
is resolved and refused (404) if it lands outside them, and hub repo ids must be
`owner/name`. Anything the mirror does not hold answers 404 with the header
`X-Mirror-Not-Recorded` (see `http.mirror_not_recorded`), so clients can say "not
recorded in this mirror" rather than "the service has no such entry".

Simulated failures, kept apart from the data so that no real accession is affected:

* Made-up UniProt accessions (valid format, documented here, not real entries):
  `Q0MRG0` merged into P61626 (303 to `/uniprotkb/P61626.json`), `Q0DEL0` deleted
  (200, entryType "Inactive", DELETED), `Q0DMG0` demerged into P69905 and P68871.
  Malformed accessions get UniProt's 400 and unknown ones 404, as the real service does.
* Path prefixes that wrap any URL above (so a base URL can be pointed at them):
  `/_sim/slow/...` waits `slow_seconds` before answering (timeouts, "hub times out");
  `/_sim/flaky/{token}/...` answers 503 to the first request per token, then normally
  (retries); `/_sim/down/...` always answers 503; `/_sim/cut/...` announces a
  Content-Length larger than the body it sends, then closes (cut downloads);
  `/_sim/cutonce/{token}/...` cuts only the first request per token (a download that a
  `Range` request can then resume).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .errors import InputError, NotFoundError
from .hashing import file_sha256
from .http import NOT_RECORDED_HEADER
from .uniprot import ACCESSION_RE  # UniProt's accession grammar, as the real service applies it

log = logging.getLogger(__name__)

#: The recorded responses shipped with the package (see demo_data/SOURCES.md).
DEFAULT_FIXTURES_DIR = Path(__file__).resolve().parent / "demo_data"

# --------------------------------------------------------------------- simulated cases
MERGED_ACCESSIONS = {"Q0MRG0": "P61626"}
DELETED_ACCESSIONS = {"Q0DEL0": "Deleted by the mirror to simulate an obsolete entry"}
DEMERGED_ACCESSIONS = {"Q0DMG0": ["P69905", "P68871"]}
DEFAULT_SLOW_SECONDS = 5.0
#: A Hugging Face repo id as the hub spells it (a part cannot be `.` or `..`).
REPO_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
#: `Range: bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX` (one range; lists are not served).
RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


def contained(base: Path, relative: str) -> Path | None:
    """`base/relative` resolved, or None if it lands outside `base` (`..`, absolute, symlink out)."""
    root = base.resolve()
    path = (root / relative.lstrip("/")).resolve()
    return path if path.is_relative_to(root) else None

# --------------------------------------------------------------------- built entries


@dataclass(frozen=True)
class BuiltEntry:
    """A UniProt entry the mirror builds from a structure fixture."""

    accession: str
    entry_name: str
    protein_name: str
    gene: str
    structure: str  # path below the fixtures directory
    chain: str
    prepend_met: bool = False
    #: (type, start, end, description); "{repeats}" expands to one feature per 76-residue repeat.
    features: tuple = ()


BUILT_ENTRIES = {
    e.accession: e
    for e in (
        BuiltEntry(
            "P61626", "LYSC_HUMAN", "Lysozyme C", "LYZ", "alphafold/AF-P61626-F1-model_v4.pdb", "A",
            features=(
                ("Signal", 1, 18, ""),
                ("Chain", 19, None, "Lysozyme C"),
                ("Active site", 53, 53, ""),
                ("Active site", 71, 71, ""),
                ("Disulfide bond", 24, 146, ""),
            ),
        ),
        BuiltEntry(
            "P0CG48", "UBC_HUMAN", "Polyubiquitin-C", "UBC", "alphafold/AF-P0CG48-F1-model_v6.pdb", "A",
            features=("{repeats}",),
        ),
        BuiltEntry(
            "Q5VSL9", "STRP1_HUMAN", "Striatin-interacting protein 1", "STRIP1",
            "alphafold/AF-Q5VSL9-F1-model_v4.pdb", "A",
        ),
        BuiltEntry(
            "P69905", "HBA_HUMAN", "Hemoglobin subunit alpha", "HBA1", "pdb/4HHB.pdb", "A",
            prepend_met=True,
            features=(
                ("Chain", 2, None, "Hemoglobin subunit alpha"),
                ("Domain", 2, None, "Globin"),
                ("Binding site", 88, 88, "heme b; proximal binding residue"),
            ),
        ),
        BuiltEntry(
            "P68871", "HBB_HUMAN", "Hemoglobin subunit beta", "HBB", "pdb/4HHB.pdb", "B",
            prepend_met=True,
            features=(
                ("Chain", 2, None, "Hemoglobin subunit beta"),
                ("Domain", 3, None, "Globin"),
                ("Binding site", 93, 93, "heme b; proximal binding residue"),
            ),
        ),
    )
}

#: Fake commit of the mirrored Hugging Face repos (any 40 hex digits do).
HUB_COMMIT = hashlib.sha1(b"interplm-explorer-mirror").hexdigest()
ESM_FILES = {"models": "{name}.pt", "regression": "{name}"}


class FixtureStore:
    """Everything the mirror can answer, read lazily from the fixture and weights folders."""

    def __init__(self, fixtures_dir: Path, weights_dir: Path | None):
        self.fixtures_dir = Path(fixtures_dir)
        self.weights_dir = Path(weights_dir) if weights_dir else None
        if not self.fixtures_dir.is_dir():
            raise NotFoundError(
                f"The mirror's fixtures folder {self.fixtures_dir} does not exist. The recordings "
                f"ship in {DEFAULT_FIXTURES_DIR} (reinstall the package if it is missing), or pass "
                "--fixtures DIR with the same layout (uniprot/, alphafold/, pdb/)."
            )

    # ---------------------------------------------------------------- UniProt
    @functools.cached_property
    def recorded_entries(self) -> dict[str, dict]:
        entries: dict[str, dict] = {}
        for path in sorted((self.fixtures_dir / "uniprot").glob("*.json")):
            data = json.loads(path.read_text())
            for entry in data.get("results", [data]):
                if isinstance(entry, dict) and entry.get("primaryAccession"):
                    entries[entry["primaryAccession"]] = entry
        return entries

    @functools.cached_property
    def recorded_fasta(self) -> dict[str, str]:
        records: dict[str, str] = {}
        for path in sorted((self.fixtures_dir / "uniprot").glob("*.fasta")):
            for chunk in path.read_text().split(">")[1:]:
                header = chunk.split("\n", 1)[0]
                parts = header.split("|")
                if len(parts) >= 2:
                    records[parts[1]] = ">" + chunk.rstrip("\n") + "\n"
        return records

    def uniprot_entry(self, accession: str) -> dict | None:
        if accession in self.recorded_entries:
            return self.recorded_entries[accession]
        if accession in BUILT_ENTRIES:
            return self._built_entry(accession)
        return None

    @functools.lru_cache(maxsize=32)  # noqa: B019 - the store lives as long as its server
    def _built_entry(self, accession: str) -> dict:
        spec = BUILT_ENTRIES[accession]
        sequence = self.chain_sequence(spec.structure, spec.chain)
        if spec.prepend_met:
            sequence = "M" + sequence
        features = []
        for item in spec.features:
            if item == "{repeats}":
                for i, start in enumerate(range(1, len(sequence) - 75, 76), start=1):
                    features.append(("Domain", start, start + 75, f"Ubiquitin-like {i}"))
            else:
                kind, start, end, description = item
                features.append((kind, start, end or len(sequence), description))
        return {
            "entryType": "UniProtKB reviewed (Swiss-Prot)",
            "primaryAccession": spec.accession,
            "uniProtkbId": spec.entry_name,
            "organism": {"scientificName": "Homo sapiens", "commonName": "Human", "taxonId": 9606},
            "proteinExistence": "1: Evidence at protein level",
            "proteinDescription": {"recommendedName": {"fullName": {"value": spec.protein_name}}},
            "genes": [{"geneName": {"value": spec.gene}}],
            "features": [
                {
                    "type": kind,
                    "location": {
                        "start": {"value": start, "modifier": "EXACT"},
                        "end": {"value": end, "modifier": "EXACT"},
                    },
                    "description": description,
                }
                for kind, start, end, description in features
            ],
            "sequence": {
                "value": sequence,
                "length": len(sequence),
                "md5": hashlib.md5(sequence.encode()).hexdigest().upper(),
            },
            "extraAttributes": {
                "mirrorNote": f"Built by interplm_core.mirror from {spec.structure} chain {spec.chain}"
                + (" with the initiator Met prepended" if spec.prepend_met else "")
            },
        }

    def uniprot_fasta(self, accession: str) -> str | None:
        if accession in self.recorded_fasta:
            return self.recorded_fasta[accession]
        entry = self.uniprot_entry(accession)
        if entry is None:
            return None
        seq = entry["sequence"]["value"]
        name = entry["proteinDescription"].get("recommendedName", {}).get("fullName", {}).get("value", "")
        org = entry.get("organism", {})
        gene = (entry.get("genes") or [{}])[0].get("geneName", {}).get("value", "")
        prefix = "sp" if "reviewed" in entry["entryType"] and "unreviewed" not in entry["entryType"] else "tr"
        header = (
            f">{prefix}|{accession}|{entry['uniProtkbId']} {name} OS={org.get('scientificName', '')} "
            f"OX={org.get('taxonId', '')} GN={gene} PE=1 SV=1"
        )
        return header + "\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n"

    def all_entries(self) -> list[dict]:
        accessions = list(self.recorded_entries) + [a for a in BUILT_ENTRIES if a not in self.recorded_entries]
        return [entry for a in accessions if (entry := self.uniprot_entry(a)) is not None]

    def search(self, query: str) -> list[dict]:
        results = []
        for term in re.split(r"\s+OR\s+", query.strip(), flags=re.IGNORECASE):
            field_name, _, value = term.strip().strip("()").rpartition(":")
            value = value.strip().upper()
            for entry in self.all_entries():
                if field_name.lower() in ("id", "") and entry.get("uniProtkbId", "").upper() == value:
                    results.append(entry)
                elif field_name.lower() in ("accession", "") and entry["primaryAccession"] == value:
                    results.append(entry)
        return results

    # ---------------------------------------------------------------- structures
    def chain_sequence(self, relative: str, chain: str) -> str:
        from .structures import parse_structure

        path = self.fixtures_dir / relative
        return parse_structure(path.read_bytes(), path.name).chain_sequence(chain)

    def alphafold_files(self) -> dict[str, Path]:
        """{accession: model file} for every AlphaFold fixture."""
        found = {}
        for path in sorted((self.fixtures_dir / "alphafold").glob("AF-*-F1-model_v*.pdb")):
            found[path.name.split("-")[1]] = path
        return found

    @functools.lru_cache(maxsize=16)  # noqa: B019 - the store lives as long as its server
    def converted_cif(self, pdb_path: Path) -> bytes:
        from .structures import pdb_to_cif

        return pdb_to_cif(pdb_path.read_text(), data_block=pdb_path.stem.upper()).encode()

    def structure_file(self, folder: str, stem: str, ext: str) -> bytes | None:
        """A fixture file, or an mmCIF converted from the PDB fixture of the same name."""
        candidates = {p.name.upper(): p for p in (self.fixtures_dir / folder).glob("*")}
        exact = candidates.get(f"{stem}.{ext}".upper())
        if exact is not None:
            return exact.read_bytes()
        if ext == "cif":
            source = candidates.get(f"{stem}.pdb".upper())
            if source is not None:
                return self.converted_cif(source)
        return None

    # ---------------------------------------------------------------- weights
    def weights_file(self, relative: str) -> Path | None:
        if self.weights_dir is None:
            return None
        path = contained(self.weights_dir, relative)
        return path if path is not None and path.is_file() else None

    def hub_repo_dir(self, repo_id: str) -> Path | None:
        """The weights folder of `owner/name` (the folder is `name`), or None."""
        if self.weights_dir is None or not REPO_ID_RE.fullmatch(repo_id):
            return None
        path = contained(self.weights_dir, repo_id.split("/", 1)[1])
        return path if path is not None and path.is_dir() else None

    @functools.lru_cache(maxsize=128)  # noqa: B019 - the store lives as long as its server
    def sha256(self, path: Path, size: int, mtime_ns: int) -> str:
        """Memoised on (path, size, mtime): a replaced file is hashed again."""
        return file_sha256(path)


@dataclass
class SimulationState:
    """Mutable knobs and counters of the simulated failures."""

    slow_seconds: float = DEFAULT_SLOW_SECONDS
    flaky_seen: set = field(default_factory=set)
    cut_seen: set = field(default_factory=set)
    stopping: threading.Event = field(default_factory=threading.Event)


class LoggedRequest(NamedTuple):
    method: str
    path: str
    user_agent: str


class _Reply(Exception):
    """Raised inside a route to send a complete response."""

    def __init__(self, status: int, body: bytes = b"", content_type: str = "application/json",
                 headers: dict | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _json_reply(status: int, data, headers: dict | None = None) -> _Reply:
    return _Reply(status, json.dumps(data).encode(), "application/json", headers)


def _not_recorded(what: str, recorded: list[str]) -> _Reply:
    """404 for something this mirror holds no recording of (not a statement about the real service)."""
    listed = ", ".join(recorded) if recorded else "none"
    message = f"{what} is not recorded in this mirror (it serves: {listed})"
    return _json_reply(404, {"messages": [message]}, {NOT_RECORDED_HEADER: "1"})


class MirrorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "InterPLM-Mirror/1"

    # Set on the server object by `Mirror`.
    @property
    def store(self) -> FixtureStore:
        return self.server.store  # type: ignore[attr-defined]

    @property
    def state(self) -> SimulationState:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format, *args):
        log.debug("mirror: " + format, *args)

    def do_GET(self):
        self._handle(head=False)

    def do_HEAD(self):
        self._handle(head=True)

    # ---------------------------------------------------------------- dispatch
    def _handle(self, head: bool) -> None:
        self.server.requests.append(  # type: ignore[attr-defined]
            LoggedRequest(self.command, self.path, self.headers.get("User-Agent") or "")
        )
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        prefix, path, cut = self._simulations(unquote(split.path))
        try:
            if path is None:
                raise _json_reply(503, {"messages": ["Service unavailable (simulated by the mirror)"]})
            self._route(path, query, prefix)
            raise _json_reply(404, {"messages": [f"Resource not found: {path}"]})
        except _Reply as reply:
            self._send(reply, head=head, cut=cut)
        except FileNotFoundError as err:
            self._send(_json_reply(404, {"messages": [str(err)]}), head=head)

    def _simulations(self, path: str) -> tuple[str, str | None, bool]:
        """Apply `/_sim/...` prefixes; returns (prefix, remaining path or None for 503, cut)."""
        prefix, cut = "", False
        while path.startswith("/_sim/"):
            parts = path.split("/")
            mode = parts[2] if len(parts) > 2 else ""
            if mode == "slow":
                self.state.stopping.wait(self.state.slow_seconds)
                prefix, path = prefix + "/_sim/slow", "/" + "/".join(parts[3:])
            elif mode == "flaky" and len(parts) > 3:
                token = parts[3]
                prefix, path = prefix + f"/_sim/flaky/{token}", "/" + "/".join(parts[4:])
                with self.server.lock:  # type: ignore[attr-defined]
                    first = token not in self.state.flaky_seen
                    self.state.flaky_seen.add(token)
                if first:
                    return prefix, None, False
            elif mode == "down":
                return prefix + "/_sim/down", None, False
            elif mode == "cut":
                prefix, path, cut = prefix + "/_sim/cut", "/" + "/".join(parts[3:]), True
            elif mode == "cutonce" and len(parts) > 3:
                token = parts[3]
                prefix, path = prefix + f"/_sim/cutonce/{token}", "/" + "/".join(parts[4:])
                with self.server.lock:  # type: ignore[attr-defined]
                    cut = cut or token not in self.state.cut_seen
                    self.state.cut_seen.add(token)
            else:
                break
        return prefix, path, cut

    def _route(self, path: str, query: dict, prefix: str) -> None:
        if path.startswith("/uniprotkb/"):
            self._uniprot(path[len("/uniprotkb/"):], query, prefix)
        elif path.startswith("/api/prediction/"):
            self._alphafold_api(path[len("/api/prediction/"):], prefix)
        elif path.startswith("/files/"):
            self._alphafold_file(path[len("/files/"):])
        elif path.startswith("/download/"):
            self._rcsb(path[len("/download/"):])
        elif path.startswith("/fair-esm/"):
            self._fair_esm(path[len("/fair-esm/"):])
        elif path.startswith("/api/models/"):
            self._hub_api(path[len("/api/models/"):])
        elif "/resolve/" in path:
            self._hub_resolve(path)

    # ---------------------------------------------------------------- UniProt
    def _uniprot(self, rest: str, query: dict, prefix: str) -> None:
        fmt = (query.get("format") or ["json"])[0]
        if rest in ("search", "stream"):
            text = (query.get("query") or [""])[0]
            if _is_lookup(text):
                raise _json_reply(200, {"results": self.store.search(text)})
            raise search_page(self.store, query, self._base_url(prefix))
        match = re.fullmatch(r"([^/.]+)(?:\.(json|fasta))?", rest)
        if match is None:
            return
        accession, fmt = match.group(1).upper(), match.group(2) or fmt
        if not ACCESSION_RE.match(accession):
            raise _json_reply(400, {
                "url": f"http://rest.uniprot.org/uniprotkb/{accession}",
                "messages": ["The 'accession' value has invalid format. It should be a valid UniProtKB accession"],
            })
        if accession in MERGED_ACCESSIONS:
            target = MERGED_ACCESSIONS[accession]
            location = f"{prefix}/uniprotkb/{target}.{fmt}"
            raise _Reply(303, b"", "text/plain", {"Location": location})
        if accession in DELETED_ACCESSIONS or accession in DEMERGED_ACCESSIONS:
            raise _json_reply(200, self._inactive(accession))
        if fmt == "fasta":
            text = self.store.uniprot_fasta(accession)
            if text is None:
                raise _not_recorded(f"UniProt entry {accession}", self._recorded_accessions())
            raise _Reply(200, text.encode(), "text/plain;format=fasta")
        entry = self.store.uniprot_entry(accession)
        if entry is None:
            raise _not_recorded(f"UniProt entry {accession}", self._recorded_accessions())
        raise _json_reply(200, entry)

    def _recorded_accessions(self) -> list[str]:
        return sorted({e["primaryAccession"] for e in self.store.all_entries()} | set(self.store.recorded_fasta))

    @staticmethod
    def _inactive(accession: str) -> dict:
        if accession in DELETED_ACCESSIONS:
            reason: dict[str, object] = {"inactiveReasonType": "DELETED", "deletedReason": DELETED_ACCESSIONS[accession]}
        else:
            reason = {"inactiveReasonType": "DEMERGED", "mergeDemergeTo": DEMERGED_ACCESSIONS[accession]}
        return {
            "entryType": "Inactive",
            "primaryAccession": accession,
            "uniProtkbId": accession,
            "entryAudit": {},
            "inactiveReason": reason,
        }

    # ---------------------------------------------------------------- AlphaFold DB
    def _base_url(self, prefix: str = "") -> str:
        host, port = cast(tuple, self.server.server_address)[:2]
        return f"http://{host}:{port}{prefix}"

    def _alphafold_api(self, accession: str, prefix: str) -> None:
        accession = accession.strip("/").upper()
        files = self.store.alphafold_files()
        if accession not in files:
            raise _not_recorded(f"AlphaFold DB model of {accession}", sorted(files))
        path = files[accession]
        version = int(path.stem.rsplit("_v", 1)[1])  # AF-{acc}-F1-model_v{N}.pdb (alphafold_files)
        stem = path.name[: -len(".pdb")]
        base = f"{self._base_url(prefix)}/files"
        entry = self.store.uniprot_entry(accession) or {}
        sequence = self.store.chain_sequence(str(path.relative_to(self.store.fixtures_dir)), "A")
        record: dict[str, object] = {
            "entryId": f"AF-{accession}-F1",
            "gene": ((entry.get("genes") or [{}])[0].get("geneName") or {}).get("value"),
            "uniprotAccession": accession,
            "uniprotId": entry.get("uniProtkbId"),
            "uniprotDescription": _protein_name(entry),
            "taxId": 9606,
            "organismScientificName": "Homo sapiens",
            "uniprotStart": 1,
            "uniprotEnd": len(sequence),
            "uniprotSequence": sequence,
            "modelCreatedDate": "2022-06-01" if version == 4 else "2025-08-01",
            "latestVersion": version,
            "allVersions": list(range(1, version + 1)),
            "isReviewed": True,
            "isReferenceProteome": True,
            "cifUrl": f"{base}/{stem}.cif",
            "bcifUrl": f"{base}/{stem}.bcif",
            "pdbUrl": f"{base}/{stem}.pdb",
            "paeImageUrl": f"{base}/AF-{accession}-F1-predicted_aligned_error_v{version}.png",
            "paeDocUrl": f"{base}/AF-{accession}-F1-predicted_aligned_error_v{version}.json",
        }
        # Simulated: an isoform record listed first, as the API does for some entries, so a
        # client that takes element 0 instead of AF-{acc}-F1 gets a 404 file.
        decoy = dict(record, entryId=f"AF-{accession}-2-F1", uniprotAccession=f"{accession}-2",
                     cifUrl=f"{base}/AF-{accession}-2-F1-model_v{version}.cif",
                     pdbUrl=f"{base}/AF-{accession}-2-F1-model_v{version}.pdb")
        raise _json_reply(200, [decoy, record])

    def _alphafold_file(self, name: str) -> None:
        match = re.fullmatch(r"(AF-[A-Z0-9]+-F1-model_v\d+)\.(pdb|cif)", name)
        if match is None:
            return
        data = self.store.structure_file("alphafold", match.group(1), match.group(2))
        if data is not None:
            raise _Reply(200, data, "chemical/x-mmcif" if match.group(2) == "cif" else "chemical/x-pdb")
        raise _not_recorded(f"AlphaFold DB file {name}", self._recorded_files("alphafold"))

    def _recorded_files(self, folder: str) -> list[str]:
        return sorted(p.name for p in (self.store.fixtures_dir / folder).glob("*") if p.is_file())

    # ---------------------------------------------------------------- RCSB
    def _rcsb(self, name: str) -> None:
        match = re.fullmatch(r"([0-9A-Za-z]{4})\.(cif|pdb)", name)
        if match is None:
            return
        data = self.store.structure_file("pdb", match.group(1).upper(), match.group(2))
        if data is not None:
            raise _Reply(200, data, "chemical/x-mmcif" if match.group(2) == "cif" else "chemical/x-pdb")
        raise _not_recorded(f"PDB entry {match.group(1).upper()}", self._recorded_files("pdb"))

    # ---------------------------------------------------------------- fair-esm and the hub
    def _fair_esm(self, rest: str) -> None:
        folder, _, name = rest.partition("/")
        if folder in ("models", "regression") and "/" not in name:
            path = self.store.weights_file(name)
            if path is not None:
                self._send_file(path)

    def _hub_resolve(self, path: str) -> None:
        repo_id, _, rest = path.strip("/").partition("/resolve/")
        revision, _, filename = rest.partition("/")
        repo_dir = self.store.hub_repo_dir(repo_id)
        if repo_dir is None:
            raise _json_reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        if revision not in ("main", HUB_COMMIT):
            raise _json_reply(404, {"error": f"Revision {revision} not found"},
                              {"X-Error-Code": "RevisionNotFound"})
        file_path = contained(repo_dir, filename)
        if file_path is None or not file_path.is_file():
            raise _json_reply(404, {"error": "Entry not found"},
                              {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": HUB_COMMIT})
        stat = file_path.stat()
        etag = f'"{self.store.sha256(file_path, stat.st_size, stat.st_mtime_ns)}"'
        self._send_file(file_path, {
            "X-Repo-Commit": HUB_COMMIT,
            "ETag": etag,
            "X-Linked-Etag": etag,
            "X-Linked-Size": str(stat.st_size),
        })

    def _hub_api(self, rest: str) -> None:
        parts = rest.strip("/").split("/")
        repo_id = "/".join(parts[:2])
        repo_dir = self.store.hub_repo_dir(repo_id)
        if repo_dir is None:
            raise _json_reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        files = sorted(p for p in repo_dir.rglob("*") if p.is_file())
        if len(parts) >= 3 and parts[2] == "tree":
            raise _json_reply(200, [
                {"type": "file", "path": str(p.relative_to(repo_dir)), "size": p.stat().st_size,
                 "oid": hashlib.sha1(str(p.relative_to(repo_dir)).encode()).hexdigest()}
                for p in files
            ])
        raise _json_reply(200, {
            "id": repo_id,
            "modelId": repo_id,
            "sha": HUB_COMMIT,
            "private": False,
            "siblings": [{"rfilename": str(p.relative_to(repo_dir))} for p in files],
        })

    # ---------------------------------------------------------------- sending
    def _send_file(self, path: Path, headers: dict | None = None) -> None:
        """The file, or the one byte range asked for (206), as a server that resumes downloads does."""
        headers = {**(headers or {}), "Accept-Ranges": "bytes"}
        size = path.stat().st_size
        wanted = self.headers.get("Range")
        if wanted is None:
            raise _Reply(200, path.read_bytes(), "application/octet-stream", headers)
        span = _byte_range(wanted, size)
        if span is None:
            raise _Reply(416, b"", "text/plain", {**headers, "Content-Range": f"bytes */{size}"})
        start, end = span
        with open(path, "rb") as handle:
            handle.seek(start)
            body = handle.read(end - start + 1)
        raise _Reply(206, body, "application/octet-stream", {**headers, "Content-Range": f"bytes {start}-{end}/{size}"})

    def _send(self, reply: _Reply, head: bool, cut: bool = False) -> None:
        body = reply.body
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            declared = len(body) + (1000 if cut and reply.status in (200, 206) else 0)
            self.send_header("Content-Length", str(declared))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if cut:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if not head:
                self.wfile.write(body if not cut else body[: max(1, len(body) // 2)])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as err:
            # The client gave up (typically a test's short timeout on /_sim/slow): nothing to send to.
            log.debug("mirror: client went away during %s: %s", self.path, err)
            self.close_connection = True


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range` header within `size` bytes, or None if unsatisfiable."""
    match = RANGE_RE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


# --------------------------------------------------------------------- UniProt search with paging

#: UniProt's page sizes: 25 unless `size` says otherwise, at most 500.
SEARCH_DEFAULT_SIZE, SEARCH_MAX_SIZE = 25, 500
_LOOKUP_TERM = re.compile(r"^\(?\s*(id|accession)\s*:", re.IGNORECASE)
_SEARCH_TERM = re.compile(
    r"^(?:(?P<all>\*)|reviewed:(?P<reviewed>true|false)|organism_id:(?P<organism>\d+)"
    r"|length:\[(?P<low>\d+|\*) TO (?P<high>\d+|\*)\])$",
    re.IGNORECASE,
)


def _is_lookup(query: str) -> bool:
    """`id:X OR accession:Y` lookups (entry names, accessions) are answered as before, unpaged."""
    terms = re.split(r"\s+OR\s+", query.strip(), flags=re.IGNORECASE)
    return bool(query.strip()) and all(_LOOKUP_TERM.match(t.strip()) for t in terms)


def _search_filter(query: str) -> Callable[[dict], bool]:
    """A predicate for the search terms the mirror understands, joined by AND: `*`,
    `reviewed:true|false`, `organism_id:N`, `length:[A TO B]` (either bound may be `*`).
    Anything else is refused with UniProt's 400, naming what the mirror knows."""
    tests: list[Callable[[dict], bool]] = []
    for term in re.split(r"\s+AND\s+", query.strip().strip("()"), flags=re.IGNORECASE):
        match = _SEARCH_TERM.match(term.strip().strip("()").strip())
        if match is None:
            message = (f"The mirror does not understand the query term '{term.strip()}': it knows *, "
                       "reviewed:true|false, organism_id:N, length:[A TO B], joined by AND, and id:/accession: "
                       "lookups joined by OR.")
            raise _json_reply(400, {"url": "http://rest.uniprot.org/uniprotkb/search", "messages": [message]})
        if match["reviewed"]:
            tests.append(functools.partial(_reviewed_is, match["reviewed"].lower() == "true"))
        elif match["organism"]:
            tests.append(functools.partial(_organism_is, int(match["organism"])))
        elif match["low"]:
            low = 0 if match["low"] == "*" else int(match["low"])
            high = 10**9 if match["high"] == "*" else int(match["high"])
            tests.append(functools.partial(_length_within, low, high))
    return lambda entry: all(test(entry) for test in tests)


def _reviewed_is(wanted: bool, entry: dict) -> bool:
    return ("unreviewed" not in str(entry.get("entryType", "")).lower()) == wanted


def _organism_is(taxon: int, entry: dict) -> bool:
    return (entry.get("organism") or {}).get("taxonId") == taxon


def _length_within(low: int, high: int, entry: dict) -> bool:
    return low <= len(entry["sequence"]["value"]) <= high


def search_page(store: FixtureStore, params: dict, base_url: str) -> _Reply:
    """One page of a UniProt search over the recorded and built entries, in accession order,
    paged as UniProt pages: `size`, an opaque `cursor`, the next page's address in a
    `Link: <...>; rel="next"` header and the hit count in `X-Total-Results`."""
    query = (params.get("query") or [""])[0]
    keep = _search_filter(query)
    try:
        size = int((params.get("size") or [SEARCH_DEFAULT_SIZE])[0])
        offset = int((params.get("cursor") or ["0"])[0], 36)
    except ValueError:
        raise _json_reply(400, {"messages": ["Invalid size or cursor"]}) from None
    if not 1 <= size <= SEARCH_MAX_SIZE:
        raise _json_reply(400, {"messages": [f"Invalid size: it must be 1 to {SEARCH_MAX_SIZE}"]})
    hits = sorted((e for e in store.all_entries() if keep(e)), key=lambda e: e["primaryAccession"])
    page = hits[offset:offset + size]
    headers = {"X-Total-Results": str(len(hits))}
    if offset + size < len(hits):
        following = {key: values[0] for key, values in params.items() if key != "cursor"}
        following["cursor"] = _base36(offset + size)
        link = f"{base_url}/uniprotkb/search?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in following.items())
        headers["Link"] = f'<{link}>; rel="next"'
    return _json_reply(200, {"results": page}, headers)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


def _protein_name(entry: dict) -> str | None:
    return (((entry.get("proteinDescription") or {}).get("recommendedName") or {}).get("fullName") or {}).get("value")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class Mirror:
    """A running mirror: `.url`, `.server`, the request log, and the simulation knobs."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, fixtures_dir: Path | None = None,
                 weights_dir: Path | None = None):
        self.store = FixtureStore(Path(fixtures_dir or DEFAULT_FIXTURES_DIR), weights_dir)
        self.state = SimulationState()
        try:
            self.server = _Server((host, port), MirrorHandler)
        except OSError as err:  # only binding can fail here: say why, in the system's words
            raise InputError(
                f"Cannot listen on {host}:{port} ({err.strerror or err}); pick another --port."
            ) from err
        self.server.store = self.store  # type: ignore[attr-defined]
        self.server.state = self.state  # type: ignore[attr-defined]
        self.server.lock = threading.Lock()  # type: ignore[attr-defined]
        self.server.requests = []  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = cast(tuple, self.server.server_address)[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[LoggedRequest]:
        """(method, path, user_agent) of every request so far, in order."""
        return self.server.requests  # type: ignore[attr-defined]

    @property
    def slow_seconds(self) -> float:
        return self.state.slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        self.state.slow_seconds = float(value)

    def sim_url(self, mode: str, token: str | None = None) -> str:
        """Base URL that wraps every route in a simulated failure (slow, flaky, down, cut, cutonce)."""
        if mode == "flaky":
            return f"{self.url}/_sim/flaky/{quote(token or 'default')}"
        if mode == "cutonce":
            return f"{self.url}/_sim/cutonce/{quote(token or 'default')}"
        if mode not in ("slow", "down", "cut"):
            raise ValueError(f"unknown simulation {mode!r}: use slow, flaky, down, cut or cutonce")
        return f"{self.url}/_sim/{mode}"

    def env(self) -> dict[str, str]:
        """Environment variables that point every client at this mirror."""
        return {
            "INTERPLM_UNIPROT_URL": self.url,
            "INTERPLM_ALPHAFOLD_URL": self.url,
            "INTERPLM_RCSB_URL": self.url,
            "INTERPLM_ESM_URL": f"{self.url}/fair-esm",
            "HF_ENDPOINT": self.url,
        }

    def start(self) -> Mirror:
        self._thread = threading.Thread(target=self.server.serve_forever, name="interplm-mirror", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Mirror:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_mirror(port: int = 0, fixtures_dir: Path | None = None, weights_dir: Path | None = None,
                 host: str = "127.0.0.1") -> Mirror:
    """Start a mirror in a background thread (port 0 picks a free port)."""
    return Mirror(host, port, fixtures_dir, weights_dir).start()


def serve(port: int, fixtures_dir: Path | None = None, weights_dir: Path | None = None,
          host: str = "127.0.0.1") -> None:
    """Run a mirror in the foreground until interrupted (the `mirror` CLI command)."""
    mirror = Mirror(host, port, fixtures_dir, weights_dir)
    print(f"Mirror serving {mirror.store.fixtures_dir} on {mirror.url} (Ctrl+C to stop). Point the app at it with:")
    for name, value in mirror.env().items():
        print(f"  export {name}={value}")
    try:
        mirror.server.serve_forever()
    except KeyboardInterrupt:
        print("Mirror stopped.")
    finally:
        mirror.server.server_close()
