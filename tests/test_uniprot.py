"""UniProt client against the mirror over real HTTP: parsing, entry names, and every failure."""

from __future__ import annotations

import json
import re

import pytest

from interplm_core import uniprot
from interplm_core.errors import InputError, NotFoundError
from interplm_core.uniprot import fetch_entry, normalize_query
from tests.pdb_oracle import pdb_sequence


@pytest.fixture(scope="module")
def o00115(fixtures_dir):
    return json.loads((fixtures_dir / "uniprot" / "uniprotkb_O00115_entry.json").read_text())


def test_recorded_entry_is_parsed_field_by_field(mirror_env, o00115):
    entry = fetch_entry("O00115")
    assert entry.accession == o00115["primaryAccession"]
    assert entry.entry_name == o00115["uniProtkbId"]
    assert entry.protein_name == o00115["proteinDescription"]["recommendedName"]["fullName"]["value"]
    assert entry.gene == o00115["genes"][0]["geneName"]["value"]
    assert entry.organism == o00115["organism"]["scientificName"]
    assert entry.sequence == o00115["sequence"]["value"]
    assert entry.length == o00115["sequence"]["length"]
    assert entry.reviewed is True
    assert entry.redirected_from is None

    kept = [f for f in o00115["features"] if f["type"] in uniprot.TRACK_TYPES]
    assert {f["type"] for f in o00115["features"]} - set(uniprot.TRACK_TYPES) >= {"Chain", "Mutagenesis"}
    assert [(a.type, a.start, a.end) for a in entry.features] == [
        (f["type"], f["location"]["start"]["value"], f["location"]["end"]["value"]) for f in kept
    ]
    tracks = entry.tracks()
    assert list(tracks) == [t for t in uniprot.TRACK_TYPES if any(f["type"] == t for f in kept)]
    assert sum(len(v) for v in tracks.values()) == len(kept)


def test_bonds_mark_both_cysteines_and_nothing_between(mirror_env, o00115):
    entry = fetch_entry("O00115")
    bond = next(f for f in o00115["features"] if f["type"] == "Disulfide bond")
    start, end = bond["location"]["start"]["value"], bond["location"]["end"]["value"]
    assert entry.sequence[start - 1] == entry.sequence[end - 1] == "C"
    label = f"Disulfide bond {start}<->{end}"
    assert label in entry.annotations_at(start) and label in entry.annotations_at(end)
    assert label not in entry.annotations_at(start + 1)
    flags = entry.residue_tracks()["Disulfide bond"]
    assert len(flags) == entry.length and flags[start - 1] and not flags[start]


def test_variants_and_ranges_per_residue(mirror_env, o00115):
    entry = fetch_entry("O00115")
    variant = next(f for f in o00115["features"] if f["type"] == "Natural variant")
    position = variant["location"]["start"]["value"]
    original = variant["alternativeSequence"]["originalSequence"]
    alternative = variant["alternativeSequence"]["alternativeSequences"][0]
    assert entry.sequence[position - 1] == original
    assert any(f"{original} -> {alternative}" in text for text in entry.annotations_at(position))
    signal = next(f for f in o00115["features"] if f["type"] == "Signal")
    end = signal["location"]["end"]["value"]
    assert any(t.startswith("Signal 1-") for t in entry.annotations_at(end))
    assert not any(t.startswith("Signal") for t in entry.annotations_at(end + 1))
    json.dumps(entry.to_json())  # serialisable as it is


def test_entry_name_goes_through_the_search_endpoint(mirror_env, fixtures_dir):
    entry = fetch_entry("hba_human")
    assert entry.accession == "P69905"
    assert entry.sequence == "M" + pdb_sequence((fixtures_dir / "pdb" / "4HHB.pdb").read_text(), "A")
    assert any(r.path.startswith("/uniprotkb/search?query=id:HBA_HUMAN") for r in mirror_env.requests)
    assert fetch_entry("HBB_HUMAN").accession == "P68871"


def test_recorded_search_results_are_entries_too(mirror_env, fixtures_dir):
    recorded = json.loads((fixtures_dir / "uniprot" / "uniprotkb_search_F1MAB7_OR_O14975.json").read_text())
    by_accession = {r["primaryAccession"]: r for r in recorded["results"]}
    entry = fetch_entry("F1MAB7")
    assert entry.sequence == by_accession["F1MAB7"]["sequence"]["value"]
    assert entry.entry_name == by_accession["F1MAB7"]["uniProtkbId"]
    assert fetch_entry("O14975").length == len(by_accession["O14975"]["sequence"]["value"])


