"""Which questions the legal-aid form asks, and how typed answers are understood."""

from datetime import datetime, timezone

import pytest

from bot import eligibility
from bot import legal_aid_form as form

WAGES = {"la_consent": "yes", "la_category": "labor", "la_matter": "labor_pay"}


def test_a_wage_claim_asks_means_only_without_a_waiver():
    asked = form.required_slots({**WAGES, "la_special": "none"})
    assert asked.index("la_status") < asked.index("la_household_size")
    assert "la_income" in asked
    waived = {**WAGES, "la_special": "none", "la_status": "migrant_worker"}
    assert "la_income" not in form.required_slots(waived)


def test_no_means_questions_when_the_law_needs_no_means_test():
    victim = {"la_consent": "yes", "la_category": "domestic_violence"}
    asked = form.required_slots(victim)
    assert "la_special" not in asked  # Art. 32 (四) follows from the category
    assert "la_status" not in asked and "la_income" not in asked
    brave = {**WAGES, "la_special": "brave_act"}
    assert "la_income" not in form.required_slots(brave)


def test_a_minor_suspect_gets_the_appointed_defence_questions_only():
    answers = {"la_consent": "no", "la_category": "criminal", "la_role": "suspect"}
    assert form.question_text("la_special", answers).startswith("他（她）")
    assert "minor" in form.options("la_special", answers)
    asked = form.required_slots({**answers, "la_special": "minor"})
    assert "la_income" not in asked
    assert eligibility.decide(
        form.case({**answers, "la_special": "minor"})
    ).outcome == (eligibility.APPOINTED_DEFENSE)


def test_personal_questions_only_with_consent():
    assert "la_phone" in form.required_slots(WAGES)
    refused = {**WAGES, "la_consent": "no"}
    assert not set(form.PERSONAL) & set(form.required_slots(refused))


def test_finer_matter_is_asked_only_where_the_category_needs_it():
    assert "la_matter" in form.required_slots({"la_category": "family"})
    assert "la_matter" not in form.required_slots({"la_category": "traffic"})
    assert "la_role" in form.required_slots({"la_category": "criminal"})


def test_other_labour_matter_is_out_of_scope_and_skips_the_means_questions():
    answers = {**WAGES, "la_matter": "other", "la_special": "none"}
    assert eligibility.decide(form.case(answers)).outcome == eligibility.NOT_IN_SCOPE
    assert "la_income" not in form.required_slots(answers)


@pytest.mark.parametrize(
    ("text", "slot", "expected"),
    [
        ("不同意", "la_consent", "no"),
        ("同意", "la_consent", "yes"),
        ("中", "la_consent", "yes"),
        ("不中", "la_consent", "no"),
        ("是讨工钱的事", "la_matter", "labor_pay"),
        ("俺是农民工", "la_status", "migrant_worker"),
        ("已经在法院开庭了", "la_stage", "court"),
        ("下礼拜就开庭，没几天了，快到期了", "la_deadline", "within_7_days"),
        ("息县", "la_place", "xixian"),
        ("在固始那边", "la_place", "gushi"),
        ("都不是", "la_status", "none"),
        ("随便说点啥", "la_stage", None),
    ],
)
def test_typed_answers_to_closed_questions(text, slot, expected):
    answers = {"la_category": "labor"}
    assert form.match_option(text, form.options(slot, answers)) == expected


def test_unknown_going_back_and_corrections_are_recognised():
    assert form.says_unknown("俺也不知道")
    assert form.wants_back("返回上一步")
    assert form.is_correction("不对，是在息县")
    assert form.county_in("不对，是在息县") == "xixian"
    assert not form.wants_back("三千")


def test_previous_question_for_going_back():
    answers = {**WAGES, "la_special": "none", "la_status": "none"}
    assert form.previous_slot(answers, "la_household_size") == "la_status"
    assert form.previous_slot({}, "la_consent") is None


def test_deadline_answers_make_advance_aid_possible():
    urgent = form.case({**WAGES, "la_deadline": "within_7_days"})
    assert eligibility.decide(urgent).advance_aid_possible
    preserve = form.case({**WAGES, "la_deadline": "preservation"})
    assert eligibility.decide(preserve).advance_aid_possible
    assert not eligibility.decide(
        form.case({**WAGES, "la_deadline": "later"})
    ).advance_aid_possible


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("XY261201-ABCD 1234", ("XY261201-ABCD", "1234")),
        ("查一下 xy261201-abcd，手机尾号５６７８", ("XY261201-ABCD", "5678")),
        ("XY261201-ABCD", None),
        ("我的手机尾号1234", None),
    ],
)
def test_status_query(text, expected):
    assert form.status_query(text) == expected


def test_dates_are_shown_in_china_time():
    late_utc = datetime(2026, 12, 7, 20, 0, tzinfo=timezone.utc)
    assert form.local_date(late_utc) == "12月8日"


@pytest.mark.parametrize(
    ("slot", "text", "expected"),
    [
        ("la_household_size", "俺家四口人", 4),
        ("la_household_size", "不知道", form.UNKNOWN),
        ("la_household_size", "三四个吧", None),
        ("la_income", "两千五", 2500),
        ("la_income", "没有收入", 0),
        ("la_name", "我叫张秀英", "张秀英"),
        ("la_name", "买买提·艾力", "买买提·艾力"),
        ("la_name", "离婚冷静期是多少天", None),
        ("la_phone", "+86 138 0013 8000", "13800138000"),
        ("la_phone", "138001", None),
        ("la_residence", "住在平桥", "pingqiao"),
    ],
)
def test_typed_answers_to_open_questions(slot, text, expected):
    assert form.parse_typed(slot, text) == expected
