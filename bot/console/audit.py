"""The console's audit log: who did what to which record, and when.

Append-only by construction: this module offers `record` and read functions and no
update or delete, and the console has no route that changes an entry. Details hold
what changed (statuses, centre keys), never names or phone numbers.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from bot import db
from bot.intake import _utc, now

metadata = sa.MetaData()
audit_log = sa.Table(
    "console_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("who", sa.String(32), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.String(40), nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),  # JSON object
)
# One per database: the tables are created once, whichever store asks first.
_tables: dict[str, db.Tables] = {}


def _engine(engine_or_store) -> sa.engine.Engine:
    """An engine, or anything holding one (IntakeStore, Accounts)."""
    engine = getattr(engine_or_store, "engine", engine_or_store)
    key = str(engine.url)
    tables = _tables.get(key) or _tables.setdefault(key, db.Tables(engine, metadata))
    tables.ensure()
    return engine


def record(
    engine_or_store, who: str, action: str, target: str = "", detail: dict | None = None
) -> None:
    """Append one entry. `who` is a console username, `action` a short code such as
    "intake.transfer", `target` what it was done to (an intake reference)."""
    with _engine(engine_or_store).begin() as conn:
        conn.execute(
            audit_log.insert().values(
                at=now(),
                who=who,
                action=action,
                target=target or "",
                detail=json.dumps(detail or {}, ensure_ascii=False),
            )
        )


def entries(
    engine_or_store,
    *,
    target: str | None = None,
    who: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[dict]:
    """Newest first: [{"id", "at", "who", "action", "target", "detail"}]."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if target is not None:
        query = query.where(audit_log.c.target == target)
    if who is not None:
        query = query.where(audit_log.c.who == who)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    with _engine(engine_or_store).connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "id": r["id"],
            "at": _utc(r["at"]).isoformat(),
            "who": r["who"],
            "action": r["action"],
            "target": r["target"],
            "detail": json.loads(r["detail"] or "{}"),
        }
        for r in rows
    ]
