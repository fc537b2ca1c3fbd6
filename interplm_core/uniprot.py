"""UniProtKB entries: sequence, names and feature annotations as per-residue tracks.

Input is an accession (any format UniProt issues, optionally with an isoform suffix such
as P04406-2) or an entry name (HBA_HUMAN), which is resolved with the search endpoint.
Each failure has its own message: bad format (checked locally, and 400 from the
server), unknown (404), merged (303 to the new accession: followed, and
`redirected_from` tells the user), and inactive entries (deleted or demerged, which
UniProt returns as 200 with `entryType: "Inactive"`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, urlsplit

from .errors import InputError, NetworkError, NotFoundError
from .http import get, mirror_not_recorded
from .settings import Settings, get_settings

#: UniProt's published accession pattern, plus an optional isoform suffix.
ACCESSION_RE = re.compile(
    r"^(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})(?:-[0-9]+)?$"
)
#: Entry names: a protein mnemonic (or an accession, for unreviewed entries) and a species code.
ENTRY_NAME_RE = re.compile(r"^[A-Z0-9]{1,10}_[A-Z0-9]{1,5}$")

#: Feature types kept as annotation tracks, in display order.
TRACK_TYPES = (
    "Signal",
    "Transit peptide",
    "Propeptide",
    "Topological domain",
    "Transmembrane",
    "Intramembrane",
    "Domain",
    "Repeat",
    "Region",
    "Zinc finger",
    "DNA binding",
    "Coiled coil",
    "Motif",
    "Compositional bias",
    "Active site",
    "Binding site",
    "Site",
    "Modified residue",
    "Lipidation",
    "Glycosylation",
    "Disulfide bond",
    "Cross-link",
    "Natural variant",
)
#: Types whose start and end are two bonded residues, not a range.
PAIR_TYPES = frozenset({"Disulfide bond", "Cross-link"})

_MAX_MERGE_HOPS = 3


def feature_residues(kind: str, start: int, end: int) -> tuple[int, ...]:
    """1-based positions a UniProt feature marks: both partners of a bond, or every residue
    of a range (the app's tracks and the atlas's concepts both read features this way)."""
    if kind in PAIR_TYPES and end != start:
        return (start, end)
    return tuple(range(start, end + 1))


@dataclass(frozen=True)
class Annotation:
    """One UniProt feature; positions are 1-based and inclusive."""

    type: str
    start: int
    end: int
    description: str = ""

    def residues(self) -> tuple[int, ...]:
        """Positions the feature marks: both partners of a bond, every residue of a range."""
        return feature_residues(self.type, self.start, self.end)

    def where(self) -> str:
        """'53', '1-18', or '24<->146' for the two partners of a bond."""
        if self.start == self.end:
            return str(self.start)
        joiner = "<->" if self.type in PAIR_TYPES else "-"
        return f"{self.start}{joiner}{self.end}"

    def label(self) -> str:
        return f"{self.type} {self.where()}" + (f": {self.description}" if self.description else "")


@dataclass
class UniProtEntry:
    accession: str
    entry_name: str
    protein_name: str
    gene: str | None
    organism: str
    sequence: str
    length: int
    reviewed: bool
    features: list[Annotation] = field(default_factory=list)  # the located features of TRACK_TYPES
    redirected_from: str | None = None
    #: Every located feature (numeric start and end inside the sequence), any type: what
    #: per-protein overlap scores features against (Chain and Helix included).
    located: list[Annotation] = field(default_factory=list)

    def tracks(self) -> OrderedDict[str, list[Annotation]]:
        """Features grouped by type, in TRACK_TYPES order (types without features left out)."""
        grouped: OrderedDict[str, list[Annotation]] = OrderedDict()
        for kind in TRACK_TYPES:
            hits = [a for a in self.features if a.type == kind]
            if hits:
                grouped[kind] = hits
        return grouped

    def annotations_at(self, position: int) -> list[str]:
        """Labels of every feature covering `position` (1-based)."""
        return [a.label() for a in self.features if position in a.residues()]

    def residue_tracks(self) -> dict[str, list[bool]]:
        """Per type, one flag per residue: does a feature of that type cover it?"""
        out = {}
        for kind, found in self.tracks().items():
            flags = [False] * self.length
            for a in found:
                for pos in a.residues():
                    if 1 <= pos <= self.length:
                        flags[pos - 1] = True
            out[kind] = flags
        return out

    @property
    def redirect_note(self) -> str | None:
        if not self.redirected_from:
            return None
        return (
            f"{self.redirected_from} has been merged into {self.accession}; showing "
            f"{self.accession}. Use {self.accession} from now on."
        )

    def to_json(self) -> dict:
        data = asdict(self)
        data["features"] = [asdict(a) for a in self.features]
        data["located"] = [asdict(a) for a in self.located]
        data["tracks"] = {k: [asdict(a) for a in v] for k, v in self.tracks().items()}
        data["redirect_note"] = self.redirect_note
        return data


def normalize_query(query: str) -> tuple[str, str]:
    """('accession' | 'entry_name', cleaned text), or InputError saying what is expected."""
    text = (query or "").strip().upper()
    if text.startswith("UNIPROT:") or text.startswith("UNIPROTKB:"):
        text = text.split(":", 1)[1].strip()
    if not text:
        raise InputError("Enter a UniProt accession (e.g. P69905) or entry name (e.g. HBA_HUMAN).")
    if ACCESSION_RE.match(text):
        return "accession", text
    if ENTRY_NAME_RE.match(text):
        return "entry_name", text
    raise InputError(
        f"'{query.strip()}' is not a valid UniProt accession or entry name. Accessions look like "
        "P69905, A0A023GPI8 or P04406-2 (isoform); entry names like HBA_HUMAN."
    )


def fetch_entry(query: str, settings: Settings | None = None) -> UniProtEntry:
    """The UniProtKB entry for an accession or entry name (merged accessions followed)."""
    settings = settings or get_settings()
    kind, text = normalize_query(query)
    accession = text if kind == "accession" else resolve_entry_name(text, settings)
    original = accession
    for _ in range(_MAX_MERGE_HOPS):
        data, merged_into = _get_entry_json(accession, settings)
        if merged_into is None:
            entry = parse_entry(data)
            entry.redirected_from = original if original != entry.accession.upper() else None
            if entry.redirected_from and "-" in original and original.split("-")[0] == entry.accession:
                entry.redirected_from = None  # an isoform suffix is not a merge
            return entry
        accession = merged_into
    raise NetworkError(
        f"UniProt kept redirecting {original} (last to {accession}). Try the newest accession "
        "directly, or try again later."
    )


def _entry_url(accession: str, settings: Settings) -> str:
    return f"{settings.uniprot_url}/uniprotkb/{quote(accession)}.json"


def _get_entry_json(accession: str, settings: Settings) -> tuple[dict, str | None]:
    """(entry JSON, None) or ({}, accession it was merged into)."""
    url = _entry_url(accession, settings)
    response = get(url, settings, what=f"UniProt entry {accession}", follow_redirects=False,
                   accept="application/json")
    if response.status in (301, 302, 303, 307, 308):
        target = _accession_from_location(response.headers.get("Location", ""))
        if target is None:
            raise NetworkError(
                f"UniProt redirected {accession} to an unexpected address "
                f"({response.headers.get('Location')!r}). Try again later or search uniprot.org."
            )
        return {}, target
    if response.status == 400:
        raise InputError(
            f"UniProt rejected '{accession}' as an invalid accession"
            f"{_server_messages(response)}. Check the spelling (e.g. P69905)."
        )
    if response.status == 404:
        raise NotFoundError(
            mirror_not_recorded(response) or f"UniProt has no entry {accession}. Check the accession, or search by protein "
            "name on https://www.uniprot.org."
        )
    if response.status != 200:
        raise NetworkError(
            f"UniProt answered HTTP {response.status} for {accession}. Try again later."
        )
    data = _json(response, accession)
    if data.get("entryType") == "Inactive":
        merged = _merged_target(data)
        if merged:
            return {}, merged
        raise NotFoundError(_inactive_message(accession, data))
    return data, None


def _json(response, what: str) -> dict:
    try:
        data = response.json()
    except ValueError as err:
        raise NetworkError(
            f"UniProt sent something that is not JSON for {what}. Try again later."
        ) from err
    if not isinstance(data, dict):
        raise NetworkError(f"UniProt sent an unexpected answer for {what}. Try again later.")
    return data


def _server_messages(response) -> str:
    try:
        messages = response.json().get("messages") or []
    except (ValueError, AttributeError):
        return ""
    return f" ({'; '.join(map(str, messages))})" if messages else ""


def _accession_from_location(location: str) -> str | None:
    path = urlsplit(location).path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    last = re.sub(r"\.(json|fasta|txt|xml)$", "", last, flags=re.IGNORECASE).upper()
    return last if ACCESSION_RE.match(last) else None


def _merged_target(data: dict) -> str | None:
    reason = data.get("inactiveReason") or {}
    targets = reason.get("mergeDemergeTo") or []
    if reason.get("inactiveReasonType") == "MERGED" and targets:
        return str(targets[0]).upper()
    return None


def _inactive_message(accession: str, data: dict) -> str:
    reason = data.get("inactiveReason") or {}
    kind = str(reason.get("inactiveReasonType", "")).upper()
    targets = [str(t) for t in reason.get("mergeDemergeTo") or []]
    if kind == "DEMERGED" and targets:
        return (
            f"UniProt entry {accession} was split (demerged) into {', '.join(targets)}. "
            "Choose the one you mean and enter it instead."
        )
    if kind == "DELETED":
        extra = f" (reason: {reason['deletedReason']})" if reason.get("deletedReason") else ""
        return (
            f"UniProt entry {accession} was deleted{extra} and has no sequence any more. "
            "Look up the protein by name on https://www.uniprot.org or paste its sequence."
        )
    return (
        f"UniProt entry {accession} is inactive ({kind.lower() or 'no reason given'}). "
        "Look up a current entry on https://www.uniprot.org or paste the sequence."
    )


def resolve_entry_name(entry_name: str, settings: Settings | None = None) -> str:
    """Accession of an entry name such as HBA_HUMAN, through UniProt's search endpoint."""
    settings = settings or get_settings()
    url = (
        f"{settings.uniprot_url}/uniprotkb/search?query=id:{quote(entry_name)}"
        "&fields=accession,id&format=json&size=5"
    )
    response = get(url, settings, what=f"UniProt search for {entry_name}", accept="application/json")
    if response.status == 400:
        raise InputError(
            f"UniProt rejected the entry name '{entry_name}'{_server_messages(response)}. "
            "Entry names look like HBA_HUMAN."
        )
    if response.status != 200:
        raise NetworkError(f"UniProt search answered HTTP {response.status}. Try again later.")
    results = _json(response, entry_name).get("results") or []
    for result in results:
        if str(result.get("uniProtkbId", "")).upper() == entry_name:
            return str(result["primaryAccession"]).upper()
    raise NotFoundError(
        f"UniProt has no entry named {entry_name}. Check the spelling (e.g. HBA_HUMAN) or "
        "use the accession instead."
    )


