"""A real headless Chromium for dashboard tests: Debian's ``chromium`` driven by Playwright (``make test``
installs the package; Playwright's own browser download is never used, so the tests run offline)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"  # the repository root
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("Debian's chromium is not installed; `make test` installs it (apt-get install chromium)")


@contextmanager
def browser_page(width: int = 1360, height: int = 900) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()


@contextmanager
def signed_in_page(base: str, token: str) -> Iterator:
    """A Chromium page signed in to the dashboard through its form, as a person would."""
    with browser_page() as page:
        page.goto(f"{base}/dashboard/login")
        page.fill("input[name=token]", token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/dashboard/")
        yield page


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
