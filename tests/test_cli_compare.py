"""`python -m interplm_core compare` from outside: its JSON checked against the `features`
command's arrays with an independent numpy computation, and its errors (exit 2)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.test_cli_core import run_cli

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWUAIRGLLGK"[:90]
THRESHOLD = 0.05


@pytest.fixture
def cli_env(weights_env):
    names = ("INTERPLM_WEIGHTS_DIR", "INTERPLM_CACHE_DIR", "HF_ENDPOINT", "INTERPLM_ESM_URL", "TORCH_HOME", "HF_HOME")
    return {k: os.environ[k] for k in names}


def _features(seq: str, layer: int, tmp_path, env, name: str) -> np.ndarray:
    out = tmp_path / f"{name}.npz"
    proc = run_cli("features", "--sequence", seq, "--layer", str(layer), "--out", str(out), "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    return np.load(out)["query"]


def _expected_rows(a: np.ndarray, b: np.ndarray, top: int = 30) -> list[dict]:
    """Per-feature change of two equal-length proteins, computed here from the arrays alone."""
    max_a, max_b = a.max(axis=0), b.max(axis=0)
    rows = []
    for f in range(a.shape[1]):
        if max_a[f] <= 0 and max_b[f] <= 0:
            continue
        fires_a, fires_b = max_a[f] >= THRESHOLD, max_b[f] >= THRESHOLD
        if fires_b and not fires_a:
            kind = "appears"
        elif fires_a and not fires_b:
            kind = "vanishes"
        elif abs(max_b[f] - max_a[f]) < THRESHOLD:
            kind = "unchanged"
        else:
            kind = "stronger" if max_b[f] > max_a[f] else "weaker"
        total = float(np.abs(b[:, f] - a[:, f]).sum())
        jump = abs(float(max_b[f]) - float(max_a[f])) if kind in ("appears", "vanishes") else -1.0
        rows.append({"feature": f, "change": kind, "max_a": float(max_a[f]), "max_b": float(max_b[f]),
                     "delta_max": float(max_b[f] - max_a[f]), "total_residue_change": total, "_key": (-jump, -total, f)})
    rows.sort(key=lambda r: r["_key"])
    return rows[:top]


def test_compare_mutations_json_matches_the_features_command(cli_env, tmp_path):
    mutant = SEQ[:4] + "G" + SEQ[5:8] + "E" + SEQ[9:]  # Y5G, Q9E
    assert SEQ[4] == "Y" and SEQ[8] == "Q"
    proc = run_cli("compare", "--sequence", SEQ, "--mutations", "Y5G,Q9E", "--layer", "4", "--json", "--quiet", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "synthetic weights" in proc.stderr
    a = _features(SEQ, 4, tmp_path, cli_env, "a")
    b = _features(mutant, 4, tmp_path, cli_env, "b")
    expected = _expected_rows(a, b)
    assert out["layer"] == 4 and out["model"] == "esm2_t6_8M" and out["normalized"] is True
    assert out["mutations"] == ["Y5G", "Q9E"]
    assert out["a"] == {"id": "query", "accession": None, "length": len(SEQ), "sequence": SEQ}
    assert out["b"]["sequence"] == mutant and out["b"]["id"] == "Y5G+Q9E"
    assert out["identity"] == pytest.approx((len(SEQ) - 2) / len(SEQ))
    assert [r["feature"] for r in out["features"]] == [r["feature"] for r in expected]
    for got, want in zip(out["features"], expected):
        assert got["change"] == want["change"]
        for key in ("max_a", "max_b", "delta_max", "total_residue_change"):
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), (got["feature"], key)
    assert out["appears"] == [r["feature"] for r in expected if r["change"] == "appears"]
    assert out["vanishes"] == [r["feature"] for r in expected if r["change"] == "vanishes"]


def test_compare_second_sequence_table(cli_env):
    other = SEQ[:30] + "WW" + SEQ[30:]
    proc = run_cli("compare", "--sequence", SEQ, "--sequence-b", f">homologue\n{other}", "--layer", "2", "--quiet", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"A query ({len(SEQ)} aa)  vs  B homologue ({len(other)} aa), layer 2, identity 100.0%")
    assert "feature  change" in proc.stdout


def test_compare_uniprot_accession_notes_the_merge(app_env, tmp_path):
    env = {k: v for k, v in os.environ.items() if k.startswith(("INTERPLM_", "HF_", "TORCH_"))}
    proc = run_cli("compare", "--uniprot", "Q0MRG0", "--mutations", "K1R", "--layer", "3", "--json", "--quiet", env=env)
    assert proc.returncode == 2 and "residue 1 is" in proc.stderr  # P61626 starts with M
    proc = run_cli("compare", "--uniprot", "Q0MRG0", "--mutations", "M1A", "--layer", "3", "--json", "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["a"]["id"] == out["a"]["accession"] == "P61626" and out["b"]["sequence"][0] == "A"
    assert "Note: Q0MRG0 has been merged into P61626" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--sequence", SEQ, "--mutations", "Y5", "--layer", "3"], "Cannot read the mutation 'Y5'"),
    (["--sequence", SEQ, "--mutations", "A5G", "--layer", "3"], "residue 5 is Y, not A"),
    (["--sequence", SEQ, "--mutations", "Y500G", "--layer", "3"], "past the end"),
    (["--sequence", SEQ, "--mutations", "Y5G", "--layer", "9"], "layer 9 has none"),
    (["--sequence", SEQ, "--mutations", "Y5G", "--layer", "18", "--model", "esm2_t33_650M"], None),
    (["--sequence", "MKTJ", "--mutations", "K2R", "--layer", "3"], "invalid character 'J'"),
    (["--sequence", SEQ, "--mutations", "Y5G", "--sequence-b", SEQ, "--layer", "3"], "not allowed with argument"),
    (["--mutations", "Y5G", "--layer", "3"], "one of the arguments --uniprot --sequence is required"),
])
def test_compare_bad_input_exits_2_with_one_line(cli_env, args, message):
    proc = run_cli("compare", *args, "--json", "--quiet", env=cli_env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    if message is None:  # 650M weights are not here: a clear message, never a crash
        assert proc.stderr.startswith("error: ") and "esm2_t33_650M" in proc.stderr
    else:
        assert message in proc.stderr
