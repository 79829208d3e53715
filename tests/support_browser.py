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


def is_gone(element: Any) -> bool:
    """The element has left the document (the browser went to the next page). Besides the
    stale reference Selenium's `staleness_of` expects, chromedriver may answer mid-navigation
    with an inspector error saying just that, which `staleness_of` lets through."""
    from selenium.common.exceptions import (  # noqa: PLC0415
        StaleElementReferenceException,
        WebDriverException,
    )

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False
