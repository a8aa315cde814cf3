"""The operator console's JSON API through aiohttp's test server, with a stand-in
Rasa (the console's local mode): who may see and do what, sign-in and sessions, the
call analysis, saving a call as an application, records, transfers, status moves
and the audit log."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.__main__ import main as cli_main
from bot.console import audit
from bot.console.accounts import Accounts, check_password, users
from bot.eligibility import HardshipStandard
from bot.intake import IntakeStore, intakes
from bot.legal_aid import Answers, build_application
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.console import COOKIE, MAX_CALL_CHARS
from bot.web.legal_aid_api import STANDARDS

STANDARD = {"default": HardshipStandard("test", 1000.0, "2026-01-01", "test fixture")}
PASSWORD = "correct-horse-battery"
ACCOUNTS = {
    "admin1": ("admin", None),
    "op1": ("operator", None),
    "xixian1": ("centre", "xixian"),
    "gushi1": ("centre", "gushi"),
}
CALL = (
    "我是农民工，在固始县工地干活，老板欠我三万块工钱。我家住在息县。"
    "后天就开庭了。我叫张秀英，电话13800138000。"
)


def fake_parse(text: str) -> dict:
    """What a trained model answers for the wage call (and a weak parse otherwise)."""
    wages = "工钱" in text or "工资" in text
    ranking = [
        {"name": "triage_labor", "confidence": 0.82 if wages else 0.2},
        {"name": "triage_work_injury", "confidence": 0.08},
        {"name": "faq", "confidence": 0.05},
        {"name": "triage_debt", "confidence": 0.05 if wages else 0.3},
    ]
    ranking.sort(key=lambda r: -r["confidence"])
    return {
        "text": text,
        "intent": ranking[0],
        "intent_ranking": ranking,
        "entities": [
            {
                "entity": "money",
                "value": "三万块",
                "extractor": "DIETClassifier",
                "start": 0,
                "end": 3,
            },
            {  # a real model's slip: the phone number taken for an amount
                "entity": "money",
                "value": "13800138000",
                "extractor": "DIETClassifier",
                "start": 50,
                "end": 61,
            },
        ]
        if "三万块" in text
        else [],
        "response_selector": {
            "faq": {
                "ranking": [
                    {
                        "intent_response_key": "faq/labor_unpaid_wages",
                        "confidence": 0.7,
                    },
                    {
                        "intent_response_key": "faq/not_in_this_checkout",
                        "confidence": 0.2,
                    },
                    {
                        "intent_response_key": "faq/labor_wage_evidence",
                        "confidence": 0.1,
                    },
                ]
            }
        },
    }


@asynccontextmanager
async def fake_rasa():
    async def parse(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(fake_parse(body["text"]))

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    server = TestServer(app)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


def make_accounts(database_url: str, **settings) -> None:
    store = IntakeStore(database_url)
    accounts = Accounts(store.engine)
    for name, (role, centre) in ACCOUNTS.items():
        accounts.create_user(name, PASSWORD, role, centre)
    store.close()


@asynccontextmanager
async def console(tmp_path, database_url=None, rasa_url=None, **settings):
    settings = {"var_dir": tmp_path, **settings}
    if database_url:
        settings["database_url"] = database_url
    if rasa_url:
        settings["rasa_url"] = rasa_url
    s = Settings(**settings)
    await asyncio.to_thread(make_accounts, s.database_url)
    app = create_app(s)
    app[STANDARDS] = STANDARD
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def server(tmp_path):
    async with fake_rasa() as rasa_url, console(tmp_path, rasa_url=rasa_url) as c:
        yield c


async def sign_in(server, username: str) -> dict:
    """Signs the client in (its cookie jar keeps the session); returns "me"."""
    server.session.cookie_jar.clear()
    response = await server.post(
        "/console/api/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status == 200, await response.text()
    return await response.json()


def csrf(me: dict) -> dict:
    return {"X-CSRF-Token": me["csrf"]}


def seed(database_url: str, residence: str, event_place: str | None = None) -> str:
    """An application received by the residence's centre; returns its reference."""
    store = IntakeStore(database_url)
    application, _ = build_application(
        Answers(
            category="labor",
            statuses=frozenset({"migrant_worker"}),
            stage="none",
            event_place=event_place,
            residence_county=residence,
        ),
        channel="web",
        name="李四",
        phone="13900139000",
        standards=STANDARD,
    )
    reference = store.submit(application).reference
    store.close()
    return reference


