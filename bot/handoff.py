"""Human handoff (转人工): the queue of conversations waiting for or held by an
operator, their transcripts, and the bureau's working hours. Plain Python, no Rasa.

One store for every process: the action server opens handoffs, the web app and the
WeChat channel (inside each Rasa server) consult it before passing a citizen's message
to Rasa, and the console works the queue. So pausing the bot works with any number of
Rasa servers: the state is in the database (the intake records' one), not in memory.

States: waiting (in the queue; the bot still answers) -> held (an operator has taken
it; the citizen's messages go to the operator only) -> closed (handed back; the bot
answers again). At most one open (waiting or held) handoff per conversation, enforced
by a unique column, so two action servers cannot queue the same conversation twice;
taking is one conditional UPDATE, so two operators cannot take the same one.

Conversation ids (web sender ids, WeChat openids), transcripts and call-back numbers
are personal data: stored for the operators, never logged, never in a repr.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot import db, knowledge
from bot.intake import _iso, _utc, now
from bot.knowledge import KNOWLEDGE_DIR
from bot.legal_aid import PHONE_JUNK, normalise_phone
from bot.triage import danger

CHINA = timezone(timedelta(hours=8))  # no daylight saving: a fixed offset is exact
CHANNELS = ("web", "wechat")
# Rasa's input channel names -> ours; "rest" is what the web app talks to.
RASA_CHANNELS = {"rest": "web", "wechat": "wechat"}
REASONS = ("asked", "not_understood")
STATUSES = ("waiting", "held", "closed")
SENDERS = ("citizen", "bot", "operator", "system")
# What the citizen's side shows from the handoff (the bot's own turns come from Rasa).
TO_CITIZEN = ("operator", "system")
MAX_REPLY_CHARS = 1000
MAX_TRANSCRIPT = 200  # entries copied from the tracker; older ones are dropped

metadata = sa.MetaData()
handoffs = sa.Table(
    "handoffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.String(128), nullable=False, index=True),
    # = conversation_id while open, NULL once closed: a unique column that only open
    # handoffs fill, so each conversation has at most one open handoff.
    sa.Column("open_key", sa.String(128), unique=True),
    sa.Column("channel", sa.String(10), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("category", sa.String(30)),
    sa.Column("triage", sa.JSON, nullable=False),
    sa.Column("outside_hours", sa.Boolean, nullable=False, default=False),
    sa.Column("callback_phone", sa.String(20)),
    sa.Column("operator", sa.String(32)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("taken_at", sa.DateTime(timezone=True)),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
)
handoff_messages = sa.Table(
    "handoff_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "handoff_id",
        sa.Integer,
        sa.ForeignKey("handoffs.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sender", sa.String(10), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("operator", sa.String(32)),
    # Operator and system lines to WeChat: whether the customer-service API took it.
    sa.Column("delivered", sa.Boolean),
)


class HandoffUnavailable(Exception):
    """The database cannot be reached: nothing was queued, read or changed."""


class HandoffConflict(Exception):
    """The handoff is not in a state that allows this (e.g. already taken)."""

    def __init__(self, status: str, operator: str | None) -> None:
        super().__init__(f"handoff is {status}")
        self.status = status
        self.operator = operator


def tag(conversation_id: str) -> str:
    """A short, non-reversible label for a conversation (console and logs)."""
    return hashlib.sha256(conversation_id.encode()).hexdigest()[:8]


# --- the bureau's data: texts and working hours ----------------------------------


@lru_cache(maxsize=2)
def spec(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict:
    return knowledge._load("handoff.yml", knowledge_dir)


def text(key: str, **values: str) -> str:
    raw = spec()["texts"][key]
    return raw.format(**values) if values else raw


@dataclass(frozen=True)
class Period:
    days: tuple[int, ...]  # 1 = Monday … 7 = Sunday
    start: time
    end: time

    def covers(self, at: datetime) -> bool:
        local = at.astimezone(CHINA)
        return (
            local.isoweekday() in self.days
            and self.start <= local.time().replace(tzinfo=None) < self.end
        )


def _clock(value) -> time:
    if isinstance(value, int):  # YAML reads an unquoted 08:30 as minutes (sexagesimal)
        return time(value // 60, value % 60)
    hours, minutes = str(value).split(":")
    return time(int(hours), int(minutes))


def working_hours(data: dict | None = None) -> tuple[Period, ...]:
    """The weekly periods when operators answer; empty = not configured."""
    periods = []
    for entry in (data if data is not None else spec()).get("working_hours") or []:
        days = tuple(sorted({int(d) for d in entry["days"]}))
        if not days or not all(1 <= d <= 7 for d in days):
            raise ValueError(f"working_hours: days must be 1..7, got {entry['days']}")
        start, end = _clock(entry["start"]), _clock(entry["end"])
        if not start < end:
            raise ValueError("working_hours: start must be before end")
        periods.append(Period(days, start, end))
    return tuple(periods)


def in_working_hours(at: datetime, data: dict | None = None) -> bool | None:
    """True/False, or None when the bureau has not set any hours."""
    periods = working_hours(data)
    if not periods:
        return None
    return any(p.covers(at) for p in periods)


def _days_text(days: tuple[int, ...], data: dict) -> str:
    names = data["weekday_names"]
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(
                data["day_range"].format(
                    first=names[run[0] - 1], last=names[run[-1] - 1]
                )
            )
        else:
            parts.extend(names[d - 1] for d in run)
    return "、".join(parts)


def hours_text(data: dict | None = None) -> str:
    """'周一至周五 08:30–12:00；…' from the configured periods ('' when none)."""
    data = data if data is not None else spec()
    return data["period_separator"].join(
        f"{_days_text(p.days, data)} {p.start:%H:%M}–{p.end:%H:%M}"
        for p in working_hours(data)
    )


def queued_text(at: datetime, data: dict | None = None) -> tuple[str, bool]:
    """What to tell a citizen whose conversation was just queued, and whether it is
    outside working hours (then a call-back number is welcome)."""
    inside = in_working_hours(at, data)
    if inside is None:
        return text("queued_no_hours"), False
    if inside:
        return text("queued_in_hours"), False
    return text("queued_outside_hours", hours=hours_text(data)), True


_HAN = re.compile(r"[\u3400-\u9fff]")
_LANDLINE = re.compile(r"0\d{9,11}")


def callback_number(message: str) -> str | None:
    """A phone number a citizen sent for a call-back ('我的电话 138 0013 8000', or a
    landline with its area code), else None. Messages with more than a few words are
    not taken: '我欠了13800块' is not a phone number."""
    clean = unicodedata.normalize("NFKC", message or "").strip()
    if len(_HAN.findall(clean)) > 8:
        return None
    digits = _HAN.sub("", clean).strip(" ：:，,。.")
    mobile = normalise_phone(digits)
    if mobile:
        return mobile
    landline = PHONE_JUNK.sub("", digits)
    return landline if _LANDLINE.fullmatch(landline) else None


# --- records ----------------------------------------------------------------------


@dataclass
class Message:
    id: int
    at: datetime
    sender: str  # citizen | bot | operator | system
    text: str = field(repr=False)
    operator: str | None = None
    delivered: bool | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "at": _iso(self.at),
            "sender": self.sender,
            "text": self.text,
            "operator": self.operator,
            "delivered": self.delivered,
        }


@dataclass
class Handoff:
    id: int
    conversation_id: str = field(repr=False)
    channel: str = "web"
    status: str = "waiting"
    reason: str = "asked"
    category: str | None = None
    triage: list[dict] = field(default_factory=list, repr=False)
    outside_hours: bool = False
    callback_phone: str | None = field(default=None, repr=False)
    operator: str | None = None
    created_at: datetime | None = None
    taken_at: datetime | None = None
    closed_at: datetime | None = None
    messages: list[Message] = field(default_factory=list, repr=False)

    @property
    def tag(self) -> str:
        return tag(self.conversation_id)

    def as_console(self, at: datetime | None = None, *, full: bool = False) -> dict:
        """For the console: no conversation id or openid, only the short tag."""
        at = at or now()
        category = knowledge.categories().get(self.category or "")
        out = {
            "id": self.id,
            "tag": self.tag,
            "channel": self.channel,
            "status": self.status,
            "reason": self.reason,
            "category": self.category,
            "category_name": category.name if category else None,
            "operator": self.operator,
            "outside_hours": self.outside_hours,
            "callback_requested": bool(self.callback_phone),
            "created_at": _iso(self.created_at),
            "taken_at": _iso(self.taken_at),
            "closed_at": _iso(self.closed_at),
            "waiting_seconds": int(
                ((self.taken_at or at) - self.created_at).total_seconds()
            )
            if self.created_at
            else 0,
        }
        if full:
            out["triage"] = self.triage
            out["callback_phone"] = self.callback_phone
            out["messages"] = [m.as_dict() for m in self.messages]
        return out


def _message(row) -> Message:
    return Message(
        id=row["id"],
        at=_utc(row["at"]),
        sender=row["sender"],
        text=row["text"],
        operator=row["operator"],
        delivered=row["delivered"],
    )


def _handoff(row, messages: list[Message] | None = None) -> Handoff:
    return Handoff(
        id=row["id"],
        conversation_id=row["conversation_id"],
        channel=row["channel"],
        status=row["status"],
        reason=row["reason"],
        category=row["category"],
        triage=row["triage"] or [],
        outside_hours=bool(row["outside_hours"]),
        callback_phone=row["callback_phone"],
        operator=row["operator"],
        created_at=_utc(row["created_at"]),
        taken_at=_utc(row["taken_at"]),
        closed_at=_utc(row["closed_at"]),
        messages=messages or [],
    )


class HandoffStore:
    """The handoff queue. Tables are created on first use (the database may be down
    when a process starts). Every method blocks: call it through asyncio.to_thread."""

    def __init__(self, url: str) -> None:
        self.engine = db.create_engine(url)
        self._tables = db.Tables(self.engine, metadata)

    def close(self) -> None:
        self.engine.dispose()

    def _db(self):
        return self._tables.reachable(HandoffUnavailable)

    # --- the bot's side -----------------------------------------------------------

    def open(
        self,
        conversation_id: str,
        channel: str,
        *,
        reason: str = "asked",
        category: str | None = None,
        triage: list[dict] | None = None,
        transcript: list[dict] | None = None,
        outside_hours: bool = False,
    ) -> tuple[Handoff, bool]:
        """Queue a conversation; (handoff, created). An already open handoff of the
        same conversation is returned as it is (created False).

        triage: triage_summary(slots); transcript: [{"sender": "citizen"|"bot",
        "text", "at": datetime}] so far.
        """
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}")
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {REASONS}")
        with self._db():
            existing = self._open_of(conversation_id)
            if existing is not None:
                return existing, False
            at = now()
            try:
                with self.engine.begin() as conn:
                    handoff_id = conn.execute(
                        handoffs.insert().values(
                            conversation_id=conversation_id,
                            open_key=conversation_id,
                            channel=channel,
                            status="waiting",
                            reason=reason,
                            category=category,
                            triage=triage or [],
                            outside_hours=outside_hours,
                            created_at=at,
                        )
                    ).inserted_primary_key[0]
                    rows = [
                        {
                            "handoff_id": handoff_id,
                            "at": entry.get("at") or at,
                            "sender": entry["sender"],
                            "text": entry["text"],
                        }
                        for entry in (transcript or [])[-MAX_TRANSCRIPT:]
                        if entry.get("sender") in ("citizen", "bot")
                        and entry.get("text")
                    ]
                    if rows:
                        conn.execute(handoff_messages.insert(), rows)
            except IntegrityError:
                # Queued at the same moment by another process: that one stands.
                existing = self._open_of(conversation_id)
                if existing is None:
                    raise
                return existing, False
            return self._get(handoff_id), True

    def active(self, conversation_id: str) -> Handoff | None:
        """The open (waiting or held) handoff of a conversation, without messages."""
        with self._db():
            return self._open_of(conversation_id, messages=False)

    def _open_of(
        self, conversation_id: str, *, messages: bool = True
    ) -> Handoff | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(handoffs).where(handoffs.c.open_key == conversation_id)
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return self._get(row["id"]) if messages else _handoff(row)

    def record(
        self,
        handoff_id: int,
        sender: str,
        text: str,
        *,
        operator: str | None = None,
        delivered: bool | None = None,
    ) -> Message:
        """Append a line to the transcript."""
        if sender not in SENDERS:
            raise ValueError(f"sender must be one of {SENDERS}")
        with self._db(), self.engine.begin() as conn:
            return self._insert(conn, handoff_id, sender, text, operator, delivered)

    @staticmethod
    def _insert(conn, handoff_id, sender, text, operator=None, delivered=None):
        at = now()
        message_id = conn.execute(
            handoff_messages.insert().values(
                handoff_id=handoff_id,
                at=at,
                sender=sender,
                text=text,
                operator=operator,
                delivered=delivered,
            )
        ).inserted_primary_key[0]
        return Message(message_id, at, sender, text, operator, delivered)

    def last_operator_activity(self, handoff_id: int) -> datetime:
        """When the holder last took or wrote (the citizen waits on this)."""
        with self._db(), self.engine.connect() as conn:
            taken = conn.execute(
                sa.select(handoffs.c.taken_at).where(handoffs.c.id == handoff_id)
            ).scalar()
            wrote = conn.execute(
                sa.select(sa.func.max(handoff_messages.c.at)).where(
                    handoff_messages.c.handoff_id == handoff_id,
                    handoff_messages.c.sender == "operator",
                )
            ).scalar()
        times = [_utc(t) for t in (taken, wrote) if t is not None]
        return max(times) if times else now()

    def set_callback(self, handoff_id: int, phone: str) -> None:
        with self._db(), self.engine.begin() as conn:
            conn.execute(
                handoffs.update()
                .where(handoffs.c.id == handoff_id)
                .values(callback_phone=phone)
            )

    def mark_delivered(self, message_id: int, delivered: bool) -> None:
        with self._db(), self.engine.begin() as conn:
            conn.execute(
                handoff_messages.update()
                .where(handoff_messages.c.id == message_id)
                .values(delivered=delivered)
            )

    def updates(self, conversation_id: str, after: int = 0) -> tuple[str | None, list]:
        """For the citizen's chat: (status of the latest handoff or None, operator and
        system lines with id > after, oldest first)."""
        with self._db(), self.engine.connect() as conn:
            latest = conn.execute(
                sa.select(handoffs.c.status)
                .where(handoffs.c.conversation_id == conversation_id)
                .order_by(handoffs.c.id.desc())
                .limit(1)
            ).scalar()
            if latest is None:
                return None, []
            rows = (
                conn.execute(
                    sa.select(handoff_messages)
                    .join(handoffs, handoffs.c.id == handoff_messages.c.handoff_id)
                    .where(
                        handoffs.c.conversation_id == conversation_id,
                        handoff_messages.c.id > after,
                        handoff_messages.c.sender.in_(TO_CITIZEN),
                    )
                    .order_by(handoff_messages.c.id)
                )
                .mappings()
                .all()
            )
        return latest, [_message(r) for r in rows]

    # --- the console's side ----------------------------------------------------------

    def queue(self) -> list[Handoff]:
        """Open handoffs: waiting ones first (longest waiting first), then held."""
        with self._db(), self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(handoffs)
                    .where(handoffs.c.status.in_(("waiting", "held")))
                    .order_by(handoffs.c.created_at, handoffs.c.id)
                )
                .mappings()
                .all()
            )
        found = [_handoff(r) for r in rows]
        return [h for h in found if h.status == "waiting"] + [
            h for h in found if h.status == "held"
        ]

    def get(self, handoff_id: int) -> Handoff | None:
        with self._db():
            return self._get(handoff_id)

    def _get(self, handoff_id: int) -> Handoff | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(handoffs).where(handoffs.c.id == handoff_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            messages = (
                conn.execute(
                    sa.select(handoff_messages)
                    .where(handoff_messages.c.handoff_id == handoff_id)
                    .order_by(handoff_messages.c.id)
                )
                .mappings()
                .all()
            )
        return _handoff(row, [_message(m) for m in messages])

    def take(self, handoff_id: int, operator: str) -> tuple[Handoff, Message]:
        """waiting -> held by `operator`, with the "operator joined" line for the
        citizen. Raises KeyError (no such handoff) or HandoffConflict (not waiting:
        someone else was first)."""
        with self._db():
            with self.engine.begin() as conn:
                taken = conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == handoff_id, handoffs.c.status == "waiting")
                    .values(status="held", operator=operator, taken_at=now())
                ).rowcount
                if taken == 1:
                    line = self._insert(
                        conn, handoff_id, "system", text("operator_joined")
                    )
            if taken != 1:
                self._conflict(handoff_id)
            return self._get(handoff_id), line

    def reply(self, handoff_id: int, operator: str, body: str) -> Message:
        """An operator's reply; only the operator holding the handoff may send."""
        with self._db(), self.engine.begin() as conn:
            holder = conn.execute(
                sa.select(handoffs.c.status, handoffs.c.operator).where(
                    handoffs.c.id == handoff_id
                )
            ).first()
            if holder is None:
                raise KeyError(handoff_id)
            if holder.status != "held" or holder.operator != operator:
                raise HandoffConflict(holder.status, holder.operator)
            return self._insert(conn, handoff_id, "operator", body, operator=operator)

    def release(
        self, handoff_id: int, operator: str, *, override: bool = False
    ) -> tuple[Handoff, Message]:
        """held -> closed (the bot answers again), with the "handed back" line.
        Only the holder may hand back, unless `override` (an admin)."""
        with self._db():
            with self.engine.begin() as conn:
                condition = [handoffs.c.id == handoff_id, handoffs.c.status == "held"]
                if not override:
                    condition.append(handoffs.c.operator == operator)
                closed = conn.execute(
                    handoffs.update()
                    .where(*condition)
                    .values(status="closed", open_key=None, closed_at=now())
                ).rowcount
                if closed == 1:
                    line = self._insert(conn, handoff_id, "system", text("handed_back"))
            if closed != 1:
                self._conflict(handoff_id)
            return self._get(handoff_id), line

    def _conflict(self, handoff_id: int):
        current = self._get(handoff_id)
        if current is None:
            raise KeyError(handoff_id)
        raise HandoffConflict(current.status, current.operator)


