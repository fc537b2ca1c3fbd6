"""The per-feature scale in which an atlas reports activations.

An atlas always measures RAW (unnormalised) features, because InterPLM's maxima are the
plain global maximum of the raw feature over every residue of a corpus. It then reports
activations either on the published normalised scale (raw divided by the maxima the
published `ae_normalized.pt` was made with, i.e. Swiss-Prot's) or, with
`--unnormalized`, as raw values. Dead features (maximum 0) report 0, never NaN.
"""

from __future__ import annotations

import numpy as np
import torch

from ..sae import SparseAutoencoder


def published_maxima(raw_sae: SparseAutoencoder, normalized_sae: SparseAutoencoder) -> np.ndarray:
    """Per-feature maxima [F] the normalised SAE file divides by, recovered from the two files.

    v1.0 files carry them as `activation_rescale_factor`; legacy files folded them into the
    encoder (`W / m`), so the ratio of the raw to the normalised encoder row norms is m.
    """
    if normalized_sae.rescale is not None:
        return normalized_sae.rescale.numpy().astype(np.float32)
    raw_norm = raw_sae.encoder_weight.norm(dim=1)
    folded_norm = normalized_sae.encoder_weight.norm(dim=1)
    maxima = torch.where(folded_norm > 0, raw_norm / torch.where(folded_norm > 0, folded_norm, 1), 0)
    return maxima.numpy().astype(np.float32)


def inverse_scale(maxima: np.ndarray) -> np.ndarray:
    """1/m per feature ([F] -> [F]), 0 for dead features, as float32 (multiplied into raw activations)."""
    maxima = np.asarray(maxima, dtype=np.float32)
    out = np.zeros_like(maxima)
    np.divide(np.float32(1.0), maxima, out=out, where=maxima > 0)
    return out