@pytest.mark.parametrize("text", ["P69905", "p69905", " Q5VSL9 ", "A0A023GPI8", "O00115", "P04406-2", "UniProt:P61626"])
def test_valid_accessions(text):
    kind, cleaned = normalize_query(text)
    assert kind == "accession"
    assert re.fullmatch(r"[A-Z0-9]+(-\d+)?", cleaned)


@pytest.mark.parametrize("text", ["HBA_HUMAN", "LYSC_HUMAN", "A0A023GPI8_9HYME"])
def test_entry_names(text):
    assert normalize_query(text)[0] == "entry_name"


@pytest.mark.parametrize("text", ["HBA", "12345", "P6990", "A0A023GPI", "P69905-", "P69905-X", "", "P69 905"])
def test_invalid_format_is_rejected_before_any_request(mirror_env, text):
    before = len(mirror_env.requests)
    with pytest.raises(InputError, match="accession"):
        fetch_entry(text)
    assert len(mirror_env.requests) == before


def test_server_side_400_has_its_own_message(mirror_env, monkeypatch):
    monkeypatch.setattr(uniprot, "ACCESSION_RE", re.compile(r"^[A-Z0-9]+$"))  # let a bad one through
    with pytest.raises(InputError, match="UniProt rejected 'HBA1X' as an invalid accession.*invalid format"):
        fetch_entry("HBA1X")


def test_unknown_accession(mirror_env):
    """The mirror's 404 says it lacks a recording; it is not UniProt saying the entry does not exist."""
    with pytest.raises(NotFoundError, match="UniProt entry P12345 is not recorded in this mirror") as caught:
        fetch_entry("P12345")
    assert "UniProt has no entry" not in str(caught.value) and "P61626" in str(caught.value)


def test_real_services_404_keeps_its_own_message():
    """A 404 without the mirror's header (the real UniProt) is not mistaken for the mirror's."""
    from interplm_core.http import HttpResponse, mirror_not_recorded

    body = b'{"url": "http://rest.uniprot.org/uniprotkb/P12345", "messages": ["Resource not found"]}'
    assert mirror_not_recorded(HttpResponse("https://rest.uniprot.org/uniprotkb/P12345.json", 404, body, {})) is None
    marked = HttpResponse("http://127.0.0.1:1/x", 404, b'{"messages": ["X is not recorded in this mirror"]}',
                          {"X-Mirror-Not-Recorded": "1"})
    assert mirror_not_recorded(marked).startswith("X is not recorded in this mirror. The offline demo")


def test_unknown_entry_name(mirror_env):
    with pytest.raises(NotFoundError, match="no entry named ZZZZ_HUMAN"):
        fetch_entry("ZZZZ_HUMAN")


def test_isoform_is_requested_as_such(mirror_env):
    with pytest.raises(NotFoundError, match="P04406-2"):
        fetch_entry("P04406-2")
    assert mirror_env.requests[-1].path == "/uniprotkb/P04406-2.json"


def test_merged_accession_is_followed_and_reported(mirror_env, fixtures_dir):
    entry = fetch_entry("Q0MRG0")
    assert entry.accession == "P61626"
    assert entry.redirected_from == "Q0MRG0"
    assert "Q0MRG0 has been merged into P61626" in entry.redirect_note
    af_text = (fixtures_dir / "alphafold" / "AF-P61626-F1-model_v4.pdb").read_text()
    assert entry.sequence == pdb_sequence(af_text, "A")
    assert [r.path for r in mirror_env.requests[-2:]] == ["/uniprotkb/Q0MRG0.json", "/uniprotkb/P61626.json"]


def test_deleted_entry(mirror_env):
    with pytest.raises(NotFoundError, match="Q0DEL0 was deleted.*paste its sequence"):
        fetch_entry("Q0DEL0")


def test_demerged_entry_lists_the_new_accessions(mirror_env):
    with pytest.raises(NotFoundError, match=r"split \(demerged\) into P69905, P68871"):
        fetch_entry("Q0DMG0")
