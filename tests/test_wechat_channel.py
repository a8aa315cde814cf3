"""The WeChat channel inside a real Rasa server, talking to the WeChat simulator.

Two stacks (action server + Rasa): one with the normal 4.5 s reply budget, one with a
budget so small that every Rasa reply has to go through the customer-service API.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from conftest import MODEL, PORT_OFFSET, Stack
from wechat_sim import BILLION_LAUGHS, XXE, WeChatSim

WAGES = "老板跑了，俺三个月工钱没拿到，咋整"
HINT = "回复数字即可"


class Channel:
    def __init__(self, tmp, *, actions: int, rasa: int, budget: float) -> None:
        self.rasa = f"http://127.0.0.1:{rasa}"
        self.sim = WeChatSim(webhook=f"{self.rasa}/webhooks/wechat/webhook").start()
        env = self.sim.account.env(self.sim.api_base)
        env["XY_WECHAT_REPLY_BUDGET"] = str(budget)
        self.stack = Stack(tmp, action_port=actions, rasa_port=rasa, env=env)
        self.openids: list[str] = []

    def start(self) -> Channel:
        self.stack.start("actions")
        self.stack.start("rasa")
        # The first turn of a fresh server loads the graph; keep that out of the tests.
        request = urllib.request.Request(
            f"{self.rasa}/webhooks/rest/webhook",
            data=json.dumps({"sender": "warm-up", "message": "你好"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=120).read()
        return self

    def stop(self) -> None:
        self.stack.stop_all()
        self.sim.stop()

    def user(self) -> str:
        """A fresh openid, shaped like WeChat's (28 characters)."""
        openid = "o" + uuid.uuid4().hex[:27]
        self.openids.append(openid)
        return openid

    def say(self, openid: str, text: str = "", *, safe=False, push=None) -> list[str]:
        """Send as WeChat does; return everything the user sees in answer."""
        before = len(self.sim.seen(openid))
        attempts = self.sim.deliver(push or self.sim.text(openid, text), safe=safe)
        assert attempts[-1].problem is None, attempts[-1]
        self.sim.wait_seen(openid, lambda seen: len(seen) > before)
        return self.quiet(openid)[before:]

    def quiet(self, openid: str, settle: float = 2.0) -> list[str]:
        """What the user sees once no more messages arrive for `settle` seconds."""
        while True:
            count = len(self.sim.seen(openid))
            time.sleep(settle)
            if len(self.sim.seen(openid)) == count:
                return self.sim.seen(openid)

    def user_turns(self, openid: str) -> list[dict]:
        """The user turns Rasa recorded for this openid."""
        url = f"{self.rasa}/conversations/{urllib.parse.quote(openid)}/tracker"
        with urllib.request.urlopen(url, timeout=30) as response:
            events = json.loads(response.read())["events"]
        return [e for e in events if e["event"] == "user"]

    def log(self) -> str:
        return (self.stack.tmp / "rasa.log").read_text(
            encoding="utf-8", errors="replace"
        )


def start_channel(tmp_path_factory, name, **kwargs):
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    channel = Channel(tmp_path_factory.mktemp(name), **kwargs)
    try:
        return channel.start()
    except BaseException:
        channel.stop()
        raise


@pytest.fixture(scope="module")
def wechat(tmp_path_factory):
    channel = start_channel(
        tmp_path_factory,
        "wechat",
        actions=5255 + PORT_OFFSET,
        rasa=5205 + PORT_OFFSET,
        budget=4.5,
    )
    yield channel
    channel.stop()


@pytest.fixture(scope="module")
def slow_wechat(tmp_path_factory):
    channel = start_channel(
        tmp_path_factory,
        "wechat-slow",
        actions=5256 + PORT_OFFSET,
        rasa=5206 + PORT_OFFSET,
        budget=0.01,
    )
    yield channel
    channel.stop()


def joined(messages: list[str]) -> str:
    return "\n".join(messages)


