"""Read-only queries on a built atlas, for the CLI and the app (each in milliseconds).

The app finds its atlas through the environment variable INTERPLM_ATLAS (`ATLAS_ENV`, a
directory made by `interplm atlas build`; see ui/atlas_views.py).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..errors import InputError
from .database import READ_MEMORY_LIMIT
from .feature_map import similar_features
from .histogram import percentiles
from .layout import AtlasLayout

ATLAS_ENV = "INTERPLM_ATLAS"


class FeatureAtlas:
    """A finished atlas directory. Thread-safe: each call uses its own DuckDB cursor."""

    def __init__(self, path: Path):
        self.layout = AtlasLayout(Path(path))
        manifest = self.layout.read_manifest()
        if manifest is None:
            raise InputError(f"{path} is not an atlas: build one with `interplm atlas build`.")
        if manifest.get("state") != "complete" or not self.layout.database_path.is_file():
            raise InputError(f"The atlas at {path} is unfinished: run the same `atlas build` again to complete it.")
        self.manifest = manifest
        self._con = duckdb.connect(str(self.layout.database_path), read_only=True,
                                   config={"memory_limit": READ_MEMORY_LIMIT})
        self._lock = threading.Lock()
        self._decoders: dict[int, np.ndarray] = {}
        self._maxima: dict[int, np.ndarray] = {}
        self._domain_f1 = self._has_column("concept_metrics", "f1_per_domain")

    def _has_column(self, table: str, column: str) -> bool:
        return not self._query(
            "SELECT 1 FROM information_schema.columns WHERE table_name = ? AND column_name = ?", [table, column]
        ).empty

    @property
    def _rank(self) -> str:
        """InterPLM's order (f1_per_domain, then f1); an atlas made before f1_per_domain was stored
        holds the per-domain score in f1 (run `atlas concepts` again to get both)."""
        return "f1_per_domain DESC, f1 DESC" if self._domain_f1 else "f1 DESC"

    @property
    def _domain_column(self) -> str:
        return "f1_per_domain" if self._domain_f1 else "f1"

    def close(self) -> None:
        self._con.close()

    def _query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self._lock:
            cursor = self._con.cursor()
        try:
            return cursor.execute(sql, params or []).df()
        finally:
            cursor.close()

    # ---------------------------------------------------------------- what it holds

    @property
    def layers(self) -> list[int]:
        return list(self.manifest["layers"])

    @property
    def scale(self) -> str:
        return self.manifest["scale"]

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest.get("synthetic"))

    def check(self, layer: int, feature: int | None = None) -> None:
        if layer not in self.layers:
            raise InputError(f"This atlas covers layer(s) {', '.join(map(str, self.layers))}, not layer {layer}.")
        if feature is not None and not 0 <= feature < self.feature_count(layer):
            raise InputError(f"Feature {feature} does not exist: features are 0..{self.feature_count(layer) - 1}.")

    def feature_count(self, layer: int) -> int:
        return len(self.maxima(layer))

    def default_layer(self, layer: int | None) -> int:
        if layer is not None:
            self.check(layer)
            return layer
        if len(self.layers) == 1:
            return self.layers[0]
        raise InputError(f"This atlas covers layers {', '.join(map(str, self.layers))}: choose one with --layer.")

    # ---------------------------------------------------------------- one feature

    def maxima(self, layer: int) -> np.ndarray:
        """InterPLM's normalisation vector for this corpus: global max of each RAW feature, [F]."""
        self.check(layer)
        if layer not in self._maxima:  # read once: every feature check asks for the count
            maxima = np.load(self.layout.maxima_path(layer))
            maxima.setflags(write=False)  # shared by every caller
            self._maxima[layer] = maxima
        return self._maxima[layer]

    def feature(self, layer: int, feature: int) -> dict:
        """Summary of one feature: maxima, frequencies, mean, histogram, map position, best concept."""
        self.check(layer, feature)
        row = self._query(
            f"""SELECT f.*, b.concept AS best_concept, b.threshold AS best_threshold, b.precision AS best_precision,
                      b.recall AS best_recall, b.f1 AS best_f1, b.{self._domain_column} AS best_f1_per_domain
               FROM features f LEFT JOIN best_concepts b USING (layer, feature)
               WHERE f.layer = ? AND f.feature = ?""",
            [layer, feature],
        ).iloc[0].to_dict()
        row["histogram"] = [int(c) for c in row["histogram"]]
        row["dead"] = row["active_residues"] == 0
        return row

    def histogram(self, layer: int, feature: int) -> pd.DataFrame:
        """Bins (low, high) and counts of the feature's non-zero activations."""
        counts = self.feature(layer, feature)["histogram"]
        bins = self._query("SELECT bin, low, high FROM histogram_bins ORDER BY bin")
        return bins.assign(count=counts)

    def percentiles(self, layer: int, features: list[int], values: np.ndarray) -> np.ndarray:
        """Percentile of each activation in its feature's distribution over the corpus's residues.

        `values` is [L, K] for the K `features` (on this atlas's scale); returns [L, K] percents
        (see histogram.percentiles for the rule within a bin).
        """
        self.check(layer)
        features = [int(f) for f in features]
        rows = self._query(
            "SELECT feature, histogram, active_residues FROM features WHERE layer = ? AND feature IN (SELECT unnest(?))",
            [layer, features],
        ).set_index("feature")
        total = int(self.manifest["residues"])
        out = np.zeros(np.shape(values), dtype=np.float64)
        for k, feature in enumerate(features):
            row = rows.loc[feature]
            out[:, k] = percentiles(np.asarray(row["histogram"]), total - int(row["active_residues"]), values[:, k])
        return out

    def top_examples(self, layer: int, feature: int, k: int | None = None) -> pd.DataFrame:
        """The feature's top proteins: rank, record id, peak position and activation, sequence window."""
        self.check(layer, feature)
        k = self.manifest["top_k"] if k is None else k
        if k < 1:
            raise InputError("--k must be at least 1.")
        if k > self.manifest["top_k"]:
            raise InputError(f"This atlas stores the top {self.manifest['top_k']} proteins per feature; ask for at most that many.")
        return self._query(
            """SELECT rank, protein_index, record_id, position, activation, window_start, window_sequence,
                      window_activations
               FROM top WHERE layer = ? AND feature = ? AND rank <= ? ORDER BY rank""",
            [layer, feature, k],
        )

    def concepts(self, layer: int, feature: int, limit: int = 10) -> pd.DataFrame:
        """The feature's best concepts (best threshold per concept), by f1_per_domain then f1."""
        self.check(layer, feature)
        return self._query(
            f"""SELECT concept, threshold, precision, recall, recall_per_domain, f1,
                       {self._domain_column} AS f1_per_domain, tp, fp
                FROM concept_metrics WHERE layer = ? AND feature = ?
                QUALIFY row_number() OVER (PARTITION BY concept ORDER BY {self._rank}, threshold) = 1
                ORDER BY {self._rank}, concept LIMIT ?""",
            [layer, feature, limit],
        )

    def similar(self, layer: int, feature: int, count: int = 10) -> pd.DataFrame:
        """Features with the closest decoder direction (cosine similarity)."""
        self.check(layer, feature)
        if layer not in self._decoders:
            self._decoders[layer] = np.load(self.layout.decoder_path(layer))
        pairs = similar_features(self._decoders[layer], feature, count)
        return pd.DataFrame(pairs, columns=["feature", "cosine"])

    # ---------------------------------------------------------------- proteins and search

    def protein(self, record_id: str) -> dict:
        rows = self._query("SELECT * FROM proteins WHERE record_id = ? OR accession = ? ORDER BY protein_index LIMIT 1", [record_id, record_id])
        if rows.empty:
            raise InputError(f"'{record_id}' is not in this atlas's corpus.")
        return rows.iloc[0].to_dict()

    def features_in_range(self, layer: int, record_id: str, start: int, end: int) -> pd.DataFrame:
        """Every feature firing on residues start..end (1-based, inclusive) of a corpus protein."""
        self.check(layer)
        if self.manifest.get("residue_index_min") is None:
            raise InputError("This atlas was built without a residue index (--no-residue-index).")
        protein = self.protein(record_id)
        if not 1 <= start <= end <= protein["length"]:
            raise InputError(f"Residues {start}-{end} are outside {record_id} (1-{protein['length']}).")
        # The residue index stays in the shards (database.py says why): the protein's shard only.
        index = self.layout.shard_dir(layer, int(protein["shard"])) / "residues.parquet"
        if not index.is_file():
            raise InputError(
                f"This atlas's residue index for layer {layer} is missing ({index.relative_to(self.layout.root)}): "
                "its shards folder was removed or is incomplete. Run the same `atlas build` again to restore it."
            )
        return self._query(
            """SELECT feature, max(activation) AS max_activation, arg_max(position, activation) AS peak_position,
                      count(*) AS residues
               FROM read_parquet(?) WHERE protein_index = ? AND position BETWEEN ? AND ?
               GROUP BY feature ORDER BY max_activation DESC, feature""",
            [str(index), int(protein["protein_index"]), start, end],
        )

    def search(self, layer: int, text: str, limit: int = 50) -> pd.DataFrame:
        """Features by concept name, by words of their top proteins' descriptions, or by number."""
        self.check(layer)
        text = (text or "").strip()
        if not text:
            raise InputError("Type a concept, a keyword or a feature number to search.")
        if text.isdigit():
            self.check(layer, int(text))
            return pd.DataFrame({"feature": [int(text)], "match": ["feature number"], "score": [1.0]})
        if limit < 1:
            raise InputError(f"The number of search results must be at least 1 (got {limit}).")
        # `%` and `_` typed by the user are characters to find, not wildcards.
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
        return self._query(
            f"""WITH by_concept AS (
                   SELECT feature, 'concept: ' || concept AS match, {self._domain_column} AS score
                   FROM concept_metrics WHERE layer = ? AND concept ILIKE ? ESCAPE '\\'
                   QUALIFY row_number() OVER (PARTITION BY feature ORDER BY {self._rank}, concept) = 1),
               by_protein AS (
                   SELECT t.feature, 'top protein: ' || p.record_id || ' ' || p.description AS match,
                          t.activation / greatest(f.max_activation, 1e-12) * 0.5 AS score
                   FROM top t JOIN proteins p USING (protein_index) JOIN features f USING (layer, feature)
                   WHERE t.layer = ? AND (p.description ILIKE ? ESCAPE '\\' OR p.record_id ILIKE ? ESCAPE '\\')
                   QUALIFY row_number() OVER (PARTITION BY t.feature ORDER BY t.rank) = 1)
               SELECT feature, arg_max(match, score) AS match, max(score) AS score
               FROM (SELECT * FROM by_concept UNION ALL SELECT * FROM by_protein)
               GROUP BY feature ORDER BY score DESC, feature LIMIT ?""",
            [layer, pattern, layer, pattern, pattern, limit],
        )

    def feature_map(self, layer: int) -> pd.DataFrame:
        """Map coordinates of every live feature with frequency and best concept, for the scatter plot."""
        self.check(layer)
        return self._query(
            f"""SELECT f.feature, f.map_x, f.map_y, f.residue_frequency, f.max_activation,
                      coalesce(b.concept, '') AS best_concept, coalesce(b.{self._domain_column}, 0) AS best_f1
               FROM features f LEFT JOIN best_concepts b USING (layer, feature)
               WHERE f.layer = ? AND f.map_x IS NOT NULL AND NOT isnan(f.map_x) ORDER BY f.feature""",
            [layer],
        )

