"""The structure downloads: the 3D view page, PyMOL / ChimeraX scripts and the structure with
a feature's activations in the B-factor column, written by one function for the app's
download buttons (ui/exports.py) and `structure export` on the command line.

Why one place: the app and the command line must give the same file for the same protein,
layer and features (the CLI is how users script figures and how checks test the app's
downloads), and every value from the structure file reaches these files through `inert`.

The B-factor file keeps the source file's header (PDB records before the coordinates, or
every other mmCIF category) and says what the B column holds, in `REMARK 999` lines (PDB)
or an `_interplm_b_factor` category (mmCIF), so a file found on disk months later still
explains itself.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from . import inert, structure_view
from .errors import InputError
from .mapping import values_as_bfactor
from .structures import write_atoms

EXPORT_FORMATS = ("html", "pml", "cxc", "pdb", "cif")
#: Residues are drawn as sticks where a feature reaches this share of the colour scale.
STICK_SHARE = 0.5
#: PDB records that the atom writer produces itself (never copied from the source header).
_COORDINATE_RECORDS = ("ATOM", "HETATM", "ANISOU", "TER", "MODEL", "ENDMDL", "CONECT", "MASTER", "END", "CRYST1")


@dataclass(frozen=True)
class ExportSource:
    """Where the values come from: what the B-factor note and the page title say."""

    protein: str  # record id or UniProt accession
    model: str  # ESM-2 name
    layer: int
    normalized: bool
    structure_name: str  # the structure file's name
    synthetic: bool = False

    @property
    def scale(self) -> str:
        return "normalised (0-1, comparable across proteins)" if self.normalized else "raw activation"

    def describe(self, features) -> str:
        names = ", ".join(f"f{int(f)}" for f in features)
        weights = " (synthetic weights: meaningless)" if self.synthetic else ""
        return f"{self.protein} on {self.structure_name}: {self.model} layer {self.layer}, {names}, {self.scale}{weights}"


def bfactor_note(source: ExportSource, feature: int) -> dict[str, str]:
    """What the B column holds, item by item (each a single line of plain text)."""
    return {k: inert.record_text(v) for k, v in {
        "content": f"SAE feature f{int(feature)} activation per residue, 0 where unmapped",
        "feature": f"f{int(feature)}",
        "layer": str(int(source.layer)),
        "scale": source.scale,
        "model": source.model + (" (synthetic weights: meaningless)" if source.synthetic else ""),
        "protein": source.protein,
        "source": f"InterPLM Explorer; structure {source.structure_name}",
    }.items()}


def _pdb_header(structure_text: str) -> list[str]:
    """The source's records before its first coordinate record, minus those the writer adds."""
    header = []
    for line in structure_text.splitlines():
        record = line[:6].rstrip()
        if record in ("ATOM", "HETATM", "MODEL"):
            break
        if record not in _COORDINATE_RECORDS:
            header.append(line.rstrip("\r"))
    return header


def _remarks(note: dict[str, str]) -> list[str]:
    """REMARK 999 lines of at most 80 characters."""
    lines = ["REMARK 999 INTERPLM EXPLORER: THE B-FACTOR COLUMN HOLDS SAE FEATURE ACTIVATIONS"]
    for key, value in note.items():
        text = f"{key}: {value}"
        while text:
            lines.append(f"REMARK 999 {text[:69]}")
            text = text[69:]
    return lines


def bfactor_structure(structure_text: str, structure_fmt: str, mapping, values, source: ExportSource,
                      feature: int, out_format: str | None = None) -> str:
    """The structure with `values` (one per sequence position) in the B-factor column, its
    header kept and a note of what the column holds; PDB or mmCIF (default: the source's)."""
    atoms, detected = values_as_bfactor(structure_text, structure_fmt, mapping, values)
    target = out_format or detected
    if target not in ("pdb", "cif"):
        raise InputError(f"Unknown structure format '{target}': use 'pdb' or 'cif'.")
    note = bfactor_note(source, feature)
    if target == "pdb":
        body = write_atoms(atoms, "pdb")
        header = _pdb_header(structure_text) if detected == "pdb" else []
        return "\n".join(header + _remarks(note)) + "\n" + body
    from biotite.structure.io import pdbx

    if detected == "cif":
        handle = pdbx.CIFFile.read(io.StringIO(structure_text))
        pdbx.set_structure(handle, atoms)  # replaces atom_site, keeps every other category
    else:
        handle = pdbx.CIFFile.read(io.StringIO(write_atoms(atoms, "cif")))
    handle.block["interplm_b_factor"] = pdbx.CIFCategory(note)
    buffer = io.StringIO()
    handle.write(buffer)
    return buffer.getvalue()


def script_refusal(mapping, script_target: str) -> str | None:
    """Why the PyMOL / ChimeraX scripts cannot be written for this structure (None: they can),
    so the app can say so next to the buttons instead of failing on a click."""
    try:
        inert.viewer_file_name(script_target)
        for chain in {m.residue.chain_id for m in mapping.positions if m.residue is not None}:
            inert.viewer_chain_id(chain)
        for code in {m.residue.insertion_code for m in mapping.positions if m.residue is not None}:
            inert.viewer_insertion_code(code)
    except InputError as err:
        return str(err)
    return None


def export_structure(kind: str, structure_text: str, structure_fmt: str, mapping, activations: np.ndarray,
                     features, source: ExportSource, script_target: str) -> str:
    """One download: `kind` is one of EXPORT_FORMATS; `script_target` is the structure file
    name the PyMOL / ChimeraX scripts load (they expect it in their folder)."""
    if kind not in EXPORT_FORMATS:
        raise InputError(f"Unknown export format '{kind}': use one of {', '.join(EXPORT_FORMATS)}.")
    features = [int(f) for f in features]
    if not features:
        raise InputError("Choose at least one feature to export.")
    tracks = structure_view.default_tracks(features, activations)
    scale = structure_view.colour_scale([t.values for t in tracks], source.normalized)
    if kind == "html":
        return structure_view.viewer_html(structure_text, structure_fmt, mapping, tracks, threshold=STICK_SHARE * scale,
                                          scale=scale, height=600, title=source.describe(features))
    if kind == "pml":
        return structure_view.pymol_script(script_target, mapping, tracks, scale, STICK_SHARE * scale)
    if kind == "cxc":
        return structure_view.chimerax_script(script_target, mapping, tracks, scale, STICK_SHARE * scale)
    return bfactor_structure(structure_text, structure_fmt, mapping, activations[:, features[0]], source,
                             features[0], out_format=kind)
