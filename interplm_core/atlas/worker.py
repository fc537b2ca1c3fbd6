"""What computes shards: ESM-2 and the raw SAE of each layer, loaded once per process.

The local engine makes one in the building process; the Ray engine makes one inside
each Ray actor, so a worker loads the weights once and then processes many shards.
Both give bit-identical shards whatever their thread counts: MKL's strict reproducible
mode when it is on (see `reproducible.py`), one thread otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np

from ..pipeline import FeaturePipeline
from ..reproducible import strict_gemm_active, torch_threads
from ..sae import SparseAutoencoder
from ..settings import Settings
from ..weights import file_fingerprint
from .corpus import CorpusProtein
from .scale import inverse_scale, published_maxima
from .shard import ShardParams, ShardResult, compute_shard

SCALES = ("normalized", "raw")


class ShardWorker:
    def __init__(self, model: str, layers: list[int], scale: str, settings: Settings | None = None,
                 hash_weights: bool = True):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}")
        self.pipeline = FeaturePipeline(model=model, settings=settings, progress=False)
        self.scale = scale
        # Each weights file is hashed (for the manifest; `file_fingerprint` keeps the result)
        # on a thread while the next is loaded: SHA-256 of two 26 MB SAE files per layer was
        # a tenth of each extra layer's cost. A failure there is raised again by the manifest's
        # own call. Ray actors skip it: their driver writes the manifest.
        hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="weight-hashes")
        self.raw_saes: dict[int, SparseAutoencoder] = {}
        self.inv_scales: dict[int, np.ndarray | None] = {}
        for layer in layers:
            self.raw_saes[layer] = self.pipeline.sae(layer, normalized=False)
            if hash_weights:
                hashing.map(file_fingerprint, self.pipeline.weight_paths(layer, normalized=False))
            if scale == "normalized":
                normalized = self.pipeline.sae(layer, normalized=True)
                if hash_weights:
                    hashing.submit(file_fingerprint, self.pipeline.weight_paths(layer, normalized=True)[1])
                self.inv_scales[layer] = inverse_scale(published_maxima(self.raw_saes[layer], normalized))
            else:
                self.inv_scales[layer] = None
        hashing.shutdown(wait=True)
        self.strict_gemm = strict_gemm_active()

    def run(
        self,
        proteins: list[CorpusProtein],
        params: list[ShardParams],
        on_protein: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[int, ShardResult]]:
        """One shard's (layer, result) at every layer of `params`, from one ESM pass."""
        sae = self.raw_saes[params[0].layer]
        # Without MKL's strict mode, one thread: the only thread count every machine has.
        with nullcontext() if self.strict_gemm else torch_threads(1):
            yield from compute_shard(
                proteins,
                params,
                embed_layers=self.pipeline.embedder.embed_layers,
                encoders={p.layer: self.raw_saes[p.layer].pre_activations for p in params},
                inv_scales=self.inv_scales,
                feature_count=sae.dict_size,
                on_protein=on_protein,
            )

    def decoder_weight(self, layer: int) -> np.ndarray:
        """The raw SAE's decoder matrix [D, F] (columns are feature directions)."""
        return self.raw_saes[layer].decoder_weight.numpy()

    @property
    def synthetic(self) -> bool:
        return bool(self.pipeline.synthetic)
