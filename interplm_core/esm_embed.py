"""Per-residue ESM-2 embeddings at one layer, computed only as deep as that layer.

Layer semantics follow InterPLM (Hugging Face `hidden_states[L]`, identical to fair-esm's
`repr_layers=[L]`): layer L is the output of transformer block L, and the last layer is
taken after the final LayerNorm. BOS, EOS and padding rows are dropped.

Long proteins (more than `max_residues`, 1,022 for ESM-2) are cut into overlapping
windows of `max_residues`, each tokenised with its own BOS/EOS. Stitching rule: window
starts are spaced `window - overlap` apart (the last one flush with the protein's end),
and each residue takes its row from the window in which it lies farthest from a window
edge (ties go to the earlier window). So every residue sees at least `overlap / 2`
residues of context on both sides wherever the protein allows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .registry import ModelSpec
from .settings import Settings

DEFAULT_OVERLAP = 256
#: Tokens (padded length x batch size) per forward pass when batching many proteins.
#: On a CPU a protein alone already keeps the matrix units busy, and padding plus masked
#: attention make big batches slower (measured: 32 proteins of 50-500 residues take 27%
#: longer at 4,096 tokens than at 1,024); a GPU wants large batches.
TOKENS_PER_BATCH = {"cpu": 1024, "cuda": 16384}


@dataclass(frozen=True)
class Window:
    """Residues [start, stop) of a protein run in one pass."""

    start: int
    stop: int


def plan_windows(length: int, window: int, overlap: int = DEFAULT_OVERLAP) -> list[Window]:
    """Window layout for a protein of `length` residues (one window if it fits)."""
    if length <= window:
        return [Window(0, length)]
    if not 0 <= overlap < window:
        raise ValueError("overlap must be smaller than the window")
    step = window - overlap
    starts = list(range(0, length - window, step)) + [length - window]
    return [Window(s, s + window) for s in starts]


def assign_residues(length: int, windows: list[Window]) -> np.ndarray:
    """For each residue, the index of the window it is read from (farthest from an edge): [length] int."""
    best = np.zeros(length, dtype=np.int64)
    best_margin = np.full(length, -1, dtype=np.int64)
    positions = np.arange(length)
    for index, win in enumerate(windows):
        inside = (positions >= win.start) & (positions < win.stop)
        margin = np.minimum(positions - win.start, win.stop - 1 - positions)
        better = inside & (margin > best_margin)
        best[better] = index
        best_margin[better] = margin[better]
    return best


def window_note(length: int, window: int, overlap: int = DEFAULT_OVERLAP) -> str | None:
    """What to tell a user about a protein longer than one window (None if it fits): the
    windows and which residues each one supplies, because past the first window the
    features differ from any single-pass computation."""
    windows = plan_windows(length, window, overlap)
    if len(windows) == 1:
        return None
    owner = assign_residues(length, windows)
    spans = ", ".join(f"{w.start + 1}–{w.stop}" for w in windows)
    used = []
    for index in range(len(windows)):
        positions = np.flatnonzero(owner == index)
        used.append(f"{positions[0] + 1}–{positions[-1] + 1} from window {index + 1}")
    return (
        f"{length:,} residues is more than ESM-2's {window:,}-residue window: features were computed in "
        f"{len(windows)} overlapping windows ({spans}) and stitched (residues {'; '.join(used)}), so they "
        "differ from a single pass over the whole chain."
    )


class Tokenizer:
    """fair-esm's `BatchConverter` for plain residue strings, without its per-character Python.

    The converter splits each string on special tokens before mapping characters one by
    one (6 ms for a 400-residue protein, 0.3 s of a 48-protein corpus); a residue string
    has no special tokens, so a 256-entry lookup gives the same indices. Anything not a
    single-letter token of the alphabet goes to fair-esm's converter, unchanged.
    """

    def __init__(self, alphabet):
        self.alphabet = alphabet
        self._converter = alphabet.get_batch_converter()
        self._table = np.full(256, -1, dtype=np.int64)
        for token, index in alphabet.tok_to_idx.items():
            if len(token) == 1 and ord(token) < 256:
                self._table[ord(token)] = index

    def __call__(self, sequences: list[str]) -> torch.Tensor:
        """Token ids [B, 2 + longest]: BOS, the residues, EOS, then padding."""
        try:
            codes = [self._table[np.frombuffer(s.encode("ascii"), dtype=np.uint8)] for s in sequences]
        except UnicodeEncodeError:
            codes = []
        if not codes or any(len(c) and c.min() < 0 for c in codes):
            return self._converter([(str(i), s) for i, s in enumerate(sequences)])[2]
        alphabet = self.alphabet
        tokens = np.full((len(sequences), max(map(len, codes)) + 2), alphabet.padding_idx, dtype=np.int64)
        tokens[:, 0] = alphabet.cls_idx
        for row, code in enumerate(codes):
            tokens[row, 1:len(code) + 1] = code
            tokens[row, len(code) + 1] = alphabet.eos_idx
        return torch.from_numpy(tokens)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding, as fair-esm applies it to queries and keys."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class EsmEmbedder:
    """A loaded ESM-2 model that turns sequences into layer-L residue embeddings.

    Thread-safe: the app shares one instance across sessions.
    """

    def __init__(
        self, model: torch.nn.Module, alphabet, spec: ModelSpec, synthetic: bool = False, device="cpu"
    ):
        self.device = torch.device(device)
        self.model: Any = model.eval().to(self.device)  # fair-esm's ESM2: its attributes are untyped
        self.alphabet = alphabet
        self.spec = spec
        self.synthetic = synthetic
        self.tokenize = Tokenizer(alphabet)
        self._lock = threading.Lock()
        self._qkv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.files: dict = {}  # the checkpoint files it was loaded from ("model", "regression")

    @torch.inference_mode()
    def forward_to_layer(self, tokens: torch.Tensor, layer: int) -> torch.Tensor:
        """ESM2.forward stopped after block `layer`: [B, T] -> [B, T, D]."""
        return self.forward_layers(tokens, [layer])[layer]

    @torch.inference_mode()
    def forward_layers(self, tokens: torch.Tensor, layers: list[int]) -> dict[int, torch.Tensor]:
        """ESM2.forward stopped after the deepest of `layers`, keeping each: {L: [B, T, D]}.

        One pass serves every requested layer (an atlas of layers 1-6 costs one pass to
        layer 6, not six passes).

        The same maths as fair-esm's forward with `repr_layers=[layer]` (the tests compare
        them), run on fair-esm's own parameters, but faster: one fused Q/K/V product per
        block, PyTorch's fused scaled-dot-product attention, rotary tables computed once
        per batch, and no attention weights materialised for nobody.
        """
        model = self.model
        if not layers or not all(1 <= layer <= model.num_layers for layer in layers):
            raise ValueError(f"layers must be in 1..{model.num_layers}")
        wanted, deepest = set(layers), max(layers)
        padding_mask = tokens.eq(model.padding_idx)
        x = model.embed_scale * model.embed_tokens(tokens)
        if model.token_dropout:
            # Same rescaling as training-time token dropout (no mask tokens at inference).
            mask = tokens == model.mask_idx
            x.masked_fill_(mask.unsqueeze(-1), 0.0)
            observed = mask.sum(-1).to(x.dtype) / (~padding_mask).sum(-1)
            x = x * (1 - 0.15 * 0.8) / (1 - observed)[:, None, None]
        has_padding = bool(padding_mask.any())
        if has_padding:
            x = x * (1 - padding_mask.unsqueeze(-1).type_as(x))
        # SDPA boolean mask: True where a key may be attended to.
        attend = (~padding_mask)[:, None, None, :] if has_padding else None
        cos, sin = self._rotary_tables(tokens.shape[1])
        kept = {}
        for index in range(deepest):
            x = self._block(index, x, attend, cos, sin)
            if index + 1 in wanted:
                kept[index + 1] = model.emb_layer_norm_after(x) if index + 1 == model.num_layers else x
        return kept

    @torch.inference_mode()
    def logits_from_layer(self, hidden: torch.Tensor, layer: int) -> torch.Tensor:
        """Masked-LM logits [B, T, vocab] from the layer-`layer` representation [B, T, D].

        The second half of fair-esm's forward, for hidden states someone changed in between
        (steering): blocks `layer + 1`..N, the final LayerNorm, then the LM head. When `layer`
        is the last one, `hidden` is already after the final LayerNorm (as `forward_to_layer`
        returns it), so only the LM head runs: an unchanged `hidden` gives fair-esm's logits.
        Sequences in `hidden` carry no padding (one protein, or equal lengths).
        """
        model = self.model
        if not 1 <= layer <= model.num_layers:
            raise ValueError(f"layer must be in 1..{model.num_layers}")
        x = hidden.to(self.device)
        if layer < model.num_layers:
            cos, sin = self._rotary_tables(x.shape[1])
            for index in range(layer, model.num_layers):
                x = self._block(index, x, None, cos, sin)
            x = model.emb_layer_norm_after(x)
        return model.lm_head(x)

    def _rotary_tables(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin [length, head_dim] of fair-esm's rotary angles (float32 angles, as it
        makes them), evaluated in float64 by NumPy and rounded to float32.

        Not `angles.cos()`: torch hands float32 cos to MKL's vector maths, which gave a
        different last bit in about one process in ten, on its first call only (seen as
        atlas shards that differed between two runs of the same build).
        """
        inv_freq = self.model.layers[0].self_attn.rot_emb.inv_freq
        freqs = torch.outer(torch.arange(length, dtype=inv_freq.dtype, device=inv_freq.device), inv_freq)
        angles = torch.cat((freqs, freqs), dim=-1).cpu().numpy().astype(np.float64)
        return (torch.from_numpy(np.cos(angles).astype(np.float32)).to(inv_freq.device),
                torch.from_numpy(np.sin(angles).astype(np.float32)).to(inv_freq.device))

    def _fused_qkv(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenated Q, K, V projection weights of block `index`, made once."""
        if self._qkv is None:
            fused = []
            for block in self.model.layers:
                attn = block.self_attn
                fused.append((
                    torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]).contiguous(),
                    torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]).contiguous(),
                ))
            self._qkv = fused
        return self._qkv[index]

    def _block(self, index: int, x: torch.Tensor, attend, cos, sin) -> torch.Tensor:
        """One pre-LayerNorm transformer block of ESM-2 on [B, T, D]."""
        block = self.model.layers[index]
        heads = block.self_attn.num_heads
        batch, length, dim = x.shape
        weight, bias = self._fused_qkv(index)
        qkv = torch.nn.functional.linear(block.self_attn_layer_norm(x), weight, bias)
        q, k, v = qkv.view(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        attn = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        attn = attn.transpose(1, 2).reshape(batch, length, dim)
        x = x + block.self_attn.out_proj(attn)
        hidden = torch.nn.functional.gelu(block.fc1(block.final_layer_norm(x)))
        return x + block.fc2(hidden)

    def embed(
        self,
        sequences: list[str],
        layer: int,
        tokens_per_batch: int | None = None,
        window: int | None = None,
        overlap: int = DEFAULT_OVERLAP,
    ) -> list[np.ndarray]:
        """Embeddings [len(seq), D] (float32) for each sequence, in input order."""
        return [e[layer] for e in self.embed_layers(sequences, [layer], tokens_per_batch, window, overlap)]

    def embed_layers(
        self,
        sequences: list[str],
        layers: list[int],
        tokens_per_batch: int | None = None,
        window: int | None = None,
        overlap: int = DEFAULT_OVERLAP,
    ) -> list[dict[int, np.ndarray]]:
        """For each sequence, {layer: embeddings [len(seq), D] float32}, from one ESM pass."""
        window = window or self.spec.max_residues
        tokens_per_batch = tokens_per_batch or TOKENS_PER_BATCH.get(self.device.type, 4096)
        # Every protein becomes one or more windows; all windows are batched together.
        pieces: list[str] = []
        layout: list[tuple[list[Window], list[int]]] = []
        for seq in sequences:
            windows = plan_windows(len(seq), window, overlap)
            ids = []
            for win in windows:
                ids.append(len(pieces))
                pieces.append(seq[win.start:win.stop])
            layout.append((windows, ids))
        piece_embeddings = self._embed_pieces(pieces, layers, tokens_per_batch)
        results = []
        for seq, (windows, ids) in zip(sequences, layout):
            if len(windows) == 1:
                results.append(piece_embeddings[ids[0]])
                continue
            owner = assign_residues(len(seq), windows)
            stitched = {}
            for layer in layers:
                out = np.empty((len(seq), piece_embeddings[ids[0]][layer].shape[1]), dtype=np.float32)
                for index, (win, piece_id) in enumerate(zip(windows, ids)):
                    rows = np.nonzero(owner == index)[0]
                    out[rows] = piece_embeddings[piece_id][layer][rows - win.start]
                stitched[layer] = out
            results.append(stitched)
        return results

    def _embed_pieces(self, pieces: list[str], layers: list[int], tokens_per_batch: int) -> list[dict[int, np.ndarray]]:
        """Run sequences that fit the context, in length-sorted batches under a token budget."""
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        out: list[dict[int, np.ndarray] | None] = [None] * len(pieces)
        batch: list[int] = []
        for index in order + [None]:
            if index is not None:
                longest = len(pieces[index]) + 2
                if not batch or longest * (len(batch) + 1) <= tokens_per_batch:
                    batch.append(index)
                    continue
            if batch:
                tokens = self.tokenize([pieces[i] for i in batch])
                with self._lock:
                    hidden = self.forward_layers(tokens.to(self.device), layers)
                hidden = {layer: h.float().cpu() for layer, h in hidden.items()}
                for row, i in enumerate(batch):
                    out[i] = {
                        layer: h[row, 1 : len(pieces[i]) + 1].numpy().astype(np.float32, copy=True)
                        for layer, h in hidden.items()
                    }
            batch = [index] if index is not None else []
        return out  # type: ignore[return-value]


def load_embedder(spec: ModelSpec, settings: Settings | None = None, progress: bool = True) -> EsmEmbedder:
    """Find (or download) the ESM-2 checkpoint and build an embedder from it."""
    import esm

    from .weights import esm_checkpoint_files, is_synthetic_esm, load_torch_file

    files = esm_checkpoint_files(spec, settings, progress=progress)
    checkpoint = load_torch_file(files["model"].path)
    regression = load_torch_file(files["regression"].path)
    synthetic = is_synthetic_esm(checkpoint)
    model, alphabet = esm.pretrained.load_model_and_alphabet_core(spec.esm_name, checkpoint, regression)
    from .settings import get_settings, resolve_device

    device = resolve_device((settings or get_settings()).device)
    embedder = EsmEmbedder(model, alphabet, spec, synthetic=synthetic, device=device)
    embedder.files = dict(files)
    return embedder
