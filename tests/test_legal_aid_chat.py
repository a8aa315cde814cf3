"""The legal-aid application in the chat, through the real stack (web app -> Rasa ->
action server -> intake database): from "包工头欠我工资" to a reference number."""

import json
import re
import sqlite3
import uuid

from bot.intake import IntakeStore
from tests.test_web import say

REFERENCE = re.compile(r"XY\d{6}-[A-Z2-9]{4}")


class Citizen:
    """One conversation: what was said and what the bot answered last."""

    def __init__(self, stack):
        self.stack = stack
        self.sender = f"t-{uuid.uuid4().hex}"
        self.replies: list[dict] = []

    @property
    def text(self) -> str:
        return "\n".join(r["text"] for r in self.replies)

    @property
    def buttons(self) -> dict[str, str]:
        return {b["title"]: b["payload"] for r in self.replies for b in r["buttons"]}

    def says(self, message: str) -> str:
        self.replies = say(self.stack, self.sender, message)
        return self.text

    def clicks(self, title: str) -> str:
        assert title in self.buttons, (title, self.text, list(self.buttons))
        return self.says(self.buttons[title])

    def picks(self, choice: str) -> str:
        """Clicks the button whose payload carries this value."""
        for payload in self.buttons.values():
            if payload.startswith("/choose") and json.loads(payload[7:]) == {
                "choice": choice
            }:
                return self.says(payload)
        raise AssertionError((choice, self.text, list(self.buttons)))


def store(stack) -> IntakeStore:
    return IntakeStore(stack.settings.database_url)


def start_wage_claim(stack) -> Citizen:
    citizen = Citizen(stack)
    citizen.says("包工头欠我工资")  # triaged, or the contractor FAQ: both offer aid
    notice = citizen.clicks("申请法律援助")
    assert "个人信息" in notice and "不同意" in notice
    assert "劳动争议" in citizen.clicks("同意")  # the triaged category, to confirm
    assert "哪件事" in citizen.clicks("对，是这类")
    citizen.picks("labor_pay")
    return citizen


def test_wage_claim_from_story_to_reference_number(stack):
    citizen = start_wage_claim(stack)
    citizen.clicks("都不是")  # no special circumstance
    citizen.picks("migrant_worker")  # Art. 42: no means questions follow
    assert "期限" in citizen.text
    citizen.clicks("还有时间")
    citizen.clicks("还没找任何部门")
    assert "姓名" in citizen.says("在息县干的活")
    assert "手机号" in citizen.says("张秀英")
    assert "手机号好像不对" in citizen.says("138001")
    assert "住在哪个县区" in citizen.says("+86 138 0013 8000")
    final = citizen.says("平桥区")

    assert "预审结果" in final and "《法律援助法》第四十二条" in final
    assert "以法律援助机构审查决定为准" in final
    assert "身份证" in final  # the materials checklist
    assert "息县法律援助中心" in final  # competent: where the matter arose (Art. 38)
    reference = REFERENCE.search(final).group()
    record = store(stack).get(reference).record
    assert record["category"] == "labor" and record["channel"] == "web"
    assert record["competent_centre"] == "xixian"
    assert record["receiving_centre"] == "pingqiao"
    assert record["applicant_phone"] == "13800138000"
    assert record["outcome"] == "means_check_waived"

    again = citizen.says("/submit_legal_aid")  # a second submit: the same record
    assert reference in again
    status = citizen.says(f"查一下 {reference} 8000")
    assert "已转交" in status or "已受理" in status
    assert "没有查到" in citizen.says(f"{reference} 1111")


def test_personal_data_leaves_neither_logs_nor_the_conversation_store(stack):
    test_wage_claim_from_story_to_reference_number(stack)
    for log in stack.tmp.glob("*.log"):
        text = log.read_text(encoding="utf-8", errors="replace")
        assert "13800138000" not in text and "张秀英" not in text, log.name
    with sqlite3.connect(stack.tmp / "tracker.db") as db:
        rows = db.execute("SELECT data FROM events").fetchall()
    stored = "".join(json.dumps(json.loads(r[0]), ensure_ascii=False) for r in rows)
    assert "劳动" in stored  # the conversation itself is kept
    assert "13800138000" not in stored and "张秀英" not in stored
    assert "0013 8000" not in stored


def test_a_question_in_the_middle_is_answered_then_the_form_resumes(stack):
    citizen = start_wage_claim(stack)
    citizen.clicks("都不是")
    citizen.clicks("都不是")  # no special status: the means questions follow
    assert "几口人" in citizen.text
    answer = citizen.says("离婚冷静期是多少天")
    assert "依据：" in answer and "民法典" in answer
    assert "几口人" in answer  # back at the same question
    assert "收入" in citizen.says("俺家四口人")
    assert "期限" in citizen.says("两千五")


def test_going_back_corrections_and_cancel_keep_what_was_said(stack):
    citizen = start_wage_claim(stack)
    citizen.clicks("都不是")
    citizen.picks("migrant_worker")
    assert "期限" in citizen.text
    citizen.says("上一步")  # the status question again
    assert "进城务工人员（农民工）" in citizen.buttons
    citizen.picks("migrant_worker")
    citizen.clicks("还有时间")
    citizen.clicks("还没找任何部门")
    citizen.says("固始")
    assert "姓名" in citizen.text
    assert "息县" in citizen.says("不对，是在息县")
    assert "姓名" in citizen.text  # the open question is asked again
    assert "先不申请了" in citizen.says("算了不申请了")
    resumed = citizen.says("我要申请法律援助")
    assert "姓名" in resumed and "个人信息" not in resumed  # not from the start


def test_without_consent_the_pre_check_runs_and_nothing_is_stored(stack):
    citizen = Citizen(stack)
    citizen.says("我要申请法律援助")
    citizen.clicks("不同意")
    assert "哪一类" in citizen.text
    citizen.picks("domestic_violence")
    citizen.clicks("还有时间")
    citizen.clicks("还没找任何部门")
    final = citizen.says("罗山县")
    assert "不用看经济条件" in final and "第三十二条" in final
    assert "没有生成受理编号" in final
    assert not REFERENCE.search(final)
    assert "姓名" not in final


def restart_actions(stack, database_url: str | None = None) -> None:
    """The action server again, with another intake database (None: the default)."""
    stack.stop("actions")
    stack.env.pop("XY_DATABASE_URL", None)
    if database_url:
        stack.env["XY_DATABASE_URL"] = database_url
    stack.start("actions")


def test_a_database_failure_is_told_honestly_and_nothing_is_lost(stack):
    restart_actions(stack, "postgresql+psycopg2://postgres@127.0.0.1:9/unreachable")
    try:
        citizen = start_wage_claim(stack)
        citizen.clicks("都不是")
        citizen.picks("migrant_worker")
        citizen.clicks("还有时间")
        citizen.clicks("还没找任何部门")
        citizen.says("息县")
        citizen.says("张秀英")
        citizen.says("13800138000")
        failed = citizen.says("平桥区")
        assert "没能保存" in failed and "12348" in failed
        assert not REFERENCE.search(failed)
    finally:
        restart_actions(stack)
    saved = citizen.clicks("再提交一次")  # the answers were kept in the conversation
    reference = REFERENCE.search(saved).group()
    assert store(stack).get(reference).record["applicant_phone"] == "13800138000"
