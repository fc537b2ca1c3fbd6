"""Shared pieces of the atlas tests: a small corpus, settings on synthetic weights, table dumps."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from interplm_core.synthetic import random_proteins

LAYER = 2
TABLES = ("features", "top", "proteins", "protein_summaries", "residues", "concept_metrics", "best_concepts")


def write_corpus(path: Path, count: int = 10) -> Path:
    """Ten short seeded proteins; the first three carry UniProt-style headers."""
    lines = []
    for i, seq in enumerate(random_proteins(count, seed=11, min_len=20, max_len=60)):
        header = f"sp|P0000{i}|TEST{i}_HUMAN Test protein {i}" if i < 3 else f"prot{i} kinase-like {i}"
        lines += [f">{header}", seq]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_concepts_tsv(path: Path) -> Path:
    path.write_text(
        "accession\tconcept\tstart\tend\n"
        "P00000\tDomain: Test fold\t2\t12\n"
        "P00000\tActive site\t5\t5\n"
        "P00001\tDomain: Test fold\t3\t15\n"
        "P00001\tDisulfide bond\t4\t18\n"
        "P00002\tActive site\t7\t7\n"
    )
    return path


def atlas_tables(root: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(Path(root) / "atlas.duckdb"), read_only=True)
    try:
        return {name: con.execute(f"SELECT * FROM {name}").df() for name in TABLES}
    finally:
        con.close()


def assert_same_atlas(left: Path, right: Path, layers=(LAYER,)) -> None:
    """Every table row for row, and every maxima vector bit for bit."""
    a, b = atlas_tables(left), atlas_tables(right)
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
    for layer in layers:
        for name in ("maxima.npy", "decoder_unit.npy"):
            assert np.array_equal(
                np.load(Path(left) / f"layer_{layer}" / name), np.load(Path(right) / f"layer_{layer}" / name)
            ), name
