"""Every base URL, cache directory and network knob in one place.

Values come from environment variables, read at call time (not import time) so that a
process, a test or the app can point the clients somewhere else without reloading code.
This is the only module that reads the project's environment variables; a value that
cannot be used raises `InputError` naming the variable and what it accepts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _xdg_cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"))


def _default_cache_dir() -> Path:
    return _xdg_cache_home() / "interplm-explorer"


def _hf_hub_cache() -> Path:
    """The Hugging Face hub cache, as huggingface_hub resolves it (HF_HUB_CACHE, HF_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or str(_xdg_cache_home() / "huggingface")
    return Path(hf_home).expanduser() / "hub"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


def parse_size(text: str, variable: str) -> int:
    """Bytes from `2147483648`, `500MB`, `2GB` (powers of 1000) or `2GiB` (powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise _bad(variable, text, "a size such as 2GB, 2GiB, 500MB or a number of bytes")
    unit = (match.group(2) or "").lower()
    unit = unit[:-1] if unit.endswith("b") and unit != "b" else unit
    return int(float(match.group(1)) * _UNITS[unit])


def _bad(variable: str, text: str, allowed: str):
    from .errors import InputError

    return InputError(f"{variable}={text!r} is not usable: give {allowed}.")


def _number(env, variable: str, default: float, kind: type = float, minimum: float = 0.0,
            strictly_positive: bool = False) -> float:
    text = env.get(variable, "").strip()
    if not text:
        return default
    allowed = ("a number of seconds above 0, such as 20 or 2.5" if strictly_positive and kind is float
               else f"a whole number of at least {minimum:g}" if kind is int
               else f"a number of at least {minimum:g}")
    try:
        value = kind(text)
    except ValueError:
        raise _bad(variable, text, allowed) from None
    if value < minimum or (strictly_positive and value <= 0) or value != value or value == float("inf"):
        raise _bad(variable, text, allowed)
    return value


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
    contact: str = ""  # an address services can reach, added to the User-Agent
    max_upload_bytes: int = 20 * 1024**2  # largest structure file accepted
    hf_hub_cache: Path = Path("~/.cache/huggingface/hub")
    atlas: Path | None = None  # a built feature atlas shown on the Feature page
    memory_cache_bytes: int = 256 * 1024**2  # in-process feature results (per pipeline)
    structure_cache_bytes: int = 256 * 1024**2  # in-process structure files and parsed models (app)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def library_default(variable: str, value: str) -> str:
    """Give a variable that a native library reads itself (MKL reads `MKL_CBWR` at its first
    call) a default, unless the user set it; returns the value in force. The one place
    that writes the environment, and only for such variables."""
    return os.environ.setdefault(variable, value)


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The environment for a child process (the demo's app server): ours, with `overrides` on top."""
    return {**os.environ, **overrides}


def get_settings() -> Settings:
    """The settings in force now, from the environment."""
    env = os.environ
    weights_dir = env.get("INTERPLM_WEIGHTS_DIR")
    atlas = env.get("INTERPLM_ATLAS", "").strip()
    max_bytes = env.get("INTERPLM_CACHE_MAX_BYTES", "").strip()
    upload = env.get("INTERPLM_MAX_UPLOAD_BYTES", "").strip()
    memory = env.get("INTERPLM_MEMORY_CACHE_BYTES", "").strip()
    structures = env.get("INTERPLM_STRUCTURE_CACHE_BYTES", "").strip()
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
        cache_max_bytes=parse_size(max_bytes, "INTERPLM_CACHE_MAX_BYTES") if max_bytes else Settings.cache_max_bytes,
        offline=_env_flag("INTERPLM_OFFLINE") or _env_flag("HF_HUB_OFFLINE"),
        http_timeout=_number(env, "INTERPLM_HTTP_TIMEOUT", Settings.http_timeout, strictly_positive=True),
        http_retries=int(_number(env, "INTERPLM_HTTP_RETRIES", Settings.http_retries, kind=int)),
        http_backoff=_number(env, "INTERPLM_HTTP_BACKOFF", Settings.http_backoff),
        device=env.get("INTERPLM_DEVICE", Settings.device).strip() or Settings.device,
        contact=env.get("INTERPLM_CONTACT", "").strip(),
        max_upload_bytes=parse_size(upload, "INTERPLM_MAX_UPLOAD_BYTES") if upload else Settings.max_upload_bytes,
        hf_hub_cache=_hf_hub_cache(),
        atlas=Path(atlas).expanduser() if atlas else None,
        memory_cache_bytes=parse_size(memory, "INTERPLM_MEMORY_CACHE_BYTES") if memory
        else Settings.memory_cache_bytes,
        structure_cache_bytes=parse_size(structures, "INTERPLM_STRUCTURE_CACHE_BYTES") if structures
        else Settings.structure_cache_bytes,
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
