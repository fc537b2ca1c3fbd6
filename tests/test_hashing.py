"""The one file hash: equal to hashlib over the whole content, and what its users report."""

from __future__ import annotations

import hashlib
import os

from interplm_core.hashing import BLOCK_BYTES, file_sha256
from interplm_core.weights import file_fingerprint


def test_file_sha256_over_several_blocks(tmp_path):
    data = os.urandom(2 * BLOCK_BYTES + 123)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_fingerprint(path) == hashlib.sha256(data).hexdigest()[:16]
    path.write_bytes(data[:-1])  # a replaced file is hashed again, not served from the memo
    os.utime(path, ns=(1, 1))
    assert file_fingerprint(path) == hashlib.sha256(data[:-1]).hexdigest()[:16]
