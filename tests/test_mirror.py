"""The loopback mirror itself: URL layouts, built entries, conversions, weights and the HF hub."""

from __future__ import annotations

import json
import time

import pytest
import requests

from interplm_core.mirror import BUILT_ENTRIES, HUB_COMMIT
from interplm_core.structures import parse_structure
from tests.pdb_oracle import pdb_sequence


def test_recorded_entry_is_served_unchanged(mirror, fixtures_dir):
    recorded = json.loads((fixtures_dir / "uniprot" / "uniprotkb_O00115_entry.json").read_text())
    assert requests.get(f"{mirror.url}/uniprotkb/O00115.json", timeout=5).json() == recorded
    assert requests.get(f"{mirror.url}/uniprotkb/O00115?format=json", timeout=5).json() == recorded


@pytest.mark.parametrize("accession", sorted(BUILT_ENTRIES))
def test_built_entries_take_their_sequence_from_the_structure(mirror, fixtures_dir, accession):
    spec = BUILT_ENTRIES[accession]
    expected = pdb_sequence((fixtures_dir / spec.structure).read_text(), spec.chain)
    expected = ("M" if spec.prepend_met else "") + expected
    entry = requests.get(f"{mirror.url}/uniprotkb/{accession}.json", timeout=5).json()
    assert entry["primaryAccession"] == accession and entry["uniProtkbId"] == spec.entry_name
    assert entry["sequence"]["value"] == expected and entry["sequence"]["length"] == len(expected)
    for feature in entry["features"]:
        assert 1 <= feature["location"]["start"]["value"] <= feature["location"]["end"]["value"] <= len(expected)
    fasta = requests.get(f"{mirror.url}/uniprotkb/{accession}.fasta", timeout=5).text
    assert fasta.startswith(f">sp|{accession}|{spec.entry_name} ")
    assert "".join(fasta.splitlines()[1:]) == expected


def test_search_by_name_and_by_accessions(mirror, fixtures_dir):
    recorded = json.loads((fixtures_dir / "uniprot" / "uniprotkb_search_F1MAB7_OR_O14975.json").read_text())
    found = requests.get(
        f"{mirror.url}/uniprotkb/search", params={"query": "accession:F1MAB7 OR accession:O14975", "format": "json"},
        timeout=5,
    ).json()
    assert found == recorded
    by_name = requests.get(f"{mirror.url}/uniprotkb/search?query=id:LYSC_HUMAN&format=json", timeout=5).json()
    assert [r["primaryAccession"] for r in by_name["results"]] == ["P61626"]


def test_recorded_fasta_keeps_its_old_header(mirror, fixtures_dir):
    text = requests.get(f"{mirror.url}/uniprotkb/P00750.fasta", timeout=5).text
    assert text in (fixtures_dir / "uniprot" / "uniprot_sprot_multi_ex_8seqs.fasta").read_text()
    assert "OX=" not in text.splitlines()[0]


def test_uniprot_error_statuses(mirror):
    assert requests.get(f"{mirror.url}/uniprotkb/NOT-AN-ACC.json", timeout=5).status_code == 400
    assert requests.get(f"{mirror.url}/uniprotkb/P12345.json", timeout=5).status_code == 404
    merged = requests.get(f"{mirror.url}/uniprotkb/Q0MRG0.json", allow_redirects=False, timeout=5)
    assert merged.status_code == 303 and merged.headers["Location"] == "/uniprotkb/P61626.json"
    deleted = requests.get(f"{mirror.url}/uniprotkb/Q0DEL0.json", timeout=5).json()
    assert deleted["entryType"] == "Inactive" and deleted["inactiveReason"]["inactiveReasonType"] == "DELETED"


def test_alphafold_api_points_back_at_the_mirror(mirror, fixtures_dir):
    records = requests.get(f"{mirror.url}/api/prediction/P61626", timeout=5).json()
    assert isinstance(records, list) and len(records) == 2
    f1 = next(r for r in records if r["entryId"] == "AF-P61626-F1")
    assert f1["pdbUrl"] == f"{mirror.url}/files/AF-P61626-F1-model_v4.pdb"
    assert requests.get(f1["pdbUrl"], timeout=5).content == (fixtures_dir / "alphafold" / "AF-P61626-F1-model_v4.pdb").read_bytes()
    cif = requests.get(f1["cifUrl"], timeout=10).text
    assert parse_structure(cif, "cif").chain_sequence("A") == f1["uniprotSequence"]
    decoy = next(r for r in records if r["entryId"] != "AF-P61626-F1")
    assert requests.get(decoy["pdbUrl"], timeout=5).status_code == 404
    assert requests.get(f"{mirror.url}/api/prediction/P69905", timeout=5).status_code == 404


def test_rcsb_layout_and_conversion(mirror, fixtures_dir):
    assert requests.get(f"{mirror.url}/download/1UBQ.pdb", timeout=5).content == (fixtures_dir / "pdb" / "1UBQ.pdb").read_bytes()
    cif = requests.get(f"{mirror.url}/download/1rex.cif", timeout=10).text
    expected = pdb_sequence((fixtures_dir / "pdb" / "1REX.pdb").read_text(), "A")
    assert parse_structure(cif, "cif").chain_sequence("A") == expected
    assert requests.get(f"{mirror.url}/download/9ZZZ.cif", timeout=5).status_code == 404


def test_fair_esm_files(mirror, mirror_weights_dir):
    for folder, name in [("models", "esm2_t6_8M_UR50D.pt"), ("regression", "esm2_t6_8M_UR50D-contact-regression.pt")]:
        response = requests.get(f"{mirror.url}/fair-esm/{folder}/{name}", timeout=5)
        assert response.content == (mirror_weights_dir / name).read_bytes()


def test_hf_hub_download_through_the_mirror(mirror, mirror_weights_dir, tmp_path):
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(
        repo_id="Elana/InterPLM-esm2-8m", filename="layer_3/ae_normalized.pt",
        endpoint=mirror.url, cache_dir=tmp_path / "hf",
    )
    expected = mirror_weights_dir / "InterPLM-esm2-8m" / "layer_3" / "ae_normalized.pt"
    assert open(path, "rb").read() == expected.read_bytes()
    assert HUB_COMMIT in path
    head = requests.head(f"{mirror.url}/Elana/InterPLM-esm2-8m/resolve/main/layer_3/ae_normalized.pt", timeout=5)
    assert head.headers["X-Repo-Commit"] == HUB_COMMIT
    assert int(head.headers["X-Linked-Size"]) == expected.stat().st_size


def test_hub_missing_file_and_repo(mirror, tmp_path):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    with pytest.raises(EntryNotFoundError):
        hf_hub_download("Elana/InterPLM-esm2-8m", "layer_9/ae_normalized.pt", endpoint=mirror.url, cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("Elana/nothing-here", "x.pt", endpoint=mirror.url, cache_dir=tmp_path)


def test_hub_that_times_out(mirror, tmp_path):
    """The slow mode stalls the hub: a metadata request with a short timeout fails fast."""
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url("Elana/InterPLM-esm2-8m", "layer_1/ae_normalized.pt", endpoint=mirror.sim_url("slow"))
    started = time.monotonic()
    with pytest.raises(httpx2.TimeoutException):
        get_hf_file_metadata(url, timeout=0.3)
    assert time.monotonic() - started < 2.0
