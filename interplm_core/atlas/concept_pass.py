"""Run the concept analysis over the annotated proteins of an atlas's corpus.

Needs normalised activations: on a normalised atlas that is the published scale; on a
raw (`--unnormalized`) atlas it is raw / the corpus's own maxima, which is InterPLM's
normalisation applied to this corpus.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from ..errors import InputError
from .annotations import load_annotations
from .concepts import ConceptCounter, build_labels
from .database import store_concepts
from .scale import inverse_scale
from .shard import raw_activations


def annotate(con: duckdb.DuckDBPyConnection, worker, layer: int, annotations: Path, scale: str, maxima_path: Path) -> int:
    """Compute and store concept metrics for one layer; returns the number of proteins scored."""
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
    if scale == "normalized":
        inv = worker.inv_scales[layer]
    else:
        inv = inverse_scale(np.load(maxima_path))
    sae = worker.raw_saes[layer]
    counter = ConceptCounter(vocabulary, sae.dict_size)
    order = list(sequences)
    raw = raw_activations([sequences[a] for a in order], layer, worker.pipeline.embedder.embed, sae.encode_raw)
    for accession, activations in zip(order, raw):
        counter.add(activations * inv, labels[accession])
    metrics = counter.metrics()  # [thresholds, features, concepts] arrays: computed once
    store_concepts(con, layer, counter.table(metrics), counter.best(metrics))
    return len(sequences)
