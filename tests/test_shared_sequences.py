"""Long sequences in links: stored under their SHA-256, resolved only to the same content."""

from __future__ import annotations

import hashlib

import pytest

from interplm_core import shared_sequences as shared
from interplm_core.errors import InputError, NotFoundError


def test_store_and_resolve_round_trip(tmp_path):
    sequence = "MKTAYIAKQR" * 300  # 3,000 residues: too long for a URL
    ref = shared.store(sequence, tmp_path)
    assert ref == "sha256:" + hashlib.sha256(sequence.encode()).hexdigest()
    assert shared.is_reference(ref) and len(ref) < 80
    assert shared.resolve(ref, tmp_path) == sequence
    assert shared.store(sequence, tmp_path) == ref  # idempotent
    assert [p.name for p in (tmp_path / "linked-sequences").iterdir()] == [ref[7:] + ".txt"]


@pytest.mark.parametrize("bad", ["sha256:../../etc/passwd", "sha256:" + "A" * 64, "md5:" + "0" * 32,
                                 "sha256:" + "0" * 63, "MKTAYIAKQR"])
def test_malformed_references_are_refused(tmp_path, bad):
    assert not shared.is_reference(bad)
    with pytest.raises(InputError):
        shared.resolve(bad, tmp_path)


def test_unknown_or_damaged_content_is_not_returned(tmp_path):
    ref = shared.store("MKTAYIAKQR" * 200, tmp_path)
    with pytest.raises(NotFoundError, match="not on this one"):
        shared.resolve("sha256:" + "0" * 64, tmp_path)
    (tmp_path / "linked-sequences" / (ref[7:] + ".txt")).write_text("MKT", encoding="utf-8")
    with pytest.raises(NotFoundError, match="damaged"):
        shared.resolve(ref, tmp_path)
