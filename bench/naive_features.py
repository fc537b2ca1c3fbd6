"""The naive reference of bench/throughput_bench.py: what a user would write by hand.

fair-esm loaded once, every protein run alone through all layers (`repr_layers=[L]`),
then the SAE encoder in torch (ReLU((x - b_dec) W_enc^T + b_enc), divided by the
published maxima). Nothing is cached or written: it is the work ours must beat.

    python bench/naive_features.py CORPUS.fasta LAYER WEIGHTS_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import esm
import torch


def main(fasta: str, layer: int, weights: str) -> None:
    root = Path(weights)
    checkpoint = torch.load(root / "esm2_t6_8M_UR50D.pt", weights_only=False, map_location="cpu")
    regression = torch.load(root / "esm2_t6_8M_UR50D-contact-regression.pt", weights_only=False, map_location="cpu")
    model, alphabet = esm.pretrained.load_model_and_alphabet_core("esm2_t6_8M_UR50D", checkpoint, regression)
    model.eval()
    sae = torch.load(root / "InterPLM-esm2-8m" / f"layer_{layer}" / "ae_normalized.pt", weights_only=True)
    converter = alphabet.get_batch_converter()
    records, name, seq = [], None, []
    for line in Path(fasta).read_text().splitlines():
        if line.startswith(">"):
            if name:
                records.append((name, "".join(seq)))
            name, seq = line[1:].split()[0], []
        else:
            seq.append(line.strip())
    records.append((name, "".join(seq)))
    active = 0
    with torch.inference_mode():
        for name, sequence in records:
            _, _, tokens = converter([(name, sequence)])
            x = model(tokens, repr_layers=[layer])["representations"][layer][0, 1:-1]
            features = torch.relu((x - sae["bias"]) @ sae["encoder.weight"].T + sae["encoder.bias"])
            active += int((features > 0).sum())
    print(f"{len(records)} proteins, {active} non-zero activations")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
