"""The chat page and /api/chat through the real stack: web app -> Rasa -> action server."""

import json
import urllib.error
import urllib.request
import uuid

import pytest


def post(url, body, raw=False, content_type="application/json"):
    data = body if raw else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def say(stack, sender, message):
    status, replies = post(
        f"{stack.web}/api/chat", {"sender": sender, "message": message}
    )
    assert status == 200, replies
    return replies


def test_chat_page_loads_the_widget(stack):
    with urllib.request.urlopen(f"{stack.web}/", timeout=10) as response:
        page = response.read().decode()
    assert "/static/widget.js" in page and 'lang="zh-CN"' in page
    with urllib.request.urlopen(
        f"{stack.web}/static/widget.js", timeout=10
    ) as response:
        assert b"textContent" in response.read()


def test_migrant_worker_wage_story_gets_next_steps_and_buttons(stack):
    replies = say(stack, f"t-{uuid.uuid4().hex}", "老板跑了，俺三个月工钱没拿到，咋整")
    text = "\n".join(r["text"] for r in replies)
    assert "劳动争议" in text
    assert "仲裁" in text and "《劳动争议调解仲裁法》" in text
    assert "12348" in text
    titles = [b["title"] for r in replies for b in r["buttons"]]
    assert titles == ["申请法律援助", "常见问题", "转人工"]


def test_danger_is_answered_with_110_first(stack):
    replies = say(stack, f"t-{uuid.uuid4().hex}", "救命，我老公拿着刀说要砍死我")
    assert "110" in replies[0]["text"]


def test_a_common_question_gets_a_cited_answer(stack):
    replies = say(stack, f"t-{uuid.uuid4().hex}", "离婚冷静期是多少天")
    assert any("依据：" in r["text"] and "民法典" in r["text"] for r in replies)


def test_category_faq_button_lists_questions_of_that_category(stack):
    sender = f"t-{uuid.uuid4().hex}"
    say(stack, sender, "俺男人要跟俺离婚，孩子归谁")
    replies = say(stack, sender, "/ask_category_faq")
    assert replies[0]["buttons"], replies


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sender": "abc", "message": "你好"}, "sender"),
        ({"sender": "t-" + "x" * 20, "message": ""}, "message"),
        ({"sender": "t-" + "x" * 20, "message": "   "}, "message"),
        ({"sender": "t-" + "x" * 20, "message": 123}, "message"),
        ({"sender": "t-" + "x" * 20, "message": "欠" * 100_000}, "message"),
        (["not", "an", "object"], "JSON"),
    ],
)
def test_bad_chat_input_gets_a_clear_400_in_chinese(stack, body, field):
    status, reply = post(f"{stack.web}/api/chat", body)
    assert status in (400, 413)
    assert (
        field in reply["message"]
        or "太" in reply["message"]
        or "过大" in reply["message"]
    )


def test_binary_and_malformed_bodies_get_400_and_the_service_keeps_working(stack):
    status, reply = post(f"{stack.web}/api/chat", b"\xff\xfe\x00garbage{", raw=True)
    assert status == 400 and "JSON" in reply["message"]
    assert say(stack, f"t-{uuid.uuid4().hex}", "你好")


def test_rasa_down_is_told_honestly_with_12348(stack):
    stack.stop("rasa")
    try:
        status, reply = post(
            f"{stack.web}/api/chat", {"sender": "t-" + "y" * 20, "message": "你好"}
        )
        assert status == 503 and "12348" in reply["message"]
    finally:
        stack.start("rasa")
    assert say(stack, f"t-{uuid.uuid4().hex}", "你好")
