"""Shared by the browser tests: Debian's chromium driven by Playwright's sync API (the `browser`
fixture is in tests/conftest.py).

Playwright's sync API runs an event loop in the test thread, and Django refuses ORM calls from a
thread with a running loop: create users and jobs in fixtures listed before `browser` in the test's
signature, or read the database through HTTP inside the test.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# Marks for a module of browser tests: they need the worker, and chromium (CI installs it and never skips).
browser_test = [
    pytest.mark.worker,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="chromium is not installed (apt-get install chromium); CI installs it and never skips",
    ),
]


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
