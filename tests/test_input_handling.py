"""Bad input gets a clear message and loses nothing (issue 10 items 12 and 14, input part):
FASTA ids made unique and safe as .npz members, files that are not text named for what they
are, an oversized record refused while streaming, bare strings and odd layers validated, a
closed pipe ending the CLI quietly, atlas limits and literal search characters."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from interplm_core.errors import InputError
from interplm_core.sequences import parse_sequence_input, read_fasta_file, safe_name, unique_safe_names


@pytest.fixture
def cli_env(weights_env):
    return {k: os.environ[k] for k in ("INTERPLM_WEIGHTS_DIR", "INTERPLM_CACHE_DIR", "HF_ENDPOINT", "INTERPLM_ESM_URL",
                                       "TORCH_HOME", "HF_HOME")}


# ------------------------------------------------------------------ item 12

def test_repeated_ids_never_collide():
    records = parse_sequence_input(">a\nMKV\n>a\nMKL\n>a_2\nMKW\n>a\nMKY\n")
    assert [r.id for r in records] == ["a", "a_2", "a_2_2", "a_3"]
    assert [r.sequence for r in records] == ["MKV", "MKL", "MKW", "MKY"]


@pytest.mark.parametrize("raw", ["../../x", "/abs/path", "..", "-rf", "a/b\\c", "sp|P69905|HBA_HUMAN", "", "é"])
def test_safe_names_stay_in_their_folder(raw, tmp_path):
    name = safe_name(raw)
    assert name and name == os.path.basename(name) and not name.startswith((".", "-"))
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_unique_safe_names_after_sanitising():
    assert unique_safe_names(["a/b", "a_b", "a b"]) == ["a_b", "a_b_2", "a_b_3"]


def test_cli_keeps_every_record_and_prints_the_renaming(cli_env, tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAK\n>a\nMKTAYIAL\n>a_2\nMKTAYIAM\n>../../x\nMKTAYIAN\n>/abs/path\nMKTAYIAP\n"
                     ">sp|P69905|HBA_HUMAN\nMKTAYIAQ\n")
    out = tmp_path / "out.npz"
    proc = subprocess.run([sys.executable, "-m", "interplm_core", "features", "--fasta", str(fasta), "--layer", "3",
                           "--out", str(out), "--quiet", "--top", "1"],
                          check=False, capture_output=True, text=True, env={**os.environ, **cli_env}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as archive:
        members = archive.namelist()
    assert len(members) == 6 and all("/" not in m and not m.startswith(".") for m in members)
    saved = np.load(out)
    assert sorted(saved.files) == sorted(["a", "a_2", "a_2_2", "___.._x", "_abs_path", "sp|P69905|HBA_HUMAN"])
    assert saved["a_2_2"].shape[0] == 8
    assert "record '../../x' is stored as '___.._x'" in proc.stderr
    assert "record '/abs/path' is stored as '_abs_path'" in proc.stderr


# ------------------------------------------------------------------ item 14: files that are not FASTA text

@pytest.mark.parametrize("data, what", [
    (">a\nMKV\n".encode("utf-16"), "is UTF-16 text"),
    (">a\nMKV\n".encode("utf-16-le"), "is UTF-16 text without a byte-order mark"),
    (">a\nMKV\n".encode("utf-32"), "is UTF-32 text"),
    (b"\x1f\x8b\x08\x00" + bytes(range(60)), "is a gzip-compressed file"),
    (b"PK\x03\x04" + bytes(60), "is a ZIP archive"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a binary file"),
])
def test_non_text_files_are_named_for_what_they_are(tmp_path, data, what):
    path = tmp_path / "in.fasta"
    path.write_bytes(data)
    with pytest.raises(InputError, match=what) as err:
        read_fasta_file(path)
    assert ">" not in str(err.value) and "header" not in str(err.value)


def test_cli_reports_utf16_as_utf16(tmp_path):
    path = tmp_path / "in.fasta"
    path.write_bytes(">a\nMKV\n".encode("utf-16"))
    proc = subprocess.run([sys.executable, "-m", "interplm_core", "features", "--fasta", str(path), "--layer", "3",
                           "--out", str(tmp_path / "o.npz")], check=False, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "UTF-16 text" in proc.stderr and "Traceback" not in proc.stderr


def _peak_bytes_while_refused(path, message: str) -> int:
    """Peak Python memory (tracemalloc) of reading `path`, which must be refused with `message`."""
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=message):
            read_fasta_file(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_oversized_record_is_refused_while_streaming(tmp_path):
    """A 200 MB one-record FASTA: refused after reading a few MB, with memory that does not grow
    with the file (measured: whole-file reading peaked near 1 GB)."""
    path = tmp_path / "big.fasta"
    line = ("ACDEFGHIKLMNPQRSTVWY" * 3 + "\n").encode()
    with path.open("wb") as handle:
        handle.write(b">big one record\n")
        block = line * 100_000
        while handle.tell() < 200_000_000:
            handle.write(block)
    assert _peak_bytes_while_refused(path, "Record 'big' has more than 20,000 residues") < 20_000_000


def test_control_characters_in_a_header_become_question_marks(tmp_path):
    """An ESC in a record id would recolour (or worse) the terminal the CLI prints it to."""
    path = tmp_path / "hostile.fasta"
    path.write_text(">\x1b[31mred\x07 desc\x1b]0;title\x07\nMKV\n")
    (record,) = read_fasta_file(path)
    assert record.id == "?[31mred?" and record.description == "desc?]0;title?"
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in record.id + record.description)


def test_the_length_limit_is_per_record_not_per_file(tmp_path):
    """300 records of 400 residues (120,000 in all, 6x the per-record limit) are a corpus,
    not an oversized protein; the 301st, one residue over the limit, is refused by name."""
    path = tmp_path / "corpus.fasta"
    body = "".join(f">p{i}\n{'ACDEFGHIKLMNPQRSTVWY' * 20}\n" for i in range(300))
    path.write_text(body)
    records = read_fasta_file(path)
    assert len(records) == 300 and {len(r.sequence) for r in records} == {400}
    path.write_text(body + ">huge\n" + "A" * 20_001 + "\n")
    with pytest.raises(InputError, match="Record 'huge' has 20,001 residues; the limit is 20,000"):
        read_fasta_file(path)


def test_one_line_giant_sequence_is_refused_while_streaming(tmp_path):
    path = tmp_path / "line.fasta"
    path.write_text(">x\n" + "A" * 5_000_000)
    assert _peak_bytes_while_refused(path, "line 2 is over") < 12_000_000


def test_streamed_file_reads_like_pasted_text(tmp_path, fixtures_dir):
    fasta = fixtures_dir / "uniprot" / "uniprot_sprot_multi_ex_8seqs.fasta"
    assert read_fasta_file(fasta) == parse_sequence_input(fasta.read_text())
    bare = tmp_path / "bare.txt"
    bare.write_text("\ufeffMKV\nLLA\n")
    assert [(r.id, r.sequence) for r in read_fasta_file(bare)] == [("query", "MKVLLA")]


# ------------------------------------------------------------------ item 14: pipeline arguments

def test_bare_strings_are_validated(weights_env):
    from interplm_core.pipeline import FeaturePipeline

    pipeline = FeaturePipeline(progress=False)
    with pytest.raises(InputError, match="invalid character '1' at position 3"):
        pipeline.features(["MK1V"], 3)
    with pytest.raises(InputError, match="Expected a protein sequence"):
        pipeline.features([42], 3)
    assert pipeline.features(["mkv"], 3)[0].sequence == "MKV"


@pytest.mark.parametrize("layer", [True, 3.0, "3", None])
def test_layer_must_be_an_integer(weights_env, layer):
    from interplm_core.pipeline import FeaturePipeline

    with pytest.raises(InputError, match="layer must be a whole number"):
        FeaturePipeline(progress=False).features(["MKV"], layer)


def test_numpy_layer_is_accepted(weights_env):
    from interplm_core.pipeline import FeaturePipeline

    assert FeaturePipeline(progress=False).features(["MKV"], np.int64(3))[0].layer == 3


# ------------------------------------------------------------------ item 14: a closed pipe

def test_output_into_head_still_writes_the_whole_file(cli_env, tmp_path):
    """`... | head -1`: the reader leaves after one line. The listing stops, quietly (no
    BrokenPipeError traceback), but the output file the user asked for is complete."""
    records = {"first": "MKTAYIAKQRQISFVKSHFSRQ" * 20, "second": "GSHMLEDPVAGKT" * 9, "third": "MKV" * 30}
    fasta = tmp_path / "three.fasta"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    out = tmp_path / "o.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "interplm_core", "features", "--fasta", str(fasta), "--layer", "3",
         "--out", str(out), "--top", "10240", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **cli_env},
    )
    proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does once it has its line: the first record's table fills the pipe
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
    with np.load(out) as saved:
        assert sorted(saved.files) == sorted(records)
        assert all(saved[name].shape == (len(seq), 10240) for name, seq in records.items())
