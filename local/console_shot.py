"""A screenshot of the compliance console's request queue, for `make demo` (docs/console-queue.png).

Headless Chromium from Debian's packages (``chromium`` + ``chromium-driver``, installed by
`make setup`), driven by selenium: signs in through the local hosted UI (code + PKCE) exactly as a
person would, waits for the queue, saves a PNG. Nothing is downloaded at run time. Never deployed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

__all__ = ["ScreenshotError", "browser_available", "screenshot_queue"]

CHROMIUM = "chromium"
CHROMEDRIVER = "chromedriver"


class ScreenshotError(RuntimeError):
    """The console could not be shown or photographed (one sentence)."""


def browser_available() -> bool:
    return bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))


def screenshot_queue(api_url: str, state_file: Path, target: Path, *, width: int = 1280, height: int = 860) -> Path:
    """Sign in as the local compliance person, open the queue, save it as ``target`` (PNG)."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    password = json.loads(state_file.read_text())["people"]["compliance"]
    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which(CHROMIUM))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                     "--disable-gpu", "--no-first-run", "--hide-scrollbars", "--lang=de-DE"):  # fmt: skip
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(service=Service(str(shutil.which(CHROMEDRIVER))), options=options)
    except WebDriverException as exc:
        raise ScreenshotError(f"headless Chromium did not start ({type(exc).__name__})") from None
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(f"{api_url}/console/")
        main = driver.current_window_handle
        wait.until(lambda d: d.find_element(By.ID, "sign-in")).click()
        wait.until(lambda d: len(d.window_handles) == 2)
        driver.switch_to.window(next(h for h in driver.window_handles if h != main))
        wait.until(lambda d: d.find_element(By.ID, "username")).send_keys("compliance")
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "submit").click()
        driver.switch_to.window(main)
        wait.until(lambda d: len(d.window_handles) == 1)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#queue tbody tr"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(target)):
            raise ScreenshotError(f"the screenshot could not be written to {target}")
        return target
    except WebDriverException as exc:
        raise ScreenshotError(f"the console did not show its queue ({type(exc).__name__})") from None
    finally:
        driver.quit()
