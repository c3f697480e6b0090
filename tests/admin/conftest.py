"""Browser fixtures: the real app served by uvicorn on a free loopback port with a worker (exports run), the
demo workspace, and Debian's Chromium driven by Playwright. Each test saves screenshots under its tmp dir and,
when CONSOLE_SHOTS is set, in that folder too."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import async_playwright

import main
from cli import server as server_commands
from resolvers.runtime import Runtime
from resolvers.workspaces import demo
from settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="package")  # stopped after tests/admin: its worker threads must not outlive the package
def console_url(settings: Settings, endpoints: main.Endpoints) -> Iterator[str]:
    """`serve` + `worker` of this test run, in threads of this process, on a free loopback port."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(main.create_app(settings, endpoints), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    worker = server_commands.start_worker(main.WIRING, settings, endpoints)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        worker.stop()
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
async def demo_workspace(runtime: Runtime) -> str:
    tenant = await demo.ensure_demo(runtime.directory)
    return tenant.slug


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Any]:
    assert Path(CHROMIUM).exists(), f"the browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Any, console_url: str) -> AsyncIterator[Any]:
    context = await browser.new_context(base_url=console_url, viewport={"width": 1280, "height": 900},
                                        accept_downloads=True)
    tab = await context.new_page()
    tab.csp_errors = []
    tab.on("console", lambda msg: tab.csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield tab
    await context.close()


@pytest.fixture
def shot(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """`await shot(page, "home-en")`: a full-page PNG under the test's tmp dir (and $CONSOLE_SHOTS, with a small
    JPEG of the visible part for the README)."""
    folder = os.environ.get("CONSOLE_SHOTS")

    async def take(page: Any, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(folder) / path.name)
            await page.screenshot(path=str(Path(folder) / f"{name}.jpg"), type="jpeg", quality=60)
        return path

    return take
