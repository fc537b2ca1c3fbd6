"""Per-protein overlap: how well each SAE feature marks each annotation of the loaded protein.

The same scoring as the atlas concepts (atlas/concepts.py), on one protein: positives are
the residues an annotation marks (`uniprot.Annotation.residues`: a disulfide bond marks its
two cysteines, not the span), a feature fires where its activation is > t for InterPLM's
thresholds t in THRESHOLDS, precision = tp / (tp + fp), recall = tp / positives,
F1 = 2PR / (P + R), and each (annotation, feature) keeps its best threshold (highest F1,
lowest threshold on ties). This gives features names on the first protein a user
loads, before any atlas exists.

Annotations come from the UniProt entry (every located feature, `UniProtEntry.located`)
and from tracks the user uploads as TSV (`start, end, label`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from .atlas.concepts import THRESHOLDS
from .errors import InputError
from .uniprot import Annotation

#: A feature is named after an annotation on this protein from this F1 on.
NAME_MIN_F1 = 0.5
#: Annotations covering more than this share of the protein (Chain, a whole-length Domain)
#: describe the protein, not a part of it: they are scored and listed, never used as names.
NAME_MAX_COVERAGE = 0.5
#: Uploaded tracks: type given to each row, and the most rows read.
USER_TRACK_TYPE = "User track"
MAX_USER_TRACKS = 500


def annotation_label(annotation: Annotation) -> str:
    """'Disulfide bond 30–148', 'Active site 53', 'Domain: Globin 2–142' (description cut at 40)."""
    where = str(annotation.start) if annotation.start == annotation.end else f"{annotation.start}–{annotation.end}"
    description = annotation.description if len(annotation.description) <= 40 else annotation.description[:39] + "…"
    return f"{annotation.type}{': ' + description if description else ''} {where}"


@dataclass(frozen=True)
class FeatureMatch:
    feature: int
    f1: float
    precision: float
    recall: float
    threshold: float

    def to_json(self) -> dict:
        return {"feature": self.feature, "f1": self.f1, "precision": self.precision, "recall": self.recall,
                "threshold": self.threshold}


@dataclass(frozen=True)
class OverlapTable:
    """Scores of every (annotation, feature) pair of one protein at its best threshold.

    Arrays are [A, F] (annotations x features); `residues[a]` are the 1-based positions
    annotation a marks.
    """

    annotations: tuple[Annotation, ...]
    residues: tuple[tuple[int, ...], ...]
    length: int
    f1: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    threshold: np.ndarray

    def top(self, index: int, k: int | None = None) -> list[FeatureMatch]:
        """The features that best mark annotation `index`: F1 > 0, best first (then lowest id)."""
        row = self.f1[index]
        found = np.flatnonzero(row > 0)
        ordered = found[np.lexsort((found, -row[found]))][:k]
        return [
            FeatureMatch(int(f), float(row[f]), float(self.precision[index, f]), float(self.recall[index, f]),
                         float(self.threshold[index, f]))
            for f in ordered
        ]

    def nameable(self) -> np.ndarray:
        """[A] bool: annotations small enough to name a feature after (see NAME_MAX_COVERAGE)."""
        return np.array([len(r) <= NAME_MAX_COVERAGE * self.length for r in self.residues], dtype=bool)

    def best_annotation(self, min_f1: float = NAME_MIN_F1) -> dict[int, tuple[int, float]]:
        """Feature -> (annotation index, F1) of its best nameable annotation with F1 >= min_f1."""
        if not self.annotations:
            return {}
        scores = np.where(self.nameable()[:, None], self.f1, 0.0)
        best = scores.argmax(axis=0)
        value = scores[best, np.arange(scores.shape[1])]
        return {int(f): (int(best[f]), float(value[f])) for f in np.flatnonzero(value >= min_f1)}

    def feature_names(self, min_f1: float = NAME_MIN_F1) -> dict[int, str]:
        """Feature -> 'Disulfide bond 30–148 (F1 0.91)' for features with a good enough match."""
        return {f: f"{annotation_label(self.annotations[a])} (F1 {score:.2f})"
                for f, (a, score) in self.best_annotation(min_f1).items()}

    def order_by_annotation(self, n: int, fallback: list[int], min_f1: float = NAME_MIN_F1) -> list[int]:
        """`n` features grouped under the annotations they best mark: annotations in sequence order,
        each with an equal share of the rows (its best F1 first; a share an annotation cannot fill
        goes to the others), then features from `fallback` (e.g. the top by activation) to fill up."""
        best = self.best_annotation(min_f1)
        groups: dict[int, list[int]] = {}
        for feature in sorted(best, key=lambda f: (-best[f][1], f)):
            groups.setdefault(best[feature][0], []).append(feature)
        order = sorted(groups, key=lambda a: (self.annotations[a].start, self.annotations[a].end, a))
        taken = dict.fromkeys(order, 0)
        budget = n
        while budget > 0 and any(taken[a] < len(groups[a]) for a in order):
            open_groups = [a for a in order if taken[a] < len(groups[a])]
            share = max(1, budget // len(open_groups))
            for a in open_groups:
                grant = min(share, len(groups[a]) - taken[a], budget)
                taken[a] += grant
                budget -= grant
        shown = [f for a in order for f in groups[a][:taken[a]]]
        return shown + [f for f in fallback if f not in set(shown)][:n - len(shown)]

    def to_json(self, accession: str, layer: int, k: int | None) -> dict:
        """The `overlap --json` answer (the CLI contract of issue 11)."""
        return {
            "accession": accession,
            "layer": layer,
            "annotations": [
                {"type": a.type, "description": a.description, "start": a.start, "end": a.end,
                 "residues": list(self.residues[i]), "features": [m.to_json() for m in self.top(i, k)]}
                for i, a in enumerate(self.annotations)
            ],
        }


def score_overlap(activations: np.ndarray, annotations: list[Annotation], thresholds=THRESHOLDS) -> OverlapTable:
    """Score every feature of `activations` [L, F] against each annotation (1-based, inside 1..L)."""
    length, features = activations.shape
    kept = [a for a in annotations if 1 <= a.start <= a.end <= length]
    residues = tuple(tuple(p for p in a.residues() if 1 <= p <= length) for a in kept)
    labels = np.zeros((len(kept), length), dtype=np.float32)  # [A, L]; counts stay exact in float32
    for i, positions in enumerate(residues):
        labels[i, np.array(positions, dtype=int) - 1] = 1.0
    positives = labels.sum(axis=1, dtype=np.float64)[:, None]  # [A, 1]
    # Only features that fire somewhere can score: the SAE leaves most of the 10,240 silent.
    live = np.flatnonzero(activations.max(axis=0, initial=0) > min(thresholds)) if length else np.zeros(0, int)
    values = activations[:, live]
    shape = (len(kept), len(live))
    best = {name: np.zeros(shape) for name in ("f1", "precision", "recall", "threshold")}
    for t in thresholds:
        on = values > t  # [L, K]
        activated = on.sum(axis=0)[None, :]  # [1, K]
        tp = np.rint(labels @ on.astype(np.float32)).astype(np.float64)  # [A, K]
        precision = np.divide(tp, activated, out=np.zeros(shape), where=activated > 0)
        recall = np.divide(tp, positives, out=np.zeros(shape), where=positives > 0)
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros(shape), where=total > 0)
        better = f1 > best["f1"]  # strictly: the lowest threshold keeps ties
        for name, value in (("f1", f1), ("precision", precision), ("recall", recall)):
            best[name] = np.where(better, value, best[name])
        best["threshold"] = np.where(better, float(t), best["threshold"])
    full = {}
    for name, value in best.items():
        full[name] = np.zeros((len(kept), features))
        full[name][:, live] = value
    best = full
    return OverlapTable(tuple(kept), residues, length, best["f1"], best["precision"], best["recall"],
                        best["threshold"])


def parse_user_tracks(text: str, length: int, source: str = "the track file") -> list[Annotation]:
    """Annotation tracks a user uploads: one `start, end, label` row each (tab or comma separated,
    1-based inclusive, an optional header row). Every residue of the span is a positive."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{source} is empty: write one 'start<TAB>end<TAB>label' row per annotation.")
    delimiter = "\t" if "\t" in lines[0] else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    if [c.strip().lower() for c in rows[0][:3]] == ["start", "end", "label"]:
        rows = rows[1:]
    if len(rows) > MAX_USER_TRACKS:
        raise InputError(f"{source} has {len(rows)} rows; at most {MAX_USER_TRACKS} are read.")
    out = []
    for number, row in enumerate(rows, start=1):
        if len(row) < 3:
            raise InputError(f"{source} row {number}: expected start, end and label.")
        try:
            start, end = int(row[0]), int(row[1])
        except ValueError:
            raise InputError(f"{source} row {number}: start and end must be whole numbers.") from None
        label = row[2].strip()
        if not label or not 1 <= start <= end <= length:
            raise InputError(f"{source} row {number}: need a label and 1 <= start <= end <= {length} (the protein's length).")
        out.append(Annotation(USER_TRACK_TYPE, start, end, label))
    return out
