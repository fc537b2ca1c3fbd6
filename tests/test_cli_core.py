"""The core CLI as a user runs it: a real subprocess, real files, real exit codes."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from interplm_core.pipeline import FeaturePipeline
from interplm_core.sequences import parse_sequence_input


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "interplm_core", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300,
    )


@pytest.fixture
def cli_env(weights_env):
    return {k: os.environ[k] for k in ("INTERPLM_WEIGHTS_DIR", "INTERPLM_CACHE_DIR", "HF_ENDPOINT", "INTERPLM_ESM_URL", "TORCH_HOME", "HF_HOME")}


def test_features_from_fasta_writes_one_array_per_record(cli_env, fixtures_dir, tmp_path):
    fasta = fixtures_dir / "uniprot" / "uniprot_sprot_multi_ex_8seqs.fasta"
    out = tmp_path / "features.npz"
    proc = run_cli("features", "--fasta", str(fasta), "--layer", "3", "--out", str(out), "--top", "4", "--quiet", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    records = parse_sequence_input(fasta.read_text())
    saved = np.load(out)
    assert sorted(saved.files) == sorted(r.id for r in records)
    # The same records in one call batch as the CLI did (batching moves the last bits).
    expected = FeaturePipeline(progress=False).features(records, 3)
    for result in expected:
        assert saved[result.record_id].shape == (result.length, 10240)
        np.testing.assert_array_equal(saved[result.record_id], result.activations)
        top = result.top_features(4)[0]
        assert f"{top['feature']:>7}  {top['max_activation']:>8.3f}" in proc.stdout
    assert proc.stdout.count("rank  feature") == len(records)
    assert "SAE reconstruction" not in proc.stdout  # only on request: it costs a matrix product per residue
    assert "synthetic weights" in proc.stderr


def test_features_reports_the_reconstruction_on_request(cli_env, synthetic_weights_dir, tmp_path):
    from tests.test_pipeline import independent_features

    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    proc = run_cli("features", "--sequence", sequence, "--layer", "2", "--reconstruction", "--quiet",
                   "--out", str(tmp_path / "x.npz"), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    _, x, x_hat = independent_features(synthetic_weights_dir, sequence, 2, True)
    mse = ((x - x_hat) ** 2).mean()
    fve = 1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    heading = next(line for line in proc.stdout.splitlines() if line.startswith("query"))
    printed = re.search(r"SAE reconstruction: MSE (\S+), variance explained (\S+)%$", heading)
    assert printed, heading
    assert float(printed[1]) == pytest.approx(mse, rel=2e-3)
    assert float(printed[2]) == pytest.approx(100 * fve, abs=0.06)


def test_features_raw_sequence_is_named_query_and_unnormalized_differs(cli_env, tmp_path):
    norm, raw = tmp_path / "n.npz", tmp_path / "r.npz"
    assert run_cli("features", "--sequence", "MKTAYIAKQRQISFVKSHF", "--layer", "2", "--out", str(norm), env=cli_env).returncode == 0
    assert run_cli("features", "--sequence", "MKTAYIAKQRQISFVKSHF", "--layer", "2", "--unnormalized", "--out", str(raw), env=cli_env).returncode == 0
    n, r = np.load(norm)["query"], np.load(raw)["query"]
    assert n.shape == r.shape == (19, 10240)
    assert ((n > 0) == (r > 0)).mean() > 0.99 and not np.allclose(n, r)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sequence", "MKTJAYI", "--layer", "3"], "invalid character 'J' at position 4"),
        (["--sequence", "", "--layer", "3"], "empty"),
        (["--sequence", "MKTA", "--layer", "9"], "layer 9 has none"),
        (["--fasta", "/nonexistent.fa", "--layer", "3"], "FASTA file not found"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(cli_env, tmp_path, args, message):
    proc = run_cli("features", *args, "--out", str(tmp_path / "x.npz"), env=cli_env)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()


def test_missing_weights_offline_is_one_clear_line(tmp_path):
    env = {"INTERPLM_WEIGHTS_DIR": str(tmp_path / "empty"), "INTERPLM_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "t"),
           "HF_HOME": str(tmp_path / "hf"), "INTERPLM_CACHE_DIR": str(tmp_path / "c")}
    proc = run_cli("features", "--sequence", "MKTA", "--layer", "1", "--out", str(tmp_path / "x.npz"), env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "esm2_t6_8M_UR50D.pt" in proc.stderr and "offline mode is on" in proc.stderr


def test_weights_synthetic_then_fetch_from_that_directory(tmp_path):
    out = tmp_path / "w"
    proc = run_cli("weights", "synthetic", "--out", str(out), "--seed", "3", "--layers", "1-2")
    assert proc.returncode == 0, proc.stderr
    assert "mean nothing biologically" in proc.stdout
    assert (out / "InterPLM-esm2-8m" / "layer_2" / "ae_normalized.pt").is_file()
    assert not (out / "InterPLM-esm2-8m" / "layer_3").exists()
    env = {"INTERPLM_WEIGHTS_DIR": str(out), "INTERPLM_OFFLINE": "1"}
    fetched = run_cli("weights", "fetch", "--layers", "1-2", "--quiet", env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.count("weights dir") == 2 + 4
    bad = run_cli("weights", "fetch", "--layers", "7", env=env)
    assert bad.returncode == 2 and "layer 7 has none" in bad.stderr


def test_same_seed_gives_identical_files(tmp_path):
    import torch

    from interplm_core.synthetic import write_synthetic_weights

    a = write_synthetic_weights(tmp_path / "a", seed=1, layers=[2])
    b = write_synthetic_weights(tmp_path / "b", seed=1, layers=[2])
    c = write_synthetic_weights(tmp_path / "c", seed=2, layers=[2])
    rel = "InterPLM-esm2-8m/layer_2/ae_unnormalized.pt"
    sa, sb, sc = (torch.load(d / rel, weights_only=True) for d in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["encoder.weight"], sc["encoder.weight"])


def test_features_from_uniprot_accession_through_the_mirror(mirror_env, synthetic_weights_dir, tmp_path):
    env = {k: os.environ[k] for k in mirror_env.env()}
    env.update(INTERPLM_WEIGHTS_DIR=str(synthetic_weights_dir), INTERPLM_CACHE_DIR=str(tmp_path / "c"))
    out = tmp_path / "lys.npz"
    proc = run_cli("features", "--uniprot", "Q0MRG0", "--layer", "4", "--out", str(out), "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "merged into P61626" in proc.stderr
    saved = np.load(out)
    assert saved.files == ["P61626"] and saved["P61626"].shape == (148, 10240)
    bad = run_cli("features", "--uniprot", "A0A000", "--layer", "4", "--out", str(out), env=env)
    assert bad.returncode == 2 and "UniProt entry A0A000 is not recorded in this mirror" in bad.stderr


def test_features_dense_npz_uncompressed_by_default_compress_on_request(cli_env, fixtures_dir, tmp_path):
    import zipfile

    fasta = fixtures_dir / "uniprot" / "uniprot_sprot_multi_ex_8seqs.fasta"
    plain, packed = tmp_path / "plain.npz", tmp_path / "packed.npz"
    for out, extra in ((plain, []), (packed, ["--compress"])):
        proc = run_cli("features", "--fasta", str(fasta), "--layer", "3", "--out", str(out), "--quiet", *extra, env=cli_env)
        assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(plain) as a, zipfile.ZipFile(packed) as b:
        assert {i.compress_type for i in a.infolist()} == {zipfile.ZIP_STORED}
        assert {i.compress_type for i in b.infolist()} == {zipfile.ZIP_DEFLATED}
    records = parse_sequence_input(fasta.read_text())
    dense, deflated = np.load(plain), np.load(packed)
    assert dense.files == [r.id for r in records]  # in input order, as np.savez wrote them
    for record in records:
        assert dense[record.id].dtype == np.float32 and dense[record.id].shape == (len(record.sequence), 10240)
        np.testing.assert_array_equal(dense[record.id], deflated[record.id])
    assert packed.stat().st_size < plain.stat().st_size / 5
    assert not list(tmp_path.glob(".*.partial"))


def test_features_parquet_holds_every_non_zero_activation(cli_env, fixtures_dir, tmp_path):
    import pyarrow.parquet as pq

    fasta = fixtures_dir / "uniprot" / "uniprot_sprot_multi_ex_8seqs.fasta"
    sparse, dense = tmp_path / "f.parquet", tmp_path / "f.npz"
    for out in (sparse, dense):
        proc = run_cli("features", "--fasta", str(fasta), "--layer", "3", "--out", str(out), "--quiet", env=cli_env)
        assert proc.returncode == 0, proc.stderr
    table = pq.read_table(sparse)
    assert table.schema.names == ["record", "position", "feature", "value"]
    assert [str(t) for t in table.schema.types] == ["string", "int32", "int32", "float"]  # plain types read back
    assert "non-zero activations of 8 record(s)" in proc.stdout or "8 array(s)" in proc.stdout
    arrays = np.load(dense)
    records = table["record"].to_numpy(zero_copy_only=False)
    assert list(dict.fromkeys(records)) == arrays.files  # records in input order
    total = 0
    for record_id in arrays.files:
        expected = arrays[record_id]
        rows = records == record_id
        rebuilt = np.zeros_like(expected)
        positions = table["position"].to_numpy()[rows]
        rebuilt[positions - 1, table["feature"].to_numpy()[rows]] = table["value"].to_numpy()[rows]
        np.testing.assert_array_equal(rebuilt, expected)
        total += int((expected != 0).sum())
    assert table.num_rows == total and (table["value"].to_numpy() != 0).all()


def test_features_argument_errors_answer_before_torch_is_imported(tmp_path):
    """A bad --out or a bad sequence fails fast: one line, exit 2, nothing written, no torch."""
    probe = "import sys; from interplm_core.cli import main; code = main(sys.argv[1:]); print('torch' in sys.modules); sys.exit(code)"
    for args, message in (
        (["--sequence", "MKTA", "--layer", "3", "--out", str(tmp_path / "x.csv")], ".npz (dense) or .parquet (sparse)"),
        (["--sequence", "MKTJAYI", "--layer", "3", "--out", str(tmp_path / "x.parquet")], "invalid character 'J'"),
    ):
        proc = subprocess.run([sys.executable, "-c", probe, "features", *args], check=False, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert proc.stdout.split() == ["False"]
    assert not list(tmp_path.iterdir())



def test_leaving_waits_for_background_writes_and_flushes_output(tmp_path):
    """The CLI exits through os._exit (skipping torch's slow teardown) only after what a
    normal exit would finish: a write still running on an executor thread (as the result
    cache's are), atexit handlers, unflushed output."""
    marker, at_exit = tmp_path / "written", tmp_path / "atexit"
    code = f"""
import atexit, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from interplm_core.cli import leave
pool = ThreadPoolExecutor(max_workers=1)
pool.submit(lambda: (time.sleep(0.5), Path({str(marker)!r}).write_text("done")))
atexit.register(lambda: Path({str(at_exit)!r}).write_text("ran"))
sys.stdout.write("no newline, still buffered")
leave(3)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stdout == "no newline, still buffered"
    assert marker.read_text() == "done" and at_exit.read_text() == "ran"