def _settings(server) -> Settings:
    from bot.web.app import SETTINGS

    return server.app[SETTINGS]


# --- no session, no answer ----------------------------------------------------------

API_ROUTES = [
    ("GET", "/console/api/me"),
    ("GET", "/console/api/options"),
    ("POST", "/console/api/analyse"),
    ("POST", "/console/api/intakes"),
    ("GET", "/console/api/records"),
    ("GET", "/console/api/records/XY261201-ABCD"),
    ("POST", "/console/api/records/XY261201-ABCD/transfer"),
    ("POST", "/console/api/records/XY261201-ABCD/status"),
    ("GET", "/console/api/audit"),
    ("POST", "/console/api/logout"),
]


async def test_every_console_api_answers_401_without_a_session(server):
    for method, path in API_ROUTES:
        response = await server.request(method, path, json={})
        assert response.status == 401, (method, path)
        body = await response.json()
        assert body["message"].startswith("请先登录")


async def test_console_pages_send_a_visitor_without_a_session_to_sign_in(server):
    for path in ("/console/", "/console/call", "/console/records", "/console/audit"):
        response = await server.get(path, allow_redirects=False)
        assert response.status == 302, path
        assert response.headers["Location"].startswith("/console/login?next=/console")
    login = await server.get("/console/login")
    assert login.status == 200 and "登录" in await login.text()


async def test_a_forged_or_stale_cookie_is_not_a_session(server):
    server.session.cookie_jar.update_cookies({COOKIE: "made-up-token"})
    assert (await server.get("/console/api/me")).status == 401


# --- signing in -----------------------------------------------------------------------


async def test_sign_in_sets_a_strict_httponly_cookie_and_me_gives_the_csrf_token(
    server,
):
    response = await server.post(
        "/console/api/login", json={"username": "XiXian1 ", "password": PASSWORD}
    )
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie and "Path=/console" in cookie
    me = await (await server.get("/console/api/me")).json()
    assert me["username"] == "xixian1" and me["role"] == "centre"
    assert me["centre"] == "xixian" and me["centre_name"] == "息县法律援助中心"
    assert len(me["csrf"]) >= 32


async def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_name(server):
    for _ in range(5):
        response = await server.post(
            "/console/api/login", json={"username": "op1", "password": "wrong-password"}
        )
        assert response.status == 401
        assert (await response.json())["message"] == "用户名或密码不对。"
    locked = await server.post(
        "/console/api/login", json={"username": "op1", "password": PASSWORD}
    )
    assert locked.status == 429
    # An unknown name gets the same answer as a wrong password.
    unknown = await server.post(
        "/console/api/login", json={"username": "nobody", "password": PASSWORD}
    )
    assert (await unknown.json())["message"] == "用户名或密码不对。"


