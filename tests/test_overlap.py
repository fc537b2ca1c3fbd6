"""Per-protein overlap: the `overlap --json` contract, checked by recomputing every listed F1
from the `features` output and the UniProt entry as the mirror serves it.

The recomputation below is written out plainly on purpose: it does not call
interplm_core.overlap, nor our UniProt parsing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from interplm_core.errors import InputError
from interplm_core.overlap import parse_user_tracks, score_overlap
from interplm_core.uniprot import Annotation

from .test_cli_core import run_cli

THRESHOLDS = [0, 0.15, 0.5, 0.6, 0.8]  # InterPLM's, from the issue


@pytest.fixture
def overlap_env(weights_env, mirror):
    import os

    keys = ("INTERPLM_WEIGHTS_DIR", "INTERPLM_CACHE_DIR", "HF_ENDPOINT", "INTERPLM_ESM_URL", "TORCH_HOME", "HF_HOME")
    return {**{k: os.environ[k] for k in keys}, "INTERPLM_UNIPROT_URL": mirror.url}


def _expected_annotations(entry: dict) -> list[dict]:
    """Every feature with a numeric start and end inside the sequence; bonds mark their two ends."""
    length = len(entry["sequence"]["value"])
    out = []
    for feature in entry["features"]:
        start = feature["location"]["start"].get("value")
        end = feature["location"]["end"].get("value")
        if not isinstance(start, int) or not isinstance(end, int) or not 1 <= start <= end <= length:
            continue
        if feature["type"] in ("Disulfide bond", "Cross-link") and start != end:
            residues = [start, end]
        else:
            residues = list(range(start, end + 1))
        out.append({"type": feature["type"], "start": start, "end": end, "residues": residues})
    return out


def _plain_scores(column: np.ndarray, residues: list[int]) -> list[tuple[float, float, float, float]]:
    """(f1, precision, recall, threshold) at each threshold, counted residue by residue."""
    marked = set(residues)
    rows = []
    for t in THRESHOLDS:
        fired = [i + 1 for i, value in enumerate(column) if value > t]
        tp = sum(1 for p in fired if p in marked)
        precision = tp / len(fired) if fired else 0.0
        recall = tp / len(marked)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((f1, precision, recall, t))
    return rows


@pytest.mark.parametrize("accession", ["P61626", "O00115"])
def test_overlap_json_contract_recomputed(overlap_env, mirror, tmp_path, accession):
    npz = tmp_path / "f.npz"
    features = run_cli("features", "--uniprot", accession, "--layer", "3", "--out", str(npz), "--quiet", env=overlap_env)
    assert features.returncode == 0, features.stderr
    proc = run_cli("overlap", "--uniprot", accession, "--layer", "3", "--top", "3", "--json", env=overlap_env)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    activations = np.load(npz)[accession]
    entry = requests.get(f"{mirror.url}/uniprotkb/{accession}.json", timeout=10).json()

    assert set(answer) == {"accession", "layer", "annotations"}
    assert answer["accession"] == accession and answer["layer"] == 3
    expected = _expected_annotations(entry)
    assert len(expected) > 3
    assert [{k: a[k] for k in ("type", "start", "end", "residues")} for a in answer["annotations"]] == expected
    disulfides = [a for a in answer["annotations"] if a["type"] == "Disulfide bond"]
    assert disulfides and all(a["residues"] == [a["start"], a["end"]] for a in disulfides)

    listed = 0
    for annotation in answer["annotations"]:
        assert set(annotation) == {"type", "description", "start", "end", "residues", "features"}
        rows = annotation["features"]
        assert len(rows) <= 3
        for row in rows:
            assert set(row) == {"feature", "f1", "precision", "recall", "threshold"}
            scores = _plain_scores(activations[:, row["feature"]], annotation["residues"])
            best = max(s[0] for s in scores)
            first_best = next(s for s in scores if s[0] == best)  # the lowest threshold reaching it
            assert row["f1"] == pytest.approx(best, abs=1e-12)
            assert (row["precision"], row["recall"], row["threshold"]) == pytest.approx(first_best[1:], abs=1e-12)
            listed += 1
        assert [r["f1"] for r in rows] == sorted((r["f1"] for r in rows), reverse=True)
        if rows:  # no feature left out scores higher than the last one listed
            marked = np.zeros(len(activations), bool)
            marked[np.array(annotation["residues"]) - 1] = True
            best_any = np.zeros(activations.shape[1])
            for t in THRESHOLDS:
                fired = activations > t
                tp = fired[marked].sum(axis=0)
                precision = np.where(fired.sum(axis=0) > 0, tp / np.maximum(fired.sum(axis=0), 1), 0)
                recall = tp / marked.sum()
                with np.errstate(invalid="ignore", divide="ignore"):
                    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
                best_any = np.maximum(best_any, f1)
            others = np.delete(best_any, [r["feature"] for r in rows])
            assert others.max(initial=0) <= rows[-1]["f1"] + 1e-12
            assert len(rows) == min(3, int((best_any > 0).sum()))
    assert listed > 0


def test_overlap_from_saved_entry_matches_uniprot(overlap_env, mirror, tmp_path):
    entry = tmp_path / "P61626.json"
    entry.write_bytes(requests.get(f"{mirror.url}/uniprotkb/P61626.json", timeout=10).content)
    from_file = run_cli("overlap", "--entry", str(entry), "--layer", "2", "--json", env=overlap_env)
    from_uniprot = run_cli("overlap", "--uniprot", "P61626", "--layer", "2", "--json", env=overlap_env)
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout) == json.loads(from_uniprot.stdout)
    assert len(json.loads(from_file.stdout)["annotations"][0]["features"]) <= 5  # default --top


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"features": []}), "not a UniProtKB JSON entry"),
])
def test_overlap_bad_entry_file_is_one_line(overlap_env, tmp_path, content, message):
    path = tmp_path / "e.json"
    path.write_text(content)
    proc = run_cli("overlap", "--entry", str(path), "--layer", "2", "--json", env=overlap_env)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1
    assert proc.stdout == ""


def test_names_and_order_follow_the_best_annotation():
    """Hand-made: 10 residues; feature 0 marks the bond's two cysteines, feature 1 the domain."""
    acts = np.zeros((10, 3))
    acts[[1, 8], 0] = 0.9  # residues 2 and 9
    acts[3:6, 1] = 0.7  # residues 4-6
    acts[3:5, 2] = 0.2  # residues 4-5 only: precision 1, recall 2/3 -> F1 0.8
    annotations = [Annotation("Disulfide bond", 2, 9), Annotation("Domain", 4, 6, "Kringle"),
                   Annotation("Chain", 1, 10, "Whole")]
    table = score_overlap(acts, annotations)
    assert table.residues[0] == (2, 9)
    assert table.f1[0, 0] == pytest.approx(1.0) and table.f1[1, 1] == pytest.approx(1.0)
    assert table.f1[1, 2] == pytest.approx(0.8) and table.threshold[1, 2] == 0.0  # lowest threshold reaching it
    # The chain covers the whole protein: scored (feature 1: P 1, R 3/10), never a name.
    assert table.f1[2, 1] == pytest.approx(2 * 0.3 / 1.3)
    assert table.feature_names() == {0: "Disulfide bond 2–9 (F1 1.00)", 1: "Domain: Kringle 4–6 (F1 1.00)",
                                     2: "Domain: Kringle 4–6 (F1 0.80)"}
    assert table.order_by_annotation(3, fallback=[]) == [0, 1, 2]  # the bond (2-9) first, then the domain (4-6)
    # Equal shares: with 2 rows, each annotation shows its best feature; fallback fills what is left.
    assert table.order_by_annotation(2, fallback=[]) == [0, 1]
    assert table.order_by_annotation(5, fallback=[2, 7, 8]) == [0, 1, 2, 7, 8]
    assert [m.feature for m in table.top(1)] == [1, 2]


