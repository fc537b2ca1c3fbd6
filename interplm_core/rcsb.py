"""Experimental structures from the RCSB PDB by ID (`{rcsb_url}/download/{ID}.cif`).

mmCIF is the default because every entry has one (large entries have no PDB file).
"""

from __future__ import annotations

import re

from .errors import InputError, NetworkError, NotFoundError
from .http import get, mirror_not_recorded
from .settings import Settings, get_settings

#: Classic 4-character IDs (1UBQ) and the extended form (pdb_00001ubq).
PDB_ID_RE = re.compile(r"^(?:[0-9][A-Z0-9]{3}|PDB_[0-9]{4}[0-9A-Z]{4})$")


def normalize_pdb_id(pdb_id: str) -> str:
    text = (pdb_id or "").strip().upper()
    if not PDB_ID_RE.match(text):
        raise InputError(
            f"'{(pdb_id or '').strip()}' is not a PDB ID. PDB IDs have four characters starting "
            "with a digit, such as 1UBQ or 4HHB."
        )
    return text


def fetch_structure_file(pdb_id: str, settings: Settings | None = None, fmt: str = "cif") -> bytes:
    """The mmCIF (or `fmt="pdb"`) file of a PDB entry, through the cache."""
    settings = settings or get_settings()
    entry = normalize_pdb_id(pdb_id)
    if fmt not in ("cif", "pdb"):
        raise InputError(f"Unknown format '{fmt}': use 'cif' or 'pdb'.")
    name = entry.lower() if entry.startswith("PDB_") else entry
    url = f"{settings.rcsb_url}/download/{name}.{fmt}"
    response = get(url, settings, what=f"PDB entry {entry} ({fmt})")
    if response.status == 404:
        hint = " Large entries have no .pdb file: ask for mmCIF." if fmt == "pdb" else ""
        raise NotFoundError(
            mirror_not_recorded(response) or f"The PDB has no entry {entry} (or no {fmt} file for it). Check the ID on "
            f"https://www.rcsb.org.{hint}"
        )
    if response.status != 200:
        raise NetworkError(f"RCSB answered HTTP {response.status} for {entry}. Try again later.")
    return response.body
