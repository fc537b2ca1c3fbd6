"""The application layer (interplm_core.session): requests to loaded proteins, comparisons
and top residues, checked against the recordings and against direct core calls."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from interplm_core.compare import compare_activations
from interplm_core.errors import InputError
from interplm_core.pipeline import FeaturePipeline
from interplm_core.session import ProteinRequest, Sources, compare, load_protein, top_residues
from tests.pdb_oracle import pdb_residues, pdb_sequence

MKT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


@pytest.fixture
def session_env(mirror_env, synthetic_weights_dir, monkeypatch):
    """UniProt/AlphaFold/RCSB from the mirror, synthetic weights from a folder."""
    monkeypatch.setenv("INTERPLM_WEIGHTS_DIR", str(synthetic_weights_dir))
    return mirror_env


@pytest.fixture
def pipeline(session_env):
    return FeaturePipeline(progress=False)


def test_accession_loads_entry_alphafold_model_and_features(pipeline, fixtures_dir):
    steps, progress = [], []
    loaded = load_protein(ProteinRequest(accession="P61626"), pipeline, 3, on_step=steps.append,
                          on_progress=lambda done, total: progress.append((done, total)))
    af_text = (fixtures_dir / "alphafold" / "AF-P61626-F1-model_v4.pdb").read_text()
    assert loaded.record.sequence == pdb_sequence(af_text, "A")
    assert loaded.entry.accession == "P61626" and loaded.input_key == ("acc", "P61626")
    assert loaded.structure.file.is_alphafold and loaded.structure.file.source.startswith("AlphaFold DB AF-P61626-F1")
    bfactors = [b for _, _, _, b in pdb_residues(af_text)["A"]]
    np.testing.assert_allclose(loaded.structure.plddt, bfactors)
    assert loaded.structure.mapping.coverage == 1.0 and loaded.structure.notes == []
    direct = FeaturePipeline(progress=False).features([loaded.record.sequence], 3)[0]
    np.testing.assert_array_equal(loaded.result.activations, direct.activations)
    assert steps[0] == "Looking up P61626 in UniProt…" and steps[-1] == "Loaded P61626"
    assert progress[-1] == (1, 1)


def test_merged_accession_is_noted_once(pipeline):
    loaded = load_protein(ProteinRequest(accession="Q0MRG0"), pipeline, 2, with_structure=False)
    assert loaded.entry.accession == "P61626" and loaded.structure is None
    assert [n for n in loaded.notes if "merged" in n] == [
        "Q0MRG0 has been merged into P61626; showing P61626. Use P61626 from now on."]


def test_example_without_alphafold_model_falls_back_to_its_pdb_chain(pipeline, fixtures_dir):
    loaded = load_protein(ProteinRequest.example("P69905"), pipeline, 1)
    assert loaded.structure.file.source == "PDB 4HHB"
    assert loaded.structure.mapping.chain_id == "A"
    assert "No AlphaFold model here; showing PDB 4HHB chain A." in loaded.notes
    assert loaded.record.sequence == "M" + pdb_sequence((fixtures_dir / "pdb" / "4HHB.pdb").read_text(), "A")
    with pytest.raises(InputError, match="No example"):
        ProteinRequest.example("P12345")


def test_fasta_text_picks_the_record_and_says_so(pipeline):
    text = f">first\n{MKT}\n>second\n{MKT[::-1]}\n"
    loaded = load_protein(ProteinRequest(text=text, record_index=1), pipeline, 4)
    assert loaded.record.id == "second" and loaded.record.sequence == MKT[::-1]
    assert loaded.notes == ["The input has 2 records; showing second."]
    assert loaded.input_key == ("seq", MKT[::-1]) and loaded.structure is None and loaded.entry is None
    assert loaded.result.activations.shape == (len(MKT), pipeline.spec.dict_size)


@pytest.mark.parametrize("name", ["1UBQ.pdb", "1UBQ.pdb.gz", "1UBQ.cif", "1UBQ.cif.gz"])
def test_structure_upload_plain_and_gzipped(pipeline, fixtures_dir, name):
    plain = name.removesuffix(".gz")
    data = (fixtures_dir / "pdb" / plain).read_bytes()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    loaded = load_protein(ProteinRequest(upload_name=name, upload_bytes=data), pipeline, 3)
    expected = pdb_sequence((fixtures_dir / "pdb" / "1UBQ.pdb").read_text(), "A")
    assert loaded.record.sequence == expected and loaded.record.id == "1UBQ_A"
    assert loaded.structure.file.source == f"upload: {plain}"
    assert loaded.structure.file.fmt == ("pdb" if plain.endswith(".pdb") else "cif")
    assert loaded.structure.mapping.coverage == 1.0
    assert loaded.input_key == ("upload", name)


def test_fasta_upload_gzipped(pipeline):
    data = gzip.compress(f">mine some protein\n{MKT}\n".encode())
    loaded = load_protein(ProteinRequest(upload_name="mine.fasta.gz", upload_bytes=data), pipeline, 3)
    assert (loaded.record.id, loaded.record.sequence, loaded.record.description) == ("mine", MKT, "some protein")


def test_bad_uploads_fail_with_a_message(pipeline, monkeypatch, fixtures_dir):
    cut = gzip.compress((fixtures_dir / "pdb" / "1UBQ.pdb").read_bytes())
    with pytest.raises(InputError, match="damaged or truncated"):
        load_protein(ProteinRequest(upload_name="x.pdb.gz", upload_bytes=cut[: len(cut) // 2]), pipeline, 3)
    monkeypatch.setenv("INTERPLM_MAX_UPLOAD_BYTES", "1000")
    with pytest.raises(InputError, match="decompressed file is over the 0.0 MB limit"):
        load_protein(ProteinRequest(upload_name="big.fasta.gz", upload_bytes=gzip.compress(b"A" * 5000)), pipeline, 3)
    with pytest.raises(InputError, match="Nothing to analyse"):
        load_protein(ProteinRequest(), pipeline, 3)
    with pytest.raises(InputError, match="layer 7 has none"):
        load_protein(ProteinRequest(text=MKT), pipeline, 7)


def test_sources_are_injectable(pipeline):
    """The app passes its cached look-ups; the session uses them, not its own."""
    calls = []
    direct = Sources.direct()

    def counted(query):
        calls.append(query)
        return direct.uniprot_entry(query)

    sources = Sources(counted, direct.alphafold_structure, direct.pdb_structure, direct.parsed_structure,
                      direct.residue_mapping)
    load_protein(ProteinRequest(accession="P61626"), pipeline, 3, sources=sources, with_structure=False)
    assert calls == ["P61626"]


def test_compare_mutant_matches_a_direct_computation(pipeline):
    protein = load_protein(ProteinRequest(text=MKT), pipeline, 3)
    result = compare(protein, pipeline, mutations="K2R, A4G")
    assert result.record_b.sequence == "MRTGYIAKQRQISFVKSHFSRQLEERLGLIEVQ" and result.record_b.id == "K2R+A4G"
    assert result.mutated_positions == [2, 4]
    b = FeaturePipeline(progress=False).features([result.record_b.sequence], 3)[0]
    expected = compare_activations(MKT, protein.result.activations, result.record_b.sequence, b.activations)
    np.testing.assert_array_equal(result.comparison.features, expected.features)
    np.testing.assert_array_equal(result.comparison.residue_delta, expected.residue_delta)
    other = compare(protein, pipeline, sequence=f">b\n{MKT[:10]}WW{MKT[10:]}")
    assert other.record_b.id == "b" and other.mutations == [] and other.comparison.partner[12] == 14
    with pytest.raises(InputError, match="residue 3 is T, not A"):
        compare(protein, pipeline, mutations="A3G")
    with pytest.raises(InputError, match="either mutations or a second sequence"):
        compare(protein, pipeline)


def test_top_residues_are_the_highest_firing_positions(pipeline):
    loaded = load_protein(ProteinRequest(text=MKT), pipeline, 3)
    acts = loaded.result.activations
    feature = int(acts.max(axis=0).argmax())
    got = top_residues(loaded.result, feature, k=4)
    values = acts[:, feature]
    expected = sorted(((-float(v), i) for i, v in enumerate(values) if v > 0))[:4]
    assert [(p, r) for p, r, _ in got] == [(i + 1, MKT[i]) for _, i in expected]
    assert [v for _, _, v in got] == pytest.approx([-v for v, _ in expected])
    silent = int(np.flatnonzero(acts.max(axis=0) == 0)[0])
    assert top_residues(loaded.result, silent) == []
    with pytest.raises(InputError, match="does not exist"):
        top_residues(loaded.result, acts.shape[1])
