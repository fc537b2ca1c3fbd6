"""Writing a corpus's feature activations to disk, one protein at a time.

Two layouts, chosen by the output's suffix:
- `.npz` (dense): one [residues, features] float32 array per record id, read back with
  `np.load(path)[record_id]`. Stored uncompressed by default, block-aligned and written
  by direct I/O (`direct_npz`): compressing 0.5 GB of mostly-zero float32 cost more than
  computing it; `compress=True` deflates instead (through `zipfile`).
- `.parquet` (sparse): one row per non-zero activation, columns `record` (the record
  id), `position` (1-based residue), `feature` and `value`; for corpora whose dense
  arrays would not fit anywhere. Written with pyarrow in row groups, one per batch.

Both writers stream: an array is written and dropped before the next one is computed.
Writing happens on a background thread (a few arrays queued at most), so the disk and
the zip checksum (both release the GIL) overlap the next proteins' matrix products
instead of following them: on the 48-protein bench corpus the 0.5 GB .npz took 1.1 s
of a 5.5 s run when written in line.
"""

from __future__ import annotations

import os
import queue
import threading
import zipfile
from pathlib import Path
from typing import Self

import numpy as np

from .direct_npz import BufferPool, DirectNpzWriter, npy_header
from .errors import InputError, OutputError

FORMATS = (".npz", ".parquet")


def check_output_path(path: Path) -> None:
    """Fail before any computing if the output's format is unknown."""
    if path.suffix not in FORMATS:
        raise InputError(f"--out must end in .npz (dense) or .parquet (sparse) (got {path.name}).")


class DeflatedNpzWriter:
    """A compressed .npz (`--compress`), as `np.savez_compressed` writes it, array by array."""

    def __init__(self, path: Path):
        self._file = open(path, "wb")  # closed by close() or abort()
        self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def write(self, record_id: str, activations: np.ndarray) -> None:
        array = np.ascontiguousarray(activations, dtype=np.float32)
        with self._zip.open(f"{record_id}.npy", "w", force_zip64=True) as entry:
            # numpy's own header, then the array's bytes in one piece (np.lib.format.write_array
            # copies an array bound for anything but a real file through tobytes, holding the GIL).
            entry.write(npy_header(array))
            entry.write(array.data.cast("B"))

    def close(self) -> None:
        self._zip.close()
        self._file.close()

    def abort(self) -> None:
        self._file.close()


class SparseParquetWriter:
    """Non-zero activations as (record, position, feature, value) rows, in row groups."""

    def __init__(self, path: Path, batch_rows: int = 1_000_000):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        # The record column is handed over already dictionary-encoded (one id per protein,
        # an index per row): repeating the id string 3.7 million times per bench corpus
        # cost 0.1-0.4 s. The file stores a plain string column (dictionary pages), and
        # without the Arrow schema in its metadata every reader gets back plain strings.
        self.schema = pa.schema([
            ("record", pa.dictionary(pa.int32(), pa.string())), ("position", pa.int32()),
            ("feature", pa.int32()), ("value", pa.float32()),
        ])
        # Dictionary-encode only the record ids: dictionaries of the positions, features
        # and values cost hashing every row and made the file larger (48-protein bench
        # corpus: 19.8 MB, 0.48 s to write; record only: 16.3 MB, 0.39 s).
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd", use_dictionary=["record"],
                                        store_schema=False)
        self._batch_rows = batch_rows
        self._parts: list = []
        self._rows = 0

    def write(self, record_id: str, activations: np.ndarray) -> None:
        # Flat indices of a boolean mask, row-major (by position, then feature): 4x faster
        # than np.nonzero's two index arrays on a [residues, 10,240] matrix.
        flat = np.flatnonzero(activations != 0)
        rows, cols = np.divmod(flat, activations.shape[1])
        pa = self._pa
        self._parts.append(pa.record_batch([
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(rows), np.int32)), pa.array([record_id], pa.string())),
            pa.array(rows.astype(np.int32) + 1),
            pa.array(cols.astype(np.int32)),
            pa.array(np.ascontiguousarray(activations).ravel()[flat].astype(np.float32, copy=False)),
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

    def abort(self) -> None:
        self._writer.close()


class FeatureFile:
    """The output file being written: in a hidden partial file, renamed into place only
    when every record is in it, so a failed run never leaves a truncated output.

    `write` hands the array to a writer thread and returns; a failure there (a full
    disk) is raised by the next `write` or on leaving the `with` block, and the partial
    file is removed. `array` lends the memory for the next array to write: for a dense
    .npz, page-aligned buffers that go to the disk without a copy (`direct_npz`).
    """

    QUEUED_ARRAYS = 4  # bounds the memory waiting for the disk (4 x 20 MB at 500 residues)

    def __init__(self, path: Path, compress: bool = False):
        check_output_path(path)
        self.path = path
        self._partial = path.with_name(f".{path.name}.partial")
        self._writer: DirectNpzWriter | DeflatedNpzWriter | SparseParquetWriter
        self._buffers: BufferPool | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".parquet":
                self._writer = SparseParquetWriter(self._partial)
            elif compress:
                self._writer = DeflatedNpzWriter(self._partial)
            else:
                self._writer = DirectNpzWriter(self._partial)
                # One being filled, the queued ones, one being written.
                self._buffers = BufferPool(self.QUEUED_ARRAYS + 2)
        except OSError as err:
            raise self._output_error(err) from err
        self._queue: queue.Queue[tuple[str, np.ndarray] | None] = queue.Queue(maxsize=self.QUEUED_ARRAYS)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="feature-file-writer", daemon=True)
        self._thread.start()

    def array(self, rows: int, cols: int) -> np.ndarray:
        """Memory for an array that will be written here ([rows, cols] float32, contents
        undefined). Pass it to `write` when it is filled, and do not read it after that:
        it is reused once written."""
        if self._buffers is None:
            return np.empty((rows, cols), dtype=np.float32)
        return self._buffers.take(rows, cols)

    def write(self, record_id: str, activations: np.ndarray) -> None:
        """Queue one array for writing (an array from `array` is the file's from now on)."""
        self._raise_failure()
        self._queue.put((record_id, activations))

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._failure is None:
                try:
                    self._writer.write(*item)
                except BaseException as failure:  # handed to the caller's thread by _raise_failure
                    self._failure = failure
            if self._buffers is not None:
                self._buffers.give_back(item[1])

    def _raise_failure(self) -> None:
        if self._failure is None:
            return
        if isinstance(self._failure, OSError):
            raise self._output_error(self._failure) from self._failure
        raise self._failure

    def _output_error(self, err: OSError) -> OutputError:
        """What the user reads when the disk says no: why, and that nothing half-written is left."""
        reason = err.strerror or str(err)
        return OutputError(
            f"Could not write {self.path}: {reason}. Nothing was written there (an earlier file of that name, "
            "if any, is unchanged); free some space or choose another output path."
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        self._queue.put(None)
        self._thread.join()
        if error_type is not None or self._failure is not None:
            self._writer.abort()
            self._partial.unlink(missing_ok=True)
            self._raise_failure()
            return
        try:
            self._writer.close()
            os.replace(self._partial, self.path)
        except OSError as err:
            self._partial.unlink(missing_ok=True)
            raise self._output_error(err) from err
        except BaseException:
            self._partial.unlink(missing_ok=True)
            raise