def triage_summary(slots: dict) -> list[dict]:
    """The triage so far as [{"key", "label", "value"}] for the console: the triaged
    category and the legal-aid form's non-personal answers, in readable words."""
    from bot import legal_aid_form as form  # the form's option labels

    labels = spec()["triage_labels"]
    categories = knowledge.categories()
    out = []
    for key, label in labels.items():
        value = slots.get(key)
        if value in (None, "", []):
            continue
        if key in ("category", "la_category"):
            shown = categories[value].name if value in categories else str(value)
        else:
            options = form.options(key, slots)
            values = value if isinstance(value, list) else [value]
            shown = "、".join(
                spec()["unknown_value"]
                if v == form.UNKNOWN
                else str(options.get(v, {}).get("label", v))
                if isinstance(v, str)
                else str(v)
                for v in values
            )
        out.append({"key": key, "label": label, "value": shown})
    return out


# --- the channels' side: pause the bot while an operator holds the conversation ----


@dataclass
class Gate:
    """What a channel does with one citizen message, decided before asking Rasa."""

    handoff: Handoff | None = None  # the conversation's open handoff, if any
    answer: list[str] | None = None  # None: ask Rasa; else send these instead
    # Handed back just now because the operator had gone quiet: the "handed back"
    # line, for channels that must send it themselves (WeChat; the widget polls).
    resumed: Message | None = None

    @property
    def to_rasa(self) -> bool:
        return self.answer is None


