"""The bureau's dashboard: anonymous conversation facts, the figures built from them and
from the intake records (on SQLite and PostgreSQL), the CSV export, the actions that
record facts, and who may see what through the console API."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation_facts
from actions import handoff as handoff_actions
from actions.faq import ActionAnswerFaq
from actions.handoff import ActionHandoff
from actions.triage import ActionTriage
from bot import dashboard, db, intake
from bot.console import audit
from bot.console.accounts import Accounts
from bot.dashboard import Dashboard, DashboardUnavailable, to_csv
from bot.eligibility import HardshipStandard
from bot.handoff import HandoffStore
from bot.intake import IntakeStore
from bot.legal_aid import Answers, build_application
from bot.settings import Settings
from bot.web.app import create_app

UTC = timezone.utc
STANDARD = {"default": HardshipStandard("test", 1000.0, "2026-01-01", "test fixture")}
START, END = date(2026, 11, 10), date(2026, 11, 16)
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
# Everything personal the test puts in: none of it may reach the figures or the CSV.
PEOPLE = {
    "a": ("欧阳秀英", "13800138001"),
    "b": ("司马建国", "13900139002"),
    "c": ("诸葛春花", "13700137003"),
    "d": ("上官明亮", "13600136004"),
    "e": ("东方红梅", "13500135005"),
    "f": ("皇甫大勇", "13300133006"),
}
SENDERS = ("wx-openid-oAbC123xyz", "web-sender-7f3a9c21", "web-sender-55e0d4b8")


def application(key, channel="web", **answers):
    name, phone = PEOPLE[key]
    app, _ = build_application(
        Answers(**{"category": "labor", "stage": "none", **answers}),
        channel=channel,
        name=name,
        phone=phone,
        conversation_id=f"conv-{key}-{SENDERS[0]}",
        standards=STANDARD,
    )
    return app


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def seeded(database_url, monkeypatch):
    """Six intakes and a few conversations with known times (UTC below; the
    dashboard counts Beijing days, 8 hours ahead)."""
    store = IntakeStore(database_url)
    board = Dashboard(database_url)
    clock = {"now": NOW}
    monkeypatch.setattr(intake, "now", lambda: clock["now"])

    def submit(when, key, decided=None, **kwargs):
        clock["now"] = at(when)
        ref = store.submit(application(key, **kwargs)).reference
        if decided:
            clock["now"] = at(decided)
            store.set_status(ref, "decided", f"{PEOPLE[key][0]} 电话 {PEOPLE[key][1]}")
        return ref

    # a: Beijing 11-10 10:00, 息县, decided 2 days later.
    submit(
        "2026-11-10T02:00",
        "a",
        "2026-11-12T02:00",
        event_place="息县",
        residence_county="息县",
    )
    # b: Beijing 11-11 01:00 (UTC is still the 10th), a court case in 固始 of a
    # citizen of 息县: received by 息县, transferred to 固始; decided after 5 days.
    submit(
        "2026-11-10T17:00",
        "b",
        "2026-11-15T17:00",
        channel="wechat",
        stage="court",
        organ_place="固始",
        residence_county="息县",
    )
    # c: family, a citizen outside Xinyang, by phone; undecided past its 7 days.
    submit(
        "2026-11-11T03:00",
        "c",
        channel="hotline",
        category="family",
        residence_county="郑州市",
    )
    # d: no residence given, through the API; undecided, still within 7 days.
    submit("2026-11-16T02:00", "d", channel="api", category="debt")
    # e: Beijing 11-09 23:00: the day before the range.
    submit("2026-11-09T15:00", "e", residence_county="息县")
    # f: 光山, decided after half a day.
    submit(
        "2026-11-10T04:00",
        "f",
        "2026-11-10T16:00",
        category="debt",
        event_place="光山",
        residence_county="光山",
    )

    def fact(kind, sender, channel, when, **kwargs):
        board.record(
            kind, sender_id=sender, input_channel=channel, at=at(when), **kwargs
        )

    wx, web1, web2 = SENDERS
    fact("triage", wx, "wechat", "2026-11-10T01:00", category="labor", county="息县")
    fact("faq", wx, "wechat", "2026-11-10T01:05", category="labor")
    fact("triage", web1, "rest", "2026-11-10T09:00", category="labor", county="固始")
    # The same WeChat user the next Beijing day (UTC 16:30 is 00:30 there).
    fact("triage", wx, "wechat", "2026-11-10T16:30", category="family")
    fact("handoff", web2, "rest", "2026-11-11T02:00")
    yield store, board
    board.close()
    store.close()


def test_figures_count_conversations_and_intakes_per_beijing_day(seeded):
    _, board = seeded
    f = board.figures(START, END, now=NOW)
    days = {d["day"]: d for d in f["days"]}
    assert list(days) == [f"2026-11-{n}" for n in range(10, 17)]
    assert days["2026-11-10"] == {
        "day": "2026-11-10",
        "conversations": 2,  # one WeChat user asked twice: still one conversation
        "intakes": 2,  # a and f; e was the evening before (Beijing time)
        "triaged": 2,
        "faq": 1,
        "handoffs": 0,
    }
    assert days["2026-11-11"]["conversations"] == 2
    assert days["2026-11-11"]["intakes"] == 2  # b (UTC the 10th) and c
    assert days["2026-11-11"]["handoffs"] == 1
    assert days["2026-11-16"]["intakes"] == 1
    assert f["totals"] == {
        "conversations": 4,
        "intakes": 5,
        "triaged": 3,
        "faq": 1,
        "handoffs": 1,
        "transfers": 1,
    }


def test_figures_by_category_county_and_channel_use_the_bureaus_names(seeded):
    _, board = seeded
    f = board.figures(START, END, now=NOW)
    categories = {c["key"]: c for c in f["categories"]}
    assert len(categories) == 20
    assert categories["labor"] == {
        "key": "labor",
        "name": "劳动争议",
        "conversations": 2,
        "intakes": 2,
    }
    assert categories["family"]["conversations"] == 1
    assert categories["debt"]["intakes"] == 2
    counties = {c["key"]: c for c in f["counties"]}
    assert counties["xixian"]["name"] == "息县"
    assert (counties["xixian"]["conversations"], counties["xixian"]["intakes"]) == (
        1,
        2,
    )
    assert (counties["gushi"]["conversations"], counties["gushi"]["intakes"]) == (1, 0)
    assert counties["guangshan"]["intakes"] == 1
    # 郑州市 is no county of ours; no residence at all is "unknown". The free text
    # itself is never shown.
    assert counties["outside"]["intakes"] == 1 and counties["unknown"]["intakes"] == 1
    # The 11th's two conversations named no county.
    assert counties["unknown"]["conversations"] == 2
    channels = {
        c["key"]: (c["name"], c["conversations"], c["intakes"]) for c in f["channels"]
    }
    assert channels == {
        "web": ("网页", 2, 2),
        "wechat": ("微信", 2, 1),
        "hotline": ("热线", 0, 1),
        "api": ("接口", 0, 1),
    }


def test_transfers_and_time_to_decision(seeded):
    _, board = seeded
    f = board.figures(START, END, now=NOW)
    assert f["transfers"] == [
        {
            "from": {"key": "xixian", "name": "息县法律援助中心"},
            "to": {"key": "gushi", "name": "固始县法律援助中心"},
            "count": 1,
        }
    ]
    # Decided after 2, 5 and 0.5 days; c and d are still open, c past its 7 days.
    assert f["decisions"] == {
        "limit_days": 7,
        "decided": 3,
        "within_limit": 3,
        "pending": 2,
        "overdue": 1,
        "average_days": 2.5,
        "median_days": 2.0,
    }


def test_a_centre_sees_what_it_received_or_was_transferred(seeded):
    _, board = seeded
    gushi = board.figures(START, END, centre="gushi", now=NOW)
    assert gushi["centre"] == {"key": "gushi", "name": "固始县法律援助中心"}
    assert gushi["totals"]["intakes"] == 1 and gushi["totals"]["transfers"] == 1
    assert gushi["totals"]["conversations"] == 1  # the one that named 固始
    assert gushi["decisions"]["average_days"] == 5.0
    xixian = board.figures(START, END, centre="xixian", now=NOW)
    assert xixian["totals"]["intakes"] == 2  # a, and b before its transfer


def test_nothing_personal_reaches_the_figures_or_the_csv(seeded):
    store, board = seeded
    f = board.figures(START, END, now=NOW)
    text = json.dumps(f, ensure_ascii=False) + to_csv(f)
    for table in dashboard.TABLES:
        text += to_csv(f, table)
    for name, phone in PEOPLE.values():
        assert name not in text and phone not in text and phone[-4:] not in text
    assert "郑州" not in text  # free text typed as a residence
    for sender in SENDERS:
        assert sender not in text
    assert "conv-" not in text and "XY26" not in text  # no conversation ids, refs


def test_conversation_facts_keep_no_sender_and_forget_the_day_key(seeded):
    _, board = seeded
    with board.engine.connect() as conn:
        facts = conn.execute(sa.select(dashboard.conversation_facts)).mappings().all()
        keys = conn.execute(sa.select(dashboard.day_keys)).mappings().all()
    stored = json.dumps([dict(r) for r in facts], default=str)
    for sender in SENDERS:
        assert sender not in stored
        assert hashlib.sha256(sender.encode()).hexdigest()[:16] not in stored
    wx = [r["visitor"] for r in facts if r["channel"] == "wechat"]
    assert len(wx) == 3 and len(set(wx)) == 2  # same code within a day, new the next
    # Only the latest day's key is left: yesterday's codes cannot be recomputed.
    assert [k["day"] for k in keys] == [date(2026, 11, 11)]
    assert {r["county"] for r in facts} == {"xixian", "gushi", None}


def test_unknown_category_or_free_text_place_is_stored_as_unknown(tmp_path):
    board = Dashboard(f"sqlite:///{tmp_path / 'var' / 'intakes.db'}")
    board.record(
        "triage",
        sender_id="s-1",
        input_channel="telegram",
        category="张三的离婚案",
        county="北京市朝阳区某小区",
    )
    with board.engine.connect() as conn:
        row = conn.execute(sa.select(dashboard.conversation_facts)).mappings().one()
    assert (row["category"], row["county"], row["channel"]) == (None, None, "api")
    with pytest.raises(ValueError):
        board.record("chat", sender_id="s-1", input_channel="rest")
    board.close()


def sections(text: str) -> dict[str, list[list[str]]]:
    """The full CSV export as {title: rows (column heads first)}."""
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    out, title = {"": []}, ""
    for i, row in enumerate(rows):
        if not row:
            continue
        if i > 0 and not rows[i - 1] and len(row) == 1:
            title = row[0]
            out[title] = []
        else:
            out[title].append(row)
    return out


def test_csv_holds_the_same_figures_as_the_json(seeded):
    _, board = seeded
    f = board.figures(START, END, now=NOW)
    words = dashboard.labels()["csv"]
    parts = sections(to_csv(f))
    assert parts[""] == [
        [words["period"], "2026-11-10", "2026-11-16"],
        [words["centre"], words["all_centres"]],
    ]
    days = parts[words["days"]["title"]]
    assert days[0] == words["days"]["columns"]
    assert [[int(x) for x in row[1:]] for row in days[1:]] == [
        [d[k] for k in ("conversations", "intakes", "triaged", "faq", "handoffs")]
        for d in f["days"]
    ]
    for table in ("categories", "counties", "channels"):
        rows = parts[words[table]["title"]][1:]
        assert rows == [
            [r["key"], r["name"], str(r["conversations"]), str(r["intakes"])]
            for r in f[table]
        ]
    assert parts[words["transfers"]["title"]][1:] == [
        ["xixian", "息县法律援助中心", "gushi", "固始县法律援助中心", "1"]
    ]
    decisions = dict(parts[words["decisions"]["title"]][1:])
    names = words["decisions"]["rows"]
    assert decisions[names["average_days"]] == "2.5"
    assert decisions[names["overdue"]] == "1"
    # One table alone: a plain rectangle, heads then rows.
    alone = list(csv.reader(io.StringIO(to_csv(f, "channels")[1:])))
    assert alone[0] == words["channels"]["columns"]
    assert alone[1] == ["web", "网页", "2", "2"]


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        ("2026-13-01", None, "from: 日期要写成"),
        ("2026/11/01", None, "from: 日期要写成"),
        (None, "昨天", "to: 日期要写成"),
        ("２０２６-１１-０１", None, "from: 日期要写成"),
        ("2026-11-20", "2026-11-10", "开始日期不能晚于结束日期"),
        ("2025-01-01", "2026-11-10", "一次最多统计 366 天"),
    ],
)
def test_bad_dates_get_a_chinese_explanation(start, end, problem):
    with pytest.raises(dashboard.BadRequest) as caught:
        dashboard.parse_range(start, end, date(2026, 12, 1))
    assert problem in str(caught.value)


def test_the_default_range_is_the_last_30_days():
    today = date(2026, 12, 1)
    assert dashboard.parse_range(None, None, today) == (date(2026, 11, 2), today)
    assert dashboard.parse_range("2026-11-20", "", today) == (date(2026, 11, 20), today)


def test_database_down_drops_the_fact_with_a_warning_and_no_personal_data(
    unreachable_postgres_url, caplog
):
    caplog.set_level(logging.DEBUG)
    board = Dashboard(unreachable_postgres_url)
    sender = "wx-openid-oDown999"
    assert board.record("triage", sender_id=sender, input_channel="wechat") is False
    # Within the back-off it does not even try (no second 5-second wait).
    assert board.record("triage", sender_id=sender, input_channel="wechat") is False
    assert "conversation fact dropped" in caplog.text
    assert sender not in caplog.text
    with pytest.raises(DashboardUnavailable):
        board.figures(START, END)
    board.close()


# --- the actions record facts --------------------------------------------------------


def citizen_tracker(text, intent, sender="web-sender-action-1", entities=(), faq=None):
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.95},
        "intent_ranking": [{"name": intent, "confidence": 0.95}],
        "entities": list(entities),
    }
    if faq:
        message["response_selector"] = {
            "faq": {"ranking": [{"intent_response_key": faq, "confidence": 0.9}]}
        }
    # Came through the web chat (Rasa's REST channel), as a citizen's message does.
    event = {"event": "user", "text": text, "parse_data": message}
    events = [{**event, "input_channel": "rest"}]
    return Tracker(sender, {}, message, events, False, None, {}, "action_listen")


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    board = Dashboard(f"sqlite:///{tmp_path / 'var' / 'intakes.db'}")
    monkeypatch.setattr(conversation_facts, "dashboard", lambda: board)

    def rows():
        with board.engine.connect() as conn:
            query = sa.select(dashboard.conversation_facts)
            return [dict(r) for r in conn.execute(query).mappings()]

    yield rows
    board.close()


async def test_triage_and_faq_answers_leave_anonymous_facts(recorded):
    dispatcher = CollectingDispatcher()
    county = [{"entity": "county", "value": "固始", "start": 0, "end": 2}]
    await ActionTriage().run(
        dispatcher,
        citizen_tracker("固始的老板欠俺工钱", "triage_labor", entities=county),
        {},
    )
    await ActionAnswerFaq().run(
        dispatcher,
        citizen_tracker("工钱不给咋办", "faq", faq="faq/labor_unpaid_wages"),
        {},
    )
    await conversation_facts.drain()
    rows = recorded()
    # Written in the background, so in either order.
    assert sorted(
        (r["kind"], r["category"], r["county"], r["channel"]) for r in rows
    ) == [
        ("faq", "labor", None, "web"),
        ("triage", "labor", "gushi", "web"),
    ]
    assert len({r["visitor"] for r in rows}) == 1  # one conversation
    assert "web-sender-action-1" not in json.dumps(rows, default=str)
    assert dispatcher.messages[0]["response"] == "utter_triage_steps"


async def test_asking_for_a_person_counts_one_handoff(recorded, tmp_path, monkeypatch):
    queue = HandoffStore(f"sqlite:///{tmp_path / 'queue' / 'intakes.db'}")
    monkeypatch.setattr(handoff_actions, "_store", queue)
    t = citizen_tracker("转人工", "request_human", sender="web-sender-handoff-1")
    tracker = Tracker(
        t.sender_id, {"category": "debt"}, t.latest_message, t.events, False, None,
        {}, "action_listen",
    )  # fmt: skip
    try:
        await ActionHandoff().run(CollectingDispatcher(), tracker, {})
        await ActionHandoff().run(CollectingDispatcher(), tracker, {})  # queued already
        await conversation_facts.drain()
    finally:
        queue.close()
    assert [(r["kind"], r["category"]) for r in recorded()] == [("handoff", "debt")]


async def test_a_broken_database_never_breaks_the_answer(monkeypatch, caplog):
    class Broken:
        def record(self, *args, **kwargs):
            raise RuntimeError("no database today")

    monkeypatch.setattr(conversation_facts, "dashboard", Broken)
    dispatcher = CollectingDispatcher()
    events = await ActionTriage().run(
        dispatcher, citizen_tracker("老板欠俺工钱", "triage_labor"), {}
    )
    await conversation_facts.drain()
    assert dispatcher.messages[0]["response"] == "utter_triage_steps"
    assert events[0]["value"] == "labor"
    assert "conversation fact not recorded (RuntimeError)" in caplog.text
    assert "web-sender-action-1" not in caplog.text


# --- the console API ---------------------------------------------------------------

PASSWORD = "correct-horse-battery"


@asynccontextmanager
async def console(tmp_path, database_url=None):
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url or "")
    accounts = Accounts(db.create_engine(settings.database_url))
    accounts.create_user("admin1", PASSWORD, "admin")
    accounts.create_user("hotline1", PASSWORD, "operator")
    accounts.create_user("gushi1", PASSWORD, "centre", "gushi")
    accounts.engine.dispose()
    store = IntakeStore(settings.database_url)
    store.submit(
        application("b", stage="court", organ_place="固始", residence_county="息县")
    )
    store.submit(application("a", event_place="息县", residence_county="息县"))
    store.close()
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def sign_in(client, username):
    response = await client.post(
        "/console/api/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status == 200


@pytest.fixture
async def client(tmp_path):
    async with console(tmp_path) as c:
        yield c


async def test_without_a_session_the_figures_are_refused(client):
    for path in ("/console/api/dashboard", "/console/api/dashboard.csv"):
        response = await client.get(path)
        assert response.status == 401
        assert (await response.json())["message"]


async def test_the_page_sends_a_visitor_without_session_to_sign_in(client):
    response = await client.get("/console/dashboard", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/console/login?next=")


async def test_admin_gets_the_citys_figures_and_the_same_in_csv(client):
    await sign_in(client, "admin1")
    response = await client.get("/console/api/dashboard")
    assert response.status == 200
    f = await response.json()
    today = dashboard.china_day(intake.now())
    assert f["to"] == today.isoformat() and len(f["days"]) == 30
    assert f["totals"]["intakes"] == 2 and f["totals"]["transfers"] == 1
    assert len(f["centres"]) == 11  # the page's choice of scope
    response = await client.get("/console/api/dashboard.csv")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    body = await response.read()
    assert body.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    del f["centres"]
    assert body.decode("utf-8") == to_csv(f)
    for name, phone in PEOPLE.values():
        assert name not in body.decode() and phone not in body.decode()
    # Who exported what is kept in the console's audit log.
    from bot.web.dashboard_api import DASHBOARD

    exports = audit.entries(client.app[DASHBOARD], action="dashboard.export")
    assert [(e["who"], e["target"]) for e in exports] == [("admin1", "all")]
    assert exports[0]["detail"]["to"] == today.isoformat()


async def test_bad_query_gets_400_in_chinese(client):
    await sign_in(client, "hotline1")
    for query, words in [
        ("from=2026-02-30", "from: 日期要写成"),
        ("from=2026-11-20&to=2026-11-01", "开始日期不能晚于结束日期"),
        ("centre=beijing", "centre: 不认识这个法律援助中心"),
        ("table=people", "table: 不认识这张表"),
    ]:
        response = await client.get(f"/console/api/dashboard.csv?{query}")
        assert response.status == 400, query
        assert words in (await response.json())["message"]


async def test_centre_staff_see_only_their_centre(client):
    await sign_in(client, "gushi1")
    f = await (await client.get("/console/api/dashboard")).json()
    assert f["centre"]["key"] == "gushi"
    assert f["totals"]["intakes"] == 1  # the transferred one, not 息县's own
    assert "centres" not in f
    response = await client.get("/console/api/dashboard?centre=xixian")
    assert response.status == 403
    assert (await response.json())["message"] == "您只能查看本中心的统计。"
    ok = await client.get("/console/api/dashboard.csv?centre=gushi&table=transfers")
    assert ok.status == 200


async def test_operator_can_narrow_to_one_centre(client):
    await sign_in(client, "hotline1")
    f = await (await client.get("/console/api/dashboard?centre=xixian")).json()
    assert f["centre"]["name"] == "息县法律援助中心" and f["totals"]["intakes"] == 2


async def test_database_down_is_a_503_not_a_500(tmp_path, monkeypatch):
    async with console(tmp_path) as client:
        await sign_in(client, "admin1")
        from bot.web.dashboard_api import DASHBOARD

        def down(*args, **kwargs):
            raise DashboardUnavailable

        monkeypatch.setattr(client.app[DASHBOARD], "figures", down)
        response = await client.get("/console/api/dashboard")
        assert response.status == 503
        assert "数据库连不上" in (await response.json())["message"]
