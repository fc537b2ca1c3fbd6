"""The shipped Streamlit settings (issue 10 item 5): the app listens on loopback unless the
person starting it says otherwise."""

from __future__ import annotations

import tomllib


def test_app_listens_on_loopback_only(repo_root):
    config = tomllib.loads((repo_root / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    readme = (repo_root / "README.md").read_text()
    assert "--server.address 0.0.0.0" in readme  # how to serve a lab on purpose is documented
