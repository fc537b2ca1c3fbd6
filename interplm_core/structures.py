"""Protein structures (PDB and mmCIF) reduced to what the explorer needs: chains of residues.

Why biotite: it reads both PDB and mmCIF (and writes both back, which the B-factor
export needs) with one atom-array model; it handles insertion codes, alternate locations
(`altloc="occupancy"`), several models (we take model 1, as viewers do for NMR
ensembles) and knows every PDB chemical component through the bundled CCD, so a
modified residue such as MSE is recognised as an amino acid whose parent is M. It is
pure Python/NumPy with wheels everywhere, and it also provides the sequence aligner
used in `mapping`, so one well-kept library covers parsing, writing and alignment.

What counts as a residue: an amino-acid component (standard or modified) in model 1.
Waters, ions and ligands (HEM, PO4, ...) are ignored for mapping; they stay in files
written back by `write_atoms`.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from biotite.structure import AtomArray  # biotite is imported lazily: it is slow to load

#: Largest structure file accepted (bytes); override with INTERPLM_MAX_UPLOAD_BYTES.
DEFAULT_MAX_UPLOAD_BYTES = Settings.max_upload_bytes

_PDB_SUFFIXES = {".pdb", ".ent", ".pdb1"}
_CIF_SUFFIXES = {".cif", ".mmcif"}
_FORMAT_NAMES = {"pdb": "pdb", "ent": "pdb", "cif": "cif", "mmcif": "cif", "pdbx": "cif"}


def max_upload_bytes() -> int:
    """The configured upload limit, read from the environment at call time."""
    return get_settings().max_upload_bytes


@dataclass(frozen=True)
class Residue:
    """One amino-acid residue as the file numbers it (author numbering)."""

    chain_id: str
    number: int
    insertion_code: str
    name: str
    one_letter: str
    b_factor: float | None  # of the CA atom (pLDDT in AlphaFold files); None without CA

    @property
    def label(self) -> str:
        """Human-readable id such as `A:52B`."""
        return f"{self.chain_id}:{self.number}{self.insertion_code}"


@dataclass(frozen=True)
class Chain:
    id: str
    residues: tuple[Residue, ...]

    @property
    def sequence(self) -> str:
        return "".join(r.one_letter for r in self.residues)

    def __len__(self) -> int:
        return len(self.residues)


@dataclass(frozen=True)
class Structure:
    """The protein chains of model 1 of a structure file."""

    format: str  # "pdb" or "cif"
    chains: dict[str, Chain]
    model_count: int = 1
    warnings: list[str] = field(default_factory=list)

    @property
    def chain_ids(self) -> list[str]:
        return list(self.chains)

    def chain(self, chain_id: str) -> Chain:
        if chain_id not in self.chains:
            available = ", ".join(self.chains) or "none"
            raise InputError(
                f"The structure has no protein chain '{chain_id}'. Choose one of: {available}."
            )
        return self.chains[chain_id]

    def chain_sequence(self, chain_id: str) -> str:
        return self.chain(chain_id).sequence


def detect_format(filename_or_format: str | None, text: str = "") -> str:
    """'pdb' or 'cif' from a format name, a file name (.pdb, .cif, .ent, optionally .gz) or the text."""
    if filename_or_format:
        name = str(filename_or_format).strip().lower()
        if name in _FORMAT_NAMES:
            return _FORMAT_NAMES[name]
        suffixes = Path(name).suffixes
        if suffixes and suffixes[-1] == ".gz":
            suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] in _PDB_SUFFIXES:
            return "pdb"
        if suffixes and suffixes[-1] in _CIF_SUFFIXES:
            return "cif"
    head = text.lstrip()[:2000]
    if head.startswith("data_"):
        return "cif"
    if any(line[:6].rstrip() in {"HEADER", "ATOM", "HETATM", "MODEL", "CRYST1", "REMARK", "TITLE"}
           for line in head.splitlines()):
        return "pdb"
    raise InputError(
        "This does not look like a structure file: expected a PDB file (.pdb, lines starting "
        "with ATOM/HETATM) or an mmCIF file (.cif, starting with 'data_')."
    )


def gunzip_capped(raw: bytes, limit: int) -> bytes:
    """Decompress a gzip upload, reading at most `limit` + 1 bytes (a small bomb cannot fill memory)."""
    try:
        out = gzip.GzipFile(fileobj=io.BytesIO(raw)).read(limit + 1)
    except (OSError, EOFError) as err:
        raise InputError(f"The gzip-compressed file is damaged or truncated ({err}). Upload it again.") from err
    if len(out) > limit:
        raise InputError(
            f"The decompressed file is over the {limit / 1e6:.1f} MB limit. "
            "Upload a single chain or a smaller file."
        )
    return out


def decode_structure_bytes(data: bytes | str, max_bytes: int | None = None) -> str:
    """Text of an upload: size limit, gzip transparently, and a clear error for binary data."""
    limit = max_bytes if max_bytes is not None else max_upload_bytes()
    if isinstance(data, str):
        raw = data.encode("utf-8")
    else:
        raw = bytes(data)
    if len(raw) > limit:
        raise InputError(
            f"The structure file is {len(raw) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB. "
            "Upload a single chain or a smaller file (or raise INTERPLM_MAX_UPLOAD_BYTES)."
        )
    if raw[:2] == b"\x1f\x8b":
        raw = gunzip_capped(raw, limit)
    if not raw.strip():
        raise InputError("The structure file is empty. Upload a PDB or mmCIF file with atoms.")
    if b"\x00" in raw[:4096]:
        raise InputError(
            "The file is binary, not a text PDB or mmCIF file (BinaryCIF and images are not "
            "supported). Download the structure as .pdb or .cif."
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def load_atoms(
    data: bytes | str, filename_or_format: str | None = None, max_bytes: int | None = None
) -> tuple[AtomArray, str, int]:
    """All atoms of model 1 (altloc by highest occupancy) as a biotite AtomArray, the format, and the file's model count."""
    import biotite
    import biotite.structure

    text = decode_structure_bytes(data, max_bytes)
    fmt = detect_format(filename_or_format, text)
    try:
        if fmt == "pdb":
            _check_pdb_text(text)
            atoms, models = _read_pdb(text)
        else:
            atoms, models = _read_cif(text)
    except InputError:
        raise
    except (
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        biotite.InvalidFileError,
        biotite.file.DeserializationError,
        biotite.structure.BadStructureError,
    ) as err:
        kind = "PDB" if fmt == "pdb" else "mmCIF"
        raise InputError(
            f"Could not read this {kind} file ({err.__class__.__name__}: {str(err)[:150]}). It may be "
            "truncated or not a structure file: download it again or try the other format."
        ) from err
    if atoms.array_length() == 0:
        raise InputError(
            "The structure file contains no atoms (no ATOM/HETATM records). Upload a complete "
            "PDB or mmCIF file."
        )
    return atoms, fmt, models


