"""Per-feature statistics of a whole layer, merged from its shards in shard order.

Merging in NumPy, shard by shard in a fixed order, keeps every float sum bit-identical
however the shards were computed (a parallel SQL aggregate would not promise that).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


@dataclass
class LayerStats:
    max_raw: np.ndarray  # [F] float32: InterPLM's normalisation vector for this corpus
    max_activation: np.ndarray  # [F] float32, on the atlas's scale
    sum_activation: np.ndarray  # [F] float64
    active_residues: np.ndarray  # [F] int64
    active_proteins: np.ndarray  # [F] int64
    histogram: np.ndarray  # [F, BIN_COUNT] int64

    @property
    def mean_activation(self) -> np.ndarray:
        """Mean activation [F] over the residues where the feature fires."""
        out = np.zeros(len(self.sum_activation))
        np.divide(self.sum_activation, self.active_residues, out=out, where=self.active_residues > 0)
        return out


def merge_layer(shard_dirs: list[Path]) -> LayerStats:
    total: LayerStats | None = None
    for directory in shard_dirs:
        table = pq.read_table(directory / "stats.parquet")
        width = table.schema.field("histogram").type.list_size
        part = LayerStats(
            max_raw=table["max_raw"].to_numpy(),
            max_activation=table["max_activation"].to_numpy(),
            sum_activation=table["sum_activation"].to_numpy(),
            active_residues=table["active_residues"].to_numpy(),
            active_proteins=table["active_proteins"].to_numpy(),
            histogram=table["histogram"].combine_chunks().flatten().to_numpy().reshape(-1, width),
        )
        if total is None:
            total = LayerStats(*(np.array(v, copy=True) for v in vars(part).values()))
            continue
        np.maximum(total.max_raw, part.max_raw, out=total.max_raw)
        np.maximum(total.max_activation, part.max_activation, out=total.max_activation)
        total.sum_activation += part.sum_activation
        total.active_residues += part.active_residues
        total.active_proteins += part.active_proteins
        total.histogram += part.histogram
    if total is None:
        raise ValueError("no shards to merge")
    return total
