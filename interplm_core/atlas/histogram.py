"""Activation histograms with fixed, scale-free bins, so shards merge by adding counts.

Bins are logarithmic, 10 per decade from 1e-3 to 1e2, plus one bin below and one above:
the same edges fit normalised activations (mostly 0..1) and raw ones (any scale), and
a histogram of the whole corpus is exactly the sum of the shards' histograms. Zeros
are not binned: how often a feature is silent is what the frequency columns say.
"""

from __future__ import annotations

import numpy as np

LOW_EXPONENT = -3
HIGH_EXPONENT = 2
BINS_PER_DECADE = 10

#: Inner edges; bin 0 is (0, EDGES[0]), bin i is [EDGES[i-1], EDGES[i]), the last is [EDGES[-1], inf).
EDGES = (10.0 ** np.linspace(LOW_EXPONENT, HIGH_EXPONENT, (HIGH_EXPONENT - LOW_EXPONENT) * BINS_PER_DECADE + 1)).astype(np.float32)
BIN_COUNT = len(EDGES) + 1


def bin_of(values: np.ndarray) -> np.ndarray:
    """Bin index of each positive value (same shape as `values`, int)."""
    return np.searchsorted(EDGES, values, side="right")


def bin_bounds() -> list[tuple[float, float]]:
    """(low, high) of every bin, for plotting."""
    lows = [0.0, *map(float, EDGES)]
    highs = [*map(float, EDGES), float("inf")]
    return list(zip(lows, highs))


def feature_histograms(feature_ids: np.ndarray, values: np.ndarray, feature_count: int) -> np.ndarray:
    """Counts [feature_count, BIN_COUNT] of positive `values` observed for `feature_ids`."""
    flat = feature_ids.astype(np.int64) * BIN_COUNT + bin_of(values)
    return np.bincount(flat, minlength=feature_count * BIN_COUNT).reshape(feature_count, BIN_COUNT)
