"""The chat page, /api/chat and /api/faq through the real stack (web app -> Rasa ->
action server), and the statute look-up /api/laws in the web app alone."""

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.laws import check_citations
from bot.settings import Settings
from bot.web.app import create_app


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


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def faq(stack, **params):
    return get(f"{stack.web}/api/faq?{urllib.parse.urlencode(params)}")


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
        status, reply = faq(stack, q="离婚冷静期是多少天")
        assert status == 503 and "12348" in reply["message"]
    finally:
        stack.start("rasa")
    assert say(stack, f"t-{uuid.uuid4().hex}", "你好")


# --- /api/faq: the operators' console asks which 普法 answers fit a caller's words

WAGE_ARREARS = {
    "labor_unpaid_wages",
    "labor_subcontract_who_pays",
    "labor_contractor_disappeared",
}


def test_operator_faq_search_finds_the_wage_arrears_answer_with_its_basis(stack):
    status, body = faq(stack, q="农民工工资被拖欠了找谁")
    assert status == 200, body
    assert body["query"] == "农民工工资被拖欠了找谁"
    results = body["results"]
    assert len(results) == 5  # the default limit
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    wage = next(r for r in results[:3] if r["id"] in WAGE_ARREARS)
    assert "工资" in wage["question"] or "工钱" in wage["question"]
    assert wage["citations"], wage
    basis = wage["answer"].splitlines()[-1]
    assert basis.startswith("依据：")
    assert all(c in basis for c in wage["citations"])
    assert check_citations("；".join(wage["citations"])) == []


def test_operator_faq_search_answers_a_divorce_question_with_the_civil_code(stack):
    status, body = faq(stack, q="离婚冷静期是多少天", limit=1)
    assert status == 200, body
    [best] = body["results"]
    assert "冷静期" in best["question"], best
    assert best["citations"] == ["《民法典》第一千零七十七条"]
    assert "三十天" in best["answer"], best


def test_operator_faq_search_honours_the_limit(stack):
    for limit in (1, 10):
        status, body = faq(stack, q="单位不给交社保怎么办", limit=limit)
        assert status == 200 and len(body["results"]) == limit
        assert len({r["id"] for r in body["results"]}) == limit


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "  \t "}, "q"),
        # ASCII: a request line this long in URL-encoded Chinese passes aiohttp's
        # 8190-byte line limit first (a plain-text 400)
        ({"q": "工资" + "a" * Settings().max_message_chars}, "q"),
        ({"q": "工资", "limit": "0"}, "limit"),
        ({"q": "工资", "limit": "11"}, "limit"),
        ({"q": "工资", "limit": "三"}, "limit"),
        ({"q": "工资", "limit": "2.5"}, "limit"),
        ({"q": "工资", "limit": ""}, "limit"),
    ],
)
def test_bad_faq_search_gets_a_clear_400_in_chinese(stack, params, field):
    status, reply = faq(stack, **params)
    assert status == 400
    assert reply["message"].startswith(f"{field}: ")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reply["message"])


# --- /api/laws/{law}/{article}: the official text of one article


@pytest.fixture
async def web_client():
    async with TestClient(TestServer(create_app(Settings()))) as client:
        yield client


async def law(client, name, article):
    path = f"/api/laws/{urllib.parse.quote(name)}/{urllib.parse.quote(article)}"
    response = await client.get(path)
    return response.status, await response.json()


async def test_civil_code_1077_returns_the_cooling_off_period_verbatim(web_client):
    status, body = await law(web_client, "民法典", "1077")
    assert status == 200, body
    assert body["law"] == "民法典"
    assert body["article"] == "第一千零七十七条" and body["number"] == 1077
    assert body["text"].startswith(
        "第一千零七十七条 自婚姻登记机关收到离婚登记申请之日起三十日内"
    )
    assert "前款规定期限届满后三十日内" in body["text"]


@pytest.mark.parametrize(
    ("name", "article"),
    [
        ("法律援助法", "31"),
        ("法律援助法", "三十一"),
        ("法律援助法", "第三十一条"),
        ("《法律援助法》", "第31条"),
        ("中华人民共和国法律援助法", "３１"),
        ("《中华人民共和国法律援助法》", "第 三十一 条"),
    ],
)
async def test_any_everyday_way_of_writing_the_article_finds_it(
    web_client, name, article
):
    status, body = await law(web_client, name, article)
    assert status == 200, body
    assert body["law"] == "法律援助法" and body["article"] == "第三十一条"
    assert "（五）请求确认劳动关系或者支付劳动报酬" in body["text"]


async def test_missing_article_is_404_with_the_nearest_real_ones(web_client):
    status, body = await law(web_client, "民法典", "1300")
    assert status == 404
    assert "1260" in body["message"] and "1300" in body["message"]
    assert body["nearest"] == [1258, 1259, 1260]
    status, body = await law(web_client, "法律援助法", "第零条")
    assert status == 404 and body["nearest"] == [1, 2, 3]


async def test_unknown_law_is_404_naming_it(web_client):
    status, body = await law(web_client, "治安管理处罚法", "1")
    assert status == 404
    assert "《治安管理处罚法》" in body["message"]
    assert "民法典" in body["laws"]


@pytest.mark.parametrize("article", ["abc", "3十", "第条", "1077-1078"])
async def test_article_that_is_not_a_number_gets_a_400_in_chinese(web_client, article):
    status, body = await law(web_client, "民法典", article)
    assert status == 400
    assert body["message"].startswith("article: ") and "三十一" in body["message"]


def test_an_article_asked_in_words_is_quoted_not_misunderstood(stack):
    replies = say(stack, f"t-{uuid.uuid4().hex}", "法律援助法第三十一条是什么")
    text = "\n".join(r["text"] for r in replies)
    assert "第三十一条" in text and "因经济困难没有委托代理人" in text