def rest_reply(channel: Channel, text: str) -> list[dict]:
    request = urllib.request.Request(
        f"{channel.rasa}/webhooks/rest/webhook",
        data=json.dumps({"sender": uuid.uuid4().hex, "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def squash(text: str) -> str:
    return re.sub(r"\s", "", text)


# --- the server URL check -------------------------------------------------------


def test_server_url_check_echoes_echostr_in_plain_and_safe_mode(wechat):
    plain = wechat.sim.handshake_query()
    assert wechat.sim.get(plain["query"]) == (200, plain["expected"])
    safe = wechat.sim.handshake_query(safe=True)
    assert wechat.sim.get(safe["query"]) == (200, safe["expected"])
    for forged in (
        wechat.sim.handshake_query(forge=True),
        wechat.sim.handshake_query(safe=True, forge=True),
    ):
        status, body = wechat.sim.get(forged["query"])
        assert status == 403 and forged["expected"] not in body


# --- conversations --------------------------------------------------------------


def test_wage_claim_in_plain_mode_gets_labour_steps_and_numbered_choices(wechat):
    openid = wechat.user()
    attempts = wechat.sim.deliver(wechat.sim.text(openid, WAGES))
    assert len(attempts) == 1 and attempts[0].reply  # answered passively in time
    reply = joined(wechat.quiet(openid))
    assert reply.startswith(attempts[0].reply)
    assert "劳动争议" in reply and "仲裁" in reply and "12348" in reply
    assert f"1. 申请法律援助\n2. 常见问题\n3. 转人工\n{HINT}" in reply
    assert all(len(m.encode()) <= 2048 for m in wechat.sim.seen(openid))

    answer = joined(wechat.say(openid, "1"))
    assert "法律援助" in answer
    last = wechat.user_turns(openid)[-1]
    assert last["text"] == "/apply_legal_aid"
    assert last["parse_data"]["intent"]["name"] == "apply_legal_aid"
    assert last["metadata"]["wechat"]["openid"] == openid
    assert last["input_channel"] == "wechat"


def test_wage_claim_in_safe_mode_is_encrypted_both_ways(wechat):
    openid = wechat.user()
    reply = joined(wechat.say(openid, WAGES, safe=True))
    assert "劳动争议" in reply and f"3. 转人工\n{HINT}" in reply
    # A full-width digit typed on a Chinese keyboard works the same.
    answer = joined(wechat.say(openid, "１", safe=True))
    assert "法律援助" in answer
    assert wechat.user_turns(openid)[-1]["text"] == "/apply_legal_aid"


def test_a_number_nobody_offered_is_taken_as_text(wechat):
    openid = wechat.user()
    wechat.say(openid, "你好")
    wechat.say(openid, "7")
    assert wechat.user_turns(openid)[-1]["text"] == "7"


def test_a_long_reply_arrives_whole_and_in_order_in_several_messages(wechat):
    # The criminal-matter answer is longer than one WeChat message (2048 bytes).
    text = "俺儿子被抓了，说是偷东西，咋办"
    openid = wechat.user()
    attempts = wechat.sim.deliver(wechat.sim.text(openid, text))
    assert attempts[-1].reply  # the first part is the passive reply
    seen = wechat.quiet(openid)
    assert len(seen) >= 2 and all(len(m.encode()) <= 2048 for m in seen)
    assert seen[0] == attempts[-1].reply
    assert wechat.sim.customer_service(openid) == seen[1:]  # the rest, in order
    # Nothing lost or reordered compared with what Rasa says over REST.
    whole, position = squash("".join(seen)), 0
    for message in rest_reply(wechat, text):
        position = whole.index(squash(message["text"]), position)
    assert "【刑事】" in whole and HINT in seen[-1]


def test_retries_of_one_message_are_answered_once(wechat):
    openid = wechat.user()
    push = wechat.sim.text(openid, "借给他两万块钱，打了欠条，现在不还了")
    # WeChat's retries can overlap the first try, and can come after it.
    attempts = wechat.sim.post_concurrently(push, 3)
    attempts.append(wechat.sim.post(push))
    assert [a.status for a in attempts] == [200] * 4
    replies = {a.reply for a in attempts}
    assert len(replies) == 1 and None not in replies  # the same passive answer
    wechat.quiet(openid)
    turns = wechat.user_turns(openid)
    assert [t["text"] for t in turns] == [push.fields["Content"]]
    follow_ups = wechat.sim.customer_service(openid)
    assert len(follow_ups) == len(set(follow_ups))  # nothing sent twice


def test_voice_is_understood_from_wechats_recognition(wechat):
    openid = wechat.user()
    reply = joined(
        wechat.say(openid, push=wechat.sim.voice(openid, "老板欠我三个月工资。"))
    )
    assert "劳动争议" in reply


def test_voice_that_was_not_recognised_asks_the_user_to_type(wechat):
    openid = wechat.user()
    reply = joined(wechat.say(openid, push=wechat.sim.voice(openid, "")))
    assert "没听清" in reply and "打字" in reply
    assert wechat.user_turns(openid) == []


def test_new_follower_is_welcomed_with_what_the_account_can_do(wechat):
    openid = wechat.user()
    reply = joined(wechat.say(openid, push=wechat.sim.event(openid, "subscribe")))
    for service in ("分流", "法律援助", "普法", "法条", "12348"):
        assert service in reply
    attempts = wechat.sim.deliver(wechat.sim.event(openid, "unsubscribe"))
    assert attempts[-1].body == "success"


@pytest.mark.parametrize(
    "kind", ["image", "location", "video", "miniprogrampage", "empty text"]
)
def test_pictures_places_and_unknown_types_get_asked_for_text(wechat, kind):
    openid = wechat.user()
    sim = wechat.sim
    push = {
        "image": lambda: sim.image(openid),
        "location": lambda: sim.push(
            openid,
            "location",
            Location_X="32.1",
            Location_Y="114.1",
            Scale=15,
            Label="信阳",
            MsgId=sim._msg_id(),
        ),
        "video": lambda: sim.push(openid, "video", MediaId="m", MsgId=sim._msg_id()),
        "miniprogrampage": lambda: sim.push(
            openid, "miniprogrampage", Title="t", MsgId=sim._msg_id()
        ),
        "empty text": lambda: sim.text(openid, "   "),
    }[kind]()
    reply = joined(wechat.say(openid, push=push))
    assert "文字" in reply and "12348" in reply


def test_an_over_long_message_is_asked_to_be_split(wechat):
    openid = wechat.user()
    reply = joined(wechat.say(openid, "欠" * 2001))
    assert "分几次" in reply
    assert wechat.user_turns(openid) == []


def test_rasa_can_message_a_wechat_user_through_the_customer_service_api(wechat):
    openid = wechat.user()
    wechat.say(openid, "你好")
    request = urllib.request.Request(
        f"{wechat.rasa}/conversations/{openid}/trigger_intent?output_channel=wechat",
        data=json.dumps({"name": "greet"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=60).read()
    pushed = wechat.sim.wait_seen(
        openid, lambda seen: wechat.sim.customer_service(openid)
    )
    assert "信阳12348" in joined(wechat.sim.customer_service(openid))
    assert pushed[-1] == wechat.sim.customer_service(openid)[-1]


# --- hostile or broken requests -------------------------------------------------


def test_forged_signatures_are_refused_with_403_and_start_no_turn(wechat):
    openid = wechat.user()
    push = wechat.sim.text(openid, WAGES)
    assert wechat.sim.post(push, forge="signature").status == 403
    assert wechat.sim.post(push, safe=True, forge="signature").status == 403
    assert wechat.sim.post(push, safe=True, forge="msg_signature").status == 403
    assert wechat.user_turns(openid) == []


@pytest.mark.parametrize(
    ("safe", "body", "encrypted"),
    [
        (False, b"\xff\xfe\x00garbage<", None),
        (False, BILLION_LAUGHS, None),
        (False, XXE, None),
        (False, b"<xml><MsgType>text</MsgType></xml>", None),
        (True, None, "bm90IHJlYWxseSBlbmNyeXB0ZWQ="),
        (True, b"<xml><Encrypt>&lol;</Encrypt></xml>", None),
    ],
    ids=["garbage", "billion-laughs", "xxe", "no-sender", "undecryptable", "entity"],
)
def test_malformed_or_entity_laden_xml_gets_400_and_the_next_message_is_answered(
    wechat, safe, body, encrypted
):
    openid = wechat.user()
    push = wechat.sim.text(openid, "你好")
    attempt = wechat.sim.post(push, safe=safe, body=body, encrypted=encrypted)
    assert attempt.status == 400
    assert wechat.user_turns(openid) == []
    assert wechat.say(openid, "你好", safe=safe)


def test_openids_never_appear_in_the_logs(wechat):
    openid = wechat.user()
    wechat.say(openid, WAGES)
    wechat.say(openid, push=wechat.sim.image(openid))
    assert wechat.sim.post(wechat.sim.text(openid, "x"), body=XXE).status == 400
    logs = wechat.log() + (wechat.stack.tmp / "actions.log").read_text(
        encoding="utf-8", errors="replace"
    )
    assert "rejected a WeChat push" in logs  # the channel does write to this log
    assert [o for o in wechat.openids if o in logs] == []


# --- slow replies: the customer-service API -------------------------------------


def test_a_slow_reply_arrives_through_the_customer_service_api(slow_wechat):
    ch = slow_wechat
    openid = ch.user()
    attempts = ch.sim.deliver(ch.sim.text(openid, WAGES))
    assert attempts[-1].body == "success"  # nothing passive: WeChat shows nothing yet
    reply = joined(ch.sim.wait_seen(openid, lambda seen: HINT in joined(seen)))
    assert "劳动争议" in reply and "1. 申请法律援助" in reply
    assert ch.sim.customer_service(openid) == ch.quiet(openid)
    answer = joined(ch.say(openid, "1"))
    assert "法律援助" in answer
    assert ch.user_turns(openid)[-1]["text"] == "/apply_legal_aid"


def test_retries_while_the_reply_is_still_on_its_way_start_no_second_turn(slow_wechat):
    ch = slow_wechat
    openid = ch.user()
    push = ch.sim.text(openid, WAGES)
    attempts = ch.sim.post_concurrently(push, 3)
    attempts.append(ch.sim.post(push))
    assert {(a.status, a.body) for a in attempts} == {(200, "success")}
    ch.sim.wait_seen(openid, lambda seen: HINT in joined(seen))
    delivered = joined(ch.quiet(openid, settle=3.0))
    assert delivered.count("【劳动争议】") == 1 and delivered.count(HINT) == 1
    assert len(ch.user_turns(openid)) == 1


def test_an_expired_access_token_is_refreshed_and_the_reply_still_arrives(slow_wechat):
    ch = slow_wechat
    openid = ch.user()
    assert ch.say(openid, "你好")  # a token is cached now
    ch.sim.expire_tokens()
    fetches, rejected = ch.sim.state.token_fetches, len(ch.sim.state.rejections)
    reply = joined(ch.say(openid, "离婚冷静期是多少天"))
    assert "民法典" in reply
    assert ch.sim.state.token_fetches == fetches + 1
    assert ch.sim.state.rejections[rejected:] == [42001]


def test_a_closed_48_hour_window_drops_the_reply_quietly(slow_wechat):
    ch = slow_wechat
    openid = ch.user()
    ch.sim.close_window(openid)
    attempts = ch.sim.deliver(ch.sim.text(openid, "你好"))
    assert attempts[-1].body == "success"
    time.sleep(3)
    assert ch.sim.seen(openid) == []
    assert 45015 in ch.sim.state.rejections
    assert "48 h" in ch.log() and openid not in ch.log()
    ch.sim.close_window(openid, closed=False)
    assert ch.say(openid, "你好")


# --- not configured -------------------------------------------------------------


def test_without_a_token_the_channel_answers_503_and_rasa_keeps_working(stack):
    rasa = f"http://127.0.0.1:{stack.ports['rasa']}"
    for method, data in (("GET", None), ("POST", b"<xml></xml>")):
        request = urllib.request.Request(
            f"{rasa}/webhooks/wechat/webhook?signature=x&timestamp=1&nonce=2&echostr=3",
            data=data,
            method=method,
        )
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=30)
        assert error.value.code == 503
        assert "XY_WECHAT_TOKEN" in error.value.read().decode()
    with urllib.request.urlopen(f"{rasa}/status", timeout=30) as response:
        assert response.status == 200
