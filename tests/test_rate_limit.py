"""Message rate limits (bot/ratelimit.py) in memory and in Redis, the limits of the
web app's public API, and the lock-out on guessing a reference's phone digits.

No Rasa here: the web app talks to a stand-in Rasa that answers every turn.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.intake import IntakeStore, lookup_failures
from bot.knowledge import service_texts
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import PORT_OFFSET
from tests.test_widget_browser import page  # noqa: F401 - fixture

REDIS_URL = "redis://127.0.0.1:6379/15"
# Servers of this file and test_robustness.py / test_faults.py: 5800-5809 plus
# XY_TEST_PORT_OFFSET.
WEB_PORT, RASA_STAND_IN_PORT = 5803 + PORT_OFFSET, 5804 + PORT_OFFSET
TOKEN = "test-token-0123456789abcdef"


class Clock:
    def __init__(self, at: float = 1_000_020.0) -> None:  # 20 s into a minute
        self.at = at

    def __call__(self) -> float:
        return self.at


# --- the limiter ---------------------------------------------------------------------


async def hits(limiter, n, key="a", limit=3, scope="chat"):
    return [(await limiter.hit(scope, key, limit)).allowed for _ in range(n)]


async def test_a_client_over_the_limit_is_refused_with_a_wait_time():
    limiter = RateLimiter(clock=Clock())
    assert await hits(limiter, 4) == [True, True, True, False]
    refused = await limiter.hit("chat", "a", 3)
    assert not refused.allowed and 1 <= refused.retry_after <= 100


async def test_other_clients_and_other_scopes_keep_their_own_count():
    limiter = RateLimiter(clock=Clock())
    await hits(limiter, 3)
    assert await hits(limiter, 1, key="b") == [True]
    assert await hits(limiter, 1, scope="address") == [True]


async def test_the_limit_frees_up_after_the_wait_it_announced():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    await hits(limiter, 3)
    refused = await limiter.hit("chat", "a", 3)
    clock.at += refused.retry_after - 1
    assert not (await limiter.hit("chat", "a", 3)).allowed
    clock.at += 1
    assert (await limiter.hit("chat", "a", 3)).allowed


async def test_the_previous_minute_still_counts_so_the_boundary_is_no_loophole():
    clock = Clock(1_000_059.0)  # one second before the minute turns
    limiter = RateLimiter(clock=clock)
    assert await hits(limiter, 3) == [True] * 3
    clock.at += 2  # a fixed window would allow three more right now
    assert await hits(limiter, 1) == [False]


async def test_zero_turns_a_limit_off():
    limiter = RateLimiter(clock=Clock())
    assert await hits(limiter, 50, limit=0) == [True] * 50


async def test_idle_clients_are_forgotten():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    for i in range(100):
        await limiter.hit("chat", f"sender-{i}", 3)
    clock.at += 180
    await limiter.hit("chat", "new", 3)
    assert len(limiter._counts) == 1


@pytest.fixture
async def redis_limiters():
    """Two limiters on one Redis: two processes sharing a limit."""
    prefix = uuid.uuid4().hex
    clock = Clock()
    limiters = [RateLimiter(REDIS_URL, clock=clock) for _ in range(2)]
    yield limiters, prefix
    for limiter in limiters:
        await limiter.close()


async def test_processes_sharing_redis_share_the_limit(redis_limiters):
    (one, two), key = redis_limiters
    assert one.shared
    assert await hits(one, 2, key=key) == [True, True]
    assert await hits(two, 1, key=key) == [True]
    refused = await two.hit("chat", key, 3)
    assert not refused.allowed and refused.retry_after >= 1
    assert not (await one.hit("chat", key, 3)).allowed


async def test_client_ids_reach_redis_only_hashed(redis_limiters):
    import redis.asyncio as aioredis

    (one, _), key = redis_limiters
    await one.hit("chat", key, 3)
    client = aioredis.from_url(REDIS_URL)
    try:
        stored = [k.decode() async for k in client.scan_iter("xy:rl:*")]
    finally:
        await client.close()
    assert stored and not any(key in k for k in stored)


async def test_redis_down_lets_citizens_through_without_waiting():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    limiter = RateLimiter(f"redis://127.0.0.1:{port}/0")
    started = asyncio.get_running_loop().time()
    assert await hits(limiter, 10, limit=1) == [True] * 10
    assert asyncio.get_running_loop().time() - started < 3  # one try, then memory
    await limiter.close()


# --- the web app ---------------------------------------------------------------------


@asynccontextmanager
async def fake_rasa(replies=None):
    """Answers every REST turn with `replies` (default: one greeting)."""
    turns: list[dict] = []

    async def webhook(request):
        turns.append(await request.json())
        return web.json_response(
            [{"recipient_id": "x", "text": "您好"}] if replies is None else replies
        )

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    async with TestServer(app) as server:
        server.turns = turns
        yield server


@asynccontextmanager
async def web_app(tmp_path, rasa=None, **settings):
    settings = {
        "var_dir": tmp_path,
        "api_token": TOKEN,
        "rasa_url": str(rasa.make_url("")).rstrip("/")
        if rasa
        else "http://127.0.0.1:9",
        **settings,
    }
    async with TestClient(TestServer(create_app(Settings(**settings)))) as client:
        yield client


def chat(client, sender, message="你好", **headers):
    return client.post(
        "/api/chat", json={"sender": sender, "message": message}, headers=headers
    )


async def test_a_fast_sender_gets_a_polite_429_and_rasa_is_spared(tmp_path):
    async with (
        fake_rasa() as rasa,
        web_app(tmp_path, rasa, rate_limit_per_minute=3) as client,
    ):
        sender = "web-" + uuid.uuid4().hex
        for _ in range(3):
            assert (await chat(client, sender)).status == 200
        response = await chat(client, sender)
        assert response.status == 429
        body = await response.json()
        assert "12348" in body["message"] and "秒后再发" in body["message"]
        assert int(response.headers["Retry-After"]) == body["retry_after"] >= 1
        assert len(rasa.turns) == 3
        # Another conversation is not slowed down by this one.
        assert (await chat(client, "web-" + uuid.uuid4().hex)).status == 200


async def test_the_default_limit_leaves_room_for_a_quick_human(tmp_path):
    assert Settings().rate_limit_per_minute >= 30
    async with fake_rasa() as rasa, web_app(tmp_path, rasa) as client:
        sender = "web-" + uuid.uuid4().hex
        statuses = [(await chat(client, sender)).status for _ in range(30)]
        assert statuses == [200] * 30


async def test_the_address_limit_uses_the_proxy_entry_not_the_forged_one(tmp_path):
    async with (
        fake_rasa() as rasa,
        web_app(
            tmp_path, rasa, rate_limit_ip_per_minute=2, trusted_proxy_hops=1
        ) as client,
    ):
        # The client wrote the left entries itself; our proxy appended the last.
        for forged in ("1.1.1.1", "2.2.2.2"):
            header = {"X-Forwarded-For": f"{forged}, 203.0.113.7"}
            assert (
                await client.get("/api/laws/民法典/1077", headers=header)
            ).status == 200
        header = {"X-Forwarded-For": "3.3.3.3, 203.0.113.7"}
        refused = await client.get("/api/laws/民法典/1077", headers=header)
        assert refused.status == 429
        assert "12348" in (await refused.json())["message"]
        # Every public endpoint counts against the same address.
        refused = await chat(client, "web-" + uuid.uuid4().hex, **header)
        assert refused.status == 429
        other = {"X-Forwarded-For": "203.0.113.8"}
        assert (await client.get("/api/laws/民法典/1077", headers=other)).status == 200


async def test_without_trusted_proxies_the_header_is_ignored(tmp_path):
    """A local proxy whose hops are not configured makes every citizen 127.0.0.1:
    that address is not limited, rather than throttling everyone as one."""
    async with web_app(tmp_path, rate_limit_ip_per_minute=1) as client:
        for i in range(5):
            header = {"X-Forwarded-For": f"198.51.100.{i}"}
            response = await client.get("/api/laws/民法典/1077", headers=header)
            assert response.status == 200


async def test_pages_and_widget_files_are_not_limited(tmp_path):
    async with web_app(
        tmp_path, rate_limit_ip_per_minute=1, trusted_proxy_hops=1
    ) as client:
        header = {"X-Forwarded-For": "203.0.113.9"}
        for _ in range(3):
            assert (await client.get("/static/widget.js", headers=header)).status == 200


async def test_rasa_answering_nothing_becomes_a_polite_reply_with_12348(tmp_path):
    async with fake_rasa(replies=[]) as rasa, web_app(tmp_path, rasa) as client:
        response = await chat(client, "web-" + uuid.uuid4().hex, "我叫什么")
        assert response.status == 200
        replies = await response.json()
        assert len(replies) == 1 and "12348" in replies[0]["text"]
        assert replies[0]["text"] == service_texts()["no_answer"]


# --- guessing the phone digits of a reference ----------------------------------------

APPLICATION = {
    "category": "labor",
    "statuses": ["migrant_worker"],
    "stage": "court",
    "organ_place": "固始",
    "residence_county": "息县",
    "channel": "web",
    "name": "张秀英",
    "phone": "13800138000",
}


async def status(client, reference, digits):
    response = await client.get(
        f"/api/intakes/{reference}", params={"phone_last4": digits}
    )
    return response.status, await response.json()


async def test_guessing_phone_digits_locks_the_reference_for_every_web_app(
    tmp_path, database_url
):
    """Two web apps on one database (two processes): wrong guesses on either count,
    and once locked even the right digits reveal nothing."""
    async with (
        web_app(tmp_path, database_url=database_url) as one,
        web_app(tmp_path, database_url=database_url) as two,
    ):
        created = await one.post(
            "/api/intakes",
            json=APPLICATION,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        reference = (await created.json())["reference"]
        assert (await status(one, reference, "8000"))[0] == 200
        for i, app in enumerate([one, two, one, two, one]):
            assert (await status(app, reference, f"111{i}"))[0] == 404
        code, body = await status(two, reference, "8000")  # the right digits
        assert code == 429
        assert "12348" in body["message"] and "分钟后再试" in body["message"]
        assert reference not in str(body) and "history" not in body
        # The chat's look-up (action server) is refused too, without a hint.
        store = IntakeStore(database_url)
        assert store.lookup(reference, "8000") is None
        # An hour later the owner gets in again, and that clears the count.
        with store.engine.begin() as conn:
            conn.execute(
                lookup_failures.update().values(
                    at=lookup_failures.c.at - timedelta(hours=1, minutes=1)
                )
            )
        assert (await status(one, reference, "8000"))[0] == 200
        with store.engine.connect() as conn:
            left = conn.execute(sa.select(sa.func.count()).select_from(lookup_failures))
            assert left.scalar() == 0
        store.close()


async def test_the_chat_tells_a_locked_reference_apart_from_a_wrong_one(
    tmp_path, monkeypatch
):
    """The chat's status look-up (action_check_status) shares the lock-out, and says
    why it will not look instead of a misleading "not found"."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions import legal_aid as actions

    async with web_app(tmp_path) as client:
        created = await client.post(
            "/api/intakes",
            json=APPLICATION,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        reference = (await created.json())["reference"]
    store = IntakeStore(Settings(var_dir=tmp_path).database_url)
    monkeypatch.setattr(actions, "_store", store)

    async def ask(digits: str) -> str:
        message = {"text": f"查进度 {reference} {digits}", "entities": []}
        tracker = Tracker("c", {}, message, [], False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        await actions.ActionCheckStatus().run(dispatcher, tracker, {})
        return " ".join(m.get("text") or m.get("response") for m in dispatcher.messages)

    for i in range(5):
        assert await ask(f"111{i}") == "utter_status_not_found"
    locked = await ask("8000")  # the right digits, too late
    assert "分钟后再试" in locked and "12348" in locked
    assert "utter_status" not in locked
    store.close()


async def test_unknown_references_lock_the_same_way(tmp_path):
    """Otherwise the lock-out would tell which references exist."""
    async with web_app(tmp_path) as client:
        answers = [(await status(client, "XY260101-ABCD", "1234"))[0] for _ in range(6)]
        assert answers == [404] * 5 + [429]


async def test_a_right_guess_clears_earlier_typos(tmp_path):
    async with web_app(tmp_path) as client:
        created = await client.post(
            "/api/intakes",
            json=APPLICATION,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        reference = (await created.json())["reference"]
        for _ in range(2):
            for digits in ("0000", "0001", "0002", "0003"):
                assert (await status(client, reference, digits))[0] == 404
            assert (await status(client, reference, "8000"))[0] == 200


# --- WeChat: per openid, answered within WeChat's protocol ---------------------------


async def test_a_fast_wechat_user_gets_a_polite_reply_and_rasa_is_spared():
    from rasa.core.channels.channel import UserMessage

    from bot import wechat
    from bot.channels.wechat import WeChatInput

    channel = WeChatInput(Settings(wechat_token="t", rate_limit_per_minute=2))
    turns: list[str] = []

    async def rasa(message: UserMessage) -> None:
        turns.append(message.text)
        await message.output_channel.send_text_message(message.sender_id, "您好")

    def push(openid: str) -> wechat.Incoming:
        return wechat.Incoming("gh_test", openid, "1", "text", "你好", uuid.uuid4().hex)

    who = "o" + uuid.uuid4().hex[:27]
    answers = [await channel.reply_to(push(who), None, rasa) for _ in range(3)]
    assert answers[:2] == [["您好"], ["您好"]]
    assert len(answers[2]) == 1 and "秒后再发" in answers[2][0]
    assert "12348" in answers[2][0]
    assert len(turns) == 2
    assert await channel.reply_to(push("o" + "x" * 27), None, rasa) == ["您好"]
    await channel.limiter.close()


async def test_wechat_turn_rasa_left_silent_gets_the_no_answer_text():
    from bot import wechat
    from bot.channels.wechat import WeChatInput

    channel = WeChatInput(Settings(wechat_token="t"))

    async def silent_rasa(message) -> None:
        pass  # what Rasa does when the action server is down

    push = wechat.Incoming("gh_test", "o" + "y" * 27, "1", "text", "你好", "1")
    assert await channel.reply_to(push, None, silent_rasa) == [
        service_texts()["no_answer"]
    ]


# --- what the citizen sees in the widget (last: Playwright's sync API keeps a loop
# running in this thread until the module's browser closes, which async tests refuse) ----------------------------------------------


class StandInRasa:
    """Rasa's REST webhook and /model/parse on a thread: answers 您好 to every turn,
    or nothing when the message contains 无声 (what Rasa does when the action
    server is down); parses every text as a FAQ question."""

    def __init__(self, port: int) -> None:
        import http.server
        import json
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/model/parse":
                    answer = {"text": body["text"], "intent": {"name": "faq"}}
                elif "无声" in body["message"]:
                    answer = []
                else:
                    answer = [{"text": "您好"}]
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def limited_web(tmp_path_factory):
    """The real web app process, 2 messages a minute per conversation."""
    import os
    import subprocess
    import sys

    from tests.conftest import wait_for

    rasa_port, web_port = RASA_STAND_IN_PORT, WEB_PORT
    rasa = StandInRasa(rasa_port)
    env = {
        **os.environ,
        "XY_WEB_PORT": str(web_port),
        "XY_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "XY_VAR_DIR": str(tmp_path_factory.mktemp("limited")),
        "XY_RATE_LIMIT_PER_MINUTE": "2",
    }
    process = subprocess.Popen([sys.executable, "-m", "bot.web"], env=env)
    try:
        wait_for(f"http://127.0.0.1:{web_port}/health", process, timeout=60)
        yield f"http://127.0.0.1:{web_port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        rasa.stop()


def test_widget_shows_the_limit_message_and_keeps_what_was_typed(
    limited_web,
    page,  # noqa: F811 - the fixture imported above
):
    from playwright.sync_api import expect

    from tests.test_widget_browser import open_widget, say

    open_widget(page, limited_web)
    assert "您好" in say(page, "老板欠我工资")
    # Rasa answering nothing: a bot bubble that says so, with 12348.
    assert "12348" in say(page, "无声")
    box = page.get_by_label("输入您的问题")
    box.fill("第三句话")
    page.get_by_role("button", name="发送").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("秒后再发")
    expect(status).to_contain_text("12348")
    expect(box).to_have_value("第三句话")  # nothing the person typed is lost
    expect(page.locator(".xy-user")).to_have_count(2)
