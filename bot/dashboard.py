"""The bureau's dashboard: anonymous conversation facts and the figures built from them
and from the intake records. Plain Python, no Rasa imports.

What a conversation leaves behind (table conversation_facts): the Beijing-time day, what
happened (triage / faq / handoff), the category and county when known, the channel, and
a visitor code. No sender id, openid, text or time of day is stored.

The visitor code lets the dashboard count distinct conversations per day without knowing
who talked: HMAC-SHA256 of the sender id under a random key that belongs to one day
(table dashboard_day_keys). Keys of past days are deleted as soon as a later day's key
is made, so after midnight nobody — not even someone holding the database — can
recompute a code from a known openid or link one person's days to each other. A
per-install secret would have kept that link forever; a per-day salt in memory would
break the count as soon as two action servers run. Within the current day the key sits
in the database, which is the one residual risk (a database reader with a known openid
could test whether it talked today).

The figures are pure functions of a date range (and optionally one centre); the CSV
export is built from the same dict the JSON API returns, so they cannot disagree.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import secrets
import statistics
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.exc import IntegrityError

from bot import db, intake, knowledge, routing

log = logging.getLogger(__name__)

# China has one time zone and no daylight saving: days are counted in Beijing time.
CHINA = timezone(timedelta(hours=8))
KINDS = ("triage", "faq", "handoff")
CHANNELS = intake.CHANNELS  # web | wechat | hotline | api
# Rasa input channels -> the intake store's channel codes. The web app talks to Rasa
# over REST, so "rest" is the web chat; anything else reached Rasa some other way.
INPUT_CHANNELS = {"rest": "web", "socketio": "web", "wechat": "wechat"}
MAX_DAYS = 366
DEFAULT_DAYS = 30
# After a failed write, drop facts for this long instead of making every turn wait
# for the database's connect timeout again.
RETRY_AFTER = 30.0
DASHBOARD_FILE = knowledge.KNOWLEDGE_DIR / "dashboard.yml"
TABLES = ("days", "categories", "counties", "channels", "transfers", "decisions")

metadata = sa.MetaData()
conversation_facts = sa.Table(
    "conversation_facts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("category", sa.String(30)),
    sa.Column("county", sa.String(20)),  # a centre key from centres.yml
    sa.Column("channel", sa.String(10), nullable=False),
    sa.Column("visitor", sa.String(32), nullable=False),
)
day_keys = sa.Table(
    "dashboard_day_keys",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("secret", sa.String(64), nullable=False),
)


class DashboardUnavailable(Exception):
    """The database cannot be reached."""


class BadRequest(ValueError):
    """A query the dashboard cannot answer; the message is for the person asking."""


@lru_cache(maxsize=4)
def labels(path: Path = DASHBOARD_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def china_day(at: datetime) -> date:
    return at.astimezone(CHINA).date()


def channel_of(input_channel: str | None) -> str:
    return INPUT_CHANNELS.get(input_channel or "", "api")


def county_key(place: str | None) -> str | None:
    """The centre key of a county as data names it, typed, or already a key."""
    if not place or not isinstance(place, str):
        return None
    place = place.strip()
    return place if place in knowledge.centres() else routing.centre_for(place)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the intake store writes UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Dashboard:
    """Records conversation facts and computes the figures, on the intake database."""

    def __init__(self, url: str) -> None:
        self.engine = db.create_engine(url)
        # The figures read the intake records too: both sets of tables exist.
        self._tables = db.Tables(self.engine, intake.metadata, metadata)
        self._key: tuple[date, bytes] | None = None
        self._down_until = 0.0

    def close(self) -> None:
        self.engine.dispose()

    def _db(self):
        return self._tables.reachable(DashboardUnavailable)

    # --- Recording (the action server) -------------------------------------------

    def record(
        self,
        kind: str,
        *,
        sender_id: str,
        input_channel: str | None,
        category: str | None = None,
        county: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Add one anonymous fact; False when it was dropped (database down).

        Unknown categories and places are stored as unknown, so no free text typed
        by a citizen can end up in the table.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if time.monotonic() < self._down_until:
            return False
        day = china_day(at or intake.now())
        try:
            with self._db():
                key = self._day_key(day)
                visitor = hmac.new(
                    key, sender_id.encode("utf-8"), hashlib.sha256
                ).hexdigest()[:32]
                with self.engine.begin() as conn:
                    conn.execute(
                        conversation_facts.insert().values(
                            day=day,
                            kind=kind,
                            category=(
                                category if category in knowledge.categories() else None
                            ),
                            county=county_key(county),
                            channel=channel_of(input_channel),
                            visitor=visitor,
                        )
                    )
        except DashboardUnavailable:
            self._down_until = time.monotonic() + RETRY_AFTER
            log.warning("dashboard database unavailable: one conversation fact dropped")
            return False
        return True

    def _day_key(self, day: date) -> bytes:
        if self._key and self._key[0] == day:
            return self._key[1]
        select = sa.select(day_keys.c.secret).where(day_keys.c.day == day)
        with self.engine.connect() as conn:
            secret = conn.execute(select).scalar()
        if secret is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        day_keys.insert().values(day=day, secret=secrets.token_hex(32))
                    )
                    # Yesterday's codes can never be linked to a person again.
                    conn.execute(day_keys.delete().where(day_keys.c.day < day))
            except IntegrityError:
                pass  # another server made today's key first: use theirs
            with self.engine.connect() as conn:
                secret = conn.execute(select).scalar_one()
        self._key = (day, bytes.fromhex(secret))
        return self._key[1]

    # --- Figures (the console) ---------------------------------------------------

    def figures(
        self,
        start: date,
        end: date,
        centre: str | None = None,
        now: datetime | None = None,
    ) -> dict:
        """Everything the dashboard shows for the Beijing-time days start..end.

        centre: only intakes received by or transferred to that centre, and only
        conversations placed in its county. Raises DashboardUnavailable.
        """
        with self._db(), self.engine.connect() as conn:
            facts = _fact_counts(conn, start, end, centre)
            rows = _intake_rows(conn, start, end, centre)
        return _assemble(start, end, centre, facts, rows, now or intake.now())


def _fact_counts(conn, start: date, end: date, centre: str | None) -> dict:
    f = conversation_facts.c
    where = [f.day >= start, f.day <= end]
    if centre:
        where.append(f.county == centre)
    visitors = sa.func.count(sa.distinct(f.visitor))

    def grouped(*columns, measure=visitors, extra=()):
        query = sa.select(*columns, measure).where(*where, *extra).group_by(*columns)
        return conn.execute(query).all()

    # A conversation is one visitor code on one day (the code changes at midnight),
    # so distinct visitors per day, summed over days, count conversations.
    per_day = {day: n for day, n in grouped(f.day)}
    by_dim = {}
    for dim in ("category", "county", "channel"):
        totals: Counter = Counter()
        for value, _day, n in grouped(f[dim], f.day, extra=[f[dim].is_not(None)]):
            totals[value] += n
        by_dim[dim] = totals
    # "Unknown county": conversations that never named one (not facts without one,
    # or a conversation that named its county once would count twice).
    placed = sum(n for _day, n in grouped(f.day, extra=[f.county.is_not(None)]))
    by_dim["county"]["unknown"] = sum(per_day.values()) - placed
    return {
        "per_day": per_day,
        "kinds": {
            (day, kind): n
            for day, kind, n in grouped(f.day, f.kind, measure=sa.func.count())
        },
        **by_dim,
    }


def _intake_rows(conn, start: date, end: date, centre: str | None) -> list[dict]:
    # Only the columns the figures need: no name, phone, conversation id or notes.
    i, e = intake.intakes.c, intake.intake_events.c
    low = datetime.combine(start, datetime.min.time(), CHINA).astimezone(timezone.utc)
    high = datetime.combine(
        end + timedelta(days=1), datetime.min.time(), CHINA
    ).astimezone(timezone.utc)
    where = [i.created_at >= low, i.created_at < high]
    if centre:
        where.append(sa.or_(i.receiving_centre == centre, i.competent_centre == centre))
    decided = (
        sa.select(e.intake_id, sa.func.min(e.at).label("decided_at"))
        .where(e.status == "decided")
        .group_by(e.intake_id)
        .subquery()
    )
    query = (
        sa.select(
            i.created_at,
            i.category,
            i.channel,
            i.receiving_centre,
            i.competent_centre,
            i.residence_county,
            i.review_due,
            decided.c.decided_at,
        )
        .outerjoin(decided, decided.c.intake_id == i.id)
        .where(*where)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def _county_of_residence(text: str | None) -> str:
    if not text or not text.strip():
        return "unknown"
    return county_key(text) or "outside"


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def _assemble(
    start: date, end: date, centre: str | None, facts: dict, rows: list, now: datetime
) -> dict:
    words = labels()
    categories = knowledge.categories()
    centres = knowledge.centres()

    intakes_per_day: Counter = Counter()
    by: dict[str, Counter] = defaultdict(Counter)
    transfers: Counter = Counter()
    durations: list[float] = []
    pending = overdue = 0
    for row in rows:
        created = _utc(row["created_at"])
        intakes_per_day[china_day(created)] += 1
        by["category"][row["category"]] += 1
        by["channel"][row["channel"]] += 1
        by["county"][_county_of_residence(row["residence_county"])] += 1
        competent = row["competent_centre"]
        if competent and competent != row["receiving_centre"]:
            transfers[(row["receiving_centre"], competent)] += 1
        if row["decided_at"] is not None:
            durations.append(_days(_utc(row["decided_at"]) - created))
        else:
            pending += 1
            overdue += now > _utc(row["review_due"])

    days = []
    day = start
    while day <= end:
        kinds = {k: facts["kinds"].get((day, k), 0) for k in KINDS}
        days.append(
            {
                "day": day.isoformat(),
                "conversations": facts["per_day"].get(day, 0),
                "intakes": intakes_per_day[day],
                "triaged": kinds["triage"],
                "faq": kinds["faq"],
                "handoffs": kinds["handoff"],
            }
        )
        day += timedelta(days=1)

    def breakdown(dim: str, names: dict[str, str]) -> list[dict]:
        return [
            {
                "key": key,
                "name": name,
                "conversations": facts[dim].get(key, 0),
                "intakes": by[dim][key],
            }
            for key, name in names.items()
        ]

    county_names = {key: c["county"] for key, c in centres.items()}
    county_names.update(words["counties"])
    limit = intake.REVIEW_DAYS
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "centre": intake.centre_ref(centre),
        "totals": {
            "conversations": sum(d["conversations"] for d in days),
            "intakes": len(rows),
            "triaged": sum(d["triaged"] for d in days),
            "faq": sum(d["faq"] for d in days),
            "handoffs": sum(d["handoffs"] for d in days),
            "transfers": sum(transfers.values()),
        },
        "days": days,
        "categories": breakdown(
            "category", {code: c.name for code, c in categories.items()}
        ),
        "counties": breakdown("county", county_names),
        "channels": breakdown("channel", {k: words["channels"][k] for k in CHANNELS}),
        "transfers": [
            {
                "from": intake.centre_ref(a),
                "to": intake.centre_ref(b),
                "count": n,
            }
            for (a, b), n in sorted(transfers.items(), key=lambda t: (-t[1], t[0]))
        ],
        "decisions": {
            "limit_days": limit,
            "decided": len(durations),
            "within_limit": sum(d <= limit for d in durations),
            "pending": pending,
            "overdue": overdue,
            "average_days": round(statistics.fmean(durations), 1)
            if durations
            else None,
            "median_days": round(statistics.median(durations), 1)
            if durations
            else None,
        },
    }


# --- Query parameters ---------------------------------------------------------------


def parse_range(
    start_text: str | None, end_text: str | None, today: date
) -> tuple[date, date]:
    """?from=&to= as YYYY-MM-DD; the default is the last 30 days up to today."""
    errors = labels()["errors"]

    def parse(field: str, text: str | None) -> date | None:
        if text is None or not text.strip():
            return None
        text = text.strip()
        try:
            if not (len(text) == 10 and text.isascii()):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            raise BadRequest(errors["date"].format(field=field)) from None

    end = parse("to", end_text)
    start = parse("from", start_text)
    end = end or (max(start, today) if start else today)
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise BadRequest(errors["order"])
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(errors["span"].format(days=MAX_DAYS))
    return start, end


def parse_centre(text: str | None) -> str | None:
    if not text:
        return None
    centres = knowledge.centres()
    if text not in centres:
        options = "、".join(f"{k}（{c['name']}）" for k, c in centres.items())
        raise BadRequest(labels()["errors"]["centre"].format(options=options))
    return text


def parse_table(text: str | None) -> str | None:
    if not text:
        return None
    if text not in TABLES:
        raise BadRequest(labels()["errors"]["table"].format(options="、".join(TABLES)))
    return text


# --- CSV ----------------------------------------------------------------------------


def _number(value) -> str:
    return "" if value is None else str(value)


def csv_rows(figures: dict, table: str) -> list[list[str]]:
    """One table of the figures as rows (without its heading)."""
    if table == "days":
        return [
            [
                d["day"],
                *(
                    str(d[k])
                    for k in ("conversations", "intakes", "triaged", "faq", "handoffs")
                ),
            ]
            for d in figures["days"]
        ]
    if table in ("categories", "counties", "channels"):
        return [
            [r["key"], r["name"], str(r["conversations"]), str(r["intakes"])]
            for r in figures[table]
        ]
    if table == "transfers":
        return [
            [
                t["from"]["key"],
                t["from"]["name"],
                t["to"]["key"],
                t["to"]["name"],
                str(t["count"]),
            ]
            for t in figures["transfers"]
        ]
    names = labels()["csv"]["decisions"]["rows"]
    return [[name, _number(figures["decisions"][key])] for key, name in names.items()]


def to_csv(figures: dict, table: str | None = None) -> str:
    """UTF-8 text with a byte-order mark, so Excel opens the Chinese correctly.

    One table: its column heads and rows. All: the period and scope, then every table
    under its title, separated by an empty row.
    """
    words = labels()["csv"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if table:
        writer.writerow(words[table]["columns"])
        writer.writerows(csv_rows(figures, table))
    else:
        scope = figures["centre"]["name"] if figures["centre"] else words["all_centres"]
        writer.writerow([words["period"], figures["from"], figures["to"]])
        writer.writerow([words["centre"], scope])
        for name in TABLES:
            writer.writerow([])
            writer.writerow([words[name]["title"]])
            writer.writerow(words[name]["columns"])
            writer.writerows(csv_rows(figures, name))
    return "\ufeff" + out.getvalue()
