"""InterPLM's ReLU sparse autoencoder: encode, decode and reconstruction quality.

Reads both published generations of SAE files (see shared formats):
- legacy `ae_normalized.pt`: the per-feature maxima are folded into the weights, so the
  ReLU output is already normalised;
- v1.0 files with an `activation_rescale_factor` buffer (not all ones): normalised
  features are the ReLU output divided by it, with dead features (factor 0) set to 0
  instead of InterPLM's NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import InputError

if TYPE_CHECKING:
    from .registry import ModelSpec
    from .settings import Settings
    from .weights import WeightsFile

REQUIRED_KEYS = ("bias", "encoder.weight", "encoder.bias", "decoder.weight")


@dataclass
class SparseAutoencoder:
    """Weights of one SAE, as float32 tensors on the CPU."""

    bias: torch.Tensor  # [D] decoder bias, subtracted before encoding
    encoder_weight: torch.Tensor  # [F, D]
    encoder_bias: torch.Tensor  # [F]
    decoder_weight: torch.Tensor  # [D, F]
    rescale: torch.Tensor | None = None  # [F] per-feature maxima (v1.0 files), else None
    synthetic: bool = False
    _decoder_t: torch.Tensor | None = field(default=None, repr=False)  # [F, D], made on first decode

    @classmethod
    def from_state_dict(cls, state: dict, synthetic: bool = False) -> SparseAutoencoder:
        missing = [k for k in REQUIRED_KEYS if k not in state]
        if missing:
            raise InputError(
                f"This file is not an InterPLM SAE: it lacks {', '.join(missing)}. "
                "Use a layer_N/ae_normalized.pt or ae_unnormalized.pt file."
            )
        tensors = {k: state[k].detach().to(torch.float32).contiguous() for k in REQUIRED_KEYS}
        features, dim = tensors["encoder.weight"].shape
        if tensors["decoder.weight"].shape != (dim, features) or tensors["bias"].shape != (dim,):
            raise InputError("The SAE file's tensor shapes do not fit together; the file is damaged.")
        rescale = state.get("activation_rescale_factor")
        if rescale is not None:
            rescale = rescale.detach().to(torch.float32)
            if torch.all(rescale == 1):
                rescale = None  # v1.0 file saved without maxima: nothing to divide by
        return cls(
            bias=tensors["bias"],
            encoder_weight=tensors["encoder.weight"],
            encoder_bias=tensors["encoder.bias"],
            decoder_weight=tensors["decoder.weight"],
            rescale=rescale,
            synthetic=synthetic,
        )

    @property
    def device(self) -> torch.device:
        return self.encoder_weight.device

    def to(self, device: torch.device | str) -> SparseAutoencoder:
        """The same SAE with its tensors on `device` (inputs are moved there when encoding)."""
        return SparseAutoencoder(
            self.bias.to(device), self.encoder_weight.to(device), self.encoder_bias.to(device),
            self.decoder_weight.to(device), None if self.rescale is None else self.rescale.to(device),
            self.synthetic,
        )

    @property
    def dict_size(self) -> int:
        return self.encoder_weight.shape[0]

    @property
    def input_dim(self) -> int:
        return self.encoder_weight.shape[1]

    def with_maxima(self, maxima: np.ndarray | torch.Tensor) -> SparseAutoencoder:
        """The same SAE normalised by a user's own per-feature maxima [F] (v1.0 style)."""
        maxima = torch.as_tensor(np.asarray(maxima), dtype=torch.float32)
        if maxima.shape != (self.dict_size,):
            raise InputError(f"Expected {self.dict_size} maxima, got shape {tuple(maxima.shape)}.")
        return SparseAutoencoder(
            self.bias, self.encoder_weight, self.encoder_bias, self.decoder_weight, maxima, self.synthetic
        )

    @torch.inference_mode()
    def pre_activations(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's output before its ReLU: [N, D] -> [N, F], on the SAE's device
        (into `out` [N, F] when given: the same numbers, in the caller's memory)."""
        x = x.to(self.device)
        return torch.addmm(self.encoder_bias, x - self.bias, self.encoder_weight.T, out=out)

    @torch.inference_mode()
    def encode_raw(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """ReLU activations as the file's weights give them: [N, D] -> [N, F], on the SAE's device."""
        return self.pre_activations(x, out).relu_()

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, normalized: bool = True) -> torch.Tensor:
        """Feature activations [L, F] of embeddings `x` [L, D]; normalised by the rescale buffer when the file has one."""
        return self.rescaled(self.encode_raw(x), normalized)

    def rescaled(self, features_raw: torch.Tensor, normalized: bool) -> torch.Tensor:
        """Divide raw activations [L, F] by the maxima [F] (in place); dead features become 0, not NaN."""
        if normalized and self.rescale is not None:
            scale = torch.where(self.rescale > 0, 1.0 / self.rescale, torch.zeros_like(self.rescale))
            features_raw.mul_(scale)
        return features_raw

    @torch.inference_mode()
    def decode_raw(self, features_raw: torch.Tensor) -> torch.Tensor:
        """Reconstruction [N, D] from raw (file-scale) activations [N, F].

        Only the features that fire somewhere in `features_raw` enter the product: a
        protein uses a fraction of the dictionary, the others add exact zeros, and
        gathering those columns costs far less than a sparse (CSR) copy of the matrix.
        """
        if self._decoder_t is None:
            self._decoder_t = self.decoder_weight.T.contiguous()
        used = torch.nonzero(features_raw.amax(dim=0) > 0).squeeze(1)
        if len(used) > features_raw.shape[1] // 2:
            return torch.addmm(self.bias, features_raw, self._decoder_t)
        return torch.addmm(self.bias, features_raw[:, used], self._decoder_t[used])


@dataclass(frozen=True)
class Reconstruction:
    """How well the SAE reconstructs one protein's embeddings."""

    mse: float  # mean squared error over residues and dimensions
    fraction_variance_explained: float  # 1 - SSE / total sum of squares about the mean
    residue_error: np.ndarray  # [L] mean squared error per residue


def reconstruction_quality(x: torch.Tensor, x_hat: torch.Tensor) -> Reconstruction:
    """Per-residue mean squared error [L], MSE and variance explained of `x_hat` [L, D] against `x` [L, D]."""
    err = (x - x_hat).pow(2)
    total = (x - x.mean(dim=0, keepdim=True)).pow(2).sum()
    fve = 1.0 - float(err.sum() / total) if float(total) > 0 else float("nan")
    return Reconstruction(
        mse=float(err.mean()),
        fraction_variance_explained=fve,
        residue_error=err.mean(dim=1).cpu().numpy().astype(np.float32),
    )


def load_sae(
    spec: ModelSpec, layer: int, normalized: bool, settings: Settings | None = None
) -> tuple[SparseAutoencoder, WeightsFile]:
    """Find (or download) one InterPLM SAE file and load it."""
    from .weights import is_synthetic_sae, load_torch_file, sae_file

    weights_file = sae_file(spec, layer, normalized, settings)
    state = load_torch_file(weights_file.path)
    if not isinstance(state, dict):
        raise InputError(f"{weights_file.path} is not a state dict; the file is damaged.")
    from .settings import get_settings, resolve_device

    sae = SparseAutoencoder.from_state_dict(state, synthetic=is_synthetic_sae(state))
    sae = sae.to(resolve_device((settings or get_settings()).device))
    if sae.input_dim != spec.embed_dim:
        raise InputError(
            f"{weights_file.path} expects {sae.input_dim}-dimensional embeddings, but "
            f"{spec.esm_name} makes {spec.embed_dim}: it belongs to another model."
        )
    return sae, weights_file
