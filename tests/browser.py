"""Headless Debian chromium driven over the DevTools protocol on a pipe (no extra package): load
a page, record every network request, console message and uncaught exception, measure elements,
take a full-page screenshot."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe")
TIMEOUT_S = 60


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)  # every URL the page asked for, itself included
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    value: object = None  # what the measuring expression returned
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        return self.exceptions + [text for level, text in self.console if level in ("error", "assert")]


class _Pipe:
    """The DevTools protocol over chromium's fds 3 (commands in) and 4 (replies out)."""

    def __init__(self, profile: str):
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def wire_fds():  # in the child: our pipe ends become its fds 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        pass_fds=(3, 4), preexec_fn=wire_fds,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"chromium sent no {method}")
            self.events.append(self._receive())

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except RuntimeError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)


def load_page(url: str, measure: str = "null", width: int = 1100) -> PageLoad:
    """Load `url`, let it settle, evaluate the JavaScript expression `measure`, take a screenshot."""
    with tempfile.TemporaryDirectory(prefix="alchemist-chromium-") as profile:
        pipe = _Pipe(profile)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime", "Log"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
            pipe.send("Page.navigate", {"url": url}, session)
            pipe.wait_for("Page.loadEventFired")
            time.sleep(0.5)  # late requests and console messages
            value = pipe.send("Runtime.evaluate", {"expression": measure, "returnByValue": True},
                              session)["result"].get("value")
            height = pipe.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight",
                                                    "returnByValue": True}, session)["result"]["value"]
            pipe.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": int(height), "deviceScaleFactor": 1, "mobile": False}, session)
            shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
        finally:
            pipe.close()
    return _page_load(pipe.events, value, base64.b64decode(shot))


def _page_load(events: list[dict], value, screenshot: bytes) -> PageLoad:
    load = PageLoad(value=value, screenshot=screenshot)
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            load.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            load.console.append((params["type"], text))
        elif method == "Log.entryAdded":
            load.console.append((params["entry"]["level"], params["entry"]["text"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            load.exceptions.append(details.get("exception", {}).get("description", details.get("text", "")))
    return load
