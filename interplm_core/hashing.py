"""SHA-256 of files, read in blocks: weights fingerprints (cache keys), atlas corpus
identity and the mirror's ETags all hash files the same way, here."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK_BYTES = 1 << 20


def file_sha256(path: Path | str) -> str:
    """Hex SHA-256 of a file's content, without reading it into memory at once."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
