"""Browser tests of the console (issue 15): Debian's headless Chromium, driven by Playwright,
against a real `taskq serve` process. Skipped, saying why, where /usr/bin/chromium is absent
(`.ci/run` installs it, so CI runs them). Playwright never downloads a browser here.

`TASKQ_CONSOLE_SCREENSHOTS=<folder>` saves the main pages there (docs/console/ for the README)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The local server's helpers live beside the local tests, which import them by module name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))

from callback_support import Receiver, running_receiver
from local_server_process import ServerProcess, start_server

CHROMIUM = Path("/usr/bin/chromium")
# What matters on a machine with a closed network (no background requests to Google's hosts).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_KEY = "browser-admin-key"

HERE = Path(__file__).resolve().parent

try:
    from playwright import sync_api as playwright_api
except ImportError:  # the tests skip, saying why
    playwright_api = None


def missing() -> str | None:
    """Why these tests cannot run here, if they cannot."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent: install Debian's chromium and chromium-driver (.ci/run does)"
    if playwright_api is None:
        return "playwright is not installed (requirements/dev.txt)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing()
    if reason is None:
        return
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Two attempts, 0.2 s apart: a dead letter within a second.
    process = start_server(
        tmp_path_factory.mktemp("console") / "server.log",
        admin_key=ADMIN_KEY,
        TASKQ_CALLBACK_ATTEMPTS="2",
        TASKQ_CALLBACK_BACKOFF="0.2",
    )
    yield process
    process.stop()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the thread
# while it is open, and a later test's `asyncio.run` in the same worker would then fail.
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server: ServerProcess) -> Iterator[object]:
    """A fresh tab in a fresh context (no storage shared with other tests) on the console."""
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)  # generous: the machine is shared
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.errors = errors
    yield tab
    context.close()


@pytest.fixture
def screenshots() -> Path | None:
    folder = os.environ.get("TASKQ_CONSOLE_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path
