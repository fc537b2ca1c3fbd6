"""Structure parsing on the real fixtures and on edited copies (MSE, insertion codes, altlocs, NMR)."""

from __future__ import annotations

import gzip

import pytest

from interplm_core.errors import InputError
from interplm_core.structures import detect_format, parse_structure, pdb_to_cif
from tests.pdb_oracle import pdb_residues


@pytest.fixture(scope="module")
def texts(fixtures_dir):
    return {
        name: (fixtures_dir / folder / name).read_text()
        for folder, name in [
            ("pdb", "4HHB.pdb"), ("pdb", "1UBQ.pdb"), ("pdb", "1UBQ.cif"), ("pdb", "1REX.pdb"),
            ("alphafold", "AF-P61626-F1-model_v4.pdb"),
        ]
    }


@pytest.mark.parametrize("name", ["4HHB.pdb", "1UBQ.pdb", "1REX.pdb", "AF-P61626-F1-model_v4.pdb"])
def test_pdb_chains_match_an_independent_reading(texts, name):
    expected = pdb_residues(texts[name])
    structure = parse_structure(texts[name].encode(), name)
    assert structure.format == "pdb"
    assert structure.chain_ids == list(expected)
    for chain_id, rows in expected.items():
        residues = structure.chain(chain_id).residues
        assert [(r.number, r.insertion_code, r.one_letter) for r in residues] == [row[:3] for row in rows]
        assert [r.b_factor for r in residues] == pytest.approx([row[3] for row in rows])
        assert structure.chain_sequence(chain_id) == "".join(row[2] for row in rows)


def test_haemoglobin_ligands_and_water_are_not_residues(texts):
    structure = parse_structure(texts["4HHB.pdb"], "4hhb.pdb")
    names = {r.name for chain in structure.chains.values() for r in chain.residues}
    assert not names & {"HOH", "HEM", "PO4"}
    assert "HEM" in texts["4HHB.pdb"] and "HOH" in texts["4HHB.pdb"]


def test_mmcif_and_pdb_of_1ubq_agree(texts):
    from_cif = parse_structure(texts["1UBQ.cif"], "1ubq.cif")
    from_pdb = parse_structure(texts["1UBQ.pdb"], "1UBQ.pdb")
    assert from_cif.format == "cif"
    assert from_cif.chains == from_pdb.chains


def test_converted_mmcif_keeps_chains_and_bfactors(texts):
    cif = pdb_to_cif(texts["4HHB.pdb"], "4HHB")
    assert cif.startswith("data_4HHB")
    assert parse_structure(cif, "cif").chains == parse_structure(texts["4HHB.pdb"], "pdb").chains


def _edit_residue(text: str, number: int, edit) -> str:
    lines = []
    for line in text.splitlines():
        if line.startswith(("ATOM  ", "HETATM")) and int(line[22:26]) == number:
            line = edit(line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_selenomethionine_counts_as_methionine(texts):
    def to_mse(line):
        atom = line[12:16].replace("SD", "SE")
        element = " SE" if atom.strip() == "SE" else line[76:78]
        return ("HETATM" + line[6:12] + atom + line[16:17] + "MSE" + line[20:76] + element).ljust(80)[:80]

    edited = _edit_residue(texts["1UBQ.pdb"], 1, to_mse)
    assert "HETATM    1  N   MSE A   1" in edited
    residues = parse_structure(edited, "pdb").chain("A").residues
    assert (residues[0].name, residues[0].one_letter) == ("MSE", "M")
    assert parse_structure(edited, "pdb").chain_sequence("A") == parse_structure(texts["1UBQ.pdb"], "pdb").chain_sequence("A")


def test_insertion_codes_are_kept(texts):
    edited = _edit_residue(texts["1UBQ.pdb"], 2, lambda line: line[:22] + "   1A" + line[27:])
    residues = parse_structure(edited, "pdb").chain("A").residues
    assert [(r.number, r.insertion_code) for r in residues[:3]] == [(1, ""), (1, "A"), (3, "")]
    assert residues[1].label == "A:1A"
    assert len(residues) == 76


def test_altlocs_take_the_most_occupied_position(texts):
    lines = texts["1UBQ.pdb"].splitlines()
    index = next(i for i, row in enumerate(lines) if row.startswith("ATOM") and row[12:16] == " CA " and int(row[22:26]) == 5)
    ca = lines[index]
    first = ca[:16] + "A" + ca[17:54] + "  0.30 11.11" + ca[66:]
    second = ca[:16] + "B" + ca[17:54] + "  0.70 22.22" + ca[66:]
    edited = "\n".join(lines[:index] + [first, second] + lines[index + 1 :]) + "\n"
    residues = parse_structure(edited, "pdb").chain("A").residues
    assert len(residues) == 76
    assert residues[4].b_factor == pytest.approx(22.22)


def test_nmr_ensemble_uses_model_one(texts):
    atoms = [row for row in texts["1UBQ.pdb"].splitlines() if row.startswith("ATOM")]
    model2 = [row[:60] + " 99.99" + row[66:] for row in atoms[:100]]  # a different, shorter model 2
    text = "\n".join(["MODEL        1", *atoms, "ENDMDL", "MODEL        2", *model2, "ENDMDL", "END"]) + "\n"
    structure = parse_structure(text, "nmr.pdb")
    assert structure.model_count == 2
    assert len(structure.chain("A")) == 76
    assert all(r.b_factor != 99.99 for r in structure.chain("A").residues)
    assert "model 1" in structure.warnings[0]


def test_gzip_upload_is_read(texts):
    structure = parse_structure(gzip.compress(texts["1UBQ.pdb"].encode()), "1ubq.pdb.gz")
    assert len(structure.chain("A")) == 76


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"", "x.pdb", "empty"),
        (b"   \n\n", "x.cif", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "x.pdb", "binary"),
        (b">sp|P69905\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF\n", None, "does not look like a structure"),
        (b"HEADER    NOTHING HERE\nREMARK   1 no coordinates\nEND\n", "x.pdb", "no ATOM or HETATM"),
        (b"data_x\n_entry.id x\n", "x.cif", "no atom_site"),
    ],
)
def test_unusable_uploads_say_what_is_wrong(data, name, message):
    with pytest.raises(InputError, match=message):
        parse_structure(data, name)


