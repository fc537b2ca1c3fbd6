"""AlphaFold DB client: F1 entry chosen from the array, file URL from the API, pLDDT = CA B-factors."""

from __future__ import annotations

import pytest

from interplm_core.alphafold import fetch_model, prediction_entry
from interplm_core.errors import InputError, NotFoundError
from interplm_core.rcsb import fetch_structure_file
from tests.pdb_oracle import pdb_residues


def test_plddt_equals_the_ca_bfactors_of_the_file(mirror_env, fixtures_dir):
    path = fixtures_dir / "alphafold" / "AF-P61626-F1-model_v4.pdb"
    rows = pdb_residues(path.read_text())["A"]
    model = fetch_model("P61626")
    assert model.entry_id == "AF-P61626-F1"
    assert model.data == path.read_bytes()
    assert model.plddt == pytest.approx([row[3] for row in rows])
    assert model.sequence == "".join(row[2] for row in rows)
    assert model.mean_plddt == pytest.approx(sum(r[3] for r in rows) / len(rows))


def test_the_f1_entry_is_chosen_not_the_first_element(mirror_env):
    before = len(mirror_env.requests)  # the mirror's log spans the session: look at this test's requests
    record = prediction_entry("P0CG48")
    assert record["entryId"] == "AF-P0CG48-F1"
    fetch_model("P0CG48")
    paths = [r.path for r in mirror_env.requests[before:]]
    assert "/files/AF-P0CG48-F1-model_v6.pdb" in paths  # the v6 URL the API gave
    assert not any("-2-F1" in p or "P0CG48-F1-model_v4" in p for p in paths)


def test_cif_model_gives_the_same_plddt(mirror_env, fixtures_dir):
    rows = pdb_residues((fixtures_dir / "alphafold" / "AF-Q5VSL9-F1-model_v4.pdb").read_text())["A"]
    model = fetch_model("Q5VSL9", prefer="cif")
    assert model.format == "cif" and model.url.endswith("AF-Q5VSL9-F1-model_v4.cif")
    assert model.plddt == pytest.approx([row[3] for row in rows])


def test_no_model_is_a_clear_not_found(mirror_env):
    with pytest.raises(NotFoundError, match="AlphaFold DB model of P69905 is not recorded in this mirror"):
        fetch_model("P69905")


def test_rcsb_files_and_bad_ids(mirror_env, fixtures_dir):
    assert fetch_structure_file("1ubq") == (fixtures_dir / "pdb" / "1UBQ.cif").read_bytes()
    assert fetch_structure_file("1UBQ", fmt="pdb") == (fixtures_dir / "pdb" / "1UBQ.pdb").read_bytes()
    assert fetch_structure_file("4HHB").startswith(b"data_4HHB")  # converted by the mirror
    with pytest.raises(NotFoundError, match="PDB entry 9ZZZ is not recorded in this mirror"):
        fetch_structure_file("9ZZZ")
    with pytest.raises(InputError, match="not a PDB ID"):
        fetch_structure_file("UBQ1")
