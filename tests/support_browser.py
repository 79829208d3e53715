"""What the browser tests keep as artifacts: screenshots of the pages they walk through, in
$OBVO_TEST_ARTIFACTS (default test-artifacts/ at the repository's root, ignored by git), so a
reviewer or CI can look at what the browser showed."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def artifacts_dir() -> Path:
    directory = Path(os.environ.get("OBVO_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(driver: Any, test: str, step: str) -> Path:
    """Save the browser's whole page as `<test>-<step>.png`; returns the file."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{test}-{step}") + ".png"
    path = artifacts_dir() / name
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, 600)  # measured afresh: the last page may have been longer
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, max(int(height), 600))
    driver.save_screenshot(str(path))
    return path
