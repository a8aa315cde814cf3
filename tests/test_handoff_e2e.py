"""转人工 end to end on the real stack (action server, Rasa, web app, one database):
the web widget and the console in headless Chromium, and a WeChat user through the
WeChat simulator. A citizen asks for a person, an operator takes the conversation,
the bot stays quiet while the operator answers in the same chat, and handing back
lets the bot answer again."""

from __future__ import annotations

import http.cookies
import json
import time
import urllib.request
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect
from wechat_sim import WeChatSim

from bot import handoff, knowledge
from bot.console.accounts import Accounts
from bot.handoff import HandoffStore
from bot.settings import ROOT
from tests.conftest import MODEL, PORT_OFFSET, Stack
from tests.test_widget_browser import (
    click_reply,
    open_widget,
    say,
)

PASSWORD = "correct-horse-battery"
WAGES = "老板跑了，俺三个月工钱没拿到，咋整"
LOAN = "借给他两万块钱，打了欠条，现在不还了"
DEBT = knowledge.categories()["debt"].name
QUESTION = "仲裁要多长时间才有结果"
ANSWER = "劳动争议仲裁一般在受理后四十五日内结束，请把欠条和工资记录带上。"
QUEUE_SCREENSHOT = ROOT / "docs" / "console-queue.png"
# This module's own stack: 5800 + the test port offset (with offset 20: 5820-5822).
BASE = 5800 + PORT_OFFSET


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    sim = WeChatSim().start()
    tmp = tmp_path_factory.mktemp("handoff")
    stack = Stack(
        tmp,
        action_port=BASE,
        rasa_port=BASE + 1,
        web_port=BASE + 2,
        env=sim.account.env(sim.api_base),
    )
    sim.webhook = f"http://127.0.0.1:{BASE + 1}/webhooks/wechat/webhook"
    store = HandoffStore(stack.settings.database_url)
    Accounts(store.engine).create_user("op1", PASSWORD, "operator")
    try:
        for name in ("actions", "rasa", "web"):
            stack.start(name)
        yield stack, sim, store
    finally:
        stack.stop_all()
        sim.stop()
        store.close()


