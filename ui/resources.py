"""Cached, shared resources: the feature pipeline (one per weights/cache/offline setting)
and the downloads (UniProt entries, structures) every session may reuse.

`st.cache_resource` holds objects that are expensive to build and safe to share (the
pipeline is thread-safe and keeps its own byte-bounded memory cache of activations, so
feature matrices are never pickled). `st.cache_data` holds small answers (UniProt
entries). Structure files, parsed structures and residue mappings can each be megabytes,
and Streamlit bounds its caches by entry count only, so they live in one shared
`MemoryCache` bounded by bytes (`INTERPLM_STRUCTURE_CACHE_BYTES`). Exceptions are never
cached, so a network failure can be retried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from interplm_core.memory_cache import MemoryCache
from interplm_core.pipeline import FeaturePipeline
from interplm_core.registry import DEFAULT_MODEL, ModelSpec, get_model_spec
from interplm_core.session import (
    Sources,
    StructureFile,
    fetch_alphafold_structure,
    fetch_pdb_structure,
)
from interplm_core.settings import Settings, get_settings

T = TypeVar("T")

#: Bytes a parsed structure or mapping is counted as: parsed models measured at ~0.4x their
#: file's text (biotite arrays + residues), counted as 1x; a mapping ~0.5 kB per position.
PARSED_BYTES_PER_TEXT_BYTE = 1.0
MAPPING_BYTES_PER_POSITION = 512

STATIC_3DMOL_URL = "/app/static/vendor/3Dmol-min.js"


def offline() -> bool:
    """This session's offline switch (defaults to INTERPLM_OFFLINE from the environment)."""
    if "offline" not in st.session_state:
        st.session_state["offline"] = get_settings().offline
    return bool(st.session_state["offline"])


def settings() -> Settings:
    """Settings from the environment, with this session's offline switch applied."""
    return get_settings().with_(offline=offline())


def model() -> str:
    """This session's model key (the registry's default until the user picks another)."""
    return str(st.session_state.get("model", DEFAULT_MODEL))


def spec() -> ModelSpec:
    return get_model_spec(model())


@st.cache_resource(show_spinner=False, max_entries=4)
def _pipeline(model_key: str, weights_dir: str | None, cache_dir: str, is_offline: bool) -> FeaturePipeline:
    base = get_settings().with_(offline=is_offline)
    return FeaturePipeline(model=model_key, settings=base, progress=False)


def pipeline() -> FeaturePipeline:
    """The shared pipeline of this session's model and settings (weights load on first use)."""
    s = settings()
    return _pipeline(model(), str(s.weights_dir) if s.weights_dir else None, str(s.cache_dir), s.offline)


@st.cache_data(show_spinner=False, max_entries=256, ttl=24 * 3600)
def uniprot_entry(query: str, is_offline: bool):
    from interplm_core.uniprot import fetch_entry

    return fetch_entry(query, get_settings().with_(offline=is_offline))


@st.cache_resource(show_spinner=False)
def _structure_memory(max_bytes: int) -> MemoryCache:
    """The one byte-bounded cache of structure files, parsed models and mappings (all sessions)."""
    return MemoryCache(max_bytes)


def _remembered(key: tuple, compute: Callable[[], T], size_of: Callable[[T], int]) -> T:
    """`compute()` once per key while it fits in the structure memory (shared objects: never mutate)."""
    cache = _structure_memory(get_settings().structure_cache_bytes)
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.put(key, found, size=size_of(found))
    return found


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()


def alphafold_structure(accession: str, is_offline: bool) -> StructureFile:
    return _remembered(
        ("alphafold", accession, is_offline),
        lambda: fetch_alphafold_structure(accession, get_settings().with_(offline=is_offline)),
        lambda f: len(f.text),
    )


def pdb_structure(pdb_id: str, is_offline: bool) -> StructureFile:
    return _remembered(
        ("pdb", pdb_id, is_offline),
        lambda: fetch_pdb_structure(pdb_id, get_settings().with_(offline=is_offline)),
        lambda f: len(f.text),
    )


def parsed_structure(text: str, fmt: str):
    from interplm_core.structures import parse_structure

    size = int(len(text) * PARSED_BYTES_PER_TEXT_BYTE)
    return _remembered(("parsed", _text_key(text), fmt), lambda: parse_structure(text, fmt), lambda _: size)


def residue_mapping(sequence: str, text: str, fmt: str, chain: str | None, placement: int | None = None):
    """Sequence -> chain mapping; `placement` (1-based) picks a copy when the chain fits several (repeats)."""
    from interplm_core.mapping import map_to_structure

    return _remembered(
        ("mapping", sequence, _text_key(text), fmt, chain, placement),
        lambda: map_to_structure(sequence, parsed_structure(text, fmt), chain_id=chain or None, placement=placement),
        lambda _: MAPPING_BYTES_PER_POSITION * len(sequence),
    )


def sources() -> Sources:
    """The cached look-ups above, for `interplm_core.session.load_protein`."""
    is_offline = offline()
    return Sources(
        uniprot_entry=lambda query: uniprot_entry(query, is_offline),
        alphafold_structure=lambda accession: alphafold_structure(accession, is_offline),
        pdb_structure=lambda pdb_id: pdb_structure(pdb_id, is_offline),
        parsed_structure=parsed_structure,
        residue_mapping=residue_mapping,
    )


def three_dmol_url() -> str:
    """The vendored 3Dmol.js, served by Streamlit (works offline), else the CDN."""
    from interplm_core.structure_view import CDN_3DMOL_URL, VENDORED_3DMOL

    return STATIC_3DMOL_URL if VENDORED_3DMOL.is_file() else CDN_3DMOL_URL


def cache_sizes() -> dict[str, int | str]:
    """Bytes in the feature cache and in the HTTP response cache (why not, if it cannot be read)."""
    out = {"features": pipeline().disk.size_bytes()}
    try:
        from interplm_core.disk_cache import get_response_cache

        out["downloads"] = int(get_response_cache(settings()).volume())
    except OSError as err:
        out["downloads"] = f"unreadable ({err.__class__.__name__})"
    return out


def weights_dir_is_synthetic() -> bool | None:
    """Before anything is loaded: is INTERPLM_WEIGHTS_DIR's ESM checkpoint synthetic?"""
    s = get_settings()
    if not s.weights_dir:
        return None
    path = s.weights_dir / f"{spec().esm_name}.pt"
    if not path.is_file():
        return None
    from interplm_core.weights import is_synthetic_file

    return is_synthetic_file(path)

