"""A headless Chromium driven by Selenium for the browser tests (Debian's ``chromium`` and
``chromium-driver``); the tests that use it are skipped when either is not installed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER = "/usr/bin/chromedriver"

# Resolves to [errors] for the page's broken <img> and <audio> elements; play() resolves or rejects.
MEDIA_STATE = """
const done = arguments[arguments.length - 1];
const images = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
const audios = [...document.querySelectorAll('audio')];
const ready = a => a.readyState >= 1 ? Promise.resolve(true) : new Promise(resolve => {
  a.addEventListener('loadedmetadata', () => resolve(true), {once: true});
  a.addEventListener('error', () => resolve(false), {once: true});
  if (a.preload === 'none') a.load();
});
Promise.all(audios.map(ready)).then(states => done({
  images: images,
  audios: audios.map((a, i) => ({src: a.getAttribute('src'), ok: states[i] && a.readyState >= 1,
                                 duration: a.duration})),
}));
"""

PLAY = """
const done = arguments[arguments.length - 1];
const audio = document.querySelectorAll('audio')[arguments[0]];
audio.muted = true;
audio.play().then(() => { audio.pause(); done({ok: true}); },
                  error => done({ok: false, error: String(error)}));
"""


def chromium_path() -> str | None:
    """The installed Chromium binary, or None."""
    return next((p for p in CHROMIUM if Path(p).is_file()), None) or shutil.which("chromium")


def start_browser(*, width: int = 1200, height: int = 900):
    """A headless Chromium WebDriver that may autoplay audio and keeps the console log.

    Skips the calling test when Chromium, chromedriver or Selenium is not installed.
    """
    webdriver = pytest.importorskip("selenium.webdriver")
    binary = chromium_path()
    if binary is None or not Path(CHROMEDRIVER).is_file():
        pytest.skip("headless browser tests need Debian's chromium and chromium-driver (apt install chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={width},{height}",
        "--mute-audio",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(20)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One headless Chromium per test module (starting one costs a second or two)."""
    driver = start_browser()
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """The browser console's SEVERE messages since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def media_state(driver) -> dict:
    """``{"images": [{src, ok}], "audios": [{src, ok, duration}]}`` of the loaded page."""
    return driver.execute_async_script(MEDIA_STATE)


def play(driver, index: int) -> dict:
    """Call ``play()`` on the page's ``index``-th <audio> element: ``{"ok": True}`` once it resolves."""
    return driver.execute_async_script(PLAY, index)
