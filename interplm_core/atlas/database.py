"""The queryable atlas: one DuckDB file made from the shards, the merged stats and the map.

Tables (each with a `layer` column):
    features(layer, feature, max_raw, max_activation, mean_activation, active_residues,
             residue_frequency, active_proteins, protein_frequency, histogram, map_x, map_y)
    top(layer, feature, rank, protein_index, record_id, position, activation,
        window_start, window_sequence, window_activations)     top-k proteins per feature
    proteins(protein_index, record_id, accession, description, sequence, length, shard)
    protein_summaries(layer, protein_index, active_features, mean_active_per_residue,
                      top_features, top_activations)
    concept_metrics(...), best_concepts(...)    when annotations were given; f1 and f1_per_domain,
                                                ranked by f1_per_domain then f1 (InterPLM's order)
    histogram_bins(bin, low, high)

Rows are inserted in sorted order so DuckDB's zone maps make point lookups (one feature)
take milliseconds. Shards already hold their protein summaries in protein order, and they
are read in shard order with DuckDB's insertion order kept, so that table is stored sorted
without sorting it again.

The residue index (every activation above the index threshold: protein, position, feature)
is not copied in: it stays in the shards, `shards/layer_L/NNNNNN/residues.parquet`, sorted
by (protein, position, feature), and a range query reads the one shard that holds the
protein (`proteins.shard`; see `reader.FeatureAtlas.features_in_range`). Inserting it
was a third of a layer's database time (3.5 million rows per layer for 12,900 residues)
and most of the file, for one kind of query that the shard answers in about 15 ms.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .histogram import bin_bounds
from .merge import LayerStats


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


#: DuckDB's memory for a build. Its default, 80% of the machine's RAM, lets the buffer pool keep
#: every block it writes (when the residue index was still inserted, a 2,000-protein 6-layer
#: build's inserts held 5.9 GB; capped, 0.8 GB, as fast), while the last shard is still being
#: computed beside it. Sorts larger than this (the top-k ranking across shards) spill to
#: `<database>.tmp`.
BUILD_MEMORY_LIMIT = "512MB"

#: DuckDB's memory for reading a finished atlas (the app keeps one open for as long as it
#: runs). Without a cap its caches could grow to 80% of RAM: blocks of the database, and
#: of every shard file a residue query has read (its external file cache).
READ_MEMORY_LIMIT = "256MB"


def open_database(path: Path, corpus_path: Path) -> duckdb.DuckDBPyConnection:
    """A fresh database at `path` with the tables every layer shares (bins, proteins)."""
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path), config={"memory_limit": BUILD_MEMORY_LIMIT})
    con.execute("SET preserve_insertion_order = true")  # the default, and what the unsorted inserts rely on
    bins = pa.table({
        "bin": np.arange(len(bin_bounds()), dtype=np.int64),
        "low": [low for low, _ in bin_bounds()],
        "high": [high for _, high in bin_bounds()],
    })
    con.register("bins_table", bins)
    con.execute("CREATE TABLE histogram_bins AS SELECT * FROM bins_table")
    con.unregister("bins_table")
    con.execute(
        f"CREATE TABLE proteins AS SELECT * FROM read_parquet({_sql_list([corpus_path])}) ORDER BY protein_index"
    )
    con.execute("CREATE UNIQUE INDEX proteins_record ON proteins(record_id)")
    return con


def insert_layer(
    con: duckdb.DuckDBPyConnection,
    layer: int,
    stats: LayerStats,
    coords: np.ndarray,
    shard_dirs: list[Path],
    top_k: int,
    protein_count: int,
    residue_count: int,
) -> None:
    """Add one layer's rows to every per-layer table (made by the first layer inserted)."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'features'").fetchall()[0][0]
    verb = "INSERT INTO {name}" if exists else "CREATE TABLE {name} AS"
    histogram = stats.histogram
    # Arrow, not a DataFrame of per-row arrays, which DuckDB would convert one object at a time.
    features = pa.table({
        "layer": np.full(len(stats.max_raw), layer, np.int16),
        "feature": np.arange(len(stats.max_raw), dtype=np.int32),
        "max_raw": stats.max_raw,
        "max_activation": stats.max_activation,
        "mean_activation": stats.mean_activation,
        "active_residues": stats.active_residues,
        "residue_frequency": stats.active_residues / max(residue_count, 1),
        "active_proteins": stats.active_proteins,
        "protein_frequency": stats.active_proteins / max(protein_count, 1),
        "histogram": pa.ListArray.from_arrays(
            pa.array(np.arange(0, histogram.size + 1, histogram.shape[1], dtype=np.int32)),
            pa.array(histogram.ravel()),
        ),
        "map_x": coords[:, 0],
        "map_y": coords[:, 1],
    })
    top = _sql_list([d / "top.parquet" for d in shard_dirs])
    summaries = _sql_list([d / "proteins.parquet" for d in shard_dirs])
    con.register("features_table", features)
    con.execute(f"{verb.format(name='features')} SELECT * FROM features_table ORDER BY feature")
    con.unregister("features_table")
    columns = "protein_index, record_id, position, activation, window_start, window_sequence, window_activations"
    if len(shard_dirs) == 1:
        # One shard: its top-k already is the layer's, ranked with the same tie-break and
        # stored in (feature, rank) order; re-ranking it cost a quarter of the top table's insert.
        ranked = f"SELECT feature, (shard_rank + 1)::INTEGER AS rank, {columns} FROM read_parquet({top})"
    else:
        ranked = f"""SELECT feature, rank::INTEGER AS rank, {columns}
            FROM (SELECT *, row_number() OVER (PARTITION BY feature ORDER BY activation DESC, protein_index) AS rank
                  FROM read_parquet({top}))
            WHERE rank <= {int(top_k)} ORDER BY feature, rank"""
    con.execute(f"{verb.format(name='top')} SELECT {layer}::SMALLINT AS layer, * FROM ({ranked})")
    con.execute(
        f"""{verb.format(name='protein_summaries')}
        SELECT {layer}::SMALLINT AS layer, protein_index, active_features, mean_active_per_residue,
               top_features, top_activations
        FROM read_parquet({summaries})"""
    )