def before_turn(store: HandoffStore, conversation_id: str, message: str) -> Gate:
    """Held by an operator: the message goes to the operator only (no answer now) —
    except danger, which the bot answers at once too (110 first), and except when
    the operator has been silent for held_idle_minutes (then the bot takes over
    again). Waiting outside working hours and the message is a phone number: it is
    kept for the call-back. Otherwise the bot answers. Blocking: use to_thread."""
    case = store.active(conversation_id)
    if case is None:
        return Gate()
    if case.status == "held":
        idle = timedelta(minutes=float(spec()["held_idle_minutes"]))
        if now() - store.last_operator_activity(case.id) > idle:
            closed, line = store.release(case.id, "", override=True)
            return Gate(resumed=line)
        store.record(case.id, "citizen", message)
        if danger(message):
            return Gate(case)
        return Gate(case, [])
    if case.outside_hours and not case.callback_phone:
        number = callback_number(message)
        if number:
            store.set_callback(case.id, number)
            store.record(case.id, "citizen", message)
            answer = text("callback_noted")
            # "bot", not "system": the chat answers it now, no need to push it too.
            store.record(case.id, "bot", answer)
            return Gate(case, [answer])
    return Gate(case)


def after_turn(
    store: HandoffStore,
    conversation_id: str,
    message: str,
    gate: Gate,
    bot_texts: list[str],
) -> str | None:
    """After the bot answered: keep a waiting handoff's transcript up to date (the
    operator who takes it sees what was said meanwhile). Returns the status of the
    conversation's open handoff (this turn may have opened one), else None."""
    case = store.active(conversation_id)
    if case is None:
        return None
    with store._db(), store.engine.begin() as conn:
        # A handoff opened by this very turn already has the message in its
        # transcript (copied from the tracker); only the bot's answer is new. A
        # held one (danger passed through) has it already too.
        known = gate.handoff is not None and gate.handoff.id == case.id
        if known and gate.handoff.status == "waiting":
            store._insert(conn, case.id, "citizen", message)
        for line in bot_texts:
            if line.strip():
                store._insert(conn, case.id, "bot", line)
    return case.status


def citizen_text(message: Message) -> str:
    """An operator's line as the citizen reads it: marked as from a person."""
    if message.sender == "operator":
        return f"{text('operator_prefix')}{message.text}"
    return message.text
