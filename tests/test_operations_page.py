"""The status page in a real headless Chromium (Debian's ``chromium``), driven over the DevTools
protocol: it loads from the daemon, shows the sim EVSEs, and follows a plug-in live (no reload).

The screenshot is written to ``$JOSEV_HAL_ARTIFACTS_DIR`` (CI keeps that directory) or the test's
tmp dir, and its path is printed in the test output."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from tests.support.hal_process import AC, DC, HalProcess

pytestmark = pytest.mark.timeout(120)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
        pytest.fail("chromium is not installed but CI=true: .ci/run installs it")
    pytest.skip("chromium is not installed (apt-get install chromium)")


class Browser:
    """Headless Chromium with one page, spoken to over the DevTools websocket."""

    def __init__(self, profile_dir: Path) -> None:
        # websockets comes with amqtt (a runtime dependency); its sync client speaks DevTools.
        from websockets.sync.client import connect

        self.proc = subprocess.Popen(
            [
                _chromium(),
                "--headless=new",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--window-size=1000,700",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile_dir}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.loads(resp.read())
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def eval(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, expected: Any, timeout_s: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.eval(expression)
            if value == expected:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression} is {value!r}, expected {expected!r}")
            time.sleep(0.1)

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    b = Browser(profile)
    try:
        yield b
    finally:
        b.close()


def _cp(evse_id: str) -> str:
    return f"document.querySelector('[data-evse=\"{evse_id}\"] .cp')?.textContent ?? null"


def test_the_status_page_shows_the_sim_evses_and_follows_a_plug_in(
    broker: EmbeddedBroker, tmp_path: Path, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    with HalProcess(broker, tmp_path / "state").start() as hal:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=hal.url + "/")
        browser.wait_for("document.querySelectorAll('.card').length", 2)
        assert browser.eval("[...document.querySelectorAll('.card')].map(c => c.dataset.evse)") == [AC, DC]
        browser.wait_for(_cp(AC), "A1")
        assert "cp not c2 d2" in browser.eval(f"document.querySelector('[data-evse=\"{AC}\"]').textContent")
        navigations = browser.eval("performance.getEntriesByType('navigation').length")
        hal.sim("plug", cable_a=32)
        hal.sim("charge")
        browser.wait_for(_cp(AC), "C2")  # live: the same page, polling /status
        browser.wait_for(
            f"document.querySelector('[data-evse=\"{AC}\"]').textContent.includes('Contactorclosed')", True
        )
        # the power sparkline has a line once the meter reports power
        browser.wait_for(f"document.querySelectorAll('[data-evse=\"{AC}\"] polyline').length >= 1", True)
        assert browser.eval("performance.getEntriesByType('navigation').length") == navigations
        assert browser.eval("document.getElementById('conn').textContent").startswith("live")
        time.sleep(1.5)  # a few more points on the sparklines for the screenshot
        shot = browser.call("Page.captureScreenshot", format="png")
    artifacts = Path(os.environ.get("JOSEV_HAL_ARTIFACTS_DIR") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / "status-page.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nstatus page screenshot: {path}")
