"""Seeded synthetic weights in exactly the real file formats, for tests and offline work.

Writes the layout `INTERPLM_WEIGHTS_DIR` expects, which is also the layout of a Hugging
Face repository below `InterPLM-esm2-8m/`:

    esm2_t6_8M_UR50D.pt                       fair-esm checkpoint: {"model", "cfg"}
    esm2_t6_8M_UR50D-contact-regression.pt    {"model": contact_head.regression.*}
    InterPLM-esm2-8m/layer_{L}/ae_unnormalized.pt
    InterPLM-esm2-8m/layer_{L}/ae_normalized.pt   (legacy fold of the unnormalised file)

The ESM-2 model is fair-esm's own architecture with random (seeded) parameters. Each SAE
has unit-norm decoder columns, encoder rows along them, and biases set so that about 3%
of residues of a calibration corpus fire each feature; a few features never fire and
are dead (maximum 0), as in the real files. The maxima folded into `ae_normalized.pt`
are the per-feature maxima over that corpus. Both kinds of file carry a marker
(`cfg[SYNTHETIC_MARK]`, `state_dict._metadata[""][SYNTHETIC_MARK]`) that the rest of the
product reads to warn that these features mean nothing biologically.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .registry import ModelSpec, get_model_spec
from .weights import SYNTHETIC_MARK

#: Background amino-acid frequencies (UniProtKB/Swiss-Prot) for the calibration corpus.
AA_FREQUENCIES = {
    "A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75, "G": 7.07,
    "H": 2.27, "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86, "P": 4.70, "S": 6.56,
    "T": 5.34, "W": 1.08, "Y": 2.92, "V": 6.87,
}
FIRING_FRACTION = 0.03
DEAD_FRACTION = 0.02


def random_proteins(count: int, seed: int, min_len: int = 40, max_len: int = 200) -> list[str]:
    """Seeded random sequences with natural amino-acid composition."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(AA_FREQUENCIES))
    p = np.array(list(AA_FREQUENCIES.values()))
    p = p / p.sum()
    return [
        "".join(rng.choice(letters, size=int(rng.integers(min_len, max_len + 1)), p=p))
        for _ in range(count)
    ]


def build_synthetic_esm(spec: ModelSpec, seed: int) -> tuple[torch.nn.Module, Any]:
    """fair-esm's ESM2 with seeded random parameters."""
    import esm

    torch.manual_seed(seed)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = esm.model.esm2.ESM2(
        num_layers=spec.num_layers,
        embed_dim=spec.embed_dim,
        attention_heads=spec.attention_heads,
        alphabet=alphabet,
        token_dropout=True,
    )
    return model.eval(), alphabet


