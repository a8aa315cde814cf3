"""Rasa's SQL tracker store, minus the applicant's name and phone once they are saved.

The legal-aid form needs the name and phone only until the application is in the
intake database. When a conversation gets its reference number (the `la_reference`
slot), the stored events that carry them are overwritten: the slot values and the
very messages the citizen typed them in. Configure it in endpoints.yml as
`type: bot.tracker_store.PrivateSQLTrackerStore` with the usual SQL settings.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_speedups

PRIVATE_SLOTS = ("la_name", "la_phone")
HIDDEN = "[已隐藏]"
DONE_SLOT = "la_reference"


def scrub(events: list[dict]) -> list[int]:
    """Hide the private slot values and the messages that answered them, in place.

    `events` are stored event dicts in order; returns the indexes changed.
    """
    changed, requested = [], None
    for i, event in enumerate(events):
        kind = event.get("event")
        if kind == "slot" and event.get("name") == "requested_slot":
            requested = event.get("value")
        elif kind == "slot" and event.get("name") in PRIVATE_SLOTS:
            if event.get("value") not in (None, HIDDEN):
                event["value"] = HIDDEN
                changed.append(i)
        elif (
            kind == "user"
            and requested in PRIVATE_SLOTS
            and event.get("text") != HIDDEN
        ):
            event["text"] = HIDDEN
            event["parse_data"] = {
                **(event.get("parse_data") or {}),
                "text": HIDDEN,
                "entities": [],
            }
            changed.append(i)
    return changed


def submitted_this_turn(tracker: DialogueStateTracker) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, SlotSet) and event.key == DONE_SLOT and event.value:
            return True
    return False


def _sqlite_wal(connection, _record) -> None:
    # Write-ahead logging with synchronous=NORMAL: a commit no longer syncs the
    # disk. A crash of the process loses nothing; a power cut can lose the last
    # turns, never corrupt the file. Intake records are in another database.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


class PrivateSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rasa_speedups.install()
        if self.engine.dialect.name == "sqlite":
            # Rasa reads and writes SQLite on its event loop, opening a connection
            # for every read and write and syncing the disk on every commit: 1 ms
            # per turn on a quiet disk, 10-17 ms on this machine's busy one, with
            # every conversation on the server waiting. Connections kept open (one
            # per thread) in write-ahead-log mode take that to about 0.02 ms.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)
            sa.event.listen(self.engine, "connect", _sqlite_wal)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        if submitted_this_turn(tracker):
            self._scrub(tracker.sender_id)

    def _scrub(self, sender_id: str) -> None:
        with self.session_scope() as session:
            rows = (
                session.query(self.SQLEvent)
                .filter(self.SQLEvent.sender_id == sender_id)
                .order_by(self.SQLEvent.id)
                .all()
            )
            events = [json.loads(row.data) for row in rows]
            for i in scrub(events):
                rows[i].data = json.dumps(events[i])
            session.commit()
