"""Find, download and safely load ESM-2 checkpoints and InterPLM SAE files.

Lookup order for every file, so that nothing touches the network when a copy exists:
1. `INTERPLM_WEIGHTS_DIR` (`{esm_name}.pt`, `{esm_name}-contact-regression.pt`,
   `{sae repo name}/layer_{L}/ae_{normalized,unnormalized}.pt`);
2. the usual caches: torch hub (`$TORCH_HOME/hub/checkpoints`, where fair-esm puts ESM
   files) and, for SAEs, the Hugging Face cache (`HF_HOME`/`HF_HUB_CACHE`) and our own
   download folder (`$INTERPLM_CACHE_DIR/weights`);
3. a download through `http.download_to_file` (ESM from `INTERPLM_ESM_URL`, SAEs from
   `HF_ENDPOINT`), unless offline: resumable, bounded attempts, constant memory.

Files are always loaded with `torch.load(weights_only=True)`; the one non-tensor class a
fair-esm checkpoint needs (`argparse.Namespace`) is allowed explicitly, under a lock:
`torch.serialization.safe_globals` sets and then resets process-wide state, so two loads
at once would otherwise undo each other's allow-list and refuse a valid checkpoint.
"""

from __future__ import annotations

import argparse
import functools
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import OFFLINE_WAYS, NetworkError, NotFoundError, WeightsUnavailableError
from .hashing import file_sha256
from .registry import ModelSpec, get_model_spec
from .settings import Settings, get_settings

#: Key in a synthetic ESM checkpoint's `cfg` and in a synthetic SAE's `_metadata[""]`.
SYNTHETIC_MARK = "interplm_explorer_synthetic"


@dataclass(frozen=True)
class WeightsFile:
    """A weights file on disk and where it came from (weights dir, cache, download)."""

    path: Path
    source: str  # a key of SOURCE_LABELS

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source)


#: Where a weights file came from, as a user reads it (the app's status panel).
SOURCE_LABELS = {
    "weights dir": "weights folder",
    "torch hub cache": "torch hub cache",
    "hugging face cache": "Hugging Face cache",
    "download cache": "downloaded earlier",
    "downloaded": "downloaded now",
}


#: Serialises the allow-list scope: `safe_globals` is process-global, not per thread.
_SAFE_LOAD_LOCK = threading.Lock()


def load_torch_file(path: Path, mmap: bool = False) -> Any:
    """Load a checkpoint under `weights_only=True`, allowing only `argparse.Namespace`.

    A file that needs any other class is refused, never retried with `weights_only=False`.
    `mmap=True` maps the tensors instead of reading them (enough to look at metadata).
    Thread-safe: concurrent sessions may load at once.
    """
    try:
        with _SAFE_LOAD_LOCK, torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        raise WeightsUnavailableError(
            f"Refused to load {path}: it holds objects other than tensors, which could run "
            "code. Replace it with the original file from the publisher."
        ) from err
    except (RuntimeError, EOFError, ValueError) as err:
        raise WeightsUnavailableError(
            f"{path} is damaged or incomplete ({err.__class__.__name__}). Delete it and download it again."
        ) from err


