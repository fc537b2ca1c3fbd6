"""The output file of `features`: written on a background thread, in order, atomically."""

import numpy as np
import pytest

from interplm_core.feature_export import FeatureFile


def test_arrays_come_back_in_order_and_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"p{i}": np.maximum(rng.standard_normal((n, 64)).astype(np.float32), 0) for i, n in enumerate([3, 50, 1, 20, 7, 9])}
    out = tmp_path / "f.npz"
    with FeatureFile(out) as output:
        for name, array in arrays.items():
            output.write(name, array)
    with np.load(out) as loaded:
        assert list(loaded.keys()) == list(arrays)
        for name, array in arrays.items():
            assert np.array_equal(loaded[name], array)
    assert [p.name for p in tmp_path.iterdir()] == ["f.npz"]


def test_npz_members_are_byte_for_byte_numpys_own(tmp_path):
    """The array's bytes go into the archive in one piece after numpy's header: each member
    must be exactly what `np.savez` writes, for every shape and for non-contiguous input."""
    import zipfile

    rng = np.random.default_rng(1)
    base = rng.standard_normal((30, 70)).astype(np.float64)
    arrays = {
        "wide": rng.standard_normal((5, 10240)).astype(np.float32),
        "one": np.zeros((1, 3), dtype=np.float32),
        "strided": base[::3, ::2],  # float64, not contiguous: written as contiguous float32
    }
    ours, numpys = tmp_path / "ours.npz", tmp_path / "numpy.npz"
    with FeatureFile(ours) as output:
        for name, array in arrays.items():
            output.write(name, array)
    np.savez(numpys, **{name: np.ascontiguousarray(a, dtype=np.float32) for name, a in arrays.items()})
    with zipfile.ZipFile(ours) as mine, zipfile.ZipFile(numpys) as reference:
        assert mine.namelist() == reference.namelist()
        for member in reference.namelist():
            assert mine.read(member) == reference.read(member)  # also checks each CRC


class _FailingWriter:
    def __init__(self, fail_at: int):
        self.fail_at, self.written = fail_at, 0

    def write(self, record_id, activations):
        if self.written == self.fail_at:
            raise OSError(28, "No space left on device")
        self.written += 1

    def close(self):
        raise AssertionError("a failed file must not be closed as if complete")

    def abort(self):
        self.aborted = True


def test_a_failing_disk_is_raised_and_leaves_no_file(tmp_path):
    out = tmp_path / "f.npz"
    out.write_bytes(b"an earlier run's output")
    from interplm_core.errors import OutputError

    with pytest.raises(OutputError, match=r"f\.npz: No space left on device\. Nothing was written there"):
        with FeatureFile(out) as output:
            output._writer = _FailingWriter(fail_at=2)
            for i in range(50):  # more than the queue holds: the writer keeps draining after failing
                output.write(f"p{i}", np.zeros((2, 4), np.float32))
    assert out.read_bytes() == b"an earlier run's output"  # the old output is kept whole
    assert not list(tmp_path.glob(".*partial"))


def test_an_error_in_the_caller_removes_the_partial_file(tmp_path):
    out = tmp_path / "f.parquet"
    with pytest.raises(RuntimeError):
        with FeatureFile(out) as output:
            output.write("p0", np.ones((2, 4), np.float32))
            raise RuntimeError("the model failed")
    assert list(tmp_path.iterdir()) == []


def test_an_export_reads_the_caches_but_does_not_fill_them(shared_pipeline_factory):
    cli_pipeline = shared_pipeline_factory()
    records = ["MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPVKTAW"]
    exported = list(cli_pipeline.iter_features(records, 4, remember=False))
    assert cli_pipeline.stats.model_calls == 1
    cli_pipeline.flush()
    again = list(cli_pipeline.iter_features(records, 4))  # nothing was kept: computed again
    assert cli_pipeline.stats.model_calls == 2 and not any(r.from_cache for r in again)
    for a, b in zip(exported, again):
        assert np.array_equal(a.activations, b.activations)
    cached = list(cli_pipeline.iter_features(records, 4, remember=False))  # now they are read
    assert cli_pipeline.stats.model_calls == 2 and all(r.from_cache for r in cached)


