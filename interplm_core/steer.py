"""Steering: clamp SAE features inside ESM-2 and read what the model then predicts.

InterPLM's intervention (its `interplm/sae/intervention.py`): at layer L the representation
h that the SAE reads (output of block L; after the final LayerNorm when L is the last
layer) is replaced at chosen positions by

    h' = h + sum_f (V_f - a_f(h)) * d_f

with a_f the feature's activation and d_f its decoder column, both in the scale of the
chosen SAE file (normalised: a_f divided by the feature's maximum and d_f multiplied by
it, so a_f * d_f is unchanged). That is decoding the clamped feature vector and adding
back the SAE's reconstruction error, without running the whole decoder. ESM-2's remaining
blocks, final LayerNorm (unless L is last) and LM head then run on the unmasked sequence
(`EsmEmbedder.logits_from_layer`).

Probabilities are a softmax over the model's whole vocabulary, read at the 20 standard
amino acids (`AMINO_ACIDS` order); BOS/EOS rows are dropped.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: The amino-acid lens clamps a feature to this multiple of its maximum on the protein.
LENS_AMPLIFY = 3.0
#: A lens change smaller than this (nats, mean over residues) names nothing.
LENS_MIN_NATS = 0.05


@dataclass(frozen=True)
class Baseline:
    """One protein at one layer, unsteered: what every steered run of it starts from."""

    sequence: str
    layer: int
    hidden: torch.Tensor  # [1, T, D] layer-L representation, BOS and EOS included
    log_probs: np.ndarray  # [L, 20] log-softmax over the full vocabulary at the 20 amino acids


@dataclass(frozen=True)
class SteerResult:
    """Predictions before and after clamping; positions are 1-based."""

    sequence: str
    layer: int
    normalized: bool
    clamps: tuple[tuple[int, float], ...]  # (feature, value)
    positions: np.ndarray  # [P] int, 1-based, sorted
    before_log: np.ndarray  # [L, 20] float32 log-probabilities
    after_log: np.ndarray  # [L, 20]

    @property
    def before(self) -> np.ndarray:
        return np.exp(self.before_log).astype(np.float32)

    @property
    def after(self) -> np.ndarray:
        return np.exp(self.after_log).astype(np.float32)

    def wild_type_delta(self) -> np.ndarray:
        """Change in log-probability of each residue's own amino acid [L]; NaN for non-standard ones."""
        out = np.full(len(self.sequence), np.nan, dtype=np.float32)
        for i, aa in enumerate(self.sequence):
            column = AMINO_ACIDS.find(aa)
            if column >= 0:
                out[i] = self.after_log[i, column] - self.before_log[i, column]
        return out


@dataclass(frozen=True)
class PredictionChange:
    """A position whose most likely amino acid changed; `p_*` is the new favourite's probability."""

    position: int  # 1-based
    wild_type: str
    was: str
    now: str
    p_before: float
    p_after: float

    def __str__(self) -> str:
        return f"{self.wild_type}{self.position} → {self.now}, p {self.p_before:.2f} → {self.p_after:.2f}"


def parse_positions(text: str | None, length: int) -> np.ndarray:
    """'5-9,12' -> array([5, 6, 7, 8, 9, 12]) (1-based, sorted, unique); None/'' -> every residue."""
    if text is None or not text.strip():
        return np.arange(1, length + 1)
    chosen: set[int] = set()
    for part in text.replace(" ", "").split(","):
        try:
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
            else:
                low = high = int(part)
        except ValueError:
            raise InputError(f"Cannot read positions '{text}': write them like 5-9,12 (1-based).") from None
        if low > high:
            raise InputError(f"Position range {part} runs backwards; write it low-high.")
        if low < 1 or high > length:
            raise InputError(f"Position {low if low < 1 else high} is outside the sequence (1-{length}).")
        chosen.update(range(low, high + 1))
    return np.array(sorted(chosen), dtype=np.int64)


def check_clamps(clamps: Mapping[int, float], dict_size: int) -> tuple[tuple[int, float], ...]:
    """Validated (feature, value) pairs in feature order."""
    if not clamps:
        raise InputError("Choose at least one feature to steer.")
    out = []
    for feature, value in sorted(clamps.items()):
        if not (isinstance(feature, (int, np.integer)) and 0 <= feature < dict_size):
            raise InputError(f"Feature {feature} does not exist: this SAE has features 0-{dict_size - 1}.")
        if not math.isfinite(float(value)):
            raise InputError(f"The clamp value for feature {feature} must be a finite number (got {value}).")
        out.append((int(feature), float(value)))
    return tuple(out)


