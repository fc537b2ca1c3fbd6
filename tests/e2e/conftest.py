"""The browser tests' shared fixtures (a Streamlit server per module, one Chromium), defined
in test_browser.py and offered here to the other e2e modules."""

from .test_browser import app_url, browser  # noqa: F401  (pytest fixtures)