def console_page(browser: Browser, web: str) -> Page:
    """The operator's browser, signed in, on the queue page."""
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1366, "height": 768}
    )
    response = context.request.post(
        f"{web}/console/api/login",
        data=json.dumps({"username": "op1", "password": PASSWORD}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200, response.text()
    page = context.new_page()
    page.goto(f"{web}/console/queue")
    return page


def test_web_widget_to_an_operator_and_back(system, browser):
    stack, _, store = system
    citizen = browser.new_context(
        locale="zh-CN", viewport={"width": 1000, "height": 760}
    ).new_page()
    open_widget(citizen, stack.web)
    assert "劳动争议" in say(citizen, WAGES)
    answer = click_reply(citizen, "转人工")
    assert answer == handoff.queued_text(handoff.now())[0]  # hours not set: 12348
    assert "12348" in answer

    operator = console_page(browser, stack.web)
    row = operator.locator("#handoffs tbody tr").first
    expect(row).to_contain_text("劳动争议", timeout=15_000)
    expect(row).to_contain_text("网页")
    sender = citizen.evaluate(
        "() => JSON.parse(localStorage.getItem('xy12348.session'))"
    )
    expect(operator.locator("#handoffs")).not_to_contain_text(sender)
    row.click()
    transcript = operator.locator("#transcript")
    expect(transcript).to_contain_text(WAGES)
    expect(transcript).to_contain_text("〔转人工〕")
    operator.get_by_role("button", name="接手").click()
    expect(operator.get_by_label("回复群众（Ctrl+回车发送）")).to_be_enabled()

    # The widget hears that a person joined, without the citizen doing anything.
    joined = citizen.locator(".xy-operator", has_text=handoff.text("operator_joined"))
    expect(joined).to_be_visible(timeout=15_000)

    # The citizen's next words go to the operator; the bot says nothing.
    bots = citizen.locator(".xy-bot").count()
    citizen.get_by_label("输入您的问题").fill(QUESTION)
    citizen.get_by_role("button", name="发送").click()
    expect(citizen.locator(".xy-status")).to_have_text("已发给工作人员，请等待回复。")
    expect(transcript).to_contain_text(QUESTION, timeout=15_000)
    assert citizen.locator(".xy-bot").count() == bots

    reply = operator.get_by_label("回复群众（Ctrl+回车发送）")
    reply.fill(ANSWER)
    reply.press("Control+Enter")
    expect(transcript.locator(".line.operator")).to_contain_text(ANSWER)
    line = citizen.locator(".xy-operator", has_text=ANSWER)
    expect(line).to_be_visible(timeout=15_000)
    expect(line).to_have_text(handoff.text("operator_prefix") + ANSWER)
    operator.screenshot(path=str(QUEUE_SCREENSHOT))  # the README's picture

    operator.get_by_role("button", name="交还给智能助手").click()
    back = citizen.locator(".xy-operator", has_text="人工服务结束了")
    expect(back).to_be_visible(timeout=15_000)
    expect(operator.locator("#empty")).to_be_visible(timeout=15_000)
    # The bot answers again.
    assert DEBT in say(citizen, LOAN)
    assert store.active(sender) is None

    # A reload keeps the whole conversation, the operator's lines included.
    citizen.reload()
    expect(citizen.locator(".xy-operator")).to_have_count(3)
    citizen.context.close()
    operator.context.close()


class ConsoleClient:
    """The console's JSON API over plain HTTP, as the queue page calls it."""

    def __init__(self, web: str) -> None:
        self.web = web
        request = urllib.request.Request(
            f"{web}/console/api/login",
            data=json.dumps({"username": "op1", "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            self.csrf = json.loads(response.read())["csrf"]
            cookie = http.cookies.SimpleCookie(response.headers["Set-Cookie"])
        self.cookie = "; ".join(f"{k}={v.value}" for k, v in cookie.items())

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.web}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Cookie": self.cookie,
                "X-CSRF-Token": self.csrf,
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def user_turns(stack: Stack, openid: str) -> int:
    url = f"http://127.0.0.1:{stack.ports['rasa']}/conversations/{openid}/tracker"
    with urllib.request.urlopen(url, timeout=30) as response:
        events = json.loads(response.read())["events"]
    return sum(1 for e in events if e["event"] == "user")


def settle(sim: WeChatSim, openid: str, quiet: float = 2.0) -> list[str]:
    while True:
        count = len(sim.seen(openid))
        time.sleep(quiet)
        if len(sim.seen(openid)) == count:
            return sim.seen(openid)


def wechat_say(sim: WeChatSim, openid: str, text: str) -> list[str]:
    before = len(sim.seen(openid))
    attempts = sim.deliver(sim.text(openid, text))
    assert attempts[-1].problem is None, attempts[-1]
    return settle(sim, openid)[before:]


def test_wechat_user_to_an_operator_and_back(system):
    stack, sim, store = system
    openid = "o" + uuid.uuid4().hex[:27]
    reply = "\n".join(wechat_say(sim, openid, WAGES))
    assert "3. 转人工" in reply
    # "3" is the numbered choice 转人工.
    reply = "\n".join(wechat_say(sim, openid, "3"))
    assert handoff.queued_text(handoff.now())[0] in reply

    console = ConsoleClient(stack.web)
    [case] = [
        h
        for h in console.call("GET", "/console/api/handoffs")["handoffs"]
        if h["channel"] == "wechat"
    ]
    assert openid not in json.dumps(case)
    assert case["category_name"] == "劳动争议"
    path = f"/console/api/handoffs/{case['id']}"
    console.call("POST", path + "/take")
    sim.wait_seen(openid, lambda seen: handoff.text("operator_joined") in seen)

    # Held: WeChat gets "success" and the bot never sees the message.
    turns = user_turns(stack, openid)
    before = len(sim.seen(openid))
    attempts = sim.deliver(sim.text(openid, QUESTION))
    assert attempts[-1].problem is None and attempts[-1].reply is None
    assert settle(sim, openid)[before:] == []
    assert user_turns(stack, openid) == turns
    detail = console.call("GET", path)
    assert detail["messages"][-1]["text"] == QUESTION

    sent = console.call("POST", path + "/reply", {"text": ANSWER})
    assert sent["delivered"] is True
    sim.wait_seen(openid, lambda seen: handoff.text("operator_prefix") + ANSWER in seen)
    console.call("POST", path + "/release")
    sim.wait_seen(openid, lambda seen: handoff.text("handed_back") in seen)
    assert store.active(openid) is None
    # The bot answers again.
    reply = "\n".join(wechat_say(sim, openid, LOAN))
    assert DEBT in reply and user_turns(stack, openid) == turns + 1


def chat(stack: Stack, sender: str, message: str) -> tuple[list[str], str | None]:
    request = urllib.request.Request(
        f"{stack.web}/api/chat",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        texts = [m["text"] for m in json.loads(response.read())]
        return texts, response.headers.get("X-Handoff")


def test_asking_for_a_person_inside_the_legal_aid_form_then_the_form_goes_on(system):
    stack, _, store = system
    sender = "web-" + uuid.uuid4().hex
    first, _ = chat(stack, sender, "我想申请法律援助")
    question = first[-1]
    assert "同意" in question  # the privacy notice and its question
    texts, state = chat(stack, sender, "转人工")
    assert state == "waiting"
    assert texts[0] == handoff.queued_text(handoff.now())[0]
    assert texts[-1] == question  # the same question again
    assert store.active(sender).status == "waiting"
