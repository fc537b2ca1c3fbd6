"""The reference pipeline for benchmarks: Hugging Face `EsmModel` + the SAE, as InterPLM runs it.

Converts a fair-esm checkpoint (e.g. the synthetic one) into a Hugging Face model
directory (config, weights, vocabulary), so the reference and our pipeline run the very
same parameters and their outputs can be compared before they are timed.
"""

from __future__ import annotations

from pathlib import Path

import torch

# fair-esm parameter names (prefixes stripped) -> Hugging Face EsmModel names.
_LAYER_MAP = {
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "self_attn_layer_norm": "attention.LayerNorm",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
    "final_layer_norm": "LayerNorm",
}


def fair_esm_to_hf_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    state = {"embeddings.word_embeddings.weight": model.embed_tokens.weight}
    for name, tensor in model.state_dict().items():
        if name.startswith("layers."):
            _, index, rest = name.split(".", 2)
            for ours, theirs in _LAYER_MAP.items():
                if rest.startswith(ours + "."):
                    state[f"encoder.layer.{index}.{theirs}.{rest[len(ours) + 1:]}"] = tensor
        elif name.startswith("emb_layer_norm_after."):
            state[f"encoder.{name}"] = tensor
    return state


def export_hf_model(model: torch.nn.Module, alphabet, out_dir: Path) -> Path:
    """Write a `from_pretrained`-loadable EsmModel directory with the same weights."""
    from transformers import EsmConfig, EsmModel

    config = EsmConfig(
        vocab_size=len(alphabet.all_toks),
        hidden_size=model.embed_dim,
        num_hidden_layers=model.num_layers,
        num_attention_heads=model.attention_heads,
        intermediate_size=4 * model.embed_dim,
        position_embedding_type="rotary",
        token_dropout=True,
        mask_token_id=alphabet.mask_idx,
        pad_token_id=alphabet.padding_idx,
        emb_layer_norm_before=False,
        max_position_embeddings=1026,
        layer_norm_eps=1e-5,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    hf = EsmModel(config, add_pooling_layer=False)
    missing, unexpected = hf.load_state_dict(fair_esm_to_hf_state(model), strict=False)
    leftovers = [k for k in missing if not any(s in k for s in ("rotary", "position_ids", "contact_head"))]
    if leftovers or unexpected:
        raise RuntimeError(f"conversion incomplete: missing {leftovers}, unexpected {unexpected}")
    out_dir.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(out_dir)
    (out_dir / "vocab.txt").write_text("\n".join(alphabet.all_toks) + "\n")
    return out_dir


class HFReference:
    """InterPLM's way: EsmModel(output_hidden_states=True), then the SAE encode."""

    def __init__(self, model_dir: Path, sae, reload_per_call: bool):
        self.model_dir = Path(model_dir)
        self.sae = sae
        self.reload_per_call = reload_per_call
        self._model = self._tokenizer = None
        if not reload_per_call:
            self._model, self._tokenizer = self._load()

    def _load(self):
        from transformers import EsmModel, EsmTokenizer

        tokenizer = EsmTokenizer.from_pretrained(str(self.model_dir))
        model = EsmModel.from_pretrained(str(self.model_dir), add_pooling_layer=False).eval()
        return model, tokenizer

    @torch.no_grad()
    def embed(self, seq: str, layer: int) -> torch.Tensor:
        model, tokenizer = self._load() if self.reload_per_call else (self._model, self._tokenizer)
        inputs = tokenizer(seq, return_tensors="pt", add_special_tokens=True)
        out = model(**inputs, output_hidden_states=True)
        return out.hidden_states[layer][0, 1:-1]

    @torch.no_grad()
    def features(self, seq: str, layer: int) -> torch.Tensor:
        return self.sae.encode(self.embed(seq, layer))