def feature_activations(sae, rows: torch.Tensor, features: Sequence[int], normalized: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(a [N, k], d [D, k]): activations of `features` on `rows` and their decoder columns,
    both in the scale of the chosen file; only these k features are encoded."""
    index = torch.as_tensor(list(features), dtype=torch.long, device=sae.device)
    rows = rows.to(sae.device)
    encoder = sae.encoder_weight.index_select(0, index)
    activation = torch.addmm(sae.encoder_bias.index_select(0, index), rows - sae.bias, encoder.T).relu_()
    direction = sae.decoder_weight.index_select(1, index)
    if normalized and sae.rescale is not None:
        maxima = sae.rescale.index_select(0, index)
        alive = maxima > 0
        activation = torch.where(alive, activation / torch.where(alive, maxima, 1.0), 0.0)
        direction = direction * maxima  # dead features: direction 0, clamping them does nothing
    return activation, direction


def clamp_rows(sae, rows: torch.Tensor, clamps: Sequence[tuple[int, float]], normalized: bool) -> torch.Tensor:
    """h' = h + sum_f (V_f - a_f(h)) d_f for each row of `rows` [N, D]."""
    features = [f for f, _ in clamps]
    values = torch.tensor([v for _, v in clamps], dtype=rows.dtype, device=sae.device)
    activation, direction = feature_activations(sae, rows, features, normalized)
    return rows.to(sae.device) + (values - activation) @ direction.T


class Steerer:
    """Steered ESM-2 runs for one `FeaturePipeline` (its model and SAEs), cached by parameters.

    Thread-safe and small: the app keeps one per pipeline. Baselines (the layer-L state and
    unsteered predictions of a protein) and results live in bounded LRU dictionaries, so
    moving a slider back to an earlier value costs nothing and a new value one half-forward.
    """

    def __init__(self, pipeline, max_baselines: int = 16, max_results: int = 128):
        self.pipeline = pipeline
        self._baselines: OrderedDict = OrderedDict()
        self._results: OrderedDict = OrderedDict()
        self._limits = (max_baselines, max_results)
        self._lock = threading.RLock()
        self.model_runs = 0  # half-forwards run (tests read it to see the cache work)

    # ------------------------------------------------------------ checks

    def _check_sequence(self, sequence: str) -> None:
        limit = self.pipeline.spec.max_residues
        if not sequence:
            raise InputError("The sequence is empty.")
        if len(sequence) > limit:
            raise InputError(
                f"Steering runs one window of at most {limit} residues; this protein has {len(sequence)}. "
                "Steer a fragment (e.g. the domain of interest)."
            )

    # ------------------------------------------------------------ runs

    def baseline(self, sequence: str, layer: int) -> Baseline:
        """The unsteered layer-L state and predictions of `sequence` (cached)."""
        self.pipeline.spec.check_layer(layer)
        self._check_sequence(sequence)
        key = (sequence, layer)
        with self._lock:
            if key in self._baselines:
                self._baselines.move_to_end(key)
                return self._baselines[key]
        embedder = self.pipeline.embedder
        tokens = embedder.tokenize([sequence])
        with torch.inference_mode():
            hidden = embedder.forward_to_layer(tokens.to(embedder.device), layer)
            log_probs = self._amino_acid_log_probs(embedder.logits_from_layer(hidden, layer), len(sequence))
        base = Baseline(sequence, layer, hidden, log_probs)
        with self._lock:
            self.model_runs += 1
            self._baselines[key] = base
            while len(self._baselines) > self._limits[0]:
                self._baselines.popitem(last=False)
        return base

    def steer(
        self,
        sequence: str,
        layer: int,
        clamps: Mapping[int, float],
        positions: Sequence[int] | np.ndarray | None = None,
        normalized: bool = True,
    ) -> SteerResult:
        """Clamp each feature in `clamps` to its value at `positions` (1-based; None: every residue)."""
        self.pipeline.spec.check_layer(layer)
        self._check_sequence(sequence)
        pairs = check_clamps(clamps, self.pipeline.spec.dict_size)
        if positions is None:
            positions = np.arange(1, len(sequence) + 1)
        positions = np.unique(np.asarray(positions, dtype=np.int64))
        if positions.size == 0:
            raise InputError("Choose at least one position to steer.")
        if positions[0] < 1 or positions[-1] > len(sequence):
            bad = positions[0] if positions[0] < 1 else positions[-1]
            raise InputError(f"Position {bad} is outside the sequence (1-{len(sequence)}).")
        key = (sequence, layer, normalized, pairs, positions.tobytes())
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        base = self.baseline(sequence, layer)
        sae = self.pipeline.sae(layer, normalized)
        embedder = self.pipeline.embedder
        with torch.inference_mode():
            hidden = base.hidden.clone()
            rows = torch.as_tensor(positions, device=hidden.device)  # token index = 1-based position (BOS at 0)
            hidden[0, rows] = clamp_rows(sae, hidden[0, rows], pairs, normalized).to(hidden.device)
            after = self._amino_acid_log_probs(embedder.logits_from_layer(hidden, layer), len(sequence))
        result = SteerResult(sequence, layer, normalized, pairs, positions, base.log_probs, after)
        with self._lock:
            self.model_runs += 1
            self._results[key] = result
            while len(self._results) > self._limits[1]:
                self._results.popitem(last=False)
        return result

    def _amino_acid_log_probs(self, logits: torch.Tensor, length: int) -> np.ndarray:
        alphabet = self.pipeline.embedder.alphabet
        columns = [alphabet.get_idx(aa) for aa in AMINO_ACIDS]
        log_probs = torch.log_softmax(logits[0, 1 : length + 1].float(), dim=-1)[:, columns]
        return log_probs.cpu().numpy().astype(np.float32)

    # ------------------------------------------------------------ readings

    def activations(self, sequence: str, layer: int, feature: int, normalized: bool) -> np.ndarray:
        """Feature `feature`'s activation per residue [L], read from the cached baseline."""
        base = self.baseline(sequence, layer)
        check_clamps({feature: 0.0}, self.pipeline.spec.dict_size)
        with torch.inference_mode():
            activation, _ = feature_activations(self.pipeline.sae(layer, normalized),
                                                base.hidden[0, 1 : len(sequence) + 1], [feature], normalized)
        return activation[:, 0].cpu().numpy()

    def amino_acid_lens(self, sequence: str, layer: int, feature: int, normalized: bool,
                        amplify: float = LENS_AMPLIFY) -> np.ndarray | None:
        """Mean change in log-probability per amino acid [20] when `feature` is clamped to
        `amplify` x its maximum where it fires on this protein; None if it is silent here."""
        values = self.activations(sequence, layer, feature, normalized)
        where = np.flatnonzero(values > 0) + 1
        if where.size == 0:
            return None
        result = self.steer(sequence, layer, {feature: amplify * float(values.max())}, where, normalized)
        return (result.after_log - result.before_log)[where - 1].mean(axis=0)

    def ablation(self, sequence: str, layer: int, features: Sequence[int], normalized: bool) -> SteerResult:
        """All `features` clamped to 0 at every residue together."""
        return self.steer(sequence, layer, {int(f): 0.0 for f in features}, None, normalized)


def prediction_changes(result: SteerResult) -> list[PredictionChange]:
    """Positions whose most likely amino acid differs after steering, in sequence order."""
    was = result.before_log.argmax(axis=1)
    now = result.after_log.argmax(axis=1)
    before, after = result.before, result.after
    return [
        PredictionChange(int(i) + 1, result.sequence[i], AMINO_ACIDS[was[i]], AMINO_ACIDS[now[i]],
                         float(before[i, now[i]]), float(after[i, now[i]]))
        for i in np.flatnonzero(was != now)
    ]


def lens_word(lens: np.ndarray | None) -> str:
    """One word for a feature's amino-acid lens ('→C'), or '' when the push is too weak to name.

    Separate from the feature label on purpose: label composition decides whether a better
    name exists and only then shows this word.
    """
    if lens is None or not np.isfinite(lens).all():
        return ""
    top = int(np.argmax(lens))
    return f"→{AMINO_ACIDS[top]}" if lens[top] >= LENS_MIN_NATS else ""


def lens_phrase(lens: np.ndarray | None) -> str:
    """'pushes ESM-2 towards C, away from G' (or why there is nothing to say)."""
    if lens is None:
        return "silent on this protein: nothing to amplify"
    top, bottom = int(np.argmax(lens)), int(np.argmin(lens))
    parts = []
    if lens[top] >= LENS_MIN_NATS:
        parts.append(f"towards {AMINO_ACIDS[top]}")
    if lens[bottom] <= -LENS_MIN_NATS:
        parts.append(f"away from {AMINO_ACIDS[bottom]}")
    return "pushes ESM-2 " + ", ".join(parts) if parts else "barely changes ESM-2's predictions"