def parse_entry(data: dict) -> UniProtEntry:
    """An entry from UniProtKB JSON (the /uniprotkb/{acc}.json schema)."""
    sequence = (data.get("sequence") or {}).get("value") or ""
    accession = data.get("primaryAccession")
    if not accession or not sequence:
        raise NetworkError(
            "UniProt returned an entry without accession or sequence. Try again later."
        )
    genes = data.get("genes") or []
    gene = None
    if genes:
        gene = (genes[0].get("geneName") or {}).get("value") or (
            (genes[0].get("orderedLocusNames") or [{}])[0].get("value")
        )
    located = located_features(data)
    entry_type = str(data.get("entryType", ""))
    return UniProtEntry(
        accession=str(accession),
        entry_name=str(data.get("uniProtkbId", "")),
        protein_name=protein_name(data.get("proteinDescription") or {}),
        gene=gene,
        organism=str((data.get("organism") or {}).get("scientificName", "")),
        sequence=sequence,
        length=len(sequence),
        reviewed="reviewed" in entry_type.lower() and "unreviewed" not in entry_type.lower(),
        features=[a for a in located if a.type in TRACK_TYPES],
        located=located,
    )


def protein_name(description: dict) -> str:
    """The recommended (else submitted, else alternative) full name of a `proteinDescription`."""
    for key in ("recommendedName",):
        name = ((description.get(key) or {}).get("fullName") or {}).get("value")
        if name:
            return name
    for key in ("submissionNames", "alternativeNames"):
        for item in description.get(key) or []:
            name = (item.get("fullName") or {}).get("value")
            if name:
                return name
    return ""