# The dense .npz's own layout (interplm_core/direct_npz.py): block-aligned, direct I/O.


def _data_offsets(path) -> dict[str, int]:
    """Where each member's array data start in the file, read from the bytes themselves:
    the local header (30 bytes + name + extra), then numpy's .npy header."""
    import struct
    import zipfile

    offsets = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        for info in archive.infolist():
            raw.seek(info.header_offset)
            local = raw.read(30)
            assert local[:4] == b"PK\x03\x04"
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            npy_start = info.header_offset + 30 + name_length + extra_length
            raw.seek(npy_start)
            magic = raw.read(10)
            assert magic[:6] == b"\x93NUMPY"
            offsets[info.filename] = npy_start + 10 + struct.unpack("<H", magic[8:10])[0]
    return offsets


def _written_from(monkeypatch) -> list[tuple[int, int]]:
    """(memory address, length) of every write the archive makes."""
    from interplm_core import direct_npz

    seen: list[tuple[int, int]] = []
    write = direct_npz.DirectNpzWriter._write

    def spy(self, view):
        seen.append((np.frombuffer(view, np.uint8).ctypes.data, len(view)))
        write(self, view)

    monkeypatch.setattr(direct_npz.DirectNpzWriter, "_write", spy)
    return seen


def test_dense_npz_arrays_start_on_blocks_and_go_from_their_own_memory(tmp_path, monkeypatch):
    from interplm_core.direct_npz import BLOCK

    writes = _written_from(monkeypatch)
    rng = np.random.default_rng(2)
    shapes = {"a": (7, 10240), "b": (1, 10240), "c": (5, 9), "d": (300, 10240), "e": (0, 10240), "f": (3, 10240)}
    out = tmp_path / "f.npz"
    expected, lent = {}, {}
    with FeatureFile(out) as output:
        for name, shape in shapes.items():
            array = output.array(*shape)
            array[...] = np.maximum(rng.standard_normal(shape), 0)
            expected[name] = array.copy()
            lent[name] = array.ctypes.data
            output.write(name, array)
    assert lent["a"] % BLOCK == 0
    with np.load(out) as loaded:
        assert loaded.files == list(shapes)
        for name, array in expected.items():
            np.testing.assert_array_equal(loaded[name], array)
    for name, start in _data_offsets(out).items():
        assert start % BLOCK == 0, (name, start)
    # A [rows, 10,240] float32 array is whole blocks: it goes to the disk from the very memory
    # the encoder filled, in one write, not through a staging copy.
    for name in ("a", "d", "f"):
        assert (lent[name], expected[name].nbytes) in writes, name
    assert out.stat().st_size == _zip_end(out)


def _zip_end(path) -> int:
    """The end of the archive's last record (the file must end there: no padding after)."""
    data = path.read_bytes()
    return data.rindex(b"PK\x05\x06") + 22


def test_dense_npz_without_direct_io_writes_the_same_bytes(tmp_path, monkeypatch):
    """tmpfs on older kernels, macOS: no O_DIRECT at open; some filesystems refuse it at the
    first write. Either way the same archive is written through the page cache."""
    import errno
    import os

    from interplm_core import direct_npz

    monkeypatch.setattr(direct_npz, "_dos_datetime", lambda: (0x6000, 0x5B21))
    arrays = {"x": np.arange(6 * 10240, dtype=np.float32).reshape(6, 10240), "y": np.ones((2, 5), np.float32)}

    def write(path) -> bool:
        """Write the archive; did it end with direct I/O on?"""
        with FeatureFile(path) as output:
            for name, array in arrays.items():
                output.write(name, array)
        return output._writer.direct

    assert write(tmp_path / "direct.npz") is (hasattr(os, "O_DIRECT"))
    real_open = os.open

    def no_direct_open(path, flags, *rest):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *rest)

    monkeypatch.setattr(direct_npz.os, "open", no_direct_open)
    assert write(tmp_path / "buffered.npz") is False
    monkeypatch.setattr(direct_npz.os, "open", real_open)

    real_write, refused = os.write, []

    def refusing_write(fd, data):
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(direct_npz.os, "write", refusing_write)
    assert write(tmp_path / "refused.npz") is False
    assert len(refused) == (1 if hasattr(os, "O_DIRECT") else 0)
    reference = (tmp_path / "direct.npz").read_bytes()
    assert (tmp_path / "buffered.npz").read_bytes() == reference
    assert (tmp_path / "refused.npz").read_bytes() == reference


