"""AlphaFold DB predicted models and their per-residue confidence (pLDDT).

The prediction API (`/api/prediction/{accession}`) returns a JSON array (isoforms and
other fragments can appear); we take the entry whose `entryId` is `AF-{acc}-F1` and
download the file from the `pdbUrl`/`cifUrl` it gives. File names changed from `_v4`
to `_v6` in 2025, so a URL is never built by hand; but it is only followed when it points
into the configured AlphaFold DB base (the API and `/files/` share one host), so an API
answer cannot make the app fetch from anywhere else. pLDDT is the CA B-factor, which
AlphaFold writes as the same value on every atom of a residue.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from .errors import NetworkError, NotFoundError
from .http import get, mirror_not_recorded
from .settings import Settings, get_settings
from .structures import Structure, parse_structure
from .uniprot import normalize_query


@dataclass
class AlphaFoldModel:
    accession: str
    entry_id: str
    version: int | None
    url: str
    format: str  # "pdb" or "cif"
    data: bytes

    @functools.cached_property
    def structure(self) -> Structure:
        """The parsed file, on first use (the app parses the text through its own cache instead)."""
        return parse_structure(self.data, self.format)

    @functools.cached_property
    def plddt(self) -> list[float]:
        """One value per residue of the first chain, in residue order."""
        chain = self.structure.chains[self.structure.chain_ids[0]]
        return [float(r.b_factor) if r.b_factor is not None else float("nan") for r in chain.residues]

    @property
    def sequence(self) -> str:
        return self.structure.chain_sequence(self.structure.chain_ids[0])

    @property
    def mean_plddt(self) -> float:
        return sum(self.plddt) / len(self.plddt) if self.plddt else float("nan")


def prediction_entry(accession: str, settings: Settings | None = None) -> dict:
    """The API record for `AF-{accession}-F1` (raises NotFoundError when there is no model)."""
    settings = settings or get_settings()
    kind, acc = normalize_query(accession)
    if kind != "accession":
        raise NotFoundError(
            f"AlphaFold DB is searched by UniProt accession, not entry name; look up the "
            f"accession of {acc} first (fetch its UniProt entry)."
        )
    url = f"{settings.alphafold_url}/api/prediction/{quote(acc)}"
    response = get(url, settings, what=f"AlphaFold DB record for {acc}", accept="application/json")
    if response.status in (400, 404):
        raise NotFoundError(mirror_not_recorded(response) or _no_model_message(acc))
    if response.status != 200:
        raise NetworkError(f"AlphaFold DB answered HTTP {response.status} for {acc}. Try again later.")
    try:
        records = response.json()
    except ValueError as err:
        raise NetworkError(f"AlphaFold DB sent an unreadable answer for {acc}. Try again later.") from err
    if isinstance(records, dict):
        records = [records]
    wanted = f"AF-{acc}-F1"
    for record in records or []:
        if isinstance(record, dict) and record.get("entryId") == wanted:
            return record
    raise NotFoundError(_no_model_message(acc))


def _no_model_message(acc: str) -> str:
    return (
        f"AlphaFold DB has no predicted model for {acc} (no entry AF-{acc}-F1). The analysis "
        "works without a structure; you can also upload a PDB/mmCIF file or give a PDB ID."
    )


def _check_model_host(url: str, settings: Settings, entry_id: str) -> None:
    """Refuse a model address outside the configured AlphaFold DB base (scheme, host, port, path)."""
    base, target = urlsplit(settings.alphafold_url), urlsplit(url)
    inside = (
        (target.scheme, target.netloc.lower()) == (base.scheme, base.netloc.lower())
        and target.path.startswith(base.path.rstrip("/") + "/")
        and "/../" not in target.path + "/"
    )
    if not inside:
        raise NetworkError(
            f"AlphaFold DB named a model file for {entry_id} on another host ({target.netloc or url}); "
            f"only files from {settings.alphafold_url} are fetched. Check INTERPLM_ALPHAFOLD_URL."
        )


def fetch_model(accession: str, settings: Settings | None = None, prefer: str = "pdb") -> AlphaFoldModel:
    """Download the F1 model (PDB by default, mmCIF if `prefer="cif"` or no PDB) and its pLDDT."""
    settings = settings or get_settings()
    record = prediction_entry(accession, settings)
    acc = record.get("uniprotAccession") or normalize_query(accession)[1]
    order = ("pdbUrl", "cifUrl") if prefer == "pdb" else ("cifUrl", "pdbUrl")
    url = next((record[k] for k in order if record.get(k)), None)
    if not url:
        raise NetworkError(
            f"AlphaFold DB lists {record.get('entryId')} but gives no file address. Try again later."
        )
    _check_model_host(url, settings, str(record.get("entryId")))
    fmt = "pdb" if url.split("?")[0].lower().endswith(".pdb") else "cif"
    response = get(url, settings, what=f"AlphaFold model {record.get('entryId')}")
    if response.status == 404:
        raise NotFoundError(
            f"AlphaFold DB lists {record.get('entryId')} but its file is missing ({url}). "
            "Try again later; the analysis works without a structure."
        )
    if response.status != 200:
        raise NetworkError(f"Downloading {url} gave HTTP {response.status}. Try again later.")
    return AlphaFoldModel(
        accession=str(acc),
        entry_id=str(record.get("entryId")),
        version=record.get("latestVersion"),
        url=url,
        format=fmt,
        data=response.body,
    )