def esm_checkpoint_dicts(model: torch.nn.Module, spec: ModelSpec, seed: int) -> tuple[dict, dict]:
    """The model and regression dicts in fair-esm's published layout."""
    model_state, regression_state = {}, {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().clone().float()
        if key.startswith("contact_head."):
            regression_state[key] = tensor
        elif key.startswith("lm_head."):
            model_state[f"encoder.{key}"] = tensor
        else:
            model_state[f"encoder.sentence_encoder.{key}"] = tensor
    cfg_model = argparse.Namespace(
        arch=f"esm2_t{spec.num_layers}",
        encoder_layers=spec.num_layers,
        encoder_embed_dim=spec.embed_dim,
        encoder_ffn_embed_dim=4 * spec.embed_dim,
        encoder_attention_heads=spec.attention_heads,
        token_dropout=True,
    )
    marker = f"synthetic weights written by InterPLM Explorer, seed {seed}"
    checkpoint = {"model": model_state, "cfg": {"model": cfg_model, SYNTHETIC_MARK: marker}}
    regression = {"model": regression_state}
    return checkpoint, regression


def synthetic_sae_state_dicts(
    embeddings: torch.Tensor, dict_size: int, seed: int
) -> tuple[collections.OrderedDict, collections.OrderedDict, np.ndarray]:
    """(unnormalised, legacy-normalised, maxima [F]) for one layer, calibrated on `embeddings` [N, D]."""
    generator = torch.Generator().manual_seed(seed)
    dim = embeddings.shape[1]
    decoder = torch.randn(dim, dict_size, generator=generator)
    decoder /= decoder.norm(dim=0, keepdim=True)
    bias = embeddings.mean(dim=0)
    scale = 1.0 / float((embeddings - bias).std())
    encoder = decoder.T.contiguous() * scale
    projections = encoder @ (embeddings - bias).T  # [F, N]: reductions run along rows
    k = max(1, round((1.0 - FIRING_FRACTION) * projections.shape[1]))
    encoder_bias = -torch.kthvalue(projections, k, dim=1).values
    top = projections.max(dim=1).values
    dead = torch.randperm(dict_size, generator=generator)[: int(DEAD_FRACTION * dict_size)]
    encoder_bias[dead] = -(top[dead] + 1.0)
    maxima = torch.relu(top + encoder_bias)  # 0 exactly for dead features

    unnormalized = _sae_state(bias, encoder, encoder_bias, decoder, seed)
    with torch.no_grad():
        folded_encoder = encoder / maxima[:, None]
        folded_bias = encoder_bias / maxima
        folded_decoder = decoder * maxima[None, :]
    for tensor in (folded_encoder, folded_bias, folded_decoder):
        tensor[~torch.isfinite(tensor)] = 0.0
    folded_encoder[maxima == 0] = 0.0
    folded_bias[maxima == 0] = 0.0
    normalized = _sae_state(bias, folded_encoder, folded_bias, folded_decoder, seed)
    return unnormalized, normalized, maxima.numpy()


def _sae_state(bias, encoder, encoder_bias, decoder, seed) -> collections.OrderedDict:
    state = collections.OrderedDict(
        [
            ("bias", bias.float().contiguous()),
            ("encoder.weight", encoder.float().contiguous()),
            ("encoder.bias", encoder_bias.float().contiguous()),
            ("decoder.weight", decoder.float().contiguous()),
        ]
    )
    # nn.Module.state_dict() keeps per-module metadata here; we add our provenance mark.
    state._metadata = collections.OrderedDict(  # type: ignore[attr-defined]  # read back by torch.load
        [("", {"version": 1, SYNTHETIC_MARK: f"seed {seed}"}), ("encoder", {"version": 1}), ("decoder", {"version": 1})]
    )
    return state


def write_synthetic_weights(
    out_dir: Path, seed: int = 0, model: str = "esm2_t6_8M", layers: list[int] | None = None
) -> Path:
    """Write a complete synthetic weights directory; return its path."""
    spec = get_model_spec(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    esm_model, alphabet = build_synthetic_esm(spec, seed)
    checkpoint, regression = esm_checkpoint_dicts(esm_model, spec, seed)
    torch.save(checkpoint, out_dir / f"{spec.esm_name}.pt")
    torch.save(regression, out_dir / f"{spec.esm_name}-contact-regression.pt")

    corpus = random_proteins(16, seed)
    _, _, tokens = alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(corpus)])
    wanted = layers or list(spec.sae_layers)
    for layer in wanted:
        spec.check_layer(layer)
    with torch.inference_mode():
        reps = esm_model(tokens, repr_layers=wanted)["representations"]
    for layer in wanted:
        rows = torch.cat([reps[layer][i, 1 : len(s) + 1] for i, s in enumerate(corpus)])
        unnormalized, normalized, _ = synthetic_sae_state_dicts(
            rows.clone(), spec.dict_size, seed * 1000 + layer
        )
        layer_dir = out_dir / spec.sae_dir_name / f"layer_{layer}"
        layer_dir.mkdir(parents=True, exist_ok=True)
        torch.save(unnormalized, layer_dir / "ae_unnormalized.pt")
        torch.save(normalized, layer_dir / "ae_normalized.pt")
    (out_dir / "README.txt").write_text(
        f"Synthetic weights (seed {seed}) written by InterPLM Explorer for tests and offline\n"
        "development. Same formats as the real files; the features mean nothing biologically.\n"
    )
    return out_dir
