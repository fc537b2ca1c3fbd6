"""From sequences to SAE features: the one entry point the app, the CLI and notebooks use.

`FeaturePipeline` loads ESM-2 once and each SAE on first use, answers from the in-process
and on-disk caches when it can, and batches whatever is left into as few forward passes
as possible.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .esm_embed import EsmEmbedder, load_embedder
from .memory_cache import MemoryCache
from .ranking import rank_features
from .registry import DEFAULT_MODEL, get_model_spec
from .results_cache import CachedArrays, DiskResultCache, result_key
from .sae import SparseAutoencoder, load_sae, reconstruction_quality
from .sequences import SequenceRecord, clean_sequence
from .settings import Settings, get_settings
from .weights import WeightsFile, esm_checkpoint_files, file_fingerprint, is_synthetic_file, sae_file


@dataclass
class FeatureResult:
    """SAE feature activations of one protein at one layer."""

    record_id: str
    sequence: str
    model: str
    layer: int
    normalized: bool
    activations: np.ndarray  # [length, dict_size] float32
    # How well the SAE reconstructs the embeddings; None when the caller asked for the
    # activations alone (`iter_features(..., reconstruction=False)`).
    residue_error: np.ndarray | None  # [length] SAE reconstruction MSE per residue
    mse: float | None
    fraction_variance_explained: float | None
    synthetic: bool
    from_cache: bool = False

    @property
    def length(self) -> int:
        return self.activations.shape[0]

    def top_features(self, k: int = 10, by: str = "max") -> list[dict]:
        """The k features that fire most on this protein, ordered by `by` (see `ranking.rank_features`).

        Only the k ranked columns are summarised (one pass over the whole matrix, in the
        ranking, instead of three): the CLI prints this for every record of a corpus.
        """
        ranked = rank_features(self.activations, k, by)
        columns = self.activations[:, ranked]  # [L, k], C-ordered: the same sums as over the full matrix
        maxima, means = columns.max(axis=0), columns.mean(axis=0)
        return [
            {
                "feature": int(f),
                "max_activation": float(maxima[i]),
                "mean_activation": float(means[i]),
                "argmax_position": int(columns[:, i].argmax()) + 1,
                "active_residues": int((columns[:, i] > 0).sum()),
            }
            for i, f in enumerate(ranked)
        ]


@dataclass
class PipelineStats:
    """Counts that show where answers came from (tests and the status panel read them)."""

    model_calls: int = 0
    memory_hits: int = 0
    disk_hits: int = 0


def _as_record(item: SequenceRecord | str) -> SequenceRecord:
    """A record as given, or a bare sequence string validated like any other input."""
    if isinstance(item, SequenceRecord):
        return item
    if not isinstance(item, str):
        raise InputError(f"Expected a protein sequence (text) or a SequenceRecord, not {type(item).__name__}.")
    return SequenceRecord("query", clean_sequence(item))


class FeaturePipeline:
    """ESM-2 + InterPLM SAE for one model, with caches. Safe to share between threads."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        settings: Settings | None = None,
        progress: bool = True,
        memory_cache_bytes: int | None = None,
    ):
        self.spec = get_model_spec(model)
        self.settings = settings or get_settings()
        self.progress = progress
        self.memory: MemoryCache[CachedArrays] = MemoryCache(
            self.settings.memory_cache_bytes if memory_cache_bytes is None else memory_cache_bytes
        )
        self.disk = DiskResultCache(self.settings.cache_dir / "features", self.settings.cache_max_bytes)
        self.stats = PipelineStats()
        self._embedder: EsmEmbedder | None = None
        self._saes: dict[tuple[int, bool], tuple[SparseAutoencoder, WeightsFile]] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------ weights

    @property
    def embedder(self) -> EsmEmbedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.spec, self.settings, progress=self.progress)
            return self._embedder

    def sae(self, layer: int, normalized: bool = True) -> SparseAutoencoder:
        with self._lock:
            key = (layer, normalized)
            if key not in self._saes:
                self._saes[key] = load_sae(self.spec, layer, normalized, self.settings)
            return self._saes[key][0]

    def weight_paths(self, layer: int, normalized: bool) -> tuple[Path, Path]:
        """The ESM and SAE files a result depends on, found (or fetched) without loading them."""
        with self._lock:
            if self._embedder is not None:
                esm_path = self._embedder.files["model"].path
            else:
                esm_path = esm_checkpoint_files(self.spec, self.settings, self.progress)["model"].path
            loaded = self._saes.get((layer, normalized))
        sae_path = loaded[1].path if loaded else sae_file(self.spec, layer, normalized, self.settings).path
        return esm_path, sae_path

    def flush(self) -> None:
        """Wait until every computed result is in the on-disk cache."""
        self.disk.flush()

    def status(self) -> dict:
        """What is loaded and where it came from, for the status panel."""
        with self._lock:
            files = []
            if self._embedder is not None:
                files += [("ESM-2", f) for f in self._embedder.files.values()]
            files += [
                (f"SAE layer {layer} ({'normalised' if norm else 'raw'})", wf)
                for (layer, norm), (_, wf) in sorted(self._saes.items())
            ]
            return {
                "model": self.spec.esm_name,
                "synthetic": self.synthetic,
                "files": [{"what": what, "path": str(f.path), "source": f.source, "source_label": f.source_label}
                          for what, f in files],
                "disk_cache_bytes": self.disk.size_bytes(),
                "disk_cache_dir": str(self.disk.directory),
                "stats": vars(self.stats).copy(),
            }

    @property
    def synthetic(self) -> bool | None:
        """True if any loaded weights are synthetic; None before anything is loaded."""
        with self._lock:
            flags = ([self._embedder.synthetic] if self._embedder else []) + [
                sae.synthetic for sae, _ in self._saes.values()
            ]
        return any(flags) if flags else None

    # ------------------------------------------------------------ features

    def features(
        self,
        records: Sequence[SequenceRecord | str],
        layer: int,
        normalized: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[FeatureResult]:
        """Features for each record, from the caches where possible."""
        return list(self.iter_features(records, layer, normalized, on_progress))

    def iter_features(
        self,
        records: Sequence[SequenceRecord | str],
        layer: int,
        normalized: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
        chunk: int = 32,
        remember: bool = True,
        reconstruction: bool = True,
        allocate: Callable[[int, int], np.ndarray] | None = None,
    ) -> Iterator[FeatureResult]:
        """Features for each record, in order, `chunk` records at a time.

        A corpus is never held whole: each chunk is looked up in the caches, the misses
        run through ESM-2 in one batched call, and its results are yielded before the
        next chunk starts, so memory stays flat however many records there are.
        `remember=False` reads the caches but does not fill them: for an export whose
        output file is the durable copy (filling the disk cache cost a quarter of a
        corpus run's time, and the memory cache would hold arrays nobody asks for again).
        `reconstruction=False` skips the SAE's decode (a product up to the encoder's size)
        for a caller that reports no reconstruction error: its results carry
        None there unless a cache had them. Results bound for the caches are always
        computed whole, so a later caller who wants the error finds it.
        `allocate(rows, features)` gives the memory each computed activation matrix is
        encoded into (float32, C order): the export's reusable, disk-aligned buffers. It
        serves only results not remembered (a cached array must keep its memory).
        """
        self.spec.check_layer(layer)
        checked = [_as_record(r) for r in records]
        paths = self.weight_paths(layer, normalized)
        fingerprints = tuple(file_fingerprint(p) for p in paths)
        synthetic = any(is_synthetic_file(p) for p in paths)
        total = len(checked)
        for start in range(0, total, chunk):
            part = checked[start:start + chunk]
            keys = [result_key(r.sequence, self.spec.key, layer, normalized, fingerprints) for r in part]
            found = [self._cached(key) for key in keys]
            missing = [i for i, hit in enumerate(found) if hit is None]
            embeddings: dict[int, np.ndarray] = {}
            if missing:
                sae = self.sae(layer, normalized)
                embeddings = dict(zip(missing, self.embedder.embed([part[i].sequence for i in missing], layer)))
                self._count("model_calls")
            # Each result is encoded just before it is yielded: a consumer (the export's
            # writer thread) takes it while the next one is encoded, and only the chunk's
            # small embeddings wait, not its [residues, features] arrays.
            for index, record in enumerate(part):
                ready = found[index]
                if ready is None:
                    embedding = embeddings.pop(index)
                    out = allocate(len(embedding), sae.dict_size) if allocate and not remember else None
                    ready = self._encode(sae, embedding, normalized, reconstruction or remember, out)
                    if remember:
                        self.memory.put(keys[index], ready)
                        self.disk.put_later(keys[index], ready)
                if on_progress and index == len(part) - 1:
                    on_progress(start + len(part), total)
                yield self._result(record, layer, normalized, ready, synthetic, from_cache=index not in missing)

    def _cached(self, key: str) -> CachedArrays | None:
        cached = self.memory.get(key)
        if cached is not None:
            self._count("memory_hits")
            return cached
        cached = self.disk.get(key)
        if cached is not None:
            self._count("disk_hits")
            self.memory.put(key, cached)
        return cached

    def _count(self, counter: str) -> None:
        """`+=` on a shared counter is not atomic: sessions run on threads of one process."""
        with self._lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    @staticmethod
    def _encode(sae: SparseAutoencoder, embedding: np.ndarray, normalized: bool, reconstruct: bool,
                out: np.ndarray | None = None) -> CachedArrays:
        x = torch.from_numpy(embedding).to(sae.device)
        raw = sae.encode_raw(x, torch.from_numpy(out) if out is not None and sae.device.type == "cpu" else None)
        # The decode reads the raw activations, so it comes before the in-place rescale.
        quality = reconstruction_quality(x, sae.decode_raw(raw)) if reconstruct else None
        features = sae.rescaled(raw, normalized).cpu().numpy()
        if quality is None:
            return CachedArrays(features, None, None, None)
        return CachedArrays(features, quality.residue_error, quality.mse, quality.fraction_variance_explained)

    def _result(self, record, layer, normalized, arrays: CachedArrays, synthetic: bool, from_cache: bool) -> FeatureResult:
        return FeatureResult(
            record_id=record.id,
            sequence=record.sequence,
            model=self.spec.key,
            layer=layer,
            normalized=normalized,
            activations=arrays.activations,
            residue_error=arrays.residue_error,
            mse=arrays.mse,
            fraction_variance_explained=arrays.fve,
            synthetic=synthetic,
            from_cache=from_cache,
        )
