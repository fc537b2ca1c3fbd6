"""Concept association: InterPLM's precision / recall / F1, checked by hand on a tiny case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interplm_core.atlas.annotations import ConceptInstance, load_annotations
from interplm_core.atlas.concepts import THRESHOLDS, ConceptCounter, build_labels
from interplm_core.errors import InputError


def _tiny():
    """One protein of 10 residues (no amino-acid concepts), two features.

    Concepts: "Domain: D" at 2-4 and 8-9 (two domains, 5 residues),
              "Active site" at 6 (residue-level).
    Feature 0 fires 0.9 at residue 3 and 0.3 at residues 6 and 7.
    Feature 1 fires 0.7 at residues 2, 3, 4 (all of the first domain only).
    """
    sequence = "ACDEFGHIKL"
    instances = [
        ConceptInstance("P1", "Domain: D", 2, 4),
        ConceptInstance("P1", "Domain: D", 8, 9),
        ConceptInstance("P1", "Active site", 6, 6),
    ]
    vocabulary, labels = build_labels({"P1": sequence}, instances, with_amino_acids=False)
    acts = np.zeros((10, 2), np.float32)
    acts[2, 0] = 0.9
    acts[5, 0] = acts[6, 0] = 0.3
    acts[1:4, 1] = 0.7
    counter = ConceptCounter(vocabulary, feature_count=2)
    counter.add(acts, labels["P1"])
    return vocabulary, counter


def test_hand_checked_metrics():
    vocabulary, counter = _tiny()
    assert vocabulary.names == ["Active site", "Domain: D"]
    m = counter.metrics()
    t0, t05 = THRESHOLDS.index(0.0), THRESHOLDS.index(0.5)
    active, domain = 0, 1
    # Feature 0 at t=0: activated residues 3, 6, 7 -> domain tp 1 (residue 3), active-site tp 1 (residue 6).
    assert counter.tp[t0, 0, domain] == 1 and counter.activated[t0, 0] == 3
    assert m["precision"][t0, 0, domain] == pytest.approx(1 / 3)
    assert m["recall"][t0, 0, domain] == pytest.approx(1 / 5)  # residues
    assert m["recall_per_domain"][t0, 0, domain] == pytest.approx(1 / 2)  # 1 of 2 domains hit
    assert m["f1"][t0, 0, domain] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))  # 0.4, per-domain recall
    assert m["precision"][t0, 0, active] == pytest.approx(1 / 3)
    assert m["recall"][t0, 0, active] == pytest.approx(1.0)
    assert m["f1"][t0, 0, active] == pytest.approx(0.5)  # residue-level: residue recall
    # At t=0.5 only residue 3 stays: domain precision 1, per-domain recall 1/2 -> F1 2/3.
    assert m["f1"][t05, 0, domain] == pytest.approx(2 / 3)
    assert m["f1"][t05, 0, active] == 0
    # Feature 1: residues 2-4 = the whole first domain: precision 1, 1 of 2 domains.
    assert m["precision"][t0, 1, domain] == 1 and m["recall_per_domain"][t0, 1, domain] == 0.5
    assert counter.tp[THRESHOLDS.index(0.8), 1].sum() == 0  # 0.7 is not > 0.8


def test_best_concept_per_feature():
    _, counter = _tiny()
    best = counter.best().set_index("feature")
    # Feature 0: best is Domain: D at 0.5 (F1 2/3) over Active site at 0 (0.5).
    assert best.loc[0, "concept"] == "Domain: D"
    assert best.loc[0, "threshold"] == 0.5 and best.loc[0, "f1"] == pytest.approx(2 / 3)
    # Feature 1: F1 = 2*1*0.5/1.5 = 2/3 at t=0 already (lowest threshold wins ties).
    assert best.loc[1, "concept"] == "Domain: D" and best.loc[1, "threshold"] == 0.0
    table = counter.table()
    assert set(table["concept"]) == {"Active site", "Domain: D"}
    assert (table["tp"] > 0).all()


def test_uniprot_json_entry(fixtures_dir):
    instances, accessions = load_annotations(fixtures_dir / "uniprot" / "uniprotkb_O00115_entry.json")
    assert accessions == {"O00115"}
    concepts = {i.concept for i in instances}
    assert "Signal" in concepts and "Active site" in concepts and "Disulfide bond" in concepts
    assert not any(c.startswith(("Natural variant", "Mutagenesis", "Chain")) for c in concepts)
    bond = next(i for i in instances if i.concept == "Disulfide bond")
    assert bond.positions() == [bond.start, bond.end] and bond.residue_level
    assert not next(i for i in instances if i.concept == "Signal").residue_level


def test_annotation_file_errors(tmp_path):
    bad_header = tmp_path / "a.tsv"
    bad_header.write_text("acc\tconcept\tstart\tend\nP1\tX\t1\t2\n")
    with pytest.raises(InputError, match="header"):
        load_annotations(bad_header)
    bad_row = tmp_path / "b.tsv"
    bad_row.write_text("accession\tconcept\tstart\tend\nP1\tX\ttwo\t3\n")
    with pytest.raises(InputError, match="line 2"):
        load_annotations(bad_row)
    broken = tmp_path / "c.json"
    broken.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_annotations(broken)
    with pytest.raises(InputError, match="not found"):
        load_annotations(tmp_path / "missing.tsv")
    listing = tmp_path / "d.json"
    listing.write_text(json.dumps({"results": [{"primaryAccession": "P1", "features": []}]}))
    assert load_annotations(listing) == ([], {"P1"})