def create_concept_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Concept tables; an atlas made before f1_per_domain existed gets the column (filled on recompute)."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS concept_metrics (layer SMALLINT, feature INTEGER, concept VARCHAR,
           residue_level BOOLEAN, threshold DOUBLE, tp BIGINT, fp BIGINT, positives BIGINT, domains BIGINT,
           domains_hit BIGINT, precision DOUBLE, recall DOUBLE, recall_per_domain DOUBLE, f1 DOUBLE,
           f1_per_domain DOUBLE)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS best_concepts (layer SMALLINT, feature INTEGER, concept VARCHAR,
           threshold DOUBLE, precision DOUBLE, recall DOUBLE, f1 DOUBLE, recall_per_domain DOUBLE,
           f1_per_domain DOUBLE)"""
    )
    for table in ("concept_metrics", "best_concepts"):
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS f1_per_domain DOUBLE")
    con.execute("ALTER TABLE best_concepts ADD COLUMN IF NOT EXISTS recall_per_domain DOUBLE")


def store_concepts(con: duckdb.DuckDBPyConnection, layer: int, metrics: pd.DataFrame, best: pd.DataFrame) -> None:
    """Replace one layer's concept results."""
    create_concept_tables(con)
    con.execute("DELETE FROM concept_metrics WHERE layer = ?", [layer])
    con.execute("DELETE FROM best_concepts WHERE layer = ?", [layer])
    metrics = metrics.assign(layer=np.int16(layer))
    best = best.assign(layer=np.int16(layer))
    con.execute(
        """INSERT INTO concept_metrics BY NAME SELECT layer, feature, concept, residue_level, threshold, tp, fp,
           positives, domains, domains_hit, precision, recall, recall_per_domain, f1, f1_per_domain FROM metrics
           ORDER BY feature, concept, threshold"""
    )
    con.execute(
        """INSERT INTO best_concepts BY NAME SELECT layer, feature, concept, threshold, precision, recall,
           recall_per_domain, f1, f1_per_domain FROM best ORDER BY feature"""
    )