def file_fingerprint(path: Path) -> str:
    """Short SHA-256 of a file's content: part of every cached result's key.

    Memoised per process on (path, size, mtime), so a replaced file is hashed again.
    """
    path = Path(path).resolve()
    stat = path.stat()
    return _hash_file(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _hash_file(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)[:16]


# ---------------------------------------------------------------- ESM-2 checkpoints


def _esm_file_names(spec: ModelSpec) -> dict[str, str]:
    return {
        "model": f"{spec.esm_name}.pt",
        "regression": f"{spec.esm_name}-contact-regression.pt",
    }


def _esm_urls(spec: ModelSpec, settings: Settings) -> dict[str, str]:
    return {
        "model": f"{settings.esm_url}/models/{spec.esm_name}.pt",
        "regression": f"{settings.esm_url}/regression/{spec.esm_name}-contact-regression.pt",
    }


def torch_hub_checkpoint_dir() -> Path:
    """Where fair-esm (through torch.hub) keeps downloaded checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def esm_checkpoint_files(
    spec: ModelSpec, settings: Settings | None = None, progress: bool = True
) -> dict[str, WeightsFile]:
    """Paths of the ESM checkpoint and its contact-regression file, downloading if needed."""
    settings = settings or get_settings()
    names = _esm_file_names(spec)
    if settings.weights_dir is not None:
        local = {kind: settings.weights_dir / name for kind, name in names.items()}
        if all(p.is_file() for p in local.values()):
            return {kind: WeightsFile(p, "weights dir") for kind, p in local.items()}
    hub_dir = torch_hub_checkpoint_dir()
    cached = {kind: hub_dir / name for kind, name in names.items()}
    if all(p.is_file() for p in cached.values()):
        return {kind: WeightsFile(p, "torch hub cache") for kind, p in cached.items()}
    if settings.offline:
        raise WeightsUnavailableError(_missing_esm_message(spec, settings, "offline mode is on"))
    urls = _esm_urls(spec, settings)
    for kind, path in cached.items():
        if not path.is_file():
            try:
                download_file(urls[kind], path, settings, progress=progress)
            except (NetworkError, NotFoundError) as err:
                raise WeightsUnavailableError(_missing_esm_message(spec, settings, str(err))) from err
    return {kind: WeightsFile(p, "downloaded") for kind, p in cached.items()}


def _missing_esm_message(spec: ModelSpec, settings: Settings, reason: str) -> str:
    names = _esm_file_names(spec)
    urls = _esm_urls(spec, settings)
    target = settings.weights_dir or torch_hub_checkpoint_dir()
    return (
        f"The {spec.esm_name} weights are not on this computer and could not be downloaded "
        f"({reason}). Download {urls['model']} and {urls['regression']} and put "
        f"{names['model']} and {names['regression']} in {target} "
        f"(or set INTERPLM_WEIGHTS_DIR to the folder that holds them). {OFFLINE_WAYS}."
    )


def download_file(url: str, dest: Path, settings: Settings, progress: bool = True) -> Path:
    """Download through `http.download_to_file` (User-Agent, resume or restart, bounded attempts)."""
    from .http import download_to_file  # imports requests (0.17 s): only when something is downloaded

    return download_to_file(url, dest, settings, what=dest.name, progress=progress)


# ---------------------------------------------------------------- InterPLM SAEs


def sae_file(
    spec: ModelSpec, layer: int, normalized: bool, settings: Settings | None = None
) -> WeightsFile:
    """Path of one InterPLM SAE file: weights dir, Hugging Face cache, our downloads, the hub.

    A copy already in the Hugging Face cache (from InterPLM or `huggingface-cli`) is used
    as it is. New downloads go through `http.download_to_file` into
    `$INTERPLM_CACHE_DIR/weights` (same layout as `INTERPLM_WEIGHTS_DIR`), not through the
    hub client: after a cut, that client retries forever as long as each attempt brings a
    few bytes (measured: 8 minutes, 6.6 GB and a RecursionError against a cutting server).
    """
    settings = settings or get_settings()
    filename = spec.sae_filename(layer, normalized)
    if settings.weights_dir is not None:
        local = settings.weights_dir / spec.sae_dir_name / filename
        if local.is_file():
            return WeightsFile(local, "weights dir")
    from huggingface_hub import try_to_load_from_cache  # 0.17 s to import: only when it is needed

    # Published SAE files do not change, so a cached copy is used without any request.
    cached = try_to_load_from_cache(spec.sae_repo, filename, cache_dir=settings.hf_hub_cache)
    if isinstance(cached, str):
        return WeightsFile(Path(cached), "hugging face cache")
    ours = sae_download_dir(settings) / spec.sae_dir_name / filename
    if ours.is_file():
        return WeightsFile(ours, "download cache")
    if settings.offline:
        raise WeightsUnavailableError(_missing_sae_message(spec, filename, settings, "offline mode is on"))
    url = f"{settings.hf_endpoint}/{spec.sae_repo}/resolve/main/{filename}"
    from .http import download_to_file

    try:
        download_to_file(url, ours, settings, what=f"SAE file {filename}")
    except NotFoundError as err:
        raise WeightsUnavailableError(
            _missing_sae_message(spec, filename, settings, "the hub has no such file")
        ) from err
    except NetworkError as err:
        raise WeightsUnavailableError(_missing_sae_message(spec, filename, settings, str(err))) from err
    return WeightsFile(ours, "downloaded")


def sae_download_dir(settings: Settings) -> Path:
    """Where SAE files downloaded by this program are kept (INTERPLM_WEIGHTS_DIR layout)."""
    return Path(settings.cache_dir) / "weights"


def _missing_sae_message(spec: ModelSpec, filename: str, settings: Settings, reason: str) -> str:
    url = f"{settings.hf_endpoint}/{spec.sae_repo}/resolve/main/{filename}"
    target = (settings.weights_dir or Path("$INTERPLM_WEIGHTS_DIR")) / spec.sae_dir_name / filename
    return (
        f"The InterPLM SAE file {filename} is not on this computer and could not be downloaded "
        f"({reason}). Download {url} and save it as {target}, or run "
        f"`python -m interplm_core weights fetch` once while online. {OFFLINE_WAYS}."
    )


# ---------------------------------------------------------------- provenance and prefetch


def is_synthetic_esm(checkpoint: dict) -> bool:
    return bool(checkpoint.get("cfg", {}).get(SYNTHETIC_MARK))


def is_synthetic_sae(state_dict: dict) -> bool:
    metadata = getattr(state_dict, "_metadata", None) or {}
    return bool(metadata.get("", {}).get(SYNTHETIC_MARK))


def is_synthetic_file(path: Path) -> bool:
    """Whether a checkpoint or SAE file carries the synthetic mark (tensors are not read)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _synthetic_mark(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _synthetic_mark(path: str, size: int, mtime_ns: int) -> bool:
    data = load_torch_file(Path(path), mmap=True)
    return is_synthetic_esm(data) if "cfg" in data else is_synthetic_sae(data)


def fetch_weights(
    model: str = "esm2_t6_8M",
    layers: list[int] | None = None,
    settings: Settings | None = None,
    progress: bool = True,
) -> list[WeightsFile]:
    """Make sure the checkpoint and the SAEs of `layers` are on disk; return what is there."""
    spec = get_model_spec(model)
    settings = settings or get_settings()
    layers = layers or list(spec.sae_layers)
    for layer in layers:  # before any download: a bad layer must not cost a checkpoint download first
        spec.check_layer(layer)
    files = list(esm_checkpoint_files(spec, settings, progress=progress).values())
    for layer in layers:
        for normalized in (True, False):
            files.append(sae_file(spec, layer, normalized, settings))
    return files