async def test_sign_in_takes_json_only(server):
    form = await server.post(
        "/console/api/login", data={"username": "op1", "password": PASSWORD}
    )
    assert form.status == 415
    broken = await server.post(
        "/console/api/login",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert broken.status == 400


async def test_a_change_without_the_csrf_header_is_refused(server):
    me = await sign_in(server, "op1")
    for headers in ({}, {"X-CSRF-Token": "x" * 43}):
        response = await server.post(
            "/console/api/analyse", json={"text": CALL}, headers=headers
        )
        assert response.status == 403
        assert "刷新页面" in (await response.json())["message"]
    ok = await server.post(
        "/console/api/analyse", json={"text": CALL}, headers=csrf(me)
    )
    assert ok.status == 200


async def test_signing_out_ends_the_session_on_the_server(server):
    me = await sign_in(server, "op1")
    token = next(c.value for c in server.session.cookie_jar if c.key == COOKIE)
    response = await server.post("/console/api/logout", headers=csrf(me))
    assert response.status == 200
    server.session.cookie_jar.update_cookies({COOKIE: token})  # the old cookie again
    assert (await server.get("/console/api/me")).status == 401


async def test_a_session_expires(tmp_path):
    async with console(tmp_path, console_session_hours=1 / 3600) as client:
        await sign_in(client, "op1")
        assert (await client.get("/console/api/me")).status == 200
        await asyncio.sleep(1.2)
        assert (await client.get("/console/api/me")).status == 401


def test_passwords_are_salted_scrypt_hashes(tmp_path):
    store = IntakeStore(f"sqlite:///{tmp_path / 'a.db'}")
    accounts = Accounts(store.engine)
    accounts.create_user("alice", PASSWORD, "operator")
    accounts.create_user("bob.w", PASSWORD, "operator")
    with store.engine.connect() as conn:
        hashes = conn.execute(sa.select(users.c.password_hash)).scalars().all()
    assert len(set(hashes)) == 2 and all(h.startswith("scrypt$") for h in hashes)
    assert all(PASSWORD not in h for h in hashes)
    assert check_password(PASSWORD, hashes[0]) and not check_password("x", hashes[0])
    assert accounts.authenticate("alice", PASSWORD).role == "operator"
    assert accounts.authenticate("alice", PASSWORD + "!") is None
    accounts.set_active("alice", False)
    assert accounts.authenticate("alice", PASSWORD) is None
    store.close()


def test_the_first_administrator_is_created_from_the_command_line(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("XY_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("XY_DATABASE_URL", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = ["console-user", "add", "chief", "--role", "admin", "--password-stdin"]
    assert cli_main(args) == 0
    assert "已创建账号 chief" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli_main(["console-user", "add", "chief2", "--password-stdin"]) == 2
    assert "至少 10 个字符" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = ["console-user", "add", "c1", "--role", "centre", "--password-stdin"]
    assert cli_main(args) == 2  # a centre account needs its centre
    assert cli_main(["console-user", "list"]) == 0
    assert "chief\tadmin" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "intakes.db") as db:
        (stored,) = db.execute("select password_hash from console_users").fetchone()
    assert stored.startswith("scrypt$") and PASSWORD not in stored


# --- roles ------------------------------------------------------------------------


async def test_the_audit_log_and_the_call_view_are_not_for_everyone(server):
    me = await sign_in(server, "xixian1")
    assert (await server.get("/console/api/audit")).status == 403
    call = await server.post(
        "/console/api/analyse", json={"text": CALL}, headers=csrf(me)
    )
    assert call.status == 403
    page = await server.get("/console/call", allow_redirects=False)
    assert page.status == 403 and "不能打开这个页面" in await page.text()
    home = await server.get("/console/", allow_redirects=False)
    assert home.headers["Location"] == "/console/records"  # a centre's start page
    me = await sign_in(server, "op1")
    assert (await server.get("/console/api/audit")).status == 403
    await sign_in(server, "admin1")
    assert (await server.get("/console/api/audit")).status == 200


async def test_centre_staff_see_only_their_centres_records(server):
    url = _settings(server).database_url
    ours = await asyncio.to_thread(seed, url, "息县")
    theirs = await asyncio.to_thread(seed, url, "光山县")
    incoming = await asyncio.to_thread(seed, url, "光山县", "息县")  # 光山 -> 息县
    await sign_in(server, "xixian1")
    listed = await (await server.get("/console/api/records")).json()
    assert {r["reference"] for r in listed["records"]} == {ours, incoming}
    other = await server.get("/console/api/records?centre=guangshan")
    assert other.status == 403
    response = await server.get(f"/console/api/records/{theirs}")
    assert response.status == 403
    assert "不归您所在的中心" in (await response.json())["message"]
    assert (await server.get(f"/console/api/records/{ours}")).status == 200
    assert (await server.get(f"/console/api/records/{incoming}")).status == 200
    await sign_in(server, "op1")
    everything = await (await server.get("/console/api/records")).json()
    assert {r["reference"] for r in everything["records"]} == {ours, theirs, incoming}


async def test_record_filters_check_their_values(server):
    await sign_in(server, "op1")
    for query, field in (
        ("status=lost", "status"),
        ("category=cooking", "category"),
        ("centre=atlantis", "centre"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("overdue=yes", "overdue"),
        ("colour=red", "colour"),
    ):
        response = await server.get(f"/console/api/records?{query}")
        assert response.status == 400, query
        assert (await response.json())["message"].startswith(field), query
    unknown = await server.get("/console/api/records/XY000000-ZZZZ")
    assert unknown.status == 404
    junk = await server.get("/console/api/records/not-a-reference")
    assert junk.status == 404


async def test_records_filter_by_status_category_and_date(server):
    url = _settings(server).database_url
    reference = await asyncio.to_thread(seed, url, "息县")
    await sign_in(server, "op1")

    async def refs(query: str) -> set[str]:
        body = await (await server.get(f"/console/api/records?{query}")).json()
        return {r["reference"] for r in body["records"]}

    assert await refs("status=received&category=labor") == {reference}
    assert await refs("status=decided") == set()
    assert await refs("category=family") == set()
    assert await refs("from=2000-01-01&to=2000-01-02") == set()
    assert await refs("from=2000-01-01") == {reference}
    assert await refs("overdue=1") == set()  # seven days have not passed


async def test_overdue_records_are_flagged(server):
    url = _settings(server).database_url
    reference = await asyncio.to_thread(seed, url, "息县")
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # as if it had been received eight days ago
        conn.execute(
            intakes.update()
            .where(intakes.c.reference == reference)
            .values(review_due=datetime.now(timezone.utc) - timedelta(days=1))
        )
    engine.dispose()
    await sign_in(server, "op1")
    body = await (await server.get("/console/api/records?overdue=1")).json()
    assert [r["reference"] for r in body["records"]] == [reference]
    assert body["records"][0]["overdue"] is True


# --- the call view --------------------------------------------------------------------


async def test_the_call_analysis_reads_category_entities_faq_precheck_and_flags(server):
    me = await sign_in(server, "op1")
    response = await server.post(
        "/console/api/analyse", json={"text": CALL}, headers=csrf(me)
    )
    assert response.status == 200
    body = await response.json()
    assert body["category"]["code"] == "labor"
    assert [r["category"] for r in body["ranking"]] == ["labor", "work_injury", "debt"]
    entities = {(e["entity"], e["value"]) for e in body["entities"]}
    assert {("money", "三万块"), ("county", "固始县"), ("county", "息县")} <= entities
    faqs = body["faqs"]
    assert faqs[0]["id"] == "labor_unpaid_wages" and faqs[0]["source"] == "model"
    assert faqs[0]["citations"] and "依据" in faqs[0]["answer"]
    # The weak model matches (0.2, 0.1) give way to the labour category's own FAQs.
    assert [f["source"] for f in faqs] == ["model", "category", "category"]
    assert [f["id"] for f in faqs[1:]] == [
        "labor_contractor_disappeared",
        "labor_wage_evidence",
    ]
    # A bare number is not an amount: only "三万块" is.
    assert [e["value"] for e in body["entities"] if e["entity"] == "money"] == [
        "三万块"
    ]
    fields = body["fields"]
    assert fields["category"] == "labor" and fields["matter"] == "labor_pay"
    assert fields["statuses"] == ["migrant_worker"]
    assert fields["residence_county"] == "息县" and fields["days_to_deadline"] == 2
    assert fields["phone"] == "13800138000" and fields["name"] == "张秀英"
    assert body["precheck"]["outcome"] == "means_check_waived"
    assert "la_special" in [q["slot"] for q in body["open_questions"]]
    flags = {f["key"]: f for f in body["flags"]}
    assert flags["advance_aid"]["basis"] == "《法律援助法》第四十四条"
    assert flags["deadline"]["items"][0]["basis"].startswith("《劳动争议调解仲裁法》")


async def test_danger_words_put_110_and_the_protection_order_first(server):
    me = await sign_in(server, "op1")
    body = await (
        await server.post(
            "/console/api/analyse",
            json={"text": "我老公正在打我，孩子在哭"},
            headers=csrf(me),
        )
    ).json()
    assert body["flags"][0]["key"] == "domestic" and "110" in body["flags"][0]["text"]
    assert body["flags"][1]["key"] == "protection_order"
    assert "《反家庭暴力法》第二十三条" in body["flags"][1]["basis"]


async def test_the_call_analysis_still_helps_when_rasa_is_down(tmp_path):
    async with console(tmp_path, rasa_url="http://127.0.0.1:9") as client:
        me = await sign_in(client, "op1")
        body = await (
            await client.post(
                "/console/api/analyse", json={"text": CALL}, headers=csrf(me)
            )
        ).json()
    assert body["rasa"] is False and "连不上" in body["notice"]
    assert body["category"] is None and body["faqs"] == []
    assert ("county", "息县") in {(e["entity"], e["value"]) for e in body["entities"]}
    assert body["open_questions"][0]["slot"] == "la_category"


async def test_the_call_analysis_refuses_bad_input(server):
    me = await sign_in(server, "op1")
    for body, field in (
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": 42}, "text"),
        ({"text": "字" * (MAX_CALL_CHARS + 1)}, "text"),
        ({"text": "工资", "name": "张三"}, "name"),
        ({"text": "工资", "category": "cooking"}, "category"),
        ({"text": "工资", "category": ["labor"]}, "category"),
    ):
        response = await server.post(
            "/console/api/analyse", json=body, headers=csrf(me)
        )
        assert response.status == 400, body
        assert (await response.json())["message"].startswith(field)
    not_json = await server.post(
        "/console/api/analyse", data="text=工资", headers=csrf(me)
    )
    assert not_json.status == 400


async def test_a_call_becomes_a_hotline_application_once(server):
    me = await sign_in(server, "op1")
    application = {
        "category": "labor",
        "matter": "labor_pay",
        "statuses": ["migrant_worker"],
        "stage": "none",
        "residence_county": "息县",
        "name": "张秀英",
        "phone": "138 0013 8000",
        "conversation_id": "call-test-1",
    }
    first = await server.post(
        "/console/api/intakes", json=application, headers=csrf(me)
    )
    assert first.status == 201
    receipt = await first.json()
    assert receipt["record"]["channel"] == "hotline"
    assert receipt["receiving_centre"]["key"] == "xixian"
    again = await server.post(
        "/console/api/intakes", json=application, headers=csrf(me)
    )
    assert again.status == 200
    assert (await again.json())["reference"] == receipt["reference"]
    log = audit.entries(IntakeStore(_settings(server).database_url))
    created = [e for e in log if e["action"] == "intake.create"]
    assert len(created) == 1 and created[0]["who"] == "op1"
    assert created[0]["target"] == receipt["reference"]
    assert "张秀英" not in str(created[0]) and "13800138000" not in str(created[0])


async def test_saving_a_call_names_the_wrong_field(server):
    me = await sign_in(server, "op1")
    base = {"category": "labor", "name": "张秀英", "phone": "13800138000"}
    for change, field in (
        ({"phone": None}, "phone"),
        ({"phone": "12345"}, "phone"),
        ({"name": None}, "name"),
        ({"category": "cooking"}, "category"),
        ({"channel": "web"}, "channel"),  # always hotline: not the operator's choice
        ({"household_size": "four"}, "household_size"),
    ):
        response = await server.post(
            "/console/api/intakes", json={**base, **change}, headers=csrf(me)
        )
        assert response.status == 400, change
        assert (await response.json())["field"] == field


# --- transfer, status, audit --------------------------------------------------------


async def test_transfer_to_the_competent_centre_is_recorded_in_history_and_audit(
    server,
):
    url = _settings(server).database_url
    reference = await asyncio.to_thread(seed, url, "息县")
    me = await sign_in(server, "op1")
    response = await server.post(
        f"/console/api/records/{reference}/transfer",
        json={"centre": "gushi", "note": "工地在固始"},
        headers=csrf(me),
    )
    assert response.status == 200
    record = await response.json()
    assert record["status"] == "transferred"
    assert record["competent_centre"]["key"] == "gushi"
    assert record["history"][-1]["status"] == "transferred"
    assert record["history"][-1]["note"].startswith("固始县法律援助中心")
    entry = record["audit"][0]
    assert entry["who"] == "op1" and entry["action"] == "intake.transfer"
    assert entry["detail"] == {
        "from": "xixian",
        "to": "gushi",
        "status": "transferred",
        "note": "工地在固始",
    }
    # Now 固始 handles it: 息县 (receiving) still sees it, 固始 may move it on.
    again = await server.post(
        f"/console/api/records/{reference}/transfer",
        json={"centre": "gushi"},
        headers=csrf(me),
    )
    assert again.status == 409
    me = await sign_in(server, "xixian1")
    blocked = await server.post(
        f"/console/api/records/{reference}/status",
        json={"status": "under_review"},
        headers=csrf(me),
    )
    assert blocked.status == 403
    me = await sign_in(server, "gushi1")
    moved = await server.post(
        f"/console/api/records/{reference}/status",
        json={"status": "under_review"},
        headers=csrf(me),
    )
    assert moved.status == 200 and (await moved.json())["status"] == "under_review"


async def test_status_moves_follow_the_order_and_deciding_is_for_the_centre(server):
    url = _settings(server).database_url
    reference = await asyncio.to_thread(seed, url, "息县")
    path = f"/console/api/records/{reference}/status"
    me = await sign_in(server, "op1")
    hotline = await server.post(path, json={"status": "under_review"}, headers=csrf(me))
    assert hotline.status == 403
    me = await sign_in(server, "xixian1")
    skip = await server.post(
        path, json={"status": "decided", "decision": "granted"}, headers=csrf(me)
    )
    assert skip.status == 409 and "审查中" in (await skip.json())["message"]
    bad = await server.post(path, json={"status": "done"}, headers=csrf(me))
    assert bad.status == 400
    ok = await server.post(path, json={"status": "under_review"}, headers=csrf(me))
    assert ok.status == 200
    no_decision = await server.post(path, json={"status": "decided"}, headers=csrf(me))
    assert no_decision.status == 400
    decided = await server.post(
        path,
        json={"status": "decided", "decision": "granted", "note": "材料齐全"},
        headers=csrf(me),
    )
    record = await decided.json()
    assert record["status"] == "decided" and record["assign_due"]
    assert record["history"][-1]["note"] == "决定给予法律援助 材料齐全"
    assert record["actions"] == {"transfer": False, "next_statuses": []}
    late = await server.post(
        f"/console/api/records/{reference}/transfer",
        json={"centre": "gushi"},
        headers=csrf(me),
    )
    assert late.status == 409  # no transfer after the decision
    assert "已经作出决定" in (await late.json())["message"]
    actions = [e["action"] for e in record["audit"]]
    assert actions.count("intake.status") == 2


async def test_the_audit_log_cannot_be_changed_from_the_console(server):
    url = _settings(server).database_url
    reference = await asyncio.to_thread(seed, url, "息县")
    me = await sign_in(server, "admin1")
    await server.post(
        f"/console/api/records/{reference}/transfer",
        json={"centre": "gushi"},
        headers=csrf(me),
    )
    body = await (await server.get(f"/console/api/audit?target={reference}")).json()
    assert [e["action"] for e in body["entries"]] == ["intake.transfer"]
    for method in ("PUT", "PATCH", "DELETE"):
        response = await server.request(
            method, "/console/api/audit", json={}, headers=csrf(me)
        )
        assert response.status in (404, 405), method
    everything = await (await server.get("/console/api/audit")).json()
    assert {"console.login", "intake.transfer"} <= {
        e["action"] for e in everything["entries"]
    }
    assert not hasattr(audit, "delete") and not hasattr(audit, "update")


async def test_accounts_records_transfer_and_audit_on_both_databases(
    database_url, tmp_path
):
    async with (
        fake_rasa() as rasa_url,
        console(tmp_path, database_url=database_url, rasa_url=rasa_url) as client,
    ):
        reference = await asyncio.to_thread(seed, database_url, "息县")
        me = await sign_in(client, "op1")
        listed = await (await client.get("/console/api/records?status=received")).json()
        assert [r["reference"] for r in listed["records"]] == [reference]
        moved = await client.post(
            f"/console/api/records/{reference}/transfer",
            json={"centre": "gushi"},
            headers=csrf(me),
        )
        assert moved.status == 200
        await sign_in(client, "admin1")
        body = await (await client.get(f"/console/api/audit?target={reference}")).json()
        assert [(e["who"], e["action"]) for e in body["entries"]] == [
            ("op1", "intake.transfer")
        ]


def test_start_up_message_tells_how_to_create_the_first_administrator(tmp_path):
    from bot.serve import console_hint

    settings = Settings(var_dir=tmp_path)
    assert "console-user add admin --role admin" in console_hint(settings)
    make_accounts(settings.database_url)
    assert console_hint(settings) == ""


async def test_the_operator_can_settle_the_category_the_model_was_unsure_of(server):
    me = await sign_in(server, "op1")
    text = "我家住在息县，去年的事了，一直没人管"
    unsure = await (
        await server.post("/console/api/analyse", json={"text": text}, headers=csrf(me))
    ).json()
    assert unsure["category"] is None and unsure["precheck"] is None
    assert unsure["ranking"][0]["category"] == "debt"  # shown, not acted on
    settled = await (
        await server.post(
            "/console/api/analyse",
            json={"text": text, "category": "domestic_violence"},
            headers=csrf(me),
        )
    ).json()
    assert settled["category"]["source"] == "operator"
    assert settled["precheck"]["outcome"] == "no_means_test"  # Art. 32 (四)
    assert [f["key"] for f in settled["flags"]][:1] == ["protection_order"]
    assert settled["fields"]["category"] == "domestic_violence"
