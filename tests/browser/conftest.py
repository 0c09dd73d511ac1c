"""Fixtures of the real-browser tests: headless Chromium (the Debian ``chromium`` package, driven
by Playwright through its executable path) and notebooks served by Voilà on a free loopback port,
their kernels on one thread. The tests skip, saying why, where Chromium or Playwright is missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Seconds allowed for Voilà to answer (its kernel imports torch on a loaded machine).
START_S = 120


def chromium_path() -> str | None:
    """The Chromium executable (``chromium``, ``chromium-browser`` or ``google-chrome``)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium launched by Playwright (skips when either is missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install playwright); the browser tests "
                    "need it and a Chromium")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium); the browser tests "
                    "drive it headless")
    if shutil.which("voila", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("Voilà is not installed (pip install voila); the browser tests serve the "
                    "notebooks with it")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, port: int, process: subprocess.Popen, log: Path) -> None:
    """Return once Voilà listens on ``port``; fail with its log if it exits or is not up."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Voilà exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:  # a connection, not a page: each page load starts a kernel
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"Voilà did not answer at {url} within {START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def voila(tmp_path):
    """``serve(notebook, **env) -> url``: serve ``notebook`` with Voilà (a subprocess on a
    free loopback port, its kernel with ``OMP_NUM_THREADS=1`` and the extra environment
    variables ``env``); stopped after the test."""
    started: list[subprocess.Popen] = []

    def serve(notebook: Path, **env: str) -> str:
        port = free_port()
        log = tmp_path / f"voila-{port}.log"
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                       "MPLBACKEND": "Agg", **env}
        command = [sys.executable, "-m", "voila", str(notebook), "--no-browser",
                   f"--port={port}", "--Voila.ip=127.0.0.1", "--show_tracebacks=True",
                   f"--Voila.root_dir={notebook.parent}"]
        with open(log, "w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       env=environment, cwd=tmp_path)
        started.append(process)
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, port, process, log)
        return url

    yield serve
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh browser page (its console errors are printed when a test fails)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(60_000)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    yield page
    context.close()
    if messages:
        print("browser console:\n" + "\n".join(messages[-30:]))
