"""Which features track which UniProt concepts: InterPLM's precision / recall / F1 analysis.

For each threshold t in THRESHOLDS on NORMALISED activations, a residue activates a
feature if its activation > t. Then, per feature and concept:
    tp = activated residues with the label, fp = activated residues without it,
    precision = tp / (tp + fp), recall = tp / residues with the label,
and for domain-level concepts recall_per_domain = labelled domains in which at least one
residue is activated / labelled domains (residue-level concepts: recall_per_domain =
recall). Both of InterPLM's scores are kept (interplm/analysis/concepts/calculate_f1.py):
f1 = 2PR/(P+R) from residue recall, and f1_per_domain from recall_per_domain (a feature
that marks one residue of every domain tracks the domain). Like InterPLM's reports
(report_metrics.py), rankings use f1_per_domain, then f1 to break ties; the best concept
of a feature is the (concept, threshold) ranked first.

Only annotated proteins take part (a protein absent from the annotations is unlabelled,
not a negative), and every residue of them also carries its amino-acid concept
("Amino acid: C"). Counts are summed protein by protein, so memory does not grow
with the number of proteins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .annotations import RESIDUE_LEVEL_TYPES, ConceptInstance, concept_type

THRESHOLDS = (0.0, 0.15, 0.5, 0.6, 0.8)


@dataclass
class ProteinLabels:
    """Labels of one protein: residue x concept flags, and its domain instances."""

    residues: np.ndarray  # [L, C] bool
    domains: list[tuple[int, int, int]]  # (concept index, start, end), 1-based inclusive


class ConceptVocabulary:
    """The concepts in play, in a fixed (sorted) order, and which are residue-level."""

    def __init__(self, concepts: list[str]):
        self.names = sorted(set(concepts))
        self.index = {name: i for i, name in enumerate(self.names)}
        self.residue_level = np.array(
            [concept_type(n) in RESIDUE_LEVEL_TYPES for n in self.names], dtype=bool
        )

    def __len__(self) -> int:
        return len(self.names)


def amino_acid_concept(letter: str) -> str:
    return f"Amino acid: {letter}"


def build_labels(
    sequences: dict[str, str], instances: list[ConceptInstance], with_amino_acids: bool = True
) -> tuple[ConceptVocabulary, dict[str, ProteinLabels]]:
    """Labels for each annotated accession whose sequence is known. Out-of-range instances are dropped."""
    usable = [i for i in instances if i.accession in sequences and i.end <= len(sequences[i.accession])]
    names = [i.concept for i in usable]
    if with_amino_acids:
        names += [amino_acid_concept(a) for seq in sequences.values() for a in set(seq)]
    vocabulary = ConceptVocabulary(names)
    labels = {}
    for accession, sequence in sequences.items():
        flags = np.zeros((len(sequence), len(vocabulary)), dtype=bool)
        if with_amino_acids:
            letters = np.frombuffer(sequence.encode(), dtype=np.uint8)
            for letter in set(sequence):
                flags[letters == ord(letter), vocabulary.index[amino_acid_concept(letter)]] = True
        labels[accession] = ProteinLabels(flags, [])
    for instance in usable:
        c = vocabulary.index[instance.concept]
        label = labels[instance.accession]
        label.residues[np.array(instance.positions()) - 1, c] = True
        if not vocabulary.residue_level[c]:
            label.domains.append((c, instance.start, instance.end))
    return vocabulary, labels


class ConceptCounter:
    """Sums tp, activated residues and domain hits over proteins, per threshold."""

    def __init__(self, vocabulary: ConceptVocabulary, feature_count: int, thresholds=THRESHOLDS):
        self.vocabulary = vocabulary
        self.thresholds = tuple(float(t) for t in thresholds)
        shape = (len(self.thresholds), feature_count, len(vocabulary))
        self.tp = np.zeros(shape, np.int64)
        self.domain_hits = np.zeros(shape, np.int64)
        self.activated = np.zeros((len(self.thresholds), feature_count), np.int64)
        self.positives = np.zeros(len(vocabulary), np.int64)
        self.domains = np.zeros(len(vocabulary), np.int64)

    def add(self, activations: np.ndarray, labels: ProteinLabels) -> None:
        """Count one protein: `activations` [L, F] normalised, labels from build_labels."""
        y = labels.residues.astype(np.float64)
        self.positives += labels.residues.sum(axis=0)
        peaks = [(c, activations[s - 1:e].max(axis=0)) for c, s, e in labels.domains]
        for c, _, _ in labels.domains:
            self.domains[c] += 1
        for ti, t in enumerate(self.thresholds):
            on = activations > t
            self.activated[ti] += on.sum(axis=0)
            self.tp[ti] += np.rint(on.T.astype(np.float64) @ y).astype(np.int64)
            for c, peak in peaks:
                self.domain_hits[ti, :, c] += peak > t

    def metrics(self) -> dict[str, np.ndarray]:
        """precision, recall, recall_per_domain, f1 and f1_per_domain arrays [T, F, C]."""
        activated = self.activated[:, :, None]
        precision = np.divide(self.tp, activated, out=np.zeros(self.tp.shape), where=activated > 0)
        recall = np.divide(self.tp, self.positives, out=np.zeros(self.tp.shape), where=self.positives > 0)
        recall_domain = np.divide(
            self.domain_hits, self.domains, out=np.zeros(self.tp.shape), where=self.domains > 0
        )
        recall_domain = np.where(self.vocabulary.residue_level, recall, recall_domain)
        return {"precision": precision, "recall": recall, "recall_per_domain": recall_domain,
                "f1": _f1(precision, recall), "f1_per_domain": _f1(precision, recall_domain)}

    def table(self, metrics: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """Every (feature, concept, threshold) with at least one true positive (`metrics`: this
        counter's `metrics()` when the caller already has them)."""
        m = metrics if metrics is not None else self.metrics()
        ti, f, c = np.nonzero(self.tp)
        return pd.DataFrame({
            "feature": f.astype(np.int32),
            "concept": np.array(self.vocabulary.names, dtype=object)[c],
            "residue_level": self.vocabulary.residue_level[c],
            "threshold": np.array(self.thresholds)[ti],
            "tp": self.tp[ti, f, c],
            "fp": self.activated[ti, f] - self.tp[ti, f, c],
            "positives": self.positives[c],
            "domains": self.domains[c],
            "domains_hit": self.domain_hits[ti, f, c],
            "precision": m["precision"][ti, f, c],
            "recall": m["recall"][ti, f, c],
            "recall_per_domain": m["recall_per_domain"][ti, f, c],
            "f1": m["f1"][ti, f, c],
            "f1_per_domain": m["f1_per_domain"][ti, f, c],
        })

    def best(self, metrics: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """Per feature the (concept, threshold) ranked first by f1_per_domain, then f1; remaining
        ties: first concept (sorted names), lowest threshold. Features with no true positive are left out."""
        m = metrics if metrics is not None else self.metrics()
        domain, residue = m["f1_per_domain"], m["f1"]  # [T, F, C]
        features = np.arange(domain.shape[1])
        flat_domain = domain.transpose(1, 2, 0).reshape(domain.shape[1], -1)  # [F, C*T], concept-major
        flat_residue = residue.transpose(1, 2, 0).reshape(residue.shape[1], -1)
        top = flat_domain.max(axis=1, keepdims=True)
        # Among the entries that reach the top f1_per_domain, the highest f1 (first one on ties).
        choice = np.where(flat_domain == top, flat_residue, -1.0).argmax(axis=1)
        c, ti = np.divmod(choice, len(self.thresholds))
        keep = flat_domain[features, choice] > 0
        pick = (ti[keep], features[keep], c[keep])
        return pd.DataFrame({
            "feature": features[keep].astype(np.int32),
            "concept": np.array(self.vocabulary.names, dtype=object)[c[keep]],
            "threshold": np.array(self.thresholds)[ti[keep]],
            "precision": m["precision"][pick],
            "recall": m["recall"][pick],
            "recall_per_domain": m["recall_per_domain"][pick],
            "f1": m["f1"][pick],
            "f1_per_domain": m["f1_per_domain"][pick],
        })


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    denominator = precision + recall
    return np.divide(2 * precision * recall, denominator, out=np.zeros(precision.shape), where=denominator > 0)
