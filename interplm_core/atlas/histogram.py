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


def _bin_table() -> np.ndarray:
    """Bin of every float32 whose top 16 bits are the index, or -1 where an edge falls among them.

    Non-negative float32s order like their bit patterns, so the 65,536 patterns sharing
    their top 16 bits are a contiguous value range: where its lowest and highest values
    fall in one bin, so do all of them. Only 49 ranges hold an edge.
    """
    top = np.arange(1 << 16, dtype=np.uint32) << 16
    low = np.searchsorted(EDGES, top.view(np.float32), side="right")
    high = np.searchsorted(EDGES, (top | 0xFFFF).view(np.float32), side="right")
    return np.where(low == high, low, -1).astype(np.int8)


_BIN_TABLE = _bin_table()


def bin_of(values: np.ndarray) -> np.ndarray:
    """Bin index of each positive value (taken as float32; same shape, int): exactly
    `np.searchsorted(EDGES, values, side="right")`, 4x faster by a table on the float's top
    bits (a shard bins millions of values per layer); the few values in a range holding
    an edge are searched."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    bins = _BIN_TABLE[values.view(np.uint32) >> 16].astype(np.intp)
    undecided = np.flatnonzero(bins < 0)
    bins.ravel()[undecided] = np.searchsorted(EDGES, values.ravel()[undecided], side="right")
    return bins


def bin_bounds() -> list[tuple[float, float]]:
    """(low, high) of every bin, for plotting."""
    lows = [0.0, *map(float, EDGES)]
    highs = [*map(float, EDGES), float("inf")]
    return list(zip(lows, highs))


def feature_histograms(feature_ids: np.ndarray, values: np.ndarray, feature_count: int) -> np.ndarray:
    """Counts [feature_count, BIN_COUNT] of positive `values` observed for `feature_ids`."""
    flat = feature_ids.astype(np.int64) * BIN_COUNT + bin_of(values)
    return np.bincount(flat, minlength=feature_count * BIN_COUNT).reshape(feature_count, BIN_COUNT)


def percentiles(counts: np.ndarray, silent: int, values: np.ndarray) -> np.ndarray:
    """Percent of the corpus's residues at or below each of `values`, from one feature's
    histogram `counts` [BIN_COUNT] and its number of `silent` (zero) residues.

    Within a bin the count is spread evenly in log scale (linearly in the first bin, which
    starts at 0; the open last bin counts half), so a value between two edges gets a
    percentile between theirs. Zero and below: the share of silent residues.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = silent + counts.sum()
    values = np.asarray(values, dtype=np.float64)
    if total <= 0:
        return np.zeros(values.shape)
    below = silent + np.concatenate(([0.0], np.cumsum(counts)))  # residues below bin i's low edge
    positive = np.maximum(values, np.finfo(np.float64).tiny)
    index = np.clip(bin_of(positive.astype(np.float32)), 0, BIN_COUNT - 1)
    edges = np.asarray(EDGES, dtype=np.float64)
    low = np.where(index > 0, edges[np.maximum(index - 1, 0)], 0.0)
    high = np.where(index < len(edges), edges[np.minimum(index, len(edges) - 1)], np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(index == 0, positive / high, np.log(positive / low) / np.log(high / low))
    share = np.where(index == BIN_COUNT - 1, 0.5, np.clip(share, 0.0, 1.0))
    result = (below[index] + share * counts[index]) / total * 100
    return np.where(values > 0, result, silent / total * 100)
