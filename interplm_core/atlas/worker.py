"""What computes shards: ESM-2 and the raw SAE of each layer, loaded once per process.

The local engine makes one in the building process; the Ray engine makes one inside
each Ray actor, so a worker loads the weights once and then processes many shards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..pipeline import FeaturePipeline
from ..settings import Settings
from .corpus import CorpusProtein
from .scale import inverse_scale, published_maxima
from .shard import ShardParams, ShardResult, compute_shard

SCALES = ("normalized", "raw")


class ShardWorker:
    def __init__(self, model: str, layers: list[int], scale: str, settings: Settings | None = None):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}")
        self.pipeline = FeaturePipeline(model=model, settings=settings, progress=False)
        self.scale = scale
        self.raw_saes = {layer: self.pipeline.sae(layer, normalized=False) for layer in layers}
        self.inv_scales: dict[int, np.ndarray | None] = {}
        for layer in layers:
            if scale == "normalized":
                maxima = published_maxima(self.raw_saes[layer], self.pipeline.sae(layer, normalized=True))
                self.inv_scales[layer] = inverse_scale(maxima)
            else:
                self.inv_scales[layer] = None

    def run(
        self,
        proteins: list[CorpusProtein],
        params: ShardParams,
        on_protein: Callable[[int], None] | None = None,
    ) -> ShardResult:
        sae = self.raw_saes[params.layer]
        return compute_shard(
            proteins,
            params,
            embed=self.pipeline.embedder.embed,
            encode_raw=sae.encode_raw,
            inv_scale=self.inv_scales[params.layer],
            feature_count=sae.dict_size,
            on_protein=on_protein,
        )

    def decoder_weight(self, layer: int) -> np.ndarray:
        """The raw SAE's decoder matrix [D, F] (columns are feature directions)."""
        return self.raw_saes[layer].decoder_weight.numpy()

    @property
    def synthetic(self) -> bool:
        return bool(self.pipeline.synthetic)
