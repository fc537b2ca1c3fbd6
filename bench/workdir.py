"""A bench's scratch folder, removed when the bench ends: each holds synthetic weights,
caches and outputs (0.3 to 4 GB), and left behind they filled the disk."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_dir(prefix: str) -> Path:
    """A new temporary folder, deleted (with everything in it) at interpreter exit."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path
