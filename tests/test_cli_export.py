"""`structure export` (issue 10 item 16) as a user runs it: a real subprocess on synthetic weights.
Each format is the very file the app's download gives (the same core function, compared here
byte for byte); hostile input exits 2 with one line, or yields an inert file."""

from __future__ import annotations

import numpy as np
import pytest

from interplm_core import structure_exports as se
from interplm_core.mapping import map_to_structure
from interplm_core.structures import load_atoms, parse_structure, write_atoms
from tests.test_cli_core import run_cli
from tests.test_export_safety import PAYLOAD, _assert_inert


@pytest.fixture
def cli_env(weights_env):
    import os

    return {k: os.environ[k] for k in ("INTERPLM_WEIGHTS_DIR", "INTERPLM_CACHE_DIR", "HF_ENDPOINT", "INTERPLM_ESM_URL",
                                       "TORCH_HOME", "HF_HOME")}


UBQ = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"


def _args(structure, fmt, out, *extra, features="3,7,11"):
    return ["structure", "export", "--structure", str(structure), "--sequence", UBQ, "--layer", "3",
            "--features", features, "--format", fmt, "--out", str(out), *extra]


def _export(structure, fmt, out, *extra, env, features="3,7,11"):
    """A real subprocess, as a user or a check runs it."""
    return run_cli(*_args(structure, fmt, out, *extra, features=features), env=env)


def _export_here(capsys, structure, fmt, out, *extra, features="3,7,11"):
    """The same command in this process (no interpreter start-up: the error cases are many).
    The environment is the synthetic-weights one that `cli_env` set up."""
    from interplm_core.cli import main

    code = main(_args(structure, fmt, out, *extra, features=features))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("fmt", se.EXPORT_FORMATS)
def test_each_format_is_the_apps_file(cli_env, fixtures_dir, tmp_path, fmt, monkeypatch):
    structure = fixtures_dir / "pdb" / "1UBQ.pdb"
    out = tmp_path / f"out.{fmt}"
    proc = _export(structure, fmt, out, env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert f"Wrote {fmt} (f3, f7, f11, layer 3, chain 'A') to {out}" in proc.stdout

    from interplm_core.pipeline import FeaturePipeline
    from interplm_core.sequences import SequenceRecord

    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    result = FeaturePipeline(progress=False).features([SequenceRecord("query", UBQ)], 3)[0]
    text = structure.read_text()
    parsed = parse_structure(text, "pdb")
    source = se.ExportSource("query", "esm2_t6_8M_UR50D", 3, True, "1UBQ.pdb", synthetic=True)
    expected = se.export_structure(fmt, text, "pdb", map_to_structure(UBQ, parsed), result.activations, [3, 7, 11],
                                   source, "1UBQ.pdb")
    assert out.read_text() == expected


def test_hostile_remark_gives_an_inert_page(cli_env, fixtures_dir, tmp_path):
    text = (fixtures_dir / "pdb" / "1UBQ.pdb").read_text().replace("REMARK   2", f"REMARK 999 {PAYLOAD}\nREMARK   2", 1)
    structure = tmp_path / "hostile.pdb"
    structure.write_text(text)
    out = tmp_path / "page.html"
    assert _export(structure, "html", out, env=cli_env).returncode == 0
    _assert_inert(out.read_text(), text)


def _hostile_chain_cif(fixtures_dir, path, chain):
    atoms, _, _ = load_atoms((fixtures_dir / "pdb" / "1UBQ.pdb").read_text(), "pdb")
    atoms.chain_id = np.array([chain] * atoms.array_length(), dtype=object).astype(str)
    path.write_text(write_atoms(atoms, "cif"))
    return path


@pytest.mark.parametrize("fmt", ["pml", "cxc"])
def test_hostile_chain_id_exits_2_for_scripts(cli_env, fixtures_dir, tmp_path, fmt, capsys):
    structure = _hostile_chain_cif(fixtures_dir, tmp_path / "ubq.cif", "A;system touch /tmp/x;")
    out = tmp_path / f"out.{fmt}"
    code, _, err = _export_here(capsys, structure, fmt, out)
    assert code == 2 and err.startswith("error: Chain id") and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "a;system id;.pdb", "fmt": "pml"}, "File name 'a;system id;.pdb' cannot be written"),
        ({"extra": ["--chain", "A;B"]}, "no protein chain 'A;B'"),
        ({"features": "1,2,3,4"}, "Give 1 to 3 different feature ids"),
        ({"features": "1,x"}, "Cannot read features"),
        ({"features": "99999"}, "Feature ids run from 0 to"),
        ({"extra": ["--layer", "9"]}, "layer 9 has none"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli_env, fixtures_dir, tmp_path, change, message, capsys):
    structure = tmp_path / change.get("name", "ubq.pdb")
    structure.write_text((fixtures_dir / "pdb" / "1UBQ.pdb").read_text())
    out = tmp_path / "out"
    code, _, err = _export_here(capsys, structure, change.get("fmt", "html"), out, *change.get("extra", []),
                                features=change.get("features", "3"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_too_large_for_pdb_exits_2_naming_mmcif(cli_env, fixtures_dir, tmp_path, capsys):
    atoms, _, _ = load_atoms((fixtures_dir / "pdb" / "1UBQ.pdb").read_text(), "pdb")
    atoms.coord = atoms.coord + 20_000.0
    structure = tmp_path / "far.cif"
    structure.write_text(write_atoms(atoms, "cif"))
    code, _, err = _export_here(capsys, structure, "pdb", tmp_path / "far.pdb")
    assert code == 2 and "export it as mmCIF" in err
    assert _export_here(capsys, structure, "cif", tmp_path / "far_out.cif")[0] == 0