def test_user_tracks():
    tracks = parse_user_tracks("start\tend\tlabel\n3\t5\tmy loop\n7\t7\tsite A\n", length=10)
    assert tracks == [Annotation("User track", 3, 5, "my loop"), Annotation("User track", 7, 7, "site A")]
    assert parse_user_tracks("1,2,x", length=3)[0].residues() == (1, 2)
    for bad, message in [("", "empty"), ("1\t20\tx", "protein's length"), ("a\tb\tc\n", "whole numbers"),
                         ("1\t2\n", "start, end and label")]:
        with pytest.raises(InputError, match=message):
            parse_user_tracks(bad, length=10)


def test_long_proteins_say_they_were_computed_in_windows(overlap_env, tmp_path):
    """More than ESM-2's 1,022 residues: the CLI names the windows (features: stdout; overlap: stderr)."""
    sequence = ("ACDEFGHIKLMNPQRSTVWY" * 55)  # 1,100 residues
    proc = run_cli("features", "--sequence", sequence, "--layer", "1", "--out", str(tmp_path / "f.npz"), "--quiet",
                   env=overlap_env)
    assert proc.returncode == 0, proc.stderr
    assert "note: 1,100 residues is more than ESM-2's 1,022-residue window" in proc.stdout
    assert "2 overlapping windows (1–1022, 79–1100)" in proc.stdout
    # each residue is read where it lies farthest from a window edge: the switch is halfway through the overlap
    assert "residues 1–550 from window 1; 551–1100 from window 2" in proc.stdout
    long_entry = run_cli("overlap", "--uniprot", "F1MAB7", "--layer", "1", "--json", env=overlap_env)
    assert long_entry.returncode == 0, long_entry.stderr
    assert "2 overlapping windows (1–1022, 29–1050)" in long_entry.stderr
    assert json.loads(long_entry.stdout)["accession"] == "F1MAB7"
