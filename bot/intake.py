"""Legal-aid intake records: SQLAlchemy, an SQLite file by default or PostgreSQL.

Plain Python, no Rasa imports. One record per conversation (a second submit returns
the first record); a human-readable unique reference; a status history with the
Art. 43 clocks (decide within 7 days, assign within 3 days of deciding).

Personal data (name, phone) is stored but never logged: the engine hides statement
parameters in its errors, and the dataclasses keep it out of their repr.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot import db, knowledge

REVIEW_DAYS = 7  # 《法律援助法》第四十三条: 七日内进行审查，作出是否给予法律援助的决定
ASSIGN_DAYS = 3  # 决定给予法律援助的，应当自作出决定之日起三日内指派
# No 0/O or 1/I: references are read out on the phone.
REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CHANNELS = ("web", "wechat", "hotline", "api")
# A reference's status is shown to whoever knows the phone's last four digits: after
# this many wrong guesses within LOOKUP_LOCK the reference answers nothing, even to
# the right digits, until the oldest guess is that old. Stored in the database, so
# every web app and action server counts the same guesses.
LOOKUP_MAX_FAILURES = 5
LOOKUP_LOCK = timedelta(hours=1)

metadata = sa.MetaData()
intakes = sa.Table(
    "intakes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("reference", sa.String(20), nullable=False, unique=True),
    sa.Column("conversation_id", sa.String(128), unique=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("receiving_centre", sa.String(20), nullable=False),
    sa.Column("competent_centre", sa.String(20)),
    sa.Column("category", sa.String(30), nullable=False),
    sa.Column("matter", sa.String(40)),
    sa.Column("outcome", sa.String(30), nullable=False),
    sa.Column(
        "decision", sa.Text, nullable=False
    ),  # JSON: reasons, missing, advance aid
    sa.Column("materials", sa.Text, nullable=False),  # JSON list
    sa.Column("applicant_name", sa.String(100)),
    sa.Column("applicant_phone", sa.String(20)),
    sa.Column("residence_county", sa.String(20)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("review_due", sa.DateTime(timezone=True), nullable=False),
    sa.Column("assign_due", sa.DateTime(timezone=True)),
)
intake_events = sa.Table(
    "intake_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("intake_id", sa.Integer, sa.ForeignKey("intakes.id"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

# Wrong phone digits, per reference (also references that do not exist, so the
# lock-out cannot tell which ones do).
lookup_failures = sa.Table(
    "intake_lookup_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("reference", sa.String(20), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
)

STATUSES = ("received", "transferred", "under_review", "decided")
# Before a decision the Art. 43 seven-day clock runs.
OPEN_STATUSES = ("received", "transferred", "under_review")
# The moves staff make by hand; transfers have their own method (transfer).
NEXT_STATUSES = {
    "received": ("under_review",),
    "transferred": ("under_review",),
    "under_review": ("decided",),
}
REFERENCE = re.compile(r"^XY\d{6}-[A-Z0-9]{4}$")


class IntakeUnavailable(Exception):
    """The database cannot be reached: nothing was saved or read. Tell the citizen."""


@dataclass(frozen=True)
class StatusLookup:
    """What a citizen's status query found: the record, or nothing; `locked` when
    too many wrong digits were tried for this reference (nothing was compared)."""

    intake: Intake | None
    retry_after: timedelta | None = None

    @property
    def locked(self) -> bool:
        return self.retry_after is not None


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_reference(at: datetime) -> str:
    suffix = "".join(secrets.choice(REF_ALPHABET) for _ in range(4))
    return f"XY{at:%y%m%d}-{suffix}"


def normalise_reference(text: str) -> str:
    """'xy260101-ab2c ' or full-width 'ＸＹ…' -> 'XY260101-AB2C'."""
    return unicodedata.normalize("NFKC", text).strip().upper()


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def centre_ref(key: str | None) -> dict | None:
    """{"key", "name"} of a legal-aid centre, for records and API answers."""
    if key is None:
        return None
    centre = knowledge.centres().get(key)
    return {"key": key, "name": centre["name"] if centre else key}


@dataclass
class Application:
    conversation_id: str | None
    channel: str  # web | wechat | hotline | api
    receiving_centre: str
    competent_centre: str | None
    category: str
    matter: str | None
    outcome: str
    decision: dict
    materials: list[str]
    applicant_name: str | None = field(default=None, repr=False)
    applicant_phone: str | None = field(default=None, repr=False)
    residence_county: str | None = None


@dataclass
class Intake:
    reference: str
    status: str
    created_at: datetime
    review_due: datetime
    receiving_centre: str
    competent_centre: str | None
    category: str
    outcome: str
    assign_due: datetime | None = None
    history: list[dict] = field(default_factory=list)
    record: dict = field(default_factory=dict, repr=False)  # the row, with PII
    created: bool = False  # True only when this submit created the record

    @property
    def transfer(self) -> bool:
        return bool(
            self.competent_centre and self.competent_centre != self.receiving_centre
        )

    def as_status(self) -> dict:
        """What a citizen may see with reference + phone digits: no personal data."""
        return {
            "reference": self.reference,
            "status": self.status,
            "category": self.category,
            "receiving_centre": centre_ref(self.receiving_centre),
            "competent_centre": centre_ref(self.competent_centre),
            "transfer": self.transfer,
            "created_at": _iso(self.created_at),
            "review_due": _iso(self.review_due),
            "assign_due": _iso(self.assign_due),
            # Staff notes are free text and may name people: never shown here.
            "history": [
                {"status": e["status"], "at": _iso(e["at"])} for e in self.history
            ],
        }

    def as_record(self) -> dict:
        """The full record for staff systems (bearer token), JSON-ready."""
        r = self.record
        return {
            **self.as_status(),
            "conversation_id": r.get("conversation_id"),
            "channel": r.get("channel"),
            "matter": r.get("matter"),
            "outcome": self.outcome,
            "decision": json.loads(r.get("decision") or "{}"),
            "materials": json.loads(r.get("materials") or "[]"),
            "applicant": {
                "name": r.get("applicant_name"),
                "phone": r.get("applicant_phone"),
                "residence_county": r.get("residence_county"),
            },
            "history": [
                {"status": e["status"], "at": _iso(e["at"]), "note": e["note"]}
                for e in self.history
            ],
        }


def _intake(row, history: list[dict] | None = None) -> Intake:
    """An intakes row as an Intake (SQLite hands back naive datetimes: UTC)."""
    record = dict(row)
    for column in ("created_at", "review_due", "assign_due"):
        record[column] = _utc(record[column])
    return Intake(
        reference=record["reference"],
        status=record["status"],
        created_at=record["created_at"],
        review_due=record["review_due"],
        assign_due=record["assign_due"],
        receiving_centre=record["receiving_centre"],
        competent_centre=record["competent_centre"],
        category=record["category"],
        outcome=record["outcome"],
        history=history or [],
        record=record,
    )


class IntakeStore:
    """The intake records. Tables are created on first use, so an app whose database
    is down still starts (and says so per request) instead of failing to boot."""

    def __init__(
        self,
        url: str,
        *,
        lookup_max_failures: int = LOOKUP_MAX_FAILURES,
        lookup_lock: timedelta = LOOKUP_LOCK,
    ) -> None:
        self.engine = db.create_engine(url)
        self.lookup_max_failures = lookup_max_failures
        self.lookup_lock = lookup_lock
        self._tables = db.Tables(self.engine, metadata)

    def close(self) -> None:
        self.engine.dispose()

    def _db(self):
        return self._tables.reachable(IntakeUnavailable)

    def submit(self, app: Application) -> Intake:
        """Save an application; the same conversation never creates a second record.

        Raises IntakeUnavailable when the database cannot be reached (nothing saved).
        """
        if app.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}")
        with self._db():
            return self._submit(app)

    def _submit(self, app: Application) -> Intake:
        if app.conversation_id:
            existing = self._find_by_conversation(app.conversation_id)
            if existing:
                return existing
        at = now()
        transfer = bool(
            app.competent_centre and app.competent_centre != app.receiving_centre
        )
        for _ in range(5):
            reference = new_reference(at)
            try:
                with self.engine.begin() as conn:
                    intake_id = conn.execute(
                        intakes.insert().values(
                            reference=reference,
                            conversation_id=app.conversation_id,
                            channel=app.channel,
                            receiving_centre=app.receiving_centre,
                            competent_centre=app.competent_centre,
                            category=app.category,
                            matter=app.matter,
                            outcome=app.outcome,
                            decision=json.dumps(app.decision, ensure_ascii=False),
                            materials=json.dumps(app.materials, ensure_ascii=False),
                            applicant_name=app.applicant_name,
                            applicant_phone=app.applicant_phone,
                            residence_county=app.residence_county,
                            status="transferred" if transfer else "received",
                            created_at=at,
                            review_due=at + timedelta(days=REVIEW_DAYS),
                        )
                    ).inserted_primary_key[0]
                    events = [{"status": "received", "note": app.receiving_centre}]
                    if transfer:
                        events.append(
                            {"status": "transferred", "note": app.competent_centre}
                        )
                    conn.execute(
                        intake_events.insert(),
                        [{"intake_id": intake_id, "at": at, **e} for e in events],
                    )
                intake = self._get(reference)
                intake.created = True
                return intake
            except IntegrityError:
                # Either the same conversation was submitted concurrently (return
                # that record) or the random reference collided (try another).
                if app.conversation_id:
                    existing = self._find_by_conversation(app.conversation_id)
                    if existing:
                        return existing
        raise RuntimeError("could not allocate a unique reference")

    def _find_by_conversation(self, conversation_id: str) -> Intake | None:
        with self.engine.connect() as conn:
            ref = conn.execute(
                sa.select(intakes.c.reference).where(
                    intakes.c.conversation_id == conversation_id
                )
            ).scalar()
        return self._get(ref) if ref else None

    def get(self, reference: str) -> Intake | None:
        """The full record (staff only). Raises IntakeUnavailable when the database
        cannot be reached."""
        with self._db():
            return self._get(normalise_reference(reference))

    def _get(self, reference: str) -> Intake | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(intakes).where(intakes.c.reference == reference))
                .mappings()
                .first()
            )
            if row is None:
                return None
            events = (
                conn.execute(
                    sa.select(
                        intake_events.c.status, intake_events.c.at, intake_events.c.note
                    )
                    .where(intake_events.c.intake_id == row["id"])
                    .order_by(intake_events.c.id)
                )
                .mappings()
                .all()
            )
        return _intake(row, history=[{**e, "at": _utc(e["at"])} for e in events])

    def lookup(self, reference: str, phone_last4: str) -> Intake | None:
        """Status for a citizen: reference (any case) plus the last 4 digits of the
        phone, else None — the same None for an unknown reference, wrong digits and
        a reference locked after too many wrong digits (see check_status)."""
        return self.check_status(reference, phone_last4).intake

    def check_status(self, reference: str, phone_last4: str) -> StatusLookup:
        """lookup, and whether the reference is locked against guessing. Raises
        IntakeUnavailable when the database cannot be reached."""
        digits = unicodedata.normalize("NFKC", phone_last4 or "").strip()
        if not (len(digits) == 4 and digits.isascii() and digits.isdigit()):
            return StatusLookup(None)
        reference = normalise_reference(reference or "")
        if not REFERENCE.match(reference):
            return StatusLookup(None)
        with self._db():
            at = now()
            since = at - self.lookup_lock
            # Count this try first, then look: concurrent guesses (several web
            # apps) all see each other, so no more than the limit get compared.
            with self.engine.begin() as conn:
                conn.execute(
                    lookup_failures.delete().where(lookup_failures.c.at < since)
                )
                attempt = conn.execute(
                    lookup_failures.insert().values(reference=reference, at=at)
                ).inserted_primary_key[0]
            with self.engine.connect() as conn:
                tries = (
                    conn.execute(
                        sa.select(lookup_failures.c.at)
                        .where(
                            lookup_failures.c.reference == reference,
                            lookup_failures.c.at >= since,
                        )
                        .order_by(lookup_failures.c.at)
                    )
                    .scalars()
                    .all()
                )
            if len(tries) > self.lookup_max_failures:
                with self.engine.begin() as conn:  # a refused try is not a guess
                    conn.execute(
                        lookup_failures.delete().where(lookup_failures.c.id == attempt)
                    )
                return StatusLookup(
                    None, retry_after=_utc(tries[0]) + self.lookup_lock - at
                )
            intake = self._get(reference)
            phone = (intake.record.get("applicant_phone") or "") if intake else ""
            if len(phone) < 4 or not hmac.compare_digest(
                phone[-4:].encode(), digits.encode()
            ):
                return StatusLookup(None)  # the try stays counted as a failure
            with self.engine.begin() as conn:
                conn.execute(
                    lookup_failures.delete().where(
                        lookup_failures.c.reference == reference
                    )
                )
            return StatusLookup(intake)

    def set_status(
        self,
        reference: str,
        status: str,
        note: str = "",
        *,
        from_statuses: tuple[str, ...] | None = None,
    ) -> Intake:
        """Set the status; with `from_statuses`, only from one of those (checked in
        the same transaction, else ValueError("not_allowed"))."""
        if status not in STATUSES:
            raise ValueError(status)
        reference = normalise_reference(reference)
        at = now()
        with self._db():
            with self.engine.begin() as conn:
                row = conn.execute(
                    sa.select(intakes.c.id, intakes.c.status)
                    .where(intakes.c.reference == reference)
                    .with_for_update()
                ).first()
                if row is None:
                    raise KeyError(reference)
                if from_statuses is not None and row[1] not in from_statuses:
                    raise ValueError("not_allowed")
                values = {"status": status}
                if status == "decided":
                    values["assign_due"] = at + timedelta(days=ASSIGN_DAYS)
                conn.execute(
                    intakes.update().where(intakes.c.id == row[0]).values(**values)
                )
                conn.execute(
                    intake_events.insert().values(
                        intake_id=row[0], status=status, at=at, note=note
                    )
                )
            return self._get(reference)

    # --- staff work (the operator console) -------------------------------------

    def list_intakes(
        self,
        *,
        centre: str | None = None,
        status: str | None = None,
        category: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        overdue: bool = False,
        limit: int = 500,
    ) -> list[Intake]:
        """Records, newest first. `centre` matches the receiving or the competent
        centre; `overdue`: no decision yet and the Art. 43 review date has passed."""
        query = sa.select(intakes).order_by(intakes.c.created_at.desc()).limit(limit)
        if centre:
            query = query.where(
                sa.or_(
                    intakes.c.receiving_centre == centre,
                    intakes.c.competent_centre == centre,
                )
            )
        if status:
            query = query.where(intakes.c.status == status)
        if category:
            query = query.where(intakes.c.category == category)
        if created_from:
            query = query.where(intakes.c.created_at >= created_from)
        if created_to:
            query = query.where(intakes.c.created_at < created_to)
        if overdue:
            query = query.where(
                intakes.c.status.in_(OPEN_STATUSES), intakes.c.review_due < now()
            )
        with self._db(), self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_intake(row) for row in rows]

    def transfer(self, reference: str, centre: str, note: str = "") -> Intake:
        """全域通办: hand the record to the competent centre (Art. 38). Raises KeyError
        (no such record) or ValueError("decided" | "same_centre" | "unknown_centre")."""
        if centre not in knowledge.centres():
            raise ValueError("unknown_centre")
        reference = normalise_reference(reference)
        with self._db():
            with self.engine.begin() as conn:
                row = conn.execute(
                    sa.select(
                        intakes.c.id,
                        intakes.c.status,
                        intakes.c.receiving_centre,
                        intakes.c.competent_centre,
                    )
                    .where(intakes.c.reference == reference)
                    .with_for_update()
                ).first()
                if row is None:
                    raise KeyError(reference)
                if row.status == "decided":
                    raise ValueError("decided")
                if centre == (row.competent_centre or row.receiving_centre):
                    raise ValueError("same_centre")
                # Back to the receiving centre is not a transfer any more.
                status = "received" if centre == row.receiving_centre else "transferred"
                conn.execute(
                    intakes.update()
                    .where(intakes.c.id == row.id)
                    .values(competent_centre=centre, status=status)
                )
                conn.execute(
                    intake_events.insert().values(
                        intake_id=row.id,
                        status=status,
                        at=now(),
                        note=(f"{centre} {note}".strip()),
                    )
                )
            return self._get(reference)

    def advance(self, reference: str, status: str, note: str = "") -> Intake:
        """Move a record on along NEXT_STATUSES. Raises KeyError (no such record) or
        ValueError("not_allowed") for any other move."""
        allowed = tuple(s for s, moves in NEXT_STATUSES.items() if status in moves)
        return self.set_status(reference, status, note, from_statuses=allowed)