def located_features(data: dict) -> list[Annotation]:
    """Every feature of a UniProtKB JSON entry with a numeric start and end inside its sequence.

    The one reading of UniProt features: the app's tracks, the per-protein overlap and the
    atlas concepts all start from it. A feature whose position UniProt does not know
    (`value: null`, modifier UNKNOWN) has no residues to score and is left out. Without a
    sequence in the entry (a reduced search answer) only start <= end is checked.
    """
    length = len((data.get("sequence") or {}).get("value") or "") or None
    out = []
    for raw in data.get("features") or []:
        kind = raw.get("type")
        location = raw.get("location") or {}
        start = (location.get("start") or {}).get("value")
        end = (location.get("end") or {}).get("value")
        if not kind or not isinstance(start, int) or not isinstance(end, int):
            continue
        if not 1 <= start <= end or (length is not None and end > length):
            continue
        description = str(raw.get("description") or "")
        if kind == "Natural variant":
            description = _variant_description(raw, description)
        elif kind == "Binding site" and not description:
            ligand = (raw.get("ligand") or {}).get("name")
            description = str(ligand) if ligand else ""
        out.append(Annotation(str(kind), start, end, description))
    return out


def _variant_description(raw: dict, description: str) -> str:
    alt = raw.get("alternativeSequence") or {}
    original = alt.get("originalSequence")
    replacements = alt.get("alternativeSequences") or []
    change = ""
    if original and replacements:
        change = f"{original} -> {'/'.join(replacements)}"
    elif original:
        change = f"{original} missing"
    return "; ".join(part for part in (change, description) if part)
