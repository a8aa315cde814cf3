"""Shared fixtures: the trained model in-process, and the real stack on test ports."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bot.settings import ROOT, Settings

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
# Several people (or agents) testing on one machine: each picks an offset so their
# stacks' fixed test ports do not collide.
PORT_OFFSET = int(os.environ.get("XY_TEST_PORT_OFFSET", "0"))
MODEL = ROOT / "models" / "xinyang.tar.gz"
# Debian's Chromium (never a downloaded one), headless, with nothing calling out.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def dashboard_facts_stay_in_the_test(tmp_path, monkeypatch):
    """Actions run in-process record anonymous dashboard facts in the background:
    into this test's own database, never into var/ of the checkout."""
    from actions import conversation_facts
    from bot.dashboard import Dashboard

    made: list[Dashboard] = []

    def dashboard() -> Dashboard:
        if not made:
            made.append(Dashboard(f"sqlite:///{tmp_path / 'facts' / 'facts.db'}"))
        return made[0]

    monkeypatch.setattr(conversation_facts, "dashboard", dashboard)
    yield
    for board in made:
        board.close()


@pytest.fixture(scope="session")
def triager():
    from bot.cli import Triager

    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    return Triager(MODEL)


@pytest.fixture(scope="session")
def parse(triager):
    loop = asyncio.new_event_loop()

    def _parse(text: str) -> dict:
        return loop.run_until_complete(triager.parse(text))

    yield _parse
    loop.close()


def wait_for(url: str, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


class Stack:
    """Action server, Rasa server and web app started as real processes."""

    def __init__(
        self,
        tmp: Path,
        *,
        action_port=5155,
        rasa_port=5105,
        web_port=8105,
        env: dict[str, str] | None = None,
    ):
        self.tmp = tmp
        self.ports = {"actions": action_port, "rasa": rasa_port, "web": web_port}
        self.endpoints = tmp / "endpoints.yml"
        self.endpoints.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
            f"tracker_store:\n  type: bot.tracker_store.PrivateSQLTrackerStore\n"
            f"  dialect: sqlite\n  db: {tmp / 'tracker.db'}\n",
            encoding="utf-8",
        )
        self.env = {
            **os.environ,
            "RASA_TELEMETRY_ENABLED": "false",
            "XY_RASA_PORT": str(rasa_port),
            "XY_WEB_PORT": str(web_port),
            "XY_ACTION_PORT": str(action_port),
            "XY_VAR_DIR": str(tmp),
            "XY_ENDPOINTS": str(self.endpoints),
            **(env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    def start(self, name: str) -> None:
        from bot.serve import commands

        cmd = commands(self.settings)[name]
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        health = {
            "actions": f"http://127.0.0.1:{self.ports['actions']}/health",
            "rasa": f"http://127.0.0.1:{self.ports['rasa']}/status",
            "web": f"{self.web}/health",
        }[name]
        wait_for(health, self.processes[name])

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    s = Stack(
        tmp_path_factory.mktemp("stack"),
        action_port=5155 + PORT_OFFSET,
        rasa_port=5105 + PORT_OFFSET,
        web_port=8105 + PORT_OFFSET,
    )
    try:
        for name in ("actions", "rasa", "web"):
            s.start(name)
        yield s
    finally:
        s.stop_all()


# The intake store runs on both databases it supports. PostgreSQL: trust auth on
# 127.0.0.1; every test gets its own schema (dropped afterwards), so parallel runs
# never see each other's tables.
POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'intakes.db'}"
        return
    import uuid

    import sqlalchemy as sa

    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(POSTGRES_URL, future=True)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def unreachable_postgres_url():
    """A PostgreSQL URL on a local port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/test"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for the browser tests, one per test module."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run `apt-get install -y chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