def _read_pdb(text: str):
    from biotite.structure.io import pdb

    handle = pdb.PDBFile.read(io.StringIO(text))
    models = handle.get_model_count()
    if models == 0:
        raise InputError(
            "The PDB file contains no ATOM or HETATM records. Upload a complete structure file."
        )
    atoms = handle.get_structure(model=1, altloc="occupancy", extra_fields=["b_factor", "occupancy"])
    return atoms, models


def _read_cif(text: str):
    from biotite.structure.io import pdbx

    handle = pdbx.CIFFile.read(io.StringIO(text))
    block = handle.block
    if "atom_site" not in block:
        raise InputError(
            "The mmCIF file has no atom_site table, so no coordinates. Upload the full model "
            "file (for example from RCSB: https://files.rcsb.org/download/XXXX.cif)."
        )
    models = pdbx.get_model_count(handle)
    atoms = pdbx.get_structure(
        handle, model=1, altloc="occupancy", extra_fields=["b_factor", "occupancy"]
    )
    return atoms, models


def _check_pdb_text(text: str) -> None:
    """Catch a cut download: a coordinate record shorter than its coordinates."""
    lines = [line for line in text.splitlines() if line.startswith(("ATOM  ", "HETATM"))]
    if not lines:
        raise InputError(
            "The PDB file contains no ATOM or HETATM records. Upload a complete structure file "
            "(a FASTA or text file is not a structure)."
        )
    for number, line in enumerate(lines, start=1):
        if len(line.rstrip("\r")) < 54:
            raise InputError(
                f"The PDB file looks truncated or damaged: coordinate record {number} is only "
                f"{len(line)} characters long ('{line.strip()[:40]}'). Download the file again."
            )


def _one_letter(res_name: str) -> str:
    from biotite.structure.info import one_letter_code

    code = one_letter_code(res_name)
    return code if code else "X"


def residues_from_atoms(atoms: AtomArray) -> dict[str, Chain]:
    """Amino-acid residues per chain, in file order; ligands and water are left out."""
    import biotite.structure as struc

    protein = atoms[struc.filter_amino_acids(atoms)]
    chains: dict[str, list[Residue]] = {}
    if protein.array_length() == 0:
        return {}
    starts = struc.get_residue_starts(protein, add_exclusive_stop=True)
    for begin, end in zip(starts[:-1], starts[1:]):
        block = protein[begin:end]
        ca = np.flatnonzero(block.atom_name == "CA")
        b_factor = float(block.b_factor[ca[0]]) if len(ca) else None
        chain_id = str(block.chain_id[0])
        chains.setdefault(chain_id, []).append(
            Residue(
                chain_id=chain_id,
                number=int(block.res_id[0]),
                insertion_code=str(block.ins_code[0]).strip(),
                name=str(block.res_name[0]),
                one_letter=_one_letter(str(block.res_name[0])),
                b_factor=b_factor,
            )
        )
    return {cid: Chain(cid, tuple(res)) for cid, res in chains.items()}


