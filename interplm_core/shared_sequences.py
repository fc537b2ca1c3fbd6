"""Sequences too long for a link, stored on the server under their content hash.

Why: browsers and proxies cap URL length, so a pasted 3,000-residue sequence cannot ride
in `?seq=`. The app stores it in the cache folder as `linked-sequences/<sha256>.txt` and puts
`seq=sha256:<hex>` in the URL; the same server (or any sharing that cache folder)
resolves it. The name is the hash of the content, checked again on reading, so a link
can neither point outside the folder nor be answered with other text.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from .errors import InputError, NotFoundError

PREFIX = "sha256:"
_REFERENCE = re.compile(r"^sha256:([0-9a-f]{64})$")


def _folder(cache_dir: Path) -> Path:
    return Path(cache_dir) / "linked-sequences"


def is_reference(value: str) -> bool:
    return bool(_REFERENCE.match(str(value).strip()))


def store(sequence: str, cache_dir: Path) -> str:
    """Store `sequence` (atomically; once per content) and return its `sha256:<hex>` reference."""
    digest = hashlib.sha256(sequence.encode("utf-8")).hexdigest()
    folder = _folder(cache_dir)
    path = folder / f"{digest}.txt"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(sequence)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return PREFIX + digest


def resolve(reference: str, cache_dir: Path) -> str:
    """The sequence stored under `reference`; InputError for a malformed reference,
    NotFoundError when this server does not hold it (or holds other content under that name)."""
    match = _REFERENCE.match(str(reference).strip())
    if not match:
        raise InputError("This link's sequence reference is malformed (expected sha256: and 64 hex digits).")
    path = _folder(cache_dir) / f"{match.group(1)}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError("This link's sequence is stored on the server that made the link, not on this one "
                            "(or its cache was cleared): paste the sequence instead.") from None
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != match.group(1):
        raise NotFoundError("The sequence stored for this link is damaged: paste the sequence instead.")
    return text
