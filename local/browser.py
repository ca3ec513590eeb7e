"""Debian's Chromium driven by Playwright, the way the browser tests and bench/review_page.py use it.

Nothing here downloads a browser (`playwright install` cannot reach its host): bin/setup installs the
`chromium` package with apt-get, and a missing browser is an error, never a reason to skip.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from typing import Iterator

CHROMIUM = os.environ.get("REVIEW_CHROMIUM", "/usr/bin/chromium")
# Root in CI needs --no-sandbox; the rest keep the browser from calling home or doing work nobody sees.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run")


class BrowserMissing(RuntimeError):
    """Debian's chromium is not installed."""


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (a Playwright Browser), closed at the end."""
    if not shutil.which(CHROMIUM):
        raise BrowserMissing(f"no browser at {CHROMIUM}: run bin/setup (it installs Debian's chromium and libatomic1 "
                             f"with apt-get)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True)
        try:
            yield browser
        finally:
            browser.close()