def test_truncated_pdb_is_rejected(texts):
    text = texts["1UBQ.pdb"]
    cut = text.index("ATOM     50") + 40  # in the middle of a coordinate record
    with pytest.raises(InputError, match="truncated"):
        parse_structure(text[:cut], "1ubq.pdb")


def test_truncated_mmcif_is_rejected(texts):
    text = texts["1UBQ.cif"]
    cut = text.index("ATOM   50 ") + 30
    with pytest.raises(InputError, match="truncated"):
        parse_structure(text[:cut], "1ubq.cif")


def test_ligand_only_file_has_no_protein_chain(texts):
    hets = [row for row in texts["4HHB.pdb"].splitlines() if row.startswith("HETATM") and row[17:20] == "HEM"]
    with pytest.raises(InputError, match="no protein chain"):
        parse_structure("\n".join(hets) + "\nEND\n", "hem.pdb")


def test_size_limit_from_argument_and_environment(texts, monkeypatch):
    data = texts["1UBQ.pdb"].encode()
    with pytest.raises(InputError, match="limit"):
        parse_structure(data, "1ubq.pdb", max_bytes=len(data) - 1)
    monkeypatch.setenv("INTERPLM_MAX_UPLOAD_BYTES", str(len(data) - 1))
    with pytest.raises(InputError, match="limit"):
        parse_structure(data, "1ubq.pdb")
    monkeypatch.setenv("INTERPLM_MAX_UPLOAD_BYTES", str(len(data)))
    assert len(parse_structure(data, "1ubq.pdb").chain("A")) == 76


def test_unknown_chain_lists_the_available_ones(texts):
    structure = parse_structure(texts["4HHB.pdb"], "pdb")
    with pytest.raises(InputError, match="A, B, C, D"):
        structure.chain("E")


@pytest.mark.parametrize(
    "name, text, expected",
    [("a.PDB", "", "pdb"), ("a.ent.gz", "", "pdb"), ("a.mmcif", "", "cif"), ("mmCIF", "", "cif"),
     (None, "data_1ABC\n", "cif"), ("upload", "ATOM      1  N   MET A   1", "pdb")],
)
def test_format_detection(name, text, expected):
    assert detect_format(name, text) == expected


def test_a_pdb_cut_at_a_line_boundary_warns_against_seqres(fixtures_dir):
    from interplm_core.structures import declared_chain_lengths

    text = (fixtures_dir / "pdb" / "1REX.pdb").read_text()
    assert declared_chain_lengths(text, "pdb") == {"A": 130}
    full = parse_structure(text, "pdb")
    assert not any("declares" in w for w in full.warnings)
    kept = []
    for line in text.splitlines():  # cut after residue 38, on a line boundary (a valid-looking file)
        if line.startswith(("ATOM", "HETATM")) and int(line[22:26]) > 38:
            break
        kept.append(line)
    cut = parse_structure("\n".join(kept) + "\nEND\n", "pdb")
    assert len(cut.chain("A")) == 38
    assert any(w.startswith("Chain A has 38 modelled residues but its SEQRES declares 130 (29%)")
               for w in cut.warnings), cut.warnings


def test_mmcif_entity_poly_lengths(fixtures_dir):
    from interplm_core.structures import declared_chain_lengths

    text = (fixtures_dir / "pdb" / "1UBQ.cif").read_text()
    assert declared_chain_lengths(text, "cif") == {"A": 76}
    assert not any("declares" in w for w in parse_structure(text, "cif").warnings)
