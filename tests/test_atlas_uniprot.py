"""`atlas build --uniprot-query`: a corpus and its annotations from UniProt's paged search (on the mirror)."""

from __future__ import annotations

import json
import os

import pytest

from interplm_core.atlas import uniprot_corpus
from interplm_core.atlas.reader import FeatureAtlas
from interplm_core.atlas.uniprot_corpus import fetch_corpus
from interplm_core.errors import InputError, NetworkError
from interplm_core.sequences import parse_sequence_input
from interplm_core.settings import get_settings

from .test_cli_core import run_cli

HUMAN = "reviewed:true AND organism_id:9606 AND length:[50 TO 1000]"
#: The mirror's human reviewed entries of 50-1,000 residues (recorded and built), in accession order.
HUMAN_ACCESSIONS = ["O00115", "O14975", "P0CG48", "P61626", "P68871", "P69905", "Q5VSL9"]


def _settings(mirror, tmp_path, name="cache"):
    return get_settings().with_(uniprot_url=mirror.url, cache_dir=tmp_path / name, http_retries=0)


def _search_pages(mirror) -> list[str]:
    return [r.path for r in mirror.requests if r.path.startswith("/uniprotkb/search") and "size=3" in r.path]


def test_paged_search_is_followed_and_kept(mirror, tmp_path):
    before = len(_search_pages(mirror))
    corpus = fetch_corpus(HUMAN, None, tmp_path / "atlas", _settings(mirror, tmp_path), progress=False, page_size=3)
    pages = _search_pages(mirror)[before:]
    assert len(pages) == 3 and "cursor" not in pages[0] and all("cursor=" in p for p in pages[1:])
    assert corpus.proteins == 7 and corpus.pages_fetched == 3
    records = parse_sequence_input(corpus.fasta.read_text())
    assert [r.id.split("|")[1] for r in records] == HUMAN_ACCESSIONS
    entries = json.loads(corpus.entries.read_text())["results"]
    assert [e["primaryAccession"] for e in entries] == HUMAN_ACCESSIONS
    assert [r.sequence for r in records] == [e["sequence"]["value"] for e in entries]
    info = json.loads((corpus.fasta.parent / "query.json").read_text())
    assert info["query"] == HUMAN and info["complete"] and info["proteins"] == 7 and info["date"].startswith("20")
    assert not (corpus.fasta.parent / "pages").exists()
    again = fetch_corpus(HUMAN, None, tmp_path / "atlas", _settings(mirror, tmp_path), progress=False, page_size=3)
    assert again.pages_fetched == 0 and again.fasta.read_bytes() == corpus.fasta.read_bytes()


def test_limit_cuts_the_last_page(mirror, tmp_path):
    corpus = fetch_corpus(HUMAN, 4, tmp_path / "a", _settings(mirror, tmp_path), progress=False, page_size=3)
    assert corpus.proteins == 4 and corpus.pages_fetched == 2
    assert [r.id.split("|")[1] for r in parse_sequence_input(corpus.fasta.read_text())] == HUMAN_ACCESSIONS[:4]


def test_cut_connection_resumes_at_the_missing_page(mirror, tmp_path, monkeypatch):
    whole = fetch_corpus(HUMAN, None, tmp_path / "whole", _settings(mirror, tmp_path, "c1"), progress=False, page_size=3)
    real_get = uniprot_corpus.get
    calls, cut = [], [True]

    def cut_on_second_page(url, *args, **kwargs):
        calls.append(url)
        if len(calls) == 2 and cut:
            cut.pop()
            raise NetworkError("The download of the UniProt search page 2 was cut off.")
        return real_get(url, *args, **kwargs)

    monkeypatch.setattr(uniprot_corpus, "get", cut_on_second_page)
    out = tmp_path / "cut"
    with pytest.raises(NetworkError, match="3 entries are saved .* run the same command again to resume"):
        fetch_corpus(HUMAN, None, out, _settings(mirror, tmp_path, "c2"), progress=False, page_size=3)
    assert len(list((out / "uniprot" / "pages").glob("*.json"))) == 1
    # A fresh HTTP cache: what is reused is the saved page, not a cached response.
    calls.clear()
    resumed = fetch_corpus(HUMAN, None, out, _settings(mirror, tmp_path, "c3"), progress=False, page_size=3)
    assert len(calls) == 2 and all("cursor=" in url for url in calls)
    assert resumed.fasta.read_bytes() == whole.fasta.read_bytes()
    assert resumed.entries.read_bytes() == whole.entries.read_bytes()


def test_query_errors(mirror, tmp_path):
    with pytest.raises(InputError, match="UniProt rejected the query 'gene:LYZ'"):
        fetch_corpus("gene:LYZ", None, tmp_path / "a", _settings(mirror, tmp_path), progress=False)
    with pytest.raises(InputError, match="another query"):
        fetch_corpus(HUMAN, None, tmp_path / "a", _settings(mirror, tmp_path), progress=False)
    with pytest.raises(InputError, match="no entry"):
        fetch_corpus("organism_id:1", None, tmp_path / "b", _settings(mirror, tmp_path), progress=False)


def test_cli_builds_a_named_atlas_from_a_query(weights_env, mirror, tmp_path):
    keys = ("INTERPLM_WEIGHTS_DIR", "INTERPLM_CACHE_DIR", "HF_ENDPOINT", "INTERPLM_ESM_URL", "TORCH_HOME", "HF_HOME")
    env = {**{k: os.environ[k] for k in keys}, "INTERPLM_UNIPROT_URL": mirror.url}
    out = tmp_path / "atlas"
    proc = run_cli("atlas", "build", "--uniprot-query", HUMAN, "--limit", "5", "--layer", "3", "--out", str(out),
                   "--map", "pca", "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "UniProt corpus: 5 entries" in proc.stderr
    atlas = FeatureAtlas(out)
    assert atlas.manifest["proteins"] == 5
    assert atlas.manifest["annotations"] == str(out / "uniprot" / "entries.json")
    named = atlas.feature_map(3)
    named = named[named["best_concept"] != ""]
    assert len(named) > 0 and named["best_f1"].between(0, 1).all()
    concepts = set(atlas._query("SELECT DISTINCT concept FROM concept_metrics")["concept"])
    assert {"Disulfide bond", "Signal", "Active site"} <= concepts  # from the entries, not from a TSV
    atlas.close()
    wrong = run_cli("atlas", "build", "--fasta", str(out / "uniprot" / "corpus.fasta"), "--limit", "3", "--layer", "3",
                    "--out", str(tmp_path / "x"), env=env)
    assert wrong.returncode == 2 and "--limit goes with --uniprot-query" in wrong.stderr
