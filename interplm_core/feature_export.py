"""Writing a corpus's feature activations to disk, one protein at a time.

Two layouts, chosen by the output's suffix:
- `.npz` (dense): one [residues, features] float32 array per record id, read back with
  `np.load(path)[record_id]`. Stored uncompressed by default: compressing 0.5 GB of
  mostly-zero float32 cost more than computing it; `compress=True` deflates instead.
- `.parquet` (sparse): one row per non-zero activation, columns `record` (the record
  id), `position` (1-based residue), `feature` and `value`; for corpora whose dense
  arrays would not fit anywhere. Written with pyarrow in row groups, one per batch.

Both writers stream: an array is written and dropped before the next one is computed.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Self

import numpy as np

from .errors import InputError

FORMATS = (".npz", ".parquet")


def check_output_path(path: Path) -> None:
    """Fail before any computing if the output's format is unknown."""
    if path.suffix not in FORMATS:
        raise InputError(f"--out must end in .npz (dense) or .parquet (sparse) (got {path.name}).")


class DenseNpzWriter:
    """An .npz archive that `np.load` reads like `np.savez`'s, written array by array."""

    def __init__(self, path: Path, compress: bool = False):
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self._zip = zipfile.ZipFile(path, "w", compression=method, allowZip64=True)

    def write(self, record_id: str, activations: np.ndarray) -> None:
        with self._zip.open(f"{record_id}.npy", "w", force_zip64=True) as entry:
            np.lib.format.write_array(entry, np.ascontiguousarray(activations, dtype=np.float32), allow_pickle=False)

    def close(self) -> None:
        self._zip.close()


class SparseParquetWriter:
    """Non-zero activations as (record, position, feature, value) rows, in row groups."""

    def __init__(self, path: Path, batch_rows: int = 1_000_000):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self.schema = pa.schema([
            ("record", pa.string()), ("position", pa.int32()), ("feature", pa.int32()), ("value", pa.float32()),
        ])
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._batch_rows = batch_rows
        self._parts: list = []
        self._rows = 0

    def write(self, record_id: str, activations: np.ndarray) -> None:
        rows, cols = np.nonzero(activations)  # row-major: by position, then feature
        pa = self._pa
        self._parts.append(pa.record_batch([
            pa.repeat(pa.scalar(record_id, pa.string()), len(rows)),
            pa.array(rows.astype(np.int32) + 1),
            pa.array(cols.astype(np.int32)),
            pa.array(activations[rows, cols].astype(np.float32)),
        ], schema=self.schema))
        self._rows += len(rows)
        if self._rows >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._parts:
            self._writer.write_table(self._pa.Table.from_batches(self._parts, self.schema))
        self._parts, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


class FeatureFile:
    """The output file being written: in a hidden partial file, renamed into place only
    when every record is in it, so a failed run never leaves a truncated output."""

    def __init__(self, path: Path, compress: bool = False):
        check_output_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._partial = path.with_name(f".{path.name}.partial")
        self._writer = SparseParquetWriter(self._partial) if path.suffix == ".parquet" else DenseNpzWriter(self._partial, compress)

    def write(self, record_id: str, activations: np.ndarray) -> None:
        self._writer.write(record_id, activations)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        self._writer.close()
        if error_type is None:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)
