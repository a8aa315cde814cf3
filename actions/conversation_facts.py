"""Anonymous facts for the bureau's dashboard (bot/dashboard.py), written in the
background: a conversation never waits for the statistics and never fails because of
them. Only the day, what happened, category, county and channel are kept."""

from __future__ import annotations

import asyncio
import logging
import threading

from rasa_sdk import Tracker

from bot.dashboard import Dashboard
from bot.settings import Settings

log = logging.getLogger(__name__)
_dashboard: Dashboard | None = None
_lock = threading.Lock()
# Keep a reference to running tasks, or the event loop may drop them half-way.
_pending: set[asyncio.Task] = set()


def dashboard() -> Dashboard:
    """Opened on first use (the database may be down when the server starts)."""
    global _dashboard
    with _lock:
        if _dashboard is None:
            _dashboard = Dashboard(Settings.from_env().database_url)
        return _dashboard


def county_in(tracker: Tracker) -> str | None:
    """A county the citizen named in this message, else where they said they live."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "county" and isinstance(entity.get("value"), str):
            return entity["value"]
    residence = tracker.get_slot("la_residence")
    return residence if isinstance(residence, str) else None


def _record(
    board: Dashboard, kind: str, sender_id: str, channel: str, category, county
):
    try:
        board.record(
            kind,
            sender_id=sender_id,
            input_channel=channel,
            category=category,
            county=county,
        )
    except Exception as exc:  # the statistics must never break a conversation
        log.warning("conversation fact not recorded (%s)", type(exc).__name__)


def note(tracker: Tracker, kind: str, category: str | None = None) -> None:
    """Record that this conversation was triaged / answered from the FAQ / handed
    off. A tracker that came through no channel (built by hand in a test) is not a
    citizen's conversation and is not counted."""
    channel = tracker.get_latest_input_channel()
    if not channel:
        return
    try:
        board = dashboard()  # no I/O yet: the engine connects on first use
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(
                _record,
                board,
                kind,
                tracker.sender_id,
                channel,
                category,
                county_in(tracker),
            )
        )
    except Exception as exc:
        log.warning("conversation fact not recorded (%s)", type(exc).__name__)
        return
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def drain() -> None:
    """Wait for facts still being written (tests, shutdown)."""
    await asyncio.gather(*list(_pending))
