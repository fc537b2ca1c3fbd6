"""Settings: one module reads the environment, bad values get a message naming the variable,
and neither the CLI nor the app shows a traceback for them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from interplm_core.errors import InputError
from interplm_core.settings import get_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, expected", [
    ("2GB", 2 * 1000**3), ("2GiB", 2 * 1024**3), ("500MB", 500 * 1000**2), ("500 MiB", 500 * 1024**2),
    ("123456", 123456), ("1.5G", 1_500_000_000),
])
def test_cache_size_accepts_units(monkeypatch, text, expected):
    monkeypatch.setenv("INTERPLM_CACHE_MAX_BYTES", text)
    assert get_settings().cache_max_bytes == expected


@pytest.mark.parametrize("variable, value, allowed", [
    ("INTERPLM_CACHE_MAX_BYTES", "lots", "2GB, 2GiB, 500MB"),
    ("INTERPLM_CACHE_MAX_BYTES", "-5", "2GB, 2GiB, 500MB"),
    ("INTERPLM_HTTP_TIMEOUT", "abc", "number of seconds above 0"),
    ("INTERPLM_HTTP_TIMEOUT", "0", "number of seconds above 0"),
    ("INTERPLM_HTTP_RETRIES", "2.5", "whole number"),
    ("INTERPLM_MAX_UPLOAD_BYTES", "big", "2GB"),
])
def test_bad_values_name_the_variable_and_what_is_allowed(monkeypatch, variable, value, allowed):
    monkeypatch.setenv(variable, value)
    with pytest.raises(InputError) as err:
        get_settings()
    assert f"{variable}='{value}'" in str(err.value) and allowed in str(err.value)


def test_settings_carry_the_variables_read_elsewhere_before(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERPLM_CONTACT", "lab@example.org")
    monkeypatch.setenv("INTERPLM_MAX_UPLOAD_BYTES", "3MB")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("INTERPLM_ATLAS", str(tmp_path / "atlas"))
    s = get_settings()
    assert (s.contact, s.max_upload_bytes, s.hf_hub_cache, s.atlas) == (
        "lab@example.org", 3_000_000, tmp_path / "hub", tmp_path / "atlas")
    from interplm_core.http import user_agent
    from interplm_core.structures import max_upload_bytes

    assert user_agent(s).endswith("; lab@example.org)")
    assert max_upload_bytes() == 3_000_000


def _python_sources() -> list[Path]:
    return [p for p in [REPO / "app.py", *REPO.glob("interplm_core/**/*.py"), *REPO.glob("ui/*.py"),
                        *REPO.glob("app_pages/*.py")] if p.name != "settings.py"]


def test_only_settings_reads_the_environment_and_nothing_writes_it():
    readers = [f"{p.relative_to(REPO)}: {line.strip()}" for p in _python_sources()
               for line in p.read_text().splitlines()
               if re.search(r"os\.environ|os\.getenv|putenv", line) and not line.lstrip().startswith("#")]
    assert readers == []


def test_readme_lists_every_variable_settings_reads():
    source = (REPO / "interplm_core" / "settings.py").read_text()
    variables = set(re.findall(r'"((?:INTERPLM|HF|XDG)_[A-Z_]+)"', source))
    readme = (REPO / "README.md").read_text()
    table = "\n".join(line for line in readme.splitlines() if line.startswith("|"))
    assert variables and sorted(v for v in variables if v not in table) == []


# ----------------------------------------------------------------- CLI: one line, exit 2


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "interplm_core", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


@pytest.fixture
def cli_env(weights_env):
    return {k: os.environ[k] for k in ("INTERPLM_WEIGHTS_DIR", "INTERPLM_CACHE_DIR", "HF_ENDPOINT",
                                       "INTERPLM_ESM_URL", "TORCH_HOME", "HF_HOME")}


@pytest.mark.parametrize("variable, value, message", [
    ("INTERPLM_HTTP_TIMEOUT", "abc", "INTERPLM_HTTP_TIMEOUT='abc' is not usable"),
    ("INTERPLM_CACHE_MAX_BYTES", "2 lots", "INTERPLM_CACHE_MAX_BYTES='2 lots' is not usable"),
    ("INTERPLM_CACHE_DIR", "{tmp}/a-file/cache", "cannot be written"),
])
def test_cli_bad_setting_is_one_line_and_exit_2(cli_env, tmp_path, variable, value, message):
    (tmp_path / "a-file").write_text("not a folder")
    env = {**cli_env, variable: value.format(tmp=tmp_path)}
    proc = _cli("features", "--sequence", "MKTAYIAKQR", "--layer", "1", "--out", str(tmp_path / "x.npz"), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr


def test_cli_accepts_a_cache_size_with_units(cli_env, tmp_path):
    env = {**cli_env, "INTERPLM_CACHE_MAX_BYTES": "2GB"}
    proc = _cli("features", "--sequence", "MKTAYIAKQR", "--layer", "1", "--out", str(tmp_path / "x.npz"), "--quiet",
                env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.npz").is_file()


# ----------------------------------------------------------------- app: a message, no crash


@pytest.mark.parametrize("variable, value, message", [
    ("INTERPLM_HTTP_TIMEOUT", "abc", "INTERPLM_HTTP_TIMEOUT='abc' is not usable"),
    ("INTERPLM_CACHE_DIR", "{tmp}/a-file/cache", "cannot be written"),
])
def test_app_shows_a_bad_setting_instead_of_crashing(app_env, tmp_path, monkeypatch, variable, value, message):
    from tests.app_fixtures import new_app, texts

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv(variable, value.format(tmp=tmp_path))
    at = new_app(uniprot="P61626", layer="3").run()
    assert not at.exception
    assert message in texts(at)


def test_damaged_weights_file_cannot_crash_the_page(app_env, tmp_path, monkeypatch, synthetic_weights_dir):
    from tests.app_fixtures import new_app

    broken = tmp_path / "weights"
    broken.mkdir()
    data = (synthetic_weights_dir / "esm2_t6_8M_UR50D.pt").read_bytes()
    (broken / "esm2_t6_8M_UR50D.pt").write_bytes(data[: len(data) // 3])
    monkeypatch.setenv("INTERPLM_WEIGHTS_DIR", str(broken))
    monkeypatch.setenv("INTERPLM_CACHE_DIR", str(tmp_path / "cache"))
    at = new_app().run()
    assert not at.exception
    assert at.sidebar  # the sidebar (with its status) was drawn
