"""Run the concept analysis over the annotated proteins of an atlas's corpus.

Needs normalised activations: on a normalised atlas that is the published scale; on a
raw (`--unnormalized`) atlas it is raw / the corpus's own maxima, which is InterPLM's
normalisation applied to this corpus.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import torch

from ..errors import InputError
from .annotations import load_annotations
from .concepts import ConceptCounter, build_labels
from .database import store_concepts
from .scale import inverse_scale
from .shard import EMBED_CHUNK


def annotate(
    con: duckdb.DuckDBPyConnection, worker, layers: list[int], annotations: Path, scale: str,
    maxima_paths: dict[int, Path],
) -> int:
    """Compute and store concept metrics for `layers`, from one ESM-2 pass over the
    annotated proteins (as the shards are); returns the number of proteins scored."""
    instances, accessions = load_annotations(annotations)
    rows = con.execute(
        "SELECT accession, sequence FROM proteins WHERE accession IN (SELECT unnest(?)) ORDER BY protein_index",
        [sorted(accessions)],
    ).fetchall()
    sequences: dict[str, str] = {}
    for accession, sequence in rows:
        sequences.setdefault(accession, sequence)
    if not sequences:
        raise InputError(
            f"None of the {len(accessions)} annotated accessions in {annotations} is in the atlas corpus "
            "(record ids such as sp|P00750|TPA_HUMAN or P00750 are matched by accession)."
        )
    vocabulary, labels = build_labels(sequences, instances)
    inverse = {
        layer: worker.inv_scales[layer] if scale == "normalized" else inverse_scale(np.load(maxima_paths[layer]))
        for layer in layers
    }
    counters = {layer: ConceptCounter(vocabulary, worker.raw_saes[layer].dict_size) for layer in layers}
    order = list(sequences)
    for start in range(0, len(order), EMBED_CHUNK):
        chunk = order[start:start + EMBED_CHUNK]
        embedded = worker.pipeline.embedder.embed_layers([sequences[a] for a in chunk], layers)
        for accession, by_layer in zip(chunk, embedded):
            for layer in layers:
                raw = worker.raw_saes[layer].encode_raw(torch.from_numpy(by_layer[layer])).cpu().numpy()
                counters[layer].add(raw * inverse[layer], labels[accession])
    for layer, counter in counters.items():
        metrics = counter.metrics()  # [thresholds, features, concepts] arrays: computed once
        store_concepts(con, layer, counter.table(metrics), counter.best(metrics))
    return len(sequences)
