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


def test_a_failing_disk_is_raised_and_leaves_no_file(tmp_path):
    out = tmp_path / "f.npz"
    out.write_bytes(b"an earlier run's output")
    with pytest.raises(OSError, match="No space left"):
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
