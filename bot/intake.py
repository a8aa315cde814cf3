"""Legal-aid intake records: SQLAlchemy, an SQLite file by default or PostgreSQL.

Plain Python, no Rasa imports. One record per conversation (a second submit returns
the first record); a human-readable unique reference; a status history with the
Art. 43 clocks (decide within 7 days, assign within 3 days of deciding).
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

REVIEW_DAYS = 7  # 《法律援助法》第四十三条: 七日内进行审查，作出是否给予法律援助的决定
ASSIGN_DAYS = 3  # 决定给予法律援助的，应当自作出决定之日起三日内指派
# No 0/O or 1/I: references are read out on the phone.
REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

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

STATUSES = ("received", "transferred", "under_review", "decided")


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_reference(at: datetime) -> str:
    suffix = "".join(secrets.choice(REF_ALPHABET) for _ in range(4))
    return f"XY{at:%y%m%d}-{suffix}"


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
    applicant_name: str | None = None
    applicant_phone: str | None = None
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
    history: list[dict] = field(default_factory=list)
    record: dict = field(default_factory=dict)


class IntakeStore:
    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        metadata.create_all(self.engine)

    def submit(self, app: Application) -> Intake:
        """Save an application; the same conversation never creates a second record."""
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
                return self.get(reference)
            except IntegrityError:
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
        return self.get(ref) if ref else None

    def get(self, reference: str) -> Intake | None:
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
        return Intake(
            reference=row["reference"],
            status=row["status"],
            created_at=row["created_at"],
            review_due=row["review_due"],
            receiving_centre=row["receiving_centre"],
            competent_centre=row["competent_centre"],
            category=row["category"],
            outcome=row["outcome"],
            history=[dict(e) for e in events],
            record=dict(row),
        )

    def lookup(self, reference: str, phone_last4: str) -> Intake | None:
        """Status for a citizen: reference plus the last 4 digits of the phone, else None."""
        intake = self.get(reference.strip().upper())
        phone = (intake.record.get("applicant_phone") or "") if intake else ""
        if (
            not intake
            or len(phone) < 4
            or not hmac.compare_digest(phone[-4:], phone_last4)
        ):
            return None
        return intake

    def set_status(self, reference: str, status: str, note: str = "") -> Intake:
        if status not in STATUSES:
            raise ValueError(status)
        at = now()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(intakes.c.id).where(intakes.c.reference == reference)
            ).first()
            if row is None:
                raise KeyError(reference)
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
        return self.get(reference)
