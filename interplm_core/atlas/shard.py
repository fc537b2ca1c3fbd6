"""Statistics of one shard of the corpus: the unit of work of every engine.

A shard's result depends only on its proteins, the weights and the build parameters, so
the local and the Ray engine produce byte-identical shards, and a resumed build reuses
finished shards as they are. Everything in it merges exactly across shards: maxima by
max, counts and histograms by sum, top-k lists by re-ranking with the same tie-break
(higher activation first, then lower corpus index). Each protein's statistics are computed
from its non-zero activations alone, a few percent of its [residues, features] array:
silent residues add nothing to any of them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from ..reproducible import torch_threads
from .corpus import CorpusProtein
from .histogram import BIN_COUNT, feature_histograms

#: Proteins embedded per ESM call inside a shard (bounds memory, not results).
EMBED_CHUNK = 64
#: Encoded arrays waiting for the statistics thread (each up to 1,022 x 10,240 float32).
SUMMARY_QUEUE = 3


@dataclass(frozen=True)
class ShardParams:
    """Build parameters that shape a shard's content (recorded in the manifest)."""

    layer: int
    top_k: int = 10
    window: int = 15  # residues kept each side of a top example's peak
    residue_index_min: float | None = 0.0  # index activations above this; None: no index
    summary_features: int = 10  # top features listed per protein


@dataclass
class ShardResult:
    """Everything one shard contributes to the atlas, as Arrow tables."""

    stats: pa.Table  # one row per feature
    top: pa.Table  # per feature, the shard's top-k proteins
    proteins: pa.Table  # one row per protein
    residues: pa.Table  # sparse (protein, position, feature, activation) index

    def tables(self) -> dict[str, pa.Table]:
        return {"stats": self.stats, "top": self.top, "proteins": self.proteins, "residues": self.residues}


