"""The structure downloads (issue 13 §2, issue 10 item 13): the B-factor file keeps the source
header and says what its B column holds; a structure too large for PDB's columns is refused
with a message naming mmCIF (and exports as mmCIF), never handed to the PDB writer."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from interplm_core import structure_exports as se
from interplm_core.errors import InputError
from interplm_core.mapping import map_to_structure, write_values_as_bfactor
from interplm_core.structures import load_atoms, parse_structure, write_atoms

SOURCE = se.ExportSource(protein="P0CG48", model="esm2_t6_8M_UR50D", layer=3, normalized=True,
                         structure_name="1UBQ.pdb")


def _ubq(fixtures_dir, name="1UBQ.pdb"):
    text = (fixtures_dir / "pdb" / name).read_text()
    structure = parse_structure(text, name)
    return text, structure, map_to_structure(structure.chain_sequence("A"), structure, "A")


def _activations(length: int) -> np.ndarray:
    acts = np.zeros((length, 16), dtype=np.float32)
    acts[:, 5] = np.round(np.linspace(0, 1, length), 2)
    acts[:, 9] = 0.5
    return acts


def test_pdb_bfactor_keeps_header_and_states_what_b_holds(fixtures_dir):
    text, _, mapping = _ubq(fixtures_dir)
    acts = _activations(76)
    out = se.export_structure("pdb", text, "pdb", mapping, acts, [5, 9], SOURCE, "x.pdb")
    lines = out.splitlines()
    source_header = [row for row in text.splitlines() if row.startswith(("HEADER", "TITLE", "COMPND", "SEQRES"))]
    assert source_header and all(row.rstrip() in [line.rstrip() for line in lines] for row in source_header)
    remarks = " ".join(row[11:] for row in lines if row.startswith("REMARK 999"))
    for fact in ("feature: f5", "layer: 3", "scale: normalised", "model: esm2_t6_8M_UR50D", "protein: P0CG48",
                 "structure 1UBQ.pdb", "B-FACTOR COLUMN"):
        assert fact in remarks
    assert all(len(row) <= 80 for row in lines if row.startswith("REMARK 999"))
    assert max(i for i, row in enumerate(lines) if row.startswith("REMARK")) < lines.index(
        next(row for row in lines if row.startswith("ATOM")))
    # The B column: feature 5 of each residue, read back by an independent parser.
    residues = parse_structure(out, "pdb").chain("A").residues
    assert [r.b_factor for r in residues] == pytest.approx([float(acts[r.number - 1, 5]) for r in residues])


def test_cif_bfactor_keeps_categories_and_adds_a_data_item(fixtures_dir):
    from biotite.structure.io import pdbx

    text, _, mapping = _ubq(fixtures_dir, "1UBQ.cif")
    acts = _activations(76)
    raw = se.ExportSource(**{**SOURCE.__dict__, "normalized": False, "structure_name": "1UBQ.cif"})
    out = se.export_structure("cif", text, "cif", mapping, acts, [9], raw, "x.cif")
    block = pdbx.CIFFile.read(io.StringIO(out)).block
    original = pdbx.CIFFile.read(io.StringIO(text)).block
    assert block["struct"]["title"].as_item() == original["struct"]["title"].as_item()
    assert set(original) - {"atom_site"} <= set(block)  # every header category kept
    note = {key: block["interplm_b_factor"][key].as_item() for key in ("feature", "layer", "scale", "source")}
    assert note == {"feature": "f9", "layer": "3", "scale": "raw activation",
                    "source": "InterPLM Explorer; structure 1UBQ.cif"}
    residues = parse_structure(out, "cif").chain("A").residues
    assert [r.b_factor for r in residues] == pytest.approx([0.5] * len(residues))


def test_note_text_cannot_break_the_file(fixtures_dir):
    text, _, mapping = _ubq(fixtures_dir)
    hostile = se.ExportSource(protein="x\nATOM      1  CA  GLY Z 999", model="m'\"", layer=3, normalized=True,
                              structure_name="a\r\nEND")
    out = se.export_structure("pdb", text, "pdb", mapping, _activations(76), [5], hostile, "x.pdb")
    assert "Z 999" not in [row[21:26] for row in out.splitlines() if row.startswith("ATOM")]
    assert parse_structure(out, "pdb").chain_ids == ["A"]
    cif = se.export_structure("cif", text, "pdb", mapping, _activations(76), [5], hostile, "x.cif")
    assert parse_structure(cif, "cif").chain_ids == ["A"]


def _far_away(fixtures_dir) -> tuple[str, object]:
    """1UBQ moved 20,000 Å along every axis, as mmCIF (PDB's columns stop at 9999.999)."""
    atoms, _, _ = load_atoms((fixtures_dir / "pdb" / "1UBQ.pdb").read_text(), "pdb")
    atoms.coord = atoms.coord + 20_000.0
    cif = write_atoms(atoms, "cif")
    structure = parse_structure(cif, "cif")
    return cif, map_to_structure(structure.chain_sequence("A"), structure, "A")


def test_coordinates_too_large_for_pdb_are_refused_with_a_message(fixtures_dir):
    cif, mapping = _far_away(fixtures_dir)
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"do not fit the PDB format .* export it as mmCIF"):
        se.export_structure("pdb", cif, "cif", mapping, _activations(76), [5], SOURCE, "x.pdb")
    with pytest.raises(InputError, match="export it as mmCIF"):
        write_values_as_bfactor(cif, "cif", mapping, np.ones(76), out_format="pdb")
    assert time.perf_counter() - started < 30  # refused, not ground through
    out = se.export_structure("cif", cif, "cif", mapping, _activations(76), [5], SOURCE, "x.cif")
    atoms, _, _ = load_atoms(out, "cif")
    assert atoms.coord.min() > 19_000  # the mmCIF export keeps the coordinates


def test_bfactor_values_too_large_for_pdb_are_refused(fixtures_dir):
    text, _, mapping = _ubq(fixtures_dir)
    acts = _activations(76) * 5000
    with pytest.raises(InputError, match="B-factor column"):
        se.export_structure("pdb", text, "pdb", mapping, acts, [5], SOURCE, "x.pdb")


def test_script_refusal_says_why_before_any_click(fixtures_dir):
    _, _, mapping = _ubq(fixtures_dir)
    assert se.script_refusal(mapping, "interplm_P0CG48_L3_f5.pdb") is None
    assert "File name" in se.script_refusal(mapping, "a;b.pdb")
    atoms, _, _ = load_atoms((fixtures_dir / "pdb" / "1UBQ.pdb").read_text(), "pdb")
    atoms.chain_id = np.array(["A;system id"] * atoms.array_length(), dtype=object).astype(str)
    structure = parse_structure(write_atoms(atoms, "cif"), "cif")
    hostile = map_to_structure(structure.chain_sequence("A;system id"), structure)
    assert se.script_refusal(hostile, "x.cif").startswith("Chain id 'A;system id' cannot be written")
