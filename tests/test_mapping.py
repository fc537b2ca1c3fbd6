"""Sequence-to-structure mapping on the real pairs: lysozyme (+18), ubiquitin repeats, haemoglobin."""

from __future__ import annotations

import pytest

from interplm_core.errors import InputError
from interplm_core.mapping import map_to_chain, map_to_structure, write_values_as_bfactor
from interplm_core.structures import parse_structure
from tests.pdb_oracle import pdb_residues, pdb_sequence


@pytest.fixture(scope="module")
def text(fixtures_dir):
    def read(relative):
        return (fixtures_dir / relative).read_text()

    return read


def test_lysozyme_lands_with_the_signal_peptide_offset(text):
    full = pdb_sequence(text("alphafold/AF-P61626-F1-model_v4.pdb"), "A")
    rex_text = text("pdb/1REX.pdb")
    mapping = map_to_structure(full, parse_structure(rex_text, "1rex.pdb"))
    rex_numbers = [r[0] for r in pdb_residues(rex_text)["A"]]
    assert mapping.chain_id == "A"
    assert not mapping.ambiguous
    for mapped in mapping.positions:
        residue = mapped.residue
        if mapped.position <= 18:
            assert residue is None
        else:
            assert residue.number == mapped.position - 18
            assert residue.one_letter == full[mapped.position - 1]
    assert mapping.coverage == pytest.approx(len(rex_numbers) / len(full))
    assert mapping.identity == 1.0
    assert mapping.chain_coverage == 1.0
    assert mapping.position_of("A", 1) == 19


def test_ubiquitin_fits_every_repeat_of_polyubiquitin(text):
    poly = pdb_sequence(text("alphafold/AF-P0CG48-F1-model_v6.pdb"), "A")
    ubq_text = text("pdb/1UBQ.pdb")
    ubq = pdb_sequence(ubq_text, "A")
    starts, at = [], poly.find(ubq)
    while at != -1:  # every exact copy, found without the aligner
        starts.append(at + 1)
        at = poly.find(ubq, at + 1)
    assert len(starts) == 9

    mapping = map_to_structure(poly, parse_structure(ubq_text, "pdb"))
    assert mapping.ambiguous
    assert [p.sequence_start for p in mapping.placements] == starts
    assert [p.sequence_end for p in mapping.placements] == [s + 75 for s in starts]
    descriptions = mapping.describe_placements()
    assert descriptions[0].startswith("repeat 1 of 9 at 1-76")
    assert descriptions[8].startswith(f"repeat 9 of 9 at {starts[8]}-{starts[8] + 75}")

    third = map_to_structure(poly, parse_structure(ubq_text, "pdb"), placement=3)
    assert third.residue_at(starts[2]).number == 1
    assert third.residue_at(starts[2] + 75).number == 76
    assert third.residue_at(1) is None
    assert third.coverage == pytest.approx(76 / len(poly))
    with pytest.raises(InputError, match="choose 1-9"):
        map_to_structure(poly, parse_structure(ubq_text, "pdb"), placement=10)


def test_haemoglobin_alpha_and_beta_pick_their_chains(text):
    hb_text = text("pdb/4HHB.pdb")
    structure = parse_structure(hb_text, "pdb")
    alpha = "M" + pdb_sequence(hb_text, "A")
    beta = "M" + pdb_sequence(hb_text, "B")
    a = map_to_structure(alpha, structure)
    b = map_to_structure(beta, structure)
    assert a.chain_id == "A"  # chains A and C are identical: the first wins
    assert b.chain_id == "B"
    assert a.residue_at(1) is None and a.residue_at(2).number == 1
    # the proximal heme histidine: UniProt 88 (alpha) and 93 (beta) with the initiator Met
    assert a.residue_at(88).name == "HIS" and a.residue_at(88).number == 87
    assert b.residue_at(93).name == "HIS" and b.residue_at(93).number == 92
    assert map_to_structure(alpha, structure, chain_id="C").chain_id == "C"


def _drop_residues(pdb_text: str, numbers: set[int]) -> str:
    return "\n".join(
        line for line in pdb_text.splitlines()
        if not (line.startswith(("ATOM  ", "HETATM")) and int(line[22:26]) in numbers)
    ) + "\n"


def test_missing_residues_and_partial_chains(text):
    ubq_text = text("pdb/1UBQ.pdb")
    ubq = pdb_sequence(ubq_text, "A")
    gapped = parse_structure(_drop_residues(ubq_text, set(range(10, 15))), "pdb")
    mapping = map_to_chain(ubq, gapped.chain("A"))
    assert [mapping.residue_at(p) for p in range(10, 15)] == [None] * 5
    assert mapping.residue_at(9).number == 9 and mapping.residue_at(15).number == 15
    assert mapping.coverage == pytest.approx(71 / 76)

    partial = parse_structure(_drop_residues(ubq_text, set(range(1, 20)) | set(range(61, 77))), "pdb")
    mapping = map_to_chain(ubq, partial.chain("A"))
    assert mapping.coverage == pytest.approx(41 / 76)
    assert mapping.residue_at(20).number == 20 and mapping.residue_at(61) is None


def test_values_are_written_into_the_bfactor_column(text):
    full = pdb_sequence(text("alphafold/AF-P61626-F1-model_v4.pdb"), "A")
    rex_text = text("pdb/1REX.pdb")
    mapping = map_to_structure(full, parse_structure(rex_text, "pdb"))
    values = [position / 10 for position in range(1, len(full) + 1)]
    out = write_values_as_bfactor(rex_text.encode(), "pdb", mapping, values)
    for number, _, _, b_factor in pdb_residues(out)["A"]:
        assert b_factor == pytest.approx((number + 18) / 10)
    waters = [row for row in out.splitlines() if row.startswith("HETATM") and row[17:20] == "HOH"]
    assert waters and all(float(row[60:66]) == 0.0 for row in waters)

    cif = write_values_as_bfactor(rex_text.encode(), "1rex.pdb", mapping, values, out_format="cif")
    assert cif.startswith("data_")
    residues = parse_structure(cif, "cif").chain("A").residues
    assert [r.b_factor for r in residues] == pytest.approx([(r.number + 18) / 10 for r in residues])
    same = write_values_as_bfactor(cif, "cif", mapping, values)
    assert same.startswith("data_") and parse_structure(same, "cif").chains == parse_structure(cif, "cif").chains


def test_value_count_must_match_the_sequence(text):
    ubq_text = text("pdb/1UBQ.pdb")
    ubq = pdb_sequence(ubq_text, "A")
    mapping = map_to_structure(ubq, parse_structure(ubq_text, "pdb"))
    with pytest.raises(InputError, match="one value per sequence position"):
        write_values_as_bfactor(ubq_text, "pdb", mapping, [1.0] * 10)


def test_unrelated_sequence_reports_low_identity(text):
    ubq_text = text("pdb/1UBQ.pdb")
    mapping = map_to_structure("W" * 30 + "PPPPP", parse_structure(ubq_text, "pdb"))
    assert mapping.identity < 0.3
