"""Real headless Chromium for the web UI's tests, through Playwright."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import Browser, sync_playwright

from support.runtime import PATIENCE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _chromium_processes() -> list[psutil.Process]:
    """Chromium processes this test process started (through Playwright's driver)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name().lower() or "headless_shell" in child.name():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def chromium() -> Iterator[Browser]:
    """A browser for a module's tests (skipped where Chromium is missing);
    afterwards every Chromium process must be gone: any left over is ended
    and reported."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed ({CHROMIUM} is missing): apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            chromium_sandbox=False,
            args=["--no-sandbox"],
            timeout=PATIENCE * 1000,
        )
        try:
            yield launched
        finally:
            launched.close()
    started = time.monotonic()
    while (left := _chromium_processes()) and time.monotonic() - started < PATIENCE:
        time.sleep(0.2)
    for process in left:
        process.kill()
    assert not left, f"Chromium processes outlived the browser: {[p.pid for p in left]}"
