"""How SAE features change between two proteins: a wild type and its mutant, or two homologues.

Residues are compared pairwise only where they correspond: identical lengths with few
differences (point mutants) map position to position; anything else is aligned like a
sequence onto a structure (`mapping.align_sequences`: BLOSUM62, affine gaps, free end
gaps), so an insertion does not shift every later residue into a false "change".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

#: A feature "fires" on a protein when its maximum activation reaches this (normalised units).
DEFAULT_FIRING_THRESHOLD = 0.05
CHANGE_KINDS = ("appears", "vanishes", "stronger", "weaker", "unchanged")


def corresponding_positions(seq_a: str, seq_b: str) -> np.ndarray:
    """For each residue of `seq_a` (0-based), the index of its partner in `seq_b`, or -1: [len(seq_a)] int."""
    if not seq_a or not seq_b:
        raise InputError("Both sequences must have residues to be compared.")
    if len(seq_a) == len(seq_b):
        same = sum(x == y for x, y in zip(seq_a, seq_b)) / len(seq_a)
        if same >= 0.5:
            return np.arange(len(seq_a))
    from .mapping import align_sequences

    alignment = align_sequences(seq_a, seq_b)
    partner = np.full(len(seq_a), -1, dtype=int)
    for i, j in alignment.trace:
        if i >= 0 and j >= 0:
            partner[i] = j
    return partner


@dataclass
class FeatureComparison:
    """Per-feature and per-residue differences between protein A and protein B."""

    features: np.ndarray  # [K] feature ids, most changed first
    max_a: np.ndarray  # [K]
    max_b: np.ndarray  # [K]
    kind: list[str]  # [K] one of CHANGE_KINDS
    residue_delta: np.ndarray  # [len(A), K] B minus A on corresponding residues (NaN where none)
    total_change: np.ndarray  # [K] sum of |delta| over corresponding residues
    partner: np.ndarray  # [len(A)] index in B or -1
    identity: float  # share of A's residues whose partner has the same letter

    def rows(self) -> list[dict]:
        """One dict per feature, for a table."""
        return [
            {
                "feature": int(f),
                "change": k,
                "max_a": float(a),
                "max_b": float(b),
                "delta_max": float(b - a),
                "total_residue_change": float(t),
            }
            for f, a, b, k, t in zip(self.features, self.max_a, self.max_b, self.kind, self.total_change)
        ]

    def of_kind(self, kind: str) -> list[int]:
        return [int(f) for f, k in zip(self.features, self.kind) if k == kind]


def compare_activations(
    seq_a: str,
    acts_a: np.ndarray,
    seq_b: str,
    acts_b: np.ndarray,
    top: int = 30,
    threshold: float = DEFAULT_FIRING_THRESHOLD,
) -> FeatureComparison:
    """The `top` features whose activation changes most between A (`acts_a` [len A, F]) and B ([len B, F]).

    Ranking: features that appear or vanish first (by the size of the jump), then the
    rest by total per-residue change.
    """
    if acts_a.shape[0] != len(seq_a) or acts_b.shape[0] != len(seq_b):
        raise InputError("Activations and sequences differ in length; recompute the features.")
    partner = corresponding_positions(seq_a, seq_b)
    mapped = partner >= 0
    max_a = acts_a.max(axis=0)
    max_b = acts_b.max(axis=0)
    candidates = np.flatnonzero((max_a > 0) | (max_b > 0))
    delta = np.full((len(seq_a), len(candidates)), np.nan, dtype=np.float32)
    delta[mapped] = acts_b[partner[mapped]][:, candidates] - acts_a[mapped][:, candidates]
    total = np.nansum(np.abs(delta), axis=0)
    fires_a = max_a[candidates] >= threshold
    fires_b = max_b[candidates] >= threshold
    kinds = np.where(
        fires_b & ~fires_a, "appears",
        np.where(fires_a & ~fires_b, "vanishes",
                 np.where(np.abs(max_b[candidates] - max_a[candidates]) < threshold, "unchanged",
                          np.where(max_b[candidates] > max_a[candidates], "stronger", "weaker"))),
    )
    switched = (kinds == "appears") | (kinds == "vanishes")
    jump = np.abs(max_b[candidates] - max_a[candidates])
    order = np.lexsort((candidates, -total, -np.where(switched, jump, -1.0)))[:top]
    same = sum(seq_a[i] == seq_b[j] for i, j in enumerate(partner) if j >= 0)
    return FeatureComparison(
        features=candidates[order],
        max_a=max_a[candidates][order],
        max_b=max_b[candidates][order],
        kind=[str(k) for k in kinds[order]],
        residue_delta=delta[:, order],
        total_change=total[order],
        partner=partner,
        identity=same / len(seq_a),
    )
