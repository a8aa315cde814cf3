"""转人工 in the web app, with a stand-in Rasa and the WeChat simulator's platform API:
the chat pauses while an operator holds the conversation, the widget's polling gets
the operator's lines, the console takes / replies / hands back (audit-logged, one
operator per conversation), WeChat citizens get the lines through the
customer-service API, and nothing personal reaches the log."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from wechat_sim import WeChatSim

from bot import handoff
from bot.console import audit
from bot.console.accounts import Accounts
from bot.handoff import HandoffStore
from bot.settings import Settings
from bot.web.app import create_app

PASSWORD = "correct-horse-battery"
ACCOUNTS = {
    "admin1": ("admin", None),
    "op1": ("operator", None),
    "op2": ("operator", None),
    "xixian1": ("centre", "xixian"),
}
BOT_ANSWER = "您说的属于【劳动争议】方面的问题。"
CITIZEN_LINE = "仲裁要多长时间呀"


class FakeRasa:
    """Rasa's REST channel as the web app sees it. "转人工" does what action_handoff
    does: queues the conversation (same database) and says so."""

    def __init__(self, database_url: str) -> None:
        self.store = HandoffStore(database_url)
        self.heard: list[str] = []

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.heard.append(body["message"])
        if body["message"] == "转人工":
            await asyncio.to_thread(
                self.store.open,
                body["sender"],
                "web",
                category="labor",
                transcript=[{"sender": "citizen", "text": "转人工"}],
            )
            return web.json_response([{"text": handoff.text("queued_no_hours")}])
        return web.json_response([{"text": BOT_ANSWER}])


@asynccontextmanager
async def started(app: web.Application):
    server = TestServer(app)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
def sim():
    s = WeChatSim().start()
    yield s
    s.stop()


@asynccontextmanager
async def web_app(tmp_path, **settings):
    s = Settings(var_dir=tmp_path, **settings)
    store = HandoffStore(s.database_url)
    accounts = Accounts(store.engine)
    for name, (role, centre) in ACCOUNTS.items():
        await asyncio.to_thread(accounts.create_user, name, PASSWORD, role, centre)
    rasa = FakeRasa(s.database_url)
    fake = web.Application()
    fake.router.add_post("/webhooks/rest/webhook", rasa.webhook)
    async with started(fake) as rasa_url:
        s = Settings(var_dir=tmp_path, rasa_url=rasa_url, **settings)
        async with TestClient(TestServer(create_app(s))) as client:
            client.rasa = rasa
            client.store = store
            yield client
    store.close()
    rasa.store.close()


@pytest.fixture
async def client(tmp_path):
    async with web_app(tmp_path) as c:
        yield c


class Operator:
    """A signed-in console user with their own cookie jar."""

    def __init__(self, client: TestClient, name: str) -> None:
        self.client = client
        self.name = name
        self.jar = None
        self.csrf = ""

    async def sign_in(self) -> Operator:
        self.client.session.cookie_jar.clear()
        r = await self.client.post(
            "/console/api/login", json={"username": self.name, "password": PASSWORD}
        )
        assert r.status == 200, await r.text()
        self.csrf = (await r.json())["csrf"]
        self.cookies = {
            c.key: c.value for c in self.client.session.cookie_jar
        }  # switching users: keep each one's cookie
        return self

    async def call(self, method: str, path: str, body=None):
        self.client.session.cookie_jar.clear()
        self.client.session.cookie_jar.update_cookies(
            self.cookies, self.client.make_url("/console/")
        )
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        r = await self.client.request(method, path, json=body, headers=headers)
        return r.status, await r.json()


async def chat(client, sender: str, message: str):
    r = await client.post("/api/chat", json={"sender": sender, "message": message})
    assert r.status == 200, await r.text()
    return [m["text"] for m in await r.json()], r.headers.get("X-Handoff")


async def updates(client, sender: str, after: int = 0):
    r = await client.post("/api/chat/updates", json={"sender": sender, "after": after})
    assert r.status == 200, await r.text()
    return await r.json()


def new_sender() -> str:
    return "web-" + uuid.uuid4().hex


async def test_web_handoff_from_request_to_operator_and_back(client, caplog):
    caplog.set_level(logging.DEBUG)
    sender = new_sender()
    texts, state = await chat(client, sender, "老板欠我工资")
    assert texts == [BOT_ANSWER] and not state

    texts, state = await chat(client, sender, "转人工")
    assert "12348" in texts[0] and state == "waiting"
    # Still waiting: the bot answers, and the operator will see that turn too.
    texts, state = await chat(client, sender, "我是农民工")
    assert texts == [BOT_ANSWER] and state == "waiting"
    assert (await updates(client, sender)) == {"handoff": "waiting", "messages": []}

    op1 = await Operator(client, "op1").sign_in()
    status, listed = await op1.call("GET", "/console/api/handoffs")
    assert status == 200
    [item] = listed["handoffs"]
    assert item["category_name"] == "劳动争议" and item["channel"] == "web"
    assert item["status"] == "waiting" and item["waiting_seconds"] >= 0
    assert sender not in str(listed)  # a short tag, never the conversation id
    case_id = item["id"]

    status, taken = await op1.call("POST", f"/console/api/handoffs/{case_id}/take")
    assert status == 200 and taken["status"] == "held" and taken["operator"] == "op1"
    assert [m["text"] for m in taken["messages"][:4]] == [
        "转人工",
        handoff.text("queued_no_hours"),
        "我是农民工",
        BOT_ANSWER,
    ]
    # A second operator cannot take it too.
    op2 = await Operator(client, "op2").sign_in()
    status, refused = await op2.call("POST", f"/console/api/handoffs/{case_id}/take")
    assert status == 409 and "op1" in refused["message"]

    # The citizen's widget learns that a person joined.
    got = await updates(client, sender)
    assert got["handoff"] == "held"
    assert [m["text"] for m in got["messages"]] == [handoff.text("operator_joined")]
    seen = got["messages"][-1]["id"]

    # Held: the citizen's words go to the operator, not to the bot.
    heard = len(client.rasa.heard)
    texts, state = await chat(client, sender, CITIZEN_LINE)
    assert texts == [] and state == "held"
    assert len(client.rasa.heard) == heard
    _, detail = await op1.call("GET", f"/console/api/handoffs/{case_id}")
    assert detail["messages"][-1]["sender"] == "citizen"
    assert detail["messages"][-1]["text"] == CITIZEN_LINE

    status, refused = await op2.call(
        "POST", f"/console/api/handoffs/{case_id}/reply", {"text": "我来答"}
    )
    assert status == 409
    status, sent = await op1.call(
        "POST",
        f"/console/api/handoffs/{case_id}/reply",
        {"text": "一般是四十五天内结束。"},
    )
    assert status == 201 and sent["delivered"] is True
    got = await updates(client, sender, seen)
    assert [m["text"] for m in got["messages"]] == [
        handoff.text("operator_prefix") + "一般是四十五天内结束。"
    ]
    seen = got["messages"][-1]["id"]

    status, back = await op1.call("POST", f"/console/api/handoffs/{case_id}/release")
    assert status == 200 and back["status"] == "closed"
    got = await updates(client, sender, seen)
    assert got["handoff"] == "closed"
    assert [m["text"] for m in got["messages"]] == [handoff.text("handed_back")]
    # The bot answers again, and the queue is empty.
    texts, state = await chat(client, sender, "还有个问题")
    assert texts == [BOT_ANSWER] and not state
    _, listed = await op1.call("GET", "/console/api/handoffs")
    assert listed["handoffs"] == []

    # Each step is in the audit log, without the conversation's words.
    entries = await asyncio.to_thread(
        audit.entries, client.store, target=f"handoff:{case_id}"
    )
    assert [(e["who"], e["action"]) for e in reversed(entries)] == [
        ("op1", "handoff.take"),
        ("op1", "handoff.reply"),
        ("op1", "handoff.release"),
    ]
    assert "四十五" not in str(entries)
    # Personal data never reaches the log.
    for secret in (sender, CITIZEN_LINE, "我是农民工", "四十五天"):
        assert secret not in caplog.text


async def test_only_operators_and_admins_work_the_queue(client):
    sender = new_sender()
    await chat(client, sender, "转人工")
    r = await client.get("/console/api/handoffs")
    assert r.status == 401
    centre = await Operator(client, "xixian1").sign_in()
    status, _ = await centre.call("GET", "/console/api/handoffs")
    assert status == 403
    op1 = await Operator(client, "op1").sign_in()
    _, listed = await op1.call("GET", "/console/api/handoffs")
    case_id = listed["handoffs"][0]["id"]
    # A change without the CSRF header is refused.
    r = await client.post(f"/console/api/handoffs/{case_id}/take")
    assert r.status == 403
    # An admin may hand back a conversation someone else holds.
    await op1.call("POST", f"/console/api/handoffs/{case_id}/take")
    admin = await Operator(client, "admin1").sign_in()
    status, back = await admin.call("POST", f"/console/api/handoffs/{case_id}/release")
    assert status == 200 and back["status"] == "closed"


async def test_console_requests_that_make_no_sense_get_clear_errors(client):
    op1 = await Operator(client, "op1").sign_in()
    status, body = await op1.call("POST", "/console/api/handoffs/999/take")
    assert (
        status == 404
        and body["message"] == handoff.spec()["console_errors"]["not_found"]
    )
    status, _ = await op1.call("GET", "/console/api/handoffs/abc")
    assert status == 404
    sender = new_sender()
    await chat(client, sender, "转人工")
    _, listed = await op1.call("GET", "/console/api/handoffs")
    case_id = listed["handoffs"][0]["id"]
    path = f"/console/api/handoffs/{case_id}"
    status, body = await op1.call("POST", path + "/reply", {"text": "您好"})
    assert status == 409 and "接手" in body["message"]  # take it first
    await op1.call("POST", path + "/take")
    errors = handoff.spec()["console_errors"]
    status, body = await op1.call("POST", path + "/reply", {"text": "  "})
    assert status == 400 and body["message"] == errors["empty_reply"]
    status, body = await op1.call("POST", path + "/reply", {"text": "字" * 1001})
    assert status == 400 and "1000" in body["message"]
    status, body = await op1.call("POST", path + "/reply", {"text": "好", "to": "x"})
    assert status == 400 and "to" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "sender"),
        ({"sender": "short"}, "sender"),
        ({"sender": "x" * 65}, "sender"),
        ({"sender": "web-12345678", "after": -1}, "after"),
        ({"sender": "web-12345678", "after": "3"}, "after"),
        ({"sender": "web-12345678", "after": True}, "after"),
        ([], None),
    ],
)
async def test_bad_update_polls_get_a_clear_400(client, body, field):
    r = await client.post("/api/chat/updates", json=body)
    assert r.status == 400
    message = (await r.json())["message"]
    assert message.startswith(field or "") and any(
        "\u4e00" <= c <= "\u9fff" for c in message
    )


async def test_a_conversation_that_never_asked_has_no_updates(client):
    assert await updates(client, new_sender()) == {"handoff": None, "messages": []}


async def test_outside_working_hours_a_phone_number_is_kept_for_the_call_back(
    client, caplog
):
    caplog.set_level(logging.DEBUG)
    sender = new_sender()
    await asyncio.to_thread(
        client.store.open, sender, "web", outside_hours=True, transcript=[]
    )
    heard = len(client.rasa.heard)
    texts, state = await chat(client, sender, "我的手机号 138 0013 8000")
    assert texts == [handoff.text("callback_noted")] and state == "waiting"
    assert len(client.rasa.heard) == heard  # not a question for the bot
    op1 = await Operator(client, "op1").sign_in()
    _, listed = await op1.call("GET", "/console/api/handoffs")
    assert listed["handoffs"][0]["callback_requested"] is True
    assert "13800138000" not in str(listed)  # only in the opened conversation
    _, detail = await op1.call(
        "GET", f"/console/api/handoffs/{listed['handoffs'][0]['id']}"
    )
    assert detail["callback_phone"] == "13800138000"
    # Only the first number is taken; later words go to the bot as usual.
    texts, _ = await chat(client, sender, "老板欠我工资")
    assert texts == [BOT_ANSWER]
    assert "13800138000" not in caplog.text and "138 0013" not in caplog.text


async def test_wechat_citizens_get_the_operators_lines_by_customer_service_message(
    tmp_path, sim
):
    openid = "o" + uuid.uuid4().hex[:27]
    sim.state.known_users.add(openid)
    env = sim.account.env(sim.api_base)
    async with web_app(
        tmp_path,
        wechat_appid=env["XY_WECHAT_APPID"],
        wechat_secret=env["XY_WECHAT_SECRET"],
        wechat_api_base=sim.api_base,
    ) as client:
        case, _ = await asyncio.to_thread(
            client.store.open, openid, "wechat", transcript=[]
        )
        op1 = await Operator(client, "op1").sign_in()
        path = f"/console/api/handoffs/{case.id}"
        await op1.call("POST", path + "/take")
        status, sent = await op1.call("POST", path + "/reply", {"text": "您好，请讲。"})
        assert status == 201 and sent["delivered"] is True
        await op1.call("POST", path + "/release")
        assert sim.customer_service(openid) == [
            handoff.text("operator_joined"),
            handoff.text("operator_prefix") + "您好，请讲。",
            handoff.text("handed_back"),
        ]
        # WeChat's 48-hour window closed: the operator is told it did not arrive.
        case, _ = await asyncio.to_thread(
            client.store.open, openid, "wechat", transcript=[]
        )
        path = f"/console/api/handoffs/{case.id}"
        await op1.call("POST", path + "/take")
        sim.close_window(openid)
        status, sent = await op1.call("POST", path + "/reply", {"text": "还在吗？"})
        assert status == 201 and sent["delivered"] is False
        _, detail = await op1.call("GET", path)
        assert detail["messages"][-1]["delivered"] is False
        # The web app never learns the openid is the console's business: not shown.
        _, listed = await op1.call("GET", "/console/api/handoffs")
        assert openid not in str(listed)