def parse_structure(
    data: bytes | str, filename_or_format: str | None = None, max_bytes: int | None = None
) -> Structure:
    """Parse a PDB or mmCIF upload into protein chains (model 1).

    Raises InputError, saying what is wrong, for empty, oversized, binary, truncated or
    non-structure input, and for a structure without any amino-acid chain.
    """
    atoms, fmt, models = load_atoms(data, filename_or_format, max_bytes)
    chains = residues_from_atoms(atoms)
    if not chains:
        raise InputError(
            "The structure has atoms but no protein chain (only ligands, nucleic acids or "
            "water). Upload a protein structure."
        )
    warnings = []
    if models > 1:
        warnings.append(f"The file has {models} models (an NMR ensemble?); model 1 is used.")
    declared = declared_chain_lengths(decode_structure_bytes(data, max_bytes), fmt)
    for chain_id, chain in chains.items():
        total = declared.get(chain_id)
        if total and len(chain) < SHORT_CHAIN_FRACTION * total:
            source = "SEQRES" if fmt == "pdb" else "entity_poly"
            warnings.append(
                f"Chain {chain_id} has {len(chain)} modelled residues but its {source} declares {total} "
                f"({len(chain) / total:.0%}): the file may be cut short, or much of the chain is unresolved. "
                "Only the modelled residues are analysed."
            )
    return Structure(format=fmt, chains=chains, model_count=models, warnings=warnings)


#: A chain modelling less than this share of its declared sequence gets a warning.
SHORT_CHAIN_FRACTION = 0.8


def declared_chain_lengths(text: str, fmt: str) -> dict[str, int]:
    """Residues each chain's full sequence has, as the file declares it (PDB SEQRES, mmCIF
    entity_poly); empty when the file declares nothing (AlphaFold models, stripped files)."""
    out: dict[str, int] = {}
    if fmt == "pdb":
        for line in text.splitlines():
            if line.startswith("SEQRES") and len(line) >= 17 and line[13:17].strip().isdigit():
                out.setdefault(line[11].strip() or "A", int(line[13:17]))
        return out
    from biotite.structure.io import pdbx

    try:
        block = pdbx.CIFFile.read(io.StringIO(text)).block
        if "entity_poly" not in block:
            return out
        category = block["entity_poly"]
        kinds = category["type"].as_array(str)
        codes = category["pdbx_seq_one_letter_code_can"].as_array(str)
        strands = category["pdbx_strand_id"].as_array(str)
    except (KeyError, ValueError, IndexError):
        return out
    for kind, code, chains in zip(kinds, codes, strands):
        if "polypeptide" in kind:
            for chain_id in chains.split(","):
                out[chain_id.strip()] = len("".join(code.split()))
    return out


def write_atoms(atoms: AtomArray, fmt: str, data_block: str = "structure") -> str:
    """Write an AtomArray (e.g. with new B-factors) as PDB or mmCIF text.

    PDB's fixed columns hold coordinates from -999.999 to 9999.999 only: a larger structure
    is refused with a message naming mmCIF (checked here, before any writing, so no
    writer is ever asked to squeeze it in).
    """
    if fmt == "pdb":
        from biotite.structure.io import pdb

        check_fits_pdb(atoms)
        out = pdb.PDBFile()
        out.set_structure(atoms)
    elif fmt == "cif":
        from biotite.structure.io import pdbx

        out = pdbx.CIFFile()
        pdbx.set_structure(out, atoms, data_block=data_block)
    else:
        raise InputError(f"Unknown structure format '{fmt}': use 'pdb' or 'cif'.")
    buffer = io.StringIO()
    out.write(buffer)
    return buffer.getvalue()


#: What PDB's fixed-width ATOM columns can hold (8.3f coordinates, 6.2f B-factors).
PDB_COORD_RANGE = (-999.999, 9999.999)
PDB_B_FACTOR_RANGE = (-99.99, 999.99)


def check_fits_pdb(atoms) -> None:
    """InputError unless every coordinate and B-factor fits PDB's columns."""
    coords = np.asarray(atoms.coord, dtype=float)
    low, high = PDB_COORD_RANGE
    if coords.size and not (np.isfinite(coords).all() and coords.min() >= low and coords.max() <= high):
        raise InputError(
            f"The structure's coordinates (from {np.nanmin(coords):.1f} to {np.nanmax(coords):.1f} Å) do not fit "
            f"the PDB format ({low} to {high}); export it as mmCIF (.cif) instead."
        )
    b_factor = getattr(atoms, "b_factor", None)
    low, high = PDB_B_FACTOR_RANGE
    if b_factor is not None and len(b_factor) and (np.min(b_factor) < low or np.max(b_factor) > high):
        raise InputError(
            f"The values do not fit the PDB B-factor column ({low} to {high}); export as mmCIF (.cif) "
            "or rescale them."
        )


def pdb_to_cif(pdb_text: str, data_block: str = "structure") -> str:
    """Convert a PDB file (all models, all atoms) to mmCIF with biotite."""
    from biotite.structure.io import pdb

    handle = pdb.PDBFile.read(io.StringIO(pdb_text))
    atoms = handle.get_structure(altloc="all", extra_fields=["b_factor", "occupancy"])
    return write_atoms(atoms, "cif", data_block)
