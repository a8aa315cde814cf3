"""What the project's own tables share. One SQLAlchemy URL (Settings.database_url)
holds the intake records, the handoff queue, the console's accounts and the
dashboard's facts; each module owns its tables, and they all open them this way.

Plain Python, no Rasa imports.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

CONNECT_TIMEOUT = 5  # seconds; a database that does not answer is "unavailable"
# What "the database cannot be reached" looks like (OSError: the SQLite folder
# cannot be created).
DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, OSError)


def create_engine(url: str) -> sa.engine.Engine:
    """An engine that hides statement parameters (names, phones) in its errors."""
    parsed = sa.engine.make_url(url)
    connect_args: dict = {}
    if parsed.get_backend_name() == "sqlite":
        connect_args["timeout"] = 5  # wait this long for the other process's write
    elif parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    engine = sa.create_engine(
        url,
        future=True,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args=connect_args,
    )
    if parsed.get_backend_name() == "sqlite":
        # The web app and the action server write the same file: WAL lets readers
        # go on while one of them writes.
        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    return engine


def sqlite_folder(url: sa.engine.URL) -> Path | None:
    """The folder of an SQLite database file (created on first use), else None."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).parent


class Tables:
    """A module's tables on one engine, created on first use: an app whose database
    is down still starts, and says so per request, instead of failing to boot."""

    def __init__(self, engine: sa.engine.Engine, *metadata: sa.MetaData) -> None:
        self.engine = engine
        self.metadata = metadata
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            folder = sqlite_folder(self.engine.url)
            if folder:
                folder.mkdir(parents=True, exist_ok=True)
            for tables in self.metadata:
                try:
                    tables.create_all(self.engine)
                except (sa.exc.ProgrammingError, IntegrityError):
                    # Another process created them between the check and the CREATE.
                    tables.create_all(self.engine)
            self._ready = True

    @contextmanager
    def reachable(self, unavailable: type[Exception]) -> Iterator[None]:
        """Tables ready, and connection-level failures raised as `unavailable`. The
        original error is dropped on purpose: it may quote the SQL and its data."""
        try:
            self.ensure()
            yield
        except DOWN:
            raise unavailable("database unavailable") from None