def compute_shard(
    proteins: list[CorpusProtein],
    params: list[ShardParams],
    embed_layers: Callable[[list[str], list[int]], list[dict[int, np.ndarray]]],
    encoders: dict[int, Callable[[torch.Tensor], torch.Tensor]],
    inv_scales: dict[int, np.ndarray | None],
    feature_count: int,
    on_protein: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, ShardResult]]:
    """Embed, encode and summarise `proteins` (a contiguous slice of the corpus) at
    every layer of `params`, from one ESM-2 pass per chunk of proteins, and yield
    (layer, result) for each layer as soon as its statistics are complete.

    Within a chunk the work goes layer by layer, so in the last chunk layer L is done
    before layer L+1 starts: the caller writes layer L's tables (and the builder puts
    them in the database, on a thread) while the next layer is encoded, and each layer's
    embeddings and tables are freed as it goes.

    `encoders[layer]` gives the raw SAE's pre-activations (the statistics apply the ReLU
    where it matters: the non-zeros are the positive entries, and only the top-k windows
    need clamping, which spares the encoding thread a pass over the whole matrix);
    `inv_scales[layer]` turns raw activations into reported ones (None: report raw values).
    `on_protein(residues)` is called after each protein at each layer, with that layer's
    whole-number share of the protein's residues (the shares add up to its length), for
    progress bars.

    The statistics run on one background thread, in the order the arrays were encoded
    (so shards are the same bits), while this thread encodes the next protein with one
    torch thread fewer: the statistics' single-threaded NumPy passes get a core of their
    own instead of fighting the matrix products for it (measured: a 6-layer build 10%
    faster in wall time, 15% less CPU, on 2 cores). At most `SUMMARY_QUEUE` arrays wait,
    which bounds the memory.
    """
    stats = {p.layer: _LayerStats(p, feature_count, inv_scales[p.layer]) for p in params}
    layers = sorted(stats)
    sequences = [p.sequence for p in proteins]
    waiting: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-stats") as summariser:
        for start in range(0, len(sequences), EMBED_CHUNK):
            chunk = proteins[start:start + EMBED_CHUNK]
            embeddings = embed_layers(sequences[start:start + EMBED_CHUNK], layers)
            for step, layer in enumerate(layers):
                with torch_threads(max(1, torch.get_num_threads() - 1)):
                    for protein, by_layer in zip(chunk, embeddings):
                        pre = encoders[layer](torch.from_numpy(by_layer.pop(layer))).cpu().numpy()
                        waiting.append(summariser.submit(stats[layer].add, protein, pre))
                        while len(waiting) > SUMMARY_QUEUE:
                            waiting.popleft().result()  # also raises a failure of the statistics
                        if on_protein:
                            length = len(protein.sequence)
                            on_protein(length * (step + 1) // len(layers) - length * step // len(layers))
                if start + EMBED_CHUNK >= len(sequences):  # the last chunk: this layer is complete
                    while waiting:
                        waiting.popleft().result()
                    yield layer, stats.pop(layer).result(proteins)
    for layer in list(stats):  # no proteins at all
        yield layer, stats.pop(layer).result(proteins)


class _LayerStats:
    """One layer's running statistics over the proteins of a shard, added in order."""

    def __init__(self, params: ShardParams, feature_count: int, inv_scale: np.ndarray | None):
        k, width = params.top_k, 2 * params.window + 1
        self.params, self.inv_scale, self.feature_count = params, inv_scale, feature_count
        self.max_raw = np.zeros(feature_count, np.float32)
        self.max_act = np.zeros(feature_count, np.float32)
        self.sum_act = np.zeros(feature_count, np.float64)
        self.active_residues = np.zeros(feature_count, np.int64)
        self.active_proteins = np.zeros(feature_count, np.int64)
        self.hist = np.zeros((feature_count, BIN_COUNT), np.int64)
        # Running top-k: k unordered slots per feature (empty ones have activation 0); a
        # protein that beats a feature's worst entry takes that entry's slot, and the slots
        # are ranked once, in `result`. (Keeping them in rank order moved four tables per
        # protein; the first proteins of a shard enter almost every feature's list.)
        self.top_act = np.zeros((feature_count, k), np.float32)
        self.top_protein = np.full((feature_count, k), -1, np.int64)
        self.top_pos = np.zeros((feature_count, k), np.int64)
        self.top_window = np.zeros((feature_count, k, width), np.float32)
        self.top_worst = np.zeros(feature_count, np.float32)  # lowest activation held (0 while a slot is free)
        self.protein_rows: dict[str, list] = {
            "protein_index": [], "record_id": [], "description": [], "length": [],
            "active_features": [], "mean_active_per_residue": [], "top_features": [], "top_activations": [],
        }
        self.residue_parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # protein, then its rows
        self.columns = np.arange(feature_count)

    def add(self, protein: CorpusProtein, raw: np.ndarray) -> None:
        """Add a protein from its SAE pre-activations [residues, features] (ReLU not applied)."""
        params, feature_count, length = self.params, self.feature_count, raw.shape[0]
        nonzero = np.flatnonzero(raw > 0)  # row-major: by position, then feature
        rows, cols = np.divmod(nonzero, feature_count)
        raw_values = raw.ravel()[nonzero]
        act_values = raw_values * self.inv_scale[cols] if self.inv_scale is not None else raw_values
        np.maximum.at(self.max_raw, cols, raw_values)
        peak = np.zeros(feature_count, act_values.dtype)  # this protein's highest activation per feature
        np.maximum.at(peak, cols, act_values)
        np.maximum(self.max_act, peak, out=self.max_act)
        # Per feature, bincount adds the activations in float64 in row order, as the dense
        # act.sum(axis=0, dtype=np.float64) does (whose added zeros change no sum).
        self.sum_act += np.bincount(cols, weights=act_values, minlength=feature_count)
        per_feature = np.bincount(cols, minlength=feature_count)
        self.active_residues += per_feature
        self.active_proteins += per_feature > 0
        self.hist += feature_histograms(cols, act_values, feature_count)
        self._update_top(protein, raw, rows, cols, act_values, peak)

        firing = np.flatnonzero(per_feature)
        ranked = firing[np.lexsort((firing, -peak[firing]))][: params.summary_features]
        rows_out = self.protein_rows
        rows_out["protein_index"].append(protein.index)
        rows_out["record_id"].append(protein.record_id)
        rows_out["description"].append(protein.description)
        rows_out["length"].append(length)
        rows_out["active_features"].append(len(firing))
        rows_out["mean_active_per_residue"].append(len(nonzero) / length)
        rows_out["top_features"].append(ranked.astype(np.int32).tolist())
        rows_out["top_activations"].append(peak[ranked].astype(np.float32).tolist())

        if params.residue_index_min is not None:
            kept = act_values > params.residue_index_min
            # Stored in the table's own types (12 bytes an entry, not 28): a shard's index is
            # most of a build's memory.
            self.residue_parts.append(
                (protein.index, (rows[kept] + 1).astype(np.int32), cols[kept].astype(np.int32), act_values[kept]))

    def _update_top(self, protein: CorpusProtein, raw: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    act_values: np.ndarray, peak: np.ndarray) -> None:
        """Enter the protein in the top-k of the features where its peak beats the worst
        entry, which it replaces: the lowest activation, and among equal ones the latest
        protein (ranked last, as earlier proteins come first among ties)."""
        half_width, length = self.params.window, raw.shape[0]
        better = np.flatnonzero(peak > self.top_worst)
        if not len(better):
            return
        # The first row reaching the peak, as act.argmax(axis=0) gives (the non-zeros are in row order).
        first_peak_row = np.full(self.feature_count, length)
        at_peak = act_values == peak[cols]
        np.minimum.at(first_peak_row, cols[at_peak], rows[at_peak])
        position = first_peak_row[better]
        where = position[:, None] + np.arange(-half_width, half_width + 1)  # [better, width]
        window = raw.ravel()[np.clip(where, 0, length - 1) * self.feature_count + better[:, None]]
        np.maximum(window, 0, out=window)  # the ReLU
        if self.inv_scale is not None:
            window *= self.inv_scale[better, None]
        window[(where < 0) | (where >= length)] = np.nan

        held = self.top_act[better]
        lowest = held == self.top_worst[better, None]
        slot = np.where(lowest, self.top_protein[better], -2).argmax(axis=1)  # a free slot holds protein -1
        self.top_act[better, slot] = peak[better]
        self.top_protein[better, slot] = protein.index
        self.top_pos[better, slot] = position
        self.top_window[better, slot] = window
        held[np.arange(len(better)), slot] = peak[better]
        self.top_worst[better] = held.min(axis=1)

    def result(self, proteins: list[CorpusProtein]) -> ShardResult:
        stats = pa.table({
            "feature": pa.array(self.columns.astype(np.int32)),
            "max_raw": self.max_raw,
            "max_activation": self.max_act,
            "sum_activation": self.sum_act,
            "active_residues": self.active_residues,
            "active_proteins": self.active_proteins,
            "histogram": pa.FixedSizeListArray.from_arrays(pa.array(self.hist.ravel()), BIN_COUNT),
        })
        # Rank each feature's slots: higher activation first, then the earlier protein; free slots last.
        order = np.lexsort((self.top_protein, -self.top_act), axis=-1)
        top_act, top_protein, top_pos = (np.take_along_axis(t, order, axis=1)
                                         for t in (self.top_act, self.top_protein, self.top_pos))
        windows = np.take_along_axis(self.top_window, order[:, :, None], axis=1)
        return ShardResult(
            stats=stats,
            top=_top_table(proteins, top_act, top_protein, top_pos, windows, self.params.window),
            proteins=pa.table(self.protein_rows, schema=PROTEIN_SCHEMA),
            residues=_residue_table(self.residue_parts),
        )


PROTEIN_SCHEMA = pa.schema([
    ("protein_index", pa.int64()), ("record_id", pa.string()), ("description", pa.string()),
    ("length", pa.int32()), ("active_features", pa.int32()), ("mean_active_per_residue", pa.float64()),
    ("top_features", pa.list_(pa.int32())), ("top_activations", pa.list_(pa.float32())),
])
RESIDUE_SCHEMA = pa.schema([
    ("protein_index", pa.int64()), ("position", pa.int32()), ("feature", pa.int32()), ("activation", pa.float32()),
])
TOP_SCHEMA = pa.schema([
    ("feature", pa.int32()), ("shard_rank", pa.int32()), ("protein_index", pa.int64()), ("record_id", pa.string()),
    ("position", pa.int32()), ("activation", pa.float32()), ("window_start", pa.int32()),
    ("window_sequence", pa.string()), ("window_activations", pa.list_(pa.float32())),
])


def _top_table(proteins, top_act, top_protein, top_pos, top_window, half_width) -> pa.Table:
    """Rows (feature, shard rank) with a positive activation, windows clipped to the protein.

    The arrays are [feature, rank] (windows [feature, rank, width], NaN outside the protein).
    """
    sequences = {p.index: p.sequence for p in proteins}
    record_ids = {p.index: p.record_id for p in proteins}
    features, ranks = np.nonzero(top_act > 0)  # by feature, then rank
    protein_index = top_protein[features, ranks]
    peak = top_pos[features, ranks]
    windows = top_window[features, ranks]  # [rows, width]
    inside = ~np.isnan(windows)
    starts = np.maximum(peak - half_width, 0)
    lengths = inside.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    window_values = pa.ListArray.from_arrays(pa.array(offsets), pa.array(windows[inside].astype(np.float32)))
    window_sequences = [
        sequences[i][s:s + n] for i, s, n in zip(protein_index.tolist(), starts.tolist(), lengths.tolist())
    ]
    return pa.table(
        {
            "feature": features.astype(np.int32),
            "shard_rank": ranks.astype(np.int32),
            "protein_index": protein_index.astype(np.int64),
            "record_id": [record_ids[i] for i in protein_index.tolist()],
            "position": (peak + 1).astype(np.int32),
            "activation": top_act[features, ranks].astype(np.float32),
            "window_start": (starts + 1).astype(np.int32),
            "window_sequence": window_sequences,
            "window_activations": window_values,
        },
        schema=TOP_SCHEMA,
    )


def _residue_table(parts) -> pa.Table:
    if not parts:
        return RESIDUE_SCHEMA.empty_table()
    proteins = np.array([part[0] for part in parts], np.int64)
    counts = [len(part[1]) for part in parts]
    return pa.table(
        {
            "protein_index": np.repeat(proteins, counts),
            "position": np.concatenate([part[1] for part in parts]),
            "feature": np.concatenate([part[2] for part in parts]),
            "activation": np.concatenate([part[3] for part in parts]).astype(np.float32, copy=False),
        },
        schema=RESIDUE_SCHEMA,
    )
