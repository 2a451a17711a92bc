"""A live Tidings server on a loopback port and a headless Chromium (Debian's, never a downloaded one)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Page, sync_playwright

from data.settings import Settings, get_settings
from serving.app import create_app
from serving.store.db import make_engine, make_sessionmaker, upgrade
from serving.store.keys import Role, create_key
from tests.serving.web_data import Seeded, seed_inbox


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveSite:
    """A running server, its settings, a key (plaintext and id) per role, and the queued messages."""

    base: str
    settings: Settings
    keys: dict[str, str]
    key_ids: dict[str, str]
    queued: list[Seeded]


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    root = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIDINGS_DATA_DIR", str(root / "var"))
        mp.setenv("TIDINGS_REGISTRY_POLL_SECONDS", "0")
        for name in ("TIDINGS_MLFLOW_URI", "TIDINGS_DATABASE_URL", "TIDINGS_AUTH_DISABLED", "TIDINGS_SESSION_SECRET"):
            mp.delenv(name, raising=False)
        get_settings.cache_clear()
        settings = get_settings()
        upgrade(settings.store_url)
        engine = make_engine(settings.store_url)
        keys, key_ids = {}, {}
        with make_sessionmaker(engine)() as session:
            for role in Role:
                record, keys[role.value] = create_key(session, role, f"{role.value} tester")
                key_ids[role.value] = record.id
            session.commit()
            queued = seed_inbox(session)
        engine.dispose()
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        assert httpx.get(f"{base}/healthz").status_code == 200
        try:
            yield LiveSite(base, settings, keys, key_ids, queued)
        finally:
            server.should_exit = True
            thread.join(30)
            get_settings.cache_clear()


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's chromium; skipped without it on a developer's machine, a failure in CI."""
    found = shutil.which("chromium")
    if found is None:
        reason = "chromium is not installed (apt-get install -y chromium); the e2e tests need a real browser"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI is set")
        pytest.skip(reason)
    return found


@pytest.fixture
def browser_page(chromium_path: str) -> Iterator[Page]:
    """A fresh page in headless Chromium, 1280×900."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            browser.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
