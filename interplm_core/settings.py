"""Every base URL, cache directory and network knob in one place.

Values come from environment variables, read at call time (not import time) so that a
process, a test or the app can point the clients somewhere else without reloading code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "interplm-explorer"


@dataclass(frozen=True)
class Settings:
    """Where the outside world is, and where we keep copies of it."""

    uniprot_url: str = "https://rest.uniprot.org"
    alphafold_url: str = "https://alphafold.ebi.ac.uk"
    rcsb_url: str = "https://files.rcsb.org"
    esm_url: str = "https://dl.fbaipublicfiles.com/fair-esm"
    hf_endpoint: str = "https://huggingface.co"
    weights_dir: Path | None = None
    cache_dir: Path = field(default_factory=_default_cache_dir)
    cache_max_bytes: int = 2 * 1024**3
    offline: bool = False
    http_timeout: float = 20.0
    http_retries: int = 3
    http_backoff: float = 0.5
    device: str = "cpu"  # torch device for ESM-2 and the SAE: cpu, cuda, cuda:N or auto

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def get_settings() -> Settings:
    """The settings in force now, from the environment."""
    env = os.environ
    weights_dir = env.get("INTERPLM_WEIGHTS_DIR")
    return Settings(
        uniprot_url=env.get("INTERPLM_UNIPROT_URL", Settings.uniprot_url).rstrip("/"),
        alphafold_url=env.get("INTERPLM_ALPHAFOLD_URL", Settings.alphafold_url).rstrip("/"),
        rcsb_url=env.get("INTERPLM_RCSB_URL", Settings.rcsb_url).rstrip("/"),
        esm_url=env.get("INTERPLM_ESM_URL", Settings.esm_url).rstrip("/"),
        hf_endpoint=env.get("HF_ENDPOINT", Settings.hf_endpoint).rstrip("/"),
        weights_dir=Path(weights_dir).expanduser() if weights_dir else None,
        cache_dir=Path(env["INTERPLM_CACHE_DIR"]).expanduser()
        if env.get("INTERPLM_CACHE_DIR")
        else _default_cache_dir(),
        cache_max_bytes=int(env.get("INTERPLM_CACHE_MAX_BYTES", Settings.cache_max_bytes)),
        offline=_env_flag("INTERPLM_OFFLINE") or _env_flag("HF_HUB_OFFLINE"),
        http_timeout=float(env.get("INTERPLM_HTTP_TIMEOUT", Settings.http_timeout)),
        http_retries=int(env.get("INTERPLM_HTTP_RETRIES", Settings.http_retries)),
        http_backoff=float(env.get("INTERPLM_HTTP_BACKOFF", Settings.http_backoff)),
        device=env.get("INTERPLM_DEVICE", Settings.device).strip() or Settings.device,
    )


def resolve_device(name: str) -> torch.device:
    """The torch device for `name` ('auto' picks a GPU when there is one)."""
    import torch

    from .errors import InputError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"Unknown device '{name}': use cpu, cuda, cuda:N or auto (INTERPLM_DEVICE).") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"Device '{name}' was asked for (INTERPLM_DEVICE) but PyTorch sees no GPU here. "
            "Use cpu or auto, or install a CUDA build of PyTorch on a GPU machine."
        )
    return device
