"""Which protein language models and SAEs the explorer knows, and where their files live.

Adding a model (ESM-2 650M with its InterPLM SAEs) is one more entry here: the weights
store, the embedder and the SAE read every size and file name from these specs.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class ModelSpec:
    """An ESM-2 checkpoint and the InterPLM SAE repository trained on its layers."""

    key: str
    esm_name: str  # fair-esm's name: file `{esm_name}.pt` and `{esm_name}-contact-regression.pt`
    num_layers: int
    embed_dim: int
    attention_heads: int
    sae_repo: str  # Hugging Face repository id
    sae_layers: tuple[int, ...]
    dict_size: int
    label: str  # what the app shows, e.g. "ESM-2 8M"
    default_layer: int  # the layer a new session opens at
    max_residues: int = 1022  # 1,024 positions minus BOS and EOS

    @property
    def sae_dir_name(self) -> str:
        """Folder name of the SAE repository inside INTERPLM_WEIGHTS_DIR."""
        return self.sae_repo.split("/")[-1]

    def sae_filename(self, layer: int, normalized: bool) -> str:
        """Path of one SAE file inside its repository."""
        self.check_layer(layer)
        kind = "normalized" if normalized else "unnormalized"
        return f"layer_{layer}/ae_{kind}.pt"

    def check_layer(self, layer: int) -> None:
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise InputError(f"The layer must be a whole number such as 3, not {layer!r}.")
        if layer not in self.sae_layers:
            raise InputError(
                f"{self.esm_name} has InterPLM SAEs for layers "
                f"{', '.join(map(str, self.sae_layers))}; layer {layer} has none."
            )


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            key="esm2_t6_8M",
            esm_name="esm2_t6_8M_UR50D",
            num_layers=6,
            embed_dim=320,
            attention_heads=20,
            sae_repo="Elana/InterPLM-esm2-8m",
            sae_layers=(1, 2, 3, 4, 5, 6),
            dict_size=10_240,
            label="ESM-2 8M",
            default_layer=3,
        ),
        ModelSpec(
            key="esm2_t33_650M",
            esm_name="esm2_t33_650M_UR50D",
            num_layers=33,
            embed_dim=1280,
            attention_heads=20,
            sae_repo="Elana/InterPLM-esm2-650m",
            sae_layers=(1, 9, 18, 24, 30, 33),
            dict_size=10_240,
            label="ESM-2 650M",
            default_layer=18,
        ),
    )
}

DEFAULT_MODEL = "esm2_t6_8M"


def get_model_spec(key: str = DEFAULT_MODEL) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise InputError(f"Unknown model '{key}'. Known models: {', '.join(MODELS)}.") from None
