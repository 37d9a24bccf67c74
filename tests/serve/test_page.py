"""The review page in a real browser: headless Chromium uploads a short video to the real server.

Skips when Selenium, Chromium or its driver is missing (Debian: apt-get install chromium
chromium-driver). The screenshot is saved under the test's temporary folder and, when
``DFEMBED_SCREENSHOT_DIR`` is set, there too (docs/assets/serve/review.png is made so).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve import media

pytestmark = pytest.mark.slow


def _browser_parts() -> tuple[str, str]:
    pytest.importorskip("selenium", reason="needs selenium (pip install selenium)")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(service) -> Iterator[str]:  # noqa: ANN001
    """The app on uvicorn in a thread, on a free loopback port; yields its address."""
    import uvicorn

    from dfembed.serve.app import create_app

    port = _free_port()
    runner = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    runner.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _browser_parts()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,1300"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


def test_the_page_uploads_a_video_and_shows_the_verdict_the_timeline_and_heat_maps(server, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    video = tmp_path / "clip.mp4"
    video.write_bytes(media.face_video(tmp_path, frames=6))
    browser.get(server + "/")
    browser.find_element(By.ID, "file").send_keys(str(video))
    WebDriverWait(browser, 90).until(expected_conditions.visibility_of_element_located((By.ID, "result")))
    verdict = browser.find_element(By.ID, "verdict").text
    assert verdict.startswith("P(fake) ") and verdict.endswith(("fake", "real"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline svg circle.frame")) == 3  # 3 sampled frames
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline svg #threshold")
    heatmaps = browser.find_elements(By.CSS_SELECTOR, "#heatmaps .heatmap img")
    assert heatmaps and all(img.get_attribute("naturalWidth") == "64" for img in heatmaps)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#faces .face img")) == 3
    shot = tmp_path / "review.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 0
    if os.environ.get("DFEMBED_SCREENSHOT_DIR"):
        target = Path(os.environ["DFEMBED_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target / "review.png")
