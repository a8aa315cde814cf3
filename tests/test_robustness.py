"""Bad input at every HTTP entry point of the real stack: the web app's JSON API, Rasa's
REST channel and /model/parse, and the WeChat channel. Each bad request gets a clear
4xx or a polite Chinese answer, never a 5xx, and the next normal request is answered.

One stack (action server, Rasa with the WeChat channel, web app) for the module.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from conftest import MODEL, PORT_OFFSET, Stack
from wechat_sim import UNAVAILABLE, WeChatSim

TOKEN = "robustness-token-0123456789"
CJK = re.compile("[\u4e00-\u9fff]")
LONG = "欠" * 100_000
SQL = "'; DROP TABLE events; -- 老板欠我工资"
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)> 借钱不还'
EMOJI = "😡👨‍👩‍👧 老板欠薪三个月了🙏"
CONTROL = "\x00\x01老板\x07欠我\x1b[31m工资\x7f"
NESTED = "[" * 30_000 + "]" * 30_000  # under the 64 KB limit, past recursion


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    tmp = tmp_path_factory.mktemp("robustness")
    rasa_port = 5801 + PORT_OFFSET
    sim = WeChatSim(
        webhook=f"http://127.0.0.1:{rasa_port}/webhooks/wechat/webhook"
    ).start()
    env = {**sim.account.env(sim.api_base), "XY_API_TOKEN": TOKEN}
    s = Stack(
        tmp,
        action_port=5800 + PORT_OFFSET,
        rasa_port=rasa_port,
        web_port=5802 + PORT_OFFSET,
        env=env,
    )
    s.sim = sim
    s.rasa = f"http://127.0.0.1:{rasa_port}"
    try:
        for name in ("actions", "rasa", "web"):
            s.start(name)
        yield s
    finally:
        s.stop_all()
        sim.stop()


def send(method: str, url: str, body: bytes | None = None, headers=None):
    """(status, parsed JSON or text) for a raw request; never raises on 4xx/5xx."""
    request = urllib.request.Request(
        url,
        data=body,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def as_json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def sender() -> str:
    return f"robust-{uuid.uuid4().hex}"


def still_answers(stack) -> None:
    """A normal turn through the web app and Rasa: the services survived."""
    status, replies = send(
        "POST",
        f"{stack.web}/api/chat",
        as_json({"sender": sender(), "message": "老板欠我三个月工资"}),
    )
    assert status == 200 and "劳动争议" in replies[0]["text"], replies


def assert_clear(status: int, body, *, answered_ok=True) -> None:
    """A 4xx with a Chinese message, or a 2xx answer that says something."""
    assert status < 500, (status, body)
    if status >= 400:
        assert isinstance(body, dict) and CJK.search(body["message"]), body
    elif answered_ok:
        text = json.dumps(body, ensure_ascii=False)
        assert CJK.search(text), body


# --- JSON bodies ---------------------------------------------------------------------

# name -> function(valid body dict, text field) -> raw bytes
BAD_BODIES = {
    "empty body": lambda valid, field: b"",
    "empty text": lambda valid, field: as_json({**valid, field: ""}),
    "100,000 characters": lambda valid, field: as_json({**valid, field: LONG}),
    "invalid UTF-8": lambda valid, field: b'{"x": "\xff\xfe\xfd"}',
    "binary": lambda valid, field: bytes(range(256)) * 4,
    "JSON array": lambda valid, field: as_json([valid]),
    "JSON string": lambda valid, field: as_json("你好"),
    "number for text": lambda valid, field: as_json({**valid, field: 12348}),
    "object for text": lambda valid, field: as_json({**valid, field: {"a": 1}}),
    "null for text": lambda valid, field: as_json({**valid, field: None}),
    "deeply nested": lambda valid, field: (
        b'{"' + field.encode() + b'": ' + NESTED.encode() + b"}"
    ),
    "unknown field": lambda valid, field: as_json({**valid, "is_admin": True}),
    "emoji": lambda valid, field: as_json({**valid, field: EMOJI}),
    "control characters": lambda valid, field: as_json({**valid, field: CONTROL}),
    "lone surrogate": lambda valid, field: (
        as_json({**valid, field: "x"})[:-2] + b'\\ud800 \\udfff"}'
    ),
    "SQL injection": lambda valid, field: as_json({**valid, field: SQL}),
    "script injection": lambda valid, field: as_json({**valid, field: SCRIPT}),
    "1 MB upload": lambda valid, field: as_json({**valid, field: "x" * 1_000_000}),
}

WORDS_AROUND_NOISE = (
    "emoji",
    "control characters",
    "SQL injection",
    "script injection",
)

JSON_ENTRIES = {
    # name: (path on web app or rasa, valid body, text field, headers)
    "web /api/chat": ("web", "/api/chat", {"message": "你好"}, "message", {}),
    "web /api/eligibility": (
        "web",
        "/api/eligibility",
        {"category": "labor", "matter": "labor_pay"},
        "county",
        {},
    ),
    "web /api/intakes": (
        "web",
        "/api/intakes",
        {"category": "labor", "channel": "web", "phone": "13800138000"},
        "name",
        {"Authorization": f"Bearer {TOKEN}"},
    ),
    "rasa /webhooks/rest/webhook": (
        "rasa",
        "/webhooks/rest/webhook",
        {"message": "你好"},
        "message",
        {},
    ),
}


@pytest.mark.parametrize("kind", BAD_BODIES)
@pytest.mark.parametrize("entry", JSON_ENTRIES)
def test_bad_json_bodies_get_a_clear_answer_and_the_service_goes_on(stack, entry, kind):
    where, path, valid, field, headers = JSON_ENTRIES[entry]
    if path in ("/api/chat", "/webhooks/rest/webhook"):
        valid = {"sender": sender(), **valid}
    base = stack.web if where == "web" else stack.rasa
    status, body = send("POST", base + path, BAD_BODIES[kind](valid, field), headers)
    if where == "rasa" and status >= 400:
        # The REST channel answers in the same shape as the web app.
        assert body["error"] == "bad_request"
    assert_clear(status, body)
    # Real words around the noise: understood, not refused.
    if kind in WORDS_AROUND_NOISE and path in ("/api/chat", "/webhooks/rest/webhook"):
        assert status == 200 and body, body
    still_answers(stack)


def test_messages_with_control_characters_reach_rasa_clean(stack):
    who = sender()
    status, replies = send(
        "POST",
        f"{stack.web}/api/chat",
        as_json({"sender": who, "message": CONTROL}),
    )
    assert status == 200 and "劳动争议" in json.dumps(replies, ensure_ascii=False)
    url = f"{stack.rasa}/conversations/{who}/tracker"
    with urllib.request.urlopen(url, timeout=30) as response:
        events = json.loads(response.read())["events"]
    said = [e["text"] for e in events if e["event"] == "user"]
    assert said == ["老板欠我[31m工资"], said


def test_rest_channel_files_no_message_under_a_shared_default_conversation(stack):
    status, body = send(
        "POST", f"{stack.rasa}/webhooks/rest/webhook", as_json({"message": "你好"})
    )
    assert status == 400 and body["message"].startswith("sender:")
    with urllib.request.urlopen(
        f"{stack.rasa}/conversations/default/tracker", timeout=30
    ) as response:
        events = json.loads(response.read())["events"]
    assert not [e for e in events if e["event"] == "user"]


def test_a_failed_turn_leaves_no_message_text_in_rasas_log(stack):
    secret = "我叫王秋菊手机13912345678"
    send(
        "POST",
        f"{stack.rasa}/webhooks/rest/webhook",
        as_json({"sender": sender(), "message": secret, "metadata": "x"}),
    )
    log = (stack.tmp / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "13912345678" not in log


# --- /model/parse: Rasa's own HTTP API (127.0.0.1 only; /api/faq and the console) --


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (as_json({"text": "离婚冷静期多少天"}), 200),
        (as_json({"text": EMOJI}), 200),
        (as_json({"text": CONTROL}), 200),
        (as_json({"text": SQL}), 200),
        (as_json({"text": ""}), 200),
        (b"", 400),
        (b"\xff\xfe", 400),
        (as_json(["离婚"]), 400),
        (as_json({"text": 5}), 400),
        (as_json({"text": None}), 400),
        (as_json({"words": "离婚"}), 400),
        (b'{"x": ' + NESTED.encode() + b"}", 400),
        (as_json({"text": "x"})[:-2] + b'\\ud800"}', 200),
        (as_json({"text": "欠" * 5001}), 413),
    ],
    ids=[
        "normal",
        "emoji",
        "control",
        "sql",
        "empty",
        "empty body",
        "invalid UTF-8",
        "array",
        "number",
        "null",
        "no text",
        "deeply nested",
        "lone surrogate",
        "over 5000",
    ],
)
def test_model_parse_answers_or_refuses_clearly(stack, body, status):
    got, parsed = send("POST", f"{stack.rasa}/model/parse", body)
    assert got == status, parsed
    if status == 200:
        assert "intent" in parsed
    else:
        assert CJK.search(parsed["message"]), parsed
    assert (
        send("POST", f"{stack.rasa}/model/parse", as_json({"text": "你好"}))[0] == 200
    )


# --- GET parameters and paths --------------------------------------------------------

BAD_TEXTS = {
    "empty": "",
    "100,000 characters": LONG,
    "invalid UTF-8": "%FF%FE%FD",
    "NUL and controls": "%00%01%1B",
    "emoji": urllib.parse.quote(EMOJI),
    "SQL injection": urllib.parse.quote(SQL),
    "script injection": urllib.parse.quote(SCRIPT),
    "path traversal": "..%2F..%2Fetc%2Fpasswd",
}

GET_ENTRIES = {
    "web /api/faq?q=": "/api/faq?q={}",
    "web /api/faq?limit=": "/api/faq?q=%E7%A6%BB%E5%A9%9A&limit={}",
    "web /api/laws/{law}": "/api/laws/{}/1077",
    "web /api/laws/.../{article}": "/api/laws/%E6%B0%91%E6%B3%95%E5%85%B8/{}",
    "web /api/intakes/{ref}": "/api/intakes/{}?phone_last4=1234",
    "web /api/intakes/...?phone_last4=": "/api/intakes/XY260101-ABCD?phone_last4={}",
}


@pytest.mark.parametrize("kind", BAD_TEXTS)
@pytest.mark.parametrize("entry", GET_ENTRIES)
def test_bad_query_and_path_values_get_a_clear_answer(stack, entry, kind):
    value = BAD_TEXTS[kind]
    if kind == "100,000 characters":
        value = urllib.parse.quote(value)
    url = stack.web + GET_ENTRIES[entry].format(value)
    status, body = send("GET", url)
    assert status < 500, (status, body)
    if status >= 400 and isinstance(body, dict):
        assert CJK.search(body["message"]), body
    elif status >= 400:
        # Refused by aiohttp's HTTP parser before our code (request line too long).
        assert status in (400, 404, 414, 431), (status, body)
    still_answers(stack)


# --- WeChat --------------------------------------------------------------------------


def openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


def wechat_answer(stack, who: str, content: str) -> str:
    attempts = stack.sim.deliver(stack.sim.text(who, content))
    assert attempts[-1].problem is None, attempts[-1]
    stack.sim.wait_seen(who, lambda seen: len(seen) > 0)
    return "\n".join(stack.sim.seen(who))


@pytest.mark.parametrize(
    "content", [EMOJI, SQL, SCRIPT, "   "], ids=["emoji", "sql", "script", "blank"]
)
def test_wechat_text_of_any_kind_gets_a_polite_chinese_answer(stack, content):
    answer = wechat_answer(stack, openid(), content)
    assert CJK.search(answer) and UNAVAILABLE not in answer


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe<xml>\x00\x01</xml>",
        bytes(range(256)),
        b"<xml><Content>\x01</Content></xml>",
        b"<xml><ToUserName>a</ToUserName><MsgType>text</MsgType></xml>",
        b"<xml>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</xml>",
        b"<xml><Content>" + "欠".encode() * 100_000 + b"</Content></xml>",
    ],
    ids=[
        "empty",
        "invalid UTF-8",
        "binary",
        "control character",
        "no FromUserName",
        "deeply nested",
        "oversized",
    ],
)
def test_wechat_pushes_wechat_would_never_send_get_a_4xx(stack, body):
    """Correctly signed (so past the signature check), but not a WeChat message."""
    who = openid()
    attempt = stack.sim.post(stack.sim.text(who, "你好"), body=body)
    assert 400 <= attempt.status < 500, attempt
    answer = wechat_answer(stack, who, "老板欠我三个月工资")
    assert "劳动争议" in answer


def test_wechat_unknown_fields_are_ignored(stack):
    who = openid()
    push = stack.sim.text(who, "老板欠我三个月工资")
    push.fields["Injected"] = "<b>x</b>"
    assert "劳动争议" in (stack.sim.post(push).reply or "")


# --- the REST channel's checks on their own (no Rasa needed) -------------------------


@pytest.mark.parametrize(
    ("body", "status", "starts"),
    [
        (b"", 400, "请求内容"),
        (b"\xff\xfe", 400, "请求内容"),
        (b"[1, 2]", 400, "请求内容"),
        (NESTED.encode(), 400, "请求内容"),
        (b"x" * (65 * 1024), 413, "message:"),
        (as_json({"message": "你好"}), 400, "sender:"),
        (as_json({"sender": "", "message": "你好"}), 400, "sender:"),
        (as_json({"sender": "a\x00b", "message": "你好"}), 400, "sender:"),
        (as_json({"sender": {"id": 1}, "message": "你好"}), 400, "sender:"),
        (as_json({"sender": "a", "message": 5}), 400, "message:"),
        (as_json({"sender": "a", "message": "\x00\x07 "}), 400, "message:"),
        (as_json({"sender": "a", "message": "欠" * 2001}), 413, "message:"),
        (
            as_json({"sender": "a", "message": "你好", "input_channel": "x"}),
            400,
            "input_channel:",
        ),
        (as_json({"sender": "a", "message": "你好", "metadata": [1]}), 400, "请求内容"),
    ],
)
def test_rest_channel_refuses_bad_input_in_chinese(body, status, starts):
    from bot.channels.rest import BadInput, parse_body

    with pytest.raises(BadInput) as bad:
        parse_body(body, 2000)
    assert bad.value.status == status
    assert bad.value.message.startswith(starts) and CJK.search(bad.value.message)


def test_rest_channel_passes_clean_text_on():
    from bot.channels.rest import parse_body

    body = as_json({"sender": "s1", "message": CONTROL, "metadata": {"a": 1}})
    assert parse_body(body, 2000) == ("s1", "老板欠我[31m工资", {"a": 1})
    assert parse_body(as_json({"sender": "s", "message": EMOJI}), 2000)[1] == EMOJI


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/nothing-here", 404),
        ("PUT", "/api/chat", 405),
        ("DELETE", "/api/intakes/XY260101-ABCD", 405),
        ("GET", "/api/laws/a/b/c", 404),
    ],
)
async def test_unknown_api_addresses_and_methods_get_a_chinese_4xx(
    tmp_path, method, path, status
):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.settings import Settings
    from bot.web.app import create_app

    app = create_app(Settings(var_dir=tmp_path, rasa_url="http://127.0.0.1:9"))
    async with TestClient(TestServer(app)) as client:
        response = await client.request(method, path)
        assert response.status == status
        assert CJK.search((await response.json())["message"])


def test_model_parse_bodies_are_cleaned_or_refused_before_rasa_sees_them():
    from bot.channels.rest import BadInput, parse_request_body

    cleaned = parse_request_body(as_json({"text": CONTROL, "message_id": "m1"}))
    assert json.loads(cleaned) == {"text": "老板欠我[31m工资", "message_id": "m1"}
    for bad in (b"[]", as_json({"text": 1}), as_json({"text": "欠" * 5001})):
        with pytest.raises(BadInput):
            parse_request_body(bad)


# --- the operator console's JSON API (signed in; a stand-in Rasa) --------------------

CONSOLE_PASSWORD = "robust-horse-battery"
CONSOLE_POSTS = {
    # path: (valid body, text field)
    "/console/api/login": ({"username": "nobody", "password": "x" * 12}, "password"),
    "/console/api/analyse": ({"text": "老板欠我工资"}, "text"),
    "/console/api/intakes": (
        {"category": "labor", "phone": "13800138000", "name": "张秀英"},
        "name",
    ),
    "/console/api/records/XY260101-ABCD/transfer": ({"centre": "xixian"}, "note"),
    "/console/api/records/XY260101-ABCD/status": ({"status": "decided"}, "note"),
    "/console/api/handoffs/1/reply": ({"text": "您好"}, "text"),
}


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """The real web app process with an operator signed in, and a stand-in Rasa."""
    import http.cookiejar
    import os
    import subprocess
    import sys

    from conftest import wait_for
    from test_rate_limit import StandInRasa

    from bot.console.accounts import Accounts
    from bot.intake import IntakeStore
    from bot.settings import Settings

    var = tmp_path_factory.mktemp("console")
    store = IntakeStore(Settings(var_dir=var).database_url)
    Accounts(store.engine).create_user("op1", CONSOLE_PASSWORD, "operator")
    store.close()
    rasa_port, web_port = 5808 + PORT_OFFSET, 5809 + PORT_OFFSET
    rasa = StandInRasa(rasa_port)
    env = {
        **os.environ,
        "XY_WEB_PORT": str(web_port),
        "XY_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "XY_VAR_DIR": str(var),
    }
    process = subprocess.Popen([sys.executable, "-m", "bot.web"], env=env)
    try:
        web = f"http://127.0.0.1:{web_port}"
        wait_for(f"{web}/health", process, timeout=60)
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        signed_in = opener.open(
            urllib.request.Request(
                f"{web}/console/api/login",
                data=as_json({"username": "op1", "password": CONSOLE_PASSWORD}),
                headers={"Content-Type": "application/json"},
            ),
            timeout=30,
        )
        csrf = json.loads(signed_in.read())["csrf"]
        yield web, opener, {"X-CSRF-Token": csrf}
    finally:
        process.terminate()
        process.wait(timeout=20)
        rasa.stop()


def console_send(console, method: str, path: str, body: bytes | None = None):
    web, opener, csrf = console
    request = urllib.request.Request(
        web + path,
        data=body,
        method=method,
        headers={"Content-Type": "application/json", **csrf},
    )
    try:
        with opener.open(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def console_still_answers(console) -> None:
    status, me = console_send(console, "GET", "/console/api/me")
    assert status == 200 and me["username"] == "op1", me


@pytest.mark.parametrize("kind", BAD_BODIES)
@pytest.mark.parametrize("path", CONSOLE_POSTS)
def test_console_api_answers_bad_bodies_clearly(console, path, kind):
    valid, field = CONSOLE_POSTS[path]
    status, body = console_send(console, "POST", path, BAD_BODIES[kind](valid, field))
    assert_clear(status, body, answered_ok=False)
    console_still_answers(console)


@pytest.mark.parametrize("kind", BAD_TEXTS)
@pytest.mark.parametrize(
    "path",
    [
        "/console/api/records?category={}",
        "/console/api/records?from={}",
        "/console/api/records/{}",
        "/console/api/audit?user={}",
        "/console/api/dashboard?from={}",
        "/console/api/handoffs/{}",
    ],
)
def test_console_api_answers_bad_query_values_clearly(console, path, kind):
    value = BAD_TEXTS[kind]
    if kind == "100,000 characters":
        value = urllib.parse.quote(value)
    status, body = console_send(console, "GET", path.format(value))
    assert status < 500, (status, body)
    if status >= 400 and isinstance(body, dict):
        assert CJK.search(body["message"]), body
    console_still_answers(console)
