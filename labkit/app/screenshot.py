"""The demo in a real browser: headless Chromium, driven by Selenium.

Used by the browser test (both columns render, an answer appears after a click)
and by `labkit demo --screenshot PATH`, which makes the README's picture:

    labkit demo --run runs/default --screenshot docs/demo.png

Needs Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs them
when missing) and the `selenium` package (in labkit's `dev` extra).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from ..runtime import LabkitError

INSTALL_HINT = "install them with: sudo apt-get install chromium chromium-driver && pip install selenium"


def find_chromium() -> tuple[str, str] | None:
    """Paths of the Chromium binary and its driver, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def headless_chromium(width: int = 1400, height: int = 1000) -> Iterator[object]:
    """A headless Chromium WebDriver, closed on exit."""
    found = find_chromium()
    if found is None:
        raise LabkitError(f"headless Chromium and chromedriver were not found; {INSTALL_HINT}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        raise LabkitError(f"selenium is not installed; {INSTALL_HINT}") from error
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def answer_in_browser(driver, url: str, prompt: str, timeout: float = 60.0) -> dict:
    """Open the app, type `prompt`, click "answer", wait for both verdicts; returns what the page shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, timeout)
    box = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#prompt textarea, #prompt input")))
    page = {
        "cards": [driver.find_element(By.ID, f"{role}-card").text for role in ("teacher", "student")],
        "columns_before": [
            driver.find_element(By.CSS_SELECTOR, f"#{role}-answer textarea").is_displayed() for role in ("teacher", "student")
        ],
    }
    box.clear()
    box.send_keys(prompt)
    driver.find_element(By.ID, "answer").click()
    for role in ("teacher", "student"):
        wait.until(lambda d, role=role: "verdict" in d.find_element(By.ID, f"{role}-stats").text)
    time.sleep(0.2)  # let the last streamed update land
    for role in ("teacher", "student"):
        page[f"{role}_answer"] = driver.find_element(By.CSS_SELECTOR, f"#{role}-answer textarea").get_attribute("value")
        page[f"{role}_stats"] = driver.find_element(By.ID, f"{role}-stats").text
    return page


def take_screenshot(url: str, path: str | Path, prompt: str = "23+58+91=") -> Path:
    """A PNG of the Compare tab after both models answered `prompt`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with headless_chromium() as driver:
        answer_in_browser(driver, url, prompt)
        driver.save_screenshot(str(path))
    return path
