"""Where an atlas keeps its files, and the manifest that says how it was built.

    PATH/manifest.json            build parameters, corpus and weights fingerprints, state
    PATH/corpus.parquet           every protein: index, record id, accession, sequence, shard
    PATH/shards/layer_L/NNNNNN/   one finished shard: stats/top/proteins/residues.parquet
    PATH/layer_L/maxima.npy       per-feature global maximum of the RAW feature (float32)
    PATH/layer_L/decoder_unit.npy unit decoder directions [F, D] (similar features)
    PATH/atlas.duckdb             the merged, queryable atlas (written last)
    PATH/uniprot/                 the corpus fetched by `--uniprot-query` (atlas/uniprot_corpus.py)

A shard directory appears only once complete (written under a temporary name, then
renamed), so after a kill the build knows exactly which shards to redo.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

MANIFEST = "manifest.json"
#: Folder of a corpus fetched from a UniProt search; it is written before the manifest.
UNIPROT_FOLDER = "uniprot"
DATABASE = "atlas.duckdb"
FORMAT_VERSION = 1
#: Manifest entries that must match for a build to resume into an existing directory.
IDENTITY_KEYS = (
    "format_version", "model", "layers", "scale", "corpus_sha256", "shard_size", "top_k",
    "window", "residue_index_min", "weights",
)


@dataclass(frozen=True)
class AtlasLayout:
    root: Path

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def corpus_path(self) -> Path:
        return self.root / "corpus.parquet"

    @property
    def database_path(self) -> Path:
        return self.root / DATABASE

    def shard_dir(self, layer: int, number: int) -> Path:
        return self.root / "shards" / f"layer_{layer}" / f"{number:06d}"

    def layer_dir(self, layer: int) -> Path:
        return self.root / f"layer_{layer}"

    def maxima_path(self, layer: int) -> Path:
        return self.layer_dir(layer) / "maxima.npy"

    def decoder_path(self, layer: int) -> Path:
        return self.layer_dir(layer) / "decoder_unit.npy"

    def shard_done(self, layer: int, number: int) -> bool:
        return self.shard_dir(layer, number).is_dir()

    def read_manifest(self) -> dict | None:
        if not self.manifest_path.is_file():
            return None
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError:
            raise InputError(f"{self.manifest_path} is damaged; remove {self.root} and build again.") from None

    def write_manifest(self, manifest: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.manifest_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(temporary, self.manifest_path)


def check_resumable(existing: dict, wanted: dict, root: Path) -> None:
    """Refuse to mix shards of two different builds in one directory."""
    different = [key for key in IDENTITY_KEYS if existing.get(key) != wanted.get(key)]
    if different:
        raise InputError(
            f"{root} holds an atlas built with other settings ({', '.join(different)} differ): "
            "use another --out, or --overwrite to start again."
        )


def remove_atlas(root: Path) -> None:
    """Delete an atlas directory, but only one that looks like an atlas."""
    if not root.exists():
        return
    if not (root / MANIFEST).is_file() and not only_fetched_corpus(root):
        raise InputError(f"{root} exists and is not an atlas: refusing to overwrite it.")
    shutil.rmtree(root)


def only_fetched_corpus(root: Path) -> bool:
    """True for an empty folder, or one holding nothing but a (partly) fetched UniProt corpus."""
    return all(p.name == UNIPROT_FOLDER and p.is_dir() for p in root.iterdir())