def test_dense_npz_offsets_past_4_gib_read_back(tmp_path):
    """A corpus's .npz passes 4 GiB at about 400 proteins: every offset is in ZIP64 fields.
    A 5 GiB hole (a sparse file, no disk used) stands for the arrays before this one."""
    import os
    import zipfile

    from interplm_core.direct_npz import DirectNpzWriter

    path = tmp_path / "big.npz"
    writer = DirectNpzWriter(path)
    array = np.arange(3 * 10240, dtype=np.float32).reshape(3, 10240)
    writer.write("near", array)  # np.load knows an .npz by the member at its start
    hole = 5 << 30
    assert not writer._pending
    os.lseek(writer._fd, hole, os.SEEK_SET)
    writer._length = hole
    writer.write("far", -array)
    writer.close()
    with zipfile.ZipFile(path) as archive:
        assert [i.header_offset for i in archive.infolist()] == [0, hole]
        assert archive.testzip() is None
    with np.load(path) as loaded:
        np.testing.assert_array_equal(loaded["near"], array)
        np.testing.assert_array_equal(loaded["far"], -array)


def test_buffer_pool_lends_aligned_memory_and_reuses_it():
    from interplm_core.direct_npz import BLOCK, BufferPool

    pool = BufferPool(keep=2)
    first = pool.take(10, 10240)
    assert first.ctypes.data % BLOCK == 0 and first.shape == (10, 10240) and first.dtype == np.float32
    address = first.ctypes.data
    pool.give_back(first)
    again = pool.take(4, 10240)  # smaller: the same memory again, no new pages
    assert again.ctypes.data == address
    many = [pool.take(2, 8) for _ in range(5)]  # never waits, even with nothing given back
    assert len({a.ctypes.data for a in many}) == 5
    for array in [again, *many]:
        pool.give_back(array)
    assert pool.free == 2  # keeps at most `keep` for reuse
    pool.give_back(np.zeros((2, 8), np.float32))  # not from the pool: ignored
    assert pool.free == 2


def test_pipeline_encodes_into_the_export_buffers_with_the_same_numbers(shared_pipeline_factory, tmp_path):
    """The CLI's path: results encoded into the file's buffers, printed, then written; the
    buffers are reused while later proteins are encoded. Every array must still be the one
    computed the ordinary way."""
    pipeline = shared_pipeline_factory()
    rng = np.random.default_rng(3)
    records = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=n)) for n in rng.integers(20, 90, size=12)]
    expected = [r.activations for r in pipeline.iter_features(records, 4, remember=False)]
    out = tmp_path / "f.npz"
    with FeatureFile(out) as output:
        results = pipeline.iter_features(records, 4, remember=False, allocate=output.array)
        for index, result in enumerate(results):
            assert output._buffers is not None and output._buffers._lent.get(result.activations.ctypes.data)
            np.testing.assert_array_equal(result.activations, expected[index])
            output.write(f"p{index}", result.activations)
    assert output._buffers.free > 0  # they were given back, and reused
    with np.load(out) as loaded:
        for index, array in enumerate(expected):
            np.testing.assert_array_equal(loaded[f"p{index}"], array)
    # Remembered results keep their own memory: the buffers are not used for them.
    lent = []
    cached = list(pipeline.iter_features(records[:2], 4, allocate=lambda r, c: lent.append(r) or np.empty((r, c), np.float32)))
    assert lent == [] and len(cached) == 2
