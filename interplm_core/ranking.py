"""Which features to show first: the one ranking the heatmap, the CLI tables and the
pipeline's `top_features` share (numpy only, no plotting import)."""

from __future__ import annotations

import numpy as np

SORT_CHOICES = ("max", "mean", "first", "clustered")


def rank_features(activations: np.ndarray, n: int = 30, by: str = "max") -> list[int]:
    """The `n` most active features of a [L, F] matrix, ordered for display.

    max / mean: by highest / mean activation; first: the top-n by max, ordered by where
    they first fire along the chain; clustered: the top-n by max, ordered so that
    features firing on the same residues sit together (spectral ordering, numpy only).
    """
    if by not in SORT_CHOICES:
        raise ValueError(f"sort order must be one of {SORT_CHOICES}")
    maxima = activations.max(axis=0)
    active = np.flatnonzero(maxima > 0)
    score = activations.mean(axis=0) if by == "mean" else maxima
    scores = score[active]
    if 0 < n < len(active):
        # Only features scoring at least the n-th best can be among the first n (ties
        # included, so the order below is the full sort's): a partition instead of
        # sorting thousands of active features, for every record the CLI lists.
        nth = np.partition(scores, len(scores) - n)[len(scores) - n]
        keep = scores >= nth
        active, scores = active[keep], scores[keep]
    ranked = active[np.lexsort((active, -scores))][:n]
    if by == "first" and len(ranked):
        first = (activations[:, ranked] > 0).argmax(axis=0)
        ranked = ranked[np.lexsort((ranked, first))]
    elif by == "clustered" and len(ranked) > 2:
        ranked = ranked[spectral_order(activations[:, ranked])]
    return [int(f) for f in ranked]


def spectral_order(columns: np.ndarray) -> np.ndarray:
    """Order of the columns of [L, K] by the Fiedler vector of their cosine-similarity graph.

    Columns that fire on the same residues get close values in that eigenvector, so
    sorting by it puts co-firing features next to each other. The sign is fixed so the
    column with the earliest first activation comes first (a stable, repeatable order).
    """
    x = columns.astype(np.float64)
    norms = np.linalg.norm(x, axis=0)
    norms[norms == 0] = 1.0
    unit = x / norms
    similarity = np.clip(unit.T @ unit, 0.0, None)
    np.fill_diagonal(similarity, 0.0)
    degree = similarity.sum(axis=1)
    laplacian = np.diag(degree) - similarity
    _, vectors = np.linalg.eigh(laplacian)
    fiedler = vectors[:, 1]
    first = (columns > 0).argmax(axis=0)
    if fiedler[np.argmin(first)] > fiedler[np.argmax(first)]:
        fiedler = -fiedler
    return np.lexsort((np.arange(len(fiedler)), np.round(fiedler, 12)))
