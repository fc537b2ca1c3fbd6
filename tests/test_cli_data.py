"""The data-layer CLI commands, run in-process against the mirror (and `mirror` as a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from interplm_core.cli import main
from tests.pdb_oracle import pdb_sequence


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_uniprot_json(mirror_env, capsys, fixtures_dir):
    code, out, err = run(capsys, "uniprot", "P61626", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    expected = pdb_sequence((fixtures_dir / "alphafold" / "AF-P61626-F1-model_v4.pdb").read_text(), "A")
    assert (data["accession"], data["entry_name"], data["organism"]) == ("P61626", "LYSC_HUMAN", "Homo sapiens")
    assert data["sequence"] == expected and data["length"] == len(expected)
    assert data["tracks"]["Signal"] == [{"type": "Signal", "start": 1, "end": 18, "description": ""}]


def test_uniprot_errors_are_one_line(mirror_env, capsys):
    for query, text in [("HBA", "not a valid UniProt accession"), ("P12345", "UniProt entry P12345 is not recorded in this mirror"),
                        ("Q0DEL0", "was deleted")]:
        code, out, err = run(capsys, "uniprot", query)
        assert code != 0 and out == ""
        assert err.startswith("error: ") and text in err and err.count("\n") == 1


def test_uniprot_merged_note(mirror_env, capsys):
    code, out, err = run(capsys, "uniprot", "Q0MRG0")
    assert code == 0 and out.startswith("P61626 (LYSC_HUMAN)")
    assert "Q0MRG0 has been merged into P61626" in err


def test_structure_map_json_shape(mirror_env, capsys, fixtures_dir):
    structure = fixtures_dir / "pdb" / "1REX.pdb"
    code, out, _ = run(capsys, "structure", "map", "--structure", str(structure), "--uniprot", "P61626", "--json")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["chain", "coverage", "identity", "positions"]
    assert data["chain"] == "A" and data["identity"] == 1.0
    assert data["coverage"] == pytest.approx(130 / 148, abs=1e-4)
    assert len(data["positions"]) == 148
    assert data["positions"][0] == {"position": 1, "chain": None, "residue_number": None, "insertion_code": None}
    assert data["positions"][18] == {"position": 19, "chain": "A", "residue_number": 1, "insertion_code": ""}


def test_structure_map_picks_the_best_chain(mirror_env, capsys, fixtures_dir):
    path = fixtures_dir / "pdb" / "4HHB.pdb"
    beta = "M" + pdb_sequence(path.read_text(), "B")
    code, out, _ = run(capsys, "structure", "map", "--structure", str(path), "--sequence", beta, "--json")
    data = json.loads(out)
    assert code == 0 and data["chain"] == "B"
    assert data["positions"][1]["residue_number"] == 1


def test_structure_map_reports_repeats_and_takes_a_placement(mirror_env, capsys, fixtures_dir):
    path = fixtures_dir / "pdb" / "1UBQ.cif"
    code, out, err = run(capsys, "structure", "map", "--structure", str(path), "--uniprot", "P0CG48",
                         "--placement", "2", "--json")
    assert code == 0
    assert "fits the sequence at 9 places" in err and "repeat 2 of 9 at 77-152" in err
    positions = json.loads(out)["positions"]
    assert positions[76]["residue_number"] == 1 and positions[0]["residue_number"] is None


def test_structure_map_bad_input(mirror_env, capsys, fixtures_dir, tmp_path):
    fasta = fixtures_dir / "uniprot" / "uniprot_sprot_multi_ex_8seqs.fasta"
    cases = [
        (["--structure", str(fasta), "--sequence", "MQIFV"], "does not look like a structure"),
        (["--structure", str(tmp_path / "missing.pdb"), "--sequence", "MQIFV"], "not found"),
        (["--structure", str(fixtures_dir / "pdb" / "1UBQ.pdb"), "--sequence", "MQ1FV"], "invalid character"),
        (["--structure", str(fixtures_dir / "pdb" / "1UBQ.pdb"), "--sequence", "MQIFV", "--chain", "Z"], "no protein chain 'Z'"),
    ]
    for args, text in cases:
        code, out, err = run(capsys, "structure", "map", *args)
        assert code != 0 and out == "" and text in err and err.startswith("error: ")


def test_prefetch_then_offline(mirror_env, capsys, monkeypatch, tmp_path, mirror_weights_dir):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    code, out, err = run(capsys, "prefetch", "P61626", "HBA_HUMAN", "--layers", "3")
    assert code == 0, err
    assert "AlphaFold AF-P61626-F1: 148 residues" in out
    assert "AlphaFold DB model of P69905 is not recorded in this mirror" in err  # reported, not fatal
    checkpoint = tmp_path / "torch" / "hub" / "checkpoints" / "esm2_t6_8M_UR50D.pt"
    assert checkpoint.read_bytes() == (mirror_weights_dir / "esm2_t6_8M_UR50D.pt").read_bytes()

    monkeypatch.setenv("INTERPLM_OFFLINE", "1")
    before = len(mirror_env.requests)
    code, out, err = run(capsys, "uniprot", "HBA_HUMAN", "--json")
    assert code == 0 and json.loads(out)["accession"] == "P69905"
    from interplm_core.alphafold import fetch_model

    assert len(fetch_model("P61626").plddt) == 148
    assert len(mirror_env.requests) == before
    code, _, err = run(capsys, "uniprot", "P0CG48")
    assert code != 0 and "Offline mode is on" in err


def test_mirror_command_serves_over_http(fixtures_dir, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "interplm_core", "mirror", "--port", str(port), "--fixtures", str(fixtures_dir)],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/uniprotkb/P61626.json", timeout=30)  # the first answer builds the entry from a structure
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "mirror did not start"
                time.sleep(0.2)
        assert response.json()["primaryAccession"] == "P61626"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_mirror_command_rejects_a_missing_folder(capsys, tmp_path):
    code, _, err = run(capsys, "mirror", "--port", "0", "--fixtures", str(tmp_path / "nope"))
    assert code != 0 and "Fixtures directory not found" in err
