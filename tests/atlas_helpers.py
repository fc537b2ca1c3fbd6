"""Shared pieces of the atlas tests: a small corpus, settings on synthetic weights, table dumps."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from interplm_core.synthetic import random_proteins

LAYER = 2
DATABASE_TABLES = ("features", "top", "proteins", "protein_summaries", "concept_metrics", "best_concepts")
TABLES = DATABASE_TABLES + ("residues",)  # the residue index stays in the shards (atlas/database.py)


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
        tables = {name: con.execute(f"SELECT * FROM {name}").df() for name in DATABASE_TABLES}
    finally:
        con.close()
    tables["residues"] = residue_index(root)
    return tables


def residue_index(root: Path) -> pd.DataFrame:
    """Every layer's residue index as its shard files hold it, in layer then shard order,
    with a `layer` column: what the reader queries, one shard at a time."""
    frames = []
    layers = sorted((Path(root) / "shards").glob("layer_*"), key=lambda p: int(p.name.split("_")[1]))
    for layer_dir in layers:
        for shard in sorted(p for p in layer_dir.iterdir() if p.is_dir()):
            frame = pd.read_parquet(shard / "residues.parquet")
            frame.insert(0, "layer", np.int16(int(layer_dir.name.split("_")[1])))
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


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
