"""Concept association: InterPLM's precision / recall / F1, checked by hand on a tiny case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interplm_core.atlas.annotations import RESIDUE_LEVEL_TYPES, ConceptInstance, load_annotations
from interplm_core.atlas.concepts import THRESHOLDS, ConceptCounter, build_labels
from interplm_core.errors import InputError


def _tiny():
    """One protein of 10 residues (no amino-acid concepts), three features.

    Concepts: "Domain: D" at 2-4 and 8-9 (two domains, 5 residues),
              "Active site" at 6 (residue-level),
              "Motif: X" at 2 and at 8 (two one-residue motifs, domain-level).
    Feature 0 fires 0.9 at residue 3 and 0.3 at residues 6 and 7.
    Feature 1 fires 0.7 at residues 2, 3, 4 (all of the first domain only).
    Feature 2 fires 0.4 at residues 2 and 8 (one residue of each domain, each motif).
    """
    sequence = "ACDEFGHIKL"
    instances = [
        ConceptInstance("P1", "Domain: D", 2, 4),
        ConceptInstance("P1", "Domain: D", 8, 9),
        ConceptInstance("P1", "Active site", 6, 6),
        ConceptInstance("P1", "Motif: X", 2, 2),
        ConceptInstance("P1", "Motif: X", 8, 8),
    ]
    vocabulary, labels = build_labels({"P1": sequence}, instances, with_amino_acids=False)
    acts = np.zeros((10, 3), np.float32)
    acts[2, 0] = 0.9
    acts[5, 0] = acts[6, 0] = 0.3
    acts[1:4, 1] = 0.7
    acts[[1, 7], 2] = 0.4
    counter = ConceptCounter(vocabulary, feature_count=3)
    counter.add(acts, labels["P1"])
    return vocabulary, counter


def _f1(p, r):
    return 2 * p * r / (p + r)


def test_residue_level_concepts_are_interplms():
    """interplm/analysis/concepts/concept_constants.py: per_aa_concepts."""
    assert RESIDUE_LEVEL_TYPES == {"Active site", "Cofactor", "Glycosylation", "Modified residue", "Amino acid",
                                   "Disulfide bond"}
    vocabulary, _ = build_labels({"P1": "ACDE"}, [ConceptInstance("P1", "Binding site: Zn(2+)", 2, 2),
                                                ConceptInstance("P1", "Lipidation", 3, 3)], with_amino_acids=False)
    assert not vocabulary.residue_level.any()  # binding sites and lipidation are domain-level


def test_hand_checked_metrics():
    vocabulary, counter = _tiny()
    assert vocabulary.names == ["Active site", "Domain: D", "Motif: X"]
    m = counter.metrics()
    t0, t05 = THRESHOLDS.index(0.0), THRESHOLDS.index(0.5)
    active, domain, motif = 0, 1, 2
    # Feature 0 at t=0: activated residues 3, 6, 7 -> domain tp 1 (residue 3), active-site tp 1 (residue 6).
    assert counter.tp[t0, 0, domain] == 1 and counter.activated[t0, 0] == 3
    assert m["precision"][t0, 0, domain] == pytest.approx(1 / 3)
    assert m["recall"][t0, 0, domain] == pytest.approx(1 / 5)  # residues
    assert m["recall_per_domain"][t0, 0, domain] == pytest.approx(1 / 2)  # 1 of 2 domains hit
    assert m["f1"][t0, 0, domain] == pytest.approx(1 / 4)  # 2 (1/3)(1/5) / (1/3 + 1/5)
    assert m["f1_per_domain"][t0, 0, domain] == pytest.approx(2 / 5)  # 2 (1/3)(1/2) / (1/3 + 1/2)
    assert m["precision"][t0, 0, active] == pytest.approx(1 / 3)
    assert m["recall"][t0, 0, active] == pytest.approx(1.0)
    # Residue-level: recall_per_domain is the recall, so both scores are 2 (1/3)(1) / (4/3) = 1/2.
    assert m["recall_per_domain"][t0, 0, active] == pytest.approx(1.0)
    assert m["f1"][t0, 0, active] == pytest.approx(0.5) and m["f1_per_domain"][t0, 0, active] == pytest.approx(0.5)
    # At t=0.5 only residue 3 stays: precision 1, recall 1/5 (f1 1/3), per-domain recall 1/2 (2/3).
    assert m["f1"][t05, 0, domain] == pytest.approx(1 / 3)
    assert m["f1_per_domain"][t05, 0, domain] == pytest.approx(2 / 3)
    assert m["f1"][t05, 0, active] == 0
    # Feature 1: residues 2-4 = the whole first domain: precision 1, recall 3/5, 1 of 2 domains.
    assert m["f1"][t0, 1, domain] == pytest.approx(3 / 4)
    assert m["f1_per_domain"][t0, 1, domain] == pytest.approx(2 / 3)
    assert counter.tp[THRESHOLDS.index(0.8), 1].sum() == 0  # 0.7 is not > 0.8
    # Feature 2: residues 2 and 8. Domain: precision 1, recall 2/5, both domains hit.
    assert m["f1"][t0, 2, domain] == pytest.approx(_f1(1, 2 / 5))  # 4/7
    assert m["f1_per_domain"][t0, 2, domain] == pytest.approx(1.0)
    # Motif: precision 1, recall 2/2, both motifs hit.
    assert m["f1"][t0, 2, motif] == pytest.approx(1.0) and m["f1_per_domain"][t0, 2, motif] == pytest.approx(1.0)


def test_best_concept_per_feature():
    _, counter = _tiny()
    best = counter.best().set_index("feature")
    # Feature 0: Domain: D at 0.5 (f1_per_domain 2/3) over Active site at 0 (1/2); 0.5, 0.6 and 0.8
    # tie on both scores and the lowest threshold is kept.
    assert best.loc[0, "concept"] == "Domain: D" and best.loc[0, "threshold"] == 0.5
    assert best.loc[0, "f1_per_domain"] == pytest.approx(2 / 3) and best.loc[0, "f1"] == pytest.approx(1 / 3)
    # Feature 1: f1_per_domain = 2*1*0.5/1.5 = 2/3 at t=0 already (lowest threshold wins ties).
    assert best.loc[1, "concept"] == "Domain: D" and best.loc[1, "threshold"] == 0.0
    assert best.loc[1, "f1"] == pytest.approx(3 / 4)
    # Feature 2: Domain: D and Motif: X both have f1_per_domain 1; f1 breaks the tie (1 > 4/7),
    # although "Domain: D" comes first by name.
    assert best.loc[2, "concept"] == "Motif: X" and best.loc[2, "f1"] == pytest.approx(1.0)
    table = counter.table()
    assert set(table["concept"]) == {"Active site", "Domain: D", "Motif: X"}
    assert (table["tp"] > 0).all()
    row = table[(table.feature == 2) & (table.concept == "Domain: D") & (table.threshold == 0.0)].iloc[0]
    assert row["f1"] == pytest.approx(4 / 7) and row["f1_per_domain"] == pytest.approx(1.0)


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
