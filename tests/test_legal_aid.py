"""From a citizen's plain answers to the pre-check and the application: the function
the Rasa form and the web API share, and the normalisers for typed answers."""

import pytest

from bot.eligibility import (
    APPOINTED_DEFENSE,
    LIKELY_ELIGIBLE,
    MEANS_CHECK_WAIVED,
    NEEDS_REVIEW,
    NOT_IN_SCOPE,
    HardshipStandard,
)
from bot.legal_aid import (
    Answers,
    InvalidAnswer,
    build_application,
    materials_for,
    normalise_name,
    normalise_phone,
    parse_number,
    precheck,
    texts,
)

STANDARD = {"default": HardshipStandard("test", 1000.0, "2026-01-01", "test fixture")}
MATERIALS = texts()["materials"]


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),  # full-width digits
        ("１３８　００１３　８０００", "13800138000"),  # full-width spaces
        ("+86 138 0013 8000", "13800138000"),
        ("＋８６１３８００１３８０００", "13800138000"),
        ("0086-13800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("(+86) 199-0000-1111", "19900001111"),
        ("12800138000", None),  # 12x is not a mobile prefix
        ("1380013800", None),  # 10 digits
        ("138001380001", None),  # 12 digits
        ("0376-1234567", None),  # a landline
        ("+1 138 0013 8000", None),
        ("138OO138000", None),  # letters O for zeros
        ("我的手机是13800138000", None),  # the form asks for the number alone
        ("", None),
        (None, None),
    ],
)
def test_phone_numbers_are_normalised_to_eleven_digit_mobiles(typed, phone):
    assert normalise_phone(typed) == phone


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("3口人", 3),
        ("4", 4),
        ("俺家四口人", 4),
        ("一家三口", 3),
        ("就我一个人", 1),
        ("俺家仨人", 3),
        ("俺俩", 2),
        ("两千五", 2500),
        ("2500元", 2500),
        ("２５００块", 2500),
        ("2,500", 2500),
        ("一万二", 12000),
        ("1.5万", 15000),
        ("一点五万", 15000),
        ("三千多", 3000),
        ("两千来块", 2000),
        ("一个月两千五百块", 2500),
        ("每月3000左右", 3000),
        ("3千5", 3500),
        ("1万2000", 12000),
        ("两万五千", 25000),
        ("十二", 12),
        ("二十五", 25),
        ("一百零五", 105),
        ("一千零五十", 1050),
        ("十万", 100000),
        ("2k", 2000),
        ("0", 0),
        ("零", 0),
        ("没有收入", 0),
        ("没有", 0),
        ("1.5", 1.5),
        ("不知道", None),
        ("不清楚", None),
        ("几千", None),  # no figure given
        ("三四千", None),  # a range: ask again
        ("3000-4000", None),
        ("俺家4口人，一个月两千", None),  # two numbers: ask again
        ("万", None),
        ("", None),
        (None, None),
    ],
)
def test_numbers_as_people_say_them(said, number):
    assert parse_number(said) == number
    assert type(parse_number(said)) is type(number)


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("张秀英", "张秀英"),
        (" 我叫张秀英。", "张秀英"),
        ("姓名：王强", "王强"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("阿依古丽•买买提", "阿依古丽·买买提"),
        ("Li  Wei", "Li Wei"),
        ("张3", None),
        ("13800138000", None),
        ("·张", None),
        ("张" * 31, None),
        ("", None),
        (None, None),
    ],
)
def test_names_are_cleaned_or_refused(typed, name):
    assert normalise_name(typed) == name


def test_migrant_worker_wage_claim_lists_the_proof_and_skips_the_means_check():
    result = precheck(Answers("labor", statuses={"migrant_worker"}), STANDARD)
    assert result.decision.outcome == MEANS_CHECK_WAIVED
    assert result.outcome_text == texts()["outcomes"][MEANS_CHECK_WAIVED]
    assert [r["citation"] for r in result.reasons] == [
        "《法律援助法》第三十一条",
        "《法律援助法》第四十二条",
    ]
    assert result.reasons[1]["text"] == texts()["reasons"]["migrant_worker"]
    assert "进城务工人员" in result.reasons[1]["quote"]
    assert list(result.materials) == [
        *MATERIALS["common"],
        *MATERIALS["by_category"]["labor"],
        MATERIALS["by_status"]["migrant_worker"],
    ]
    assert [n["citation"] for n in result.notices] == ["《法律援助法》第四十三条"]


def test_low_income_traffic_victim_is_likely_eligible_with_the_tests_standard():
    answers = Answers("traffic", household_size=3, monthly_income=2400)
    assert precheck(answers, STANDARD).decision.outcome == LIKELY_ELIGIBLE
    # The shipped standard is unset: the agency has to check the means.
    shipped = precheck(answers)
    assert shipped.decision.outcome == NEEDS_REVIEW
    assert "hardship_standard" in shipped.decision.missing


def test_minor_suspect_needs_no_application_so_no_materials_and_no_clock():
    answers = Answers("criminal", role="suspect", circumstances="minor")
    result = precheck(answers, STANDARD)
    assert result.decision.outcome == APPOINTED_DEFENSE
    assert result.decision.reasons[0].citation == "《法律援助法》第二十五条"
    assert result.materials == () and result.notices == ()


def test_refusal_tells_where_to_object_and_a_close_deadline_offers_advance_aid():
    result = precheck(
        Answers("property", household_size=2, monthly_income=400, days_to_deadline=3),
        STANDARD,
    )
    assert result.decision.outcome == NOT_IN_SCOPE
    citations = {n["key"]: n["citation"] for n in result.notices}
    assert citations == {
        "decides": "《法律援助法》第四十三条",
        "objection": "《法律援助法》第四十九条",
        "advance_aid": "《法律援助法》第四十四条",
    }


def test_materials_are_common_then_category_then_status_without_repeats():
    items = materials_for(
        "work_injury", ["assistance_recipient", "assistance_recipient"]
    )
    assert items[: len(MATERIALS["common"])] == MATERIALS["common"]
    assert items.count(MATERIALS["by_status"]["assistance_recipient"]) == 1
    assert len(items) == len(set(items))


def test_hardship_standard_is_the_competent_centres_county():
    standards = {
        **STANDARD,
        "固始县": HardshipStandard("test", 500.0, "2026-01-01", "test fixture"),
    }
    # Lives in 息县 (default standard 1000), the court is in 固始 (500): 800 is above.
    answers = Answers(
        "labor",
        household_size=1,
        monthly_income=800,
        stage="court",
        organ_place="固始",
        residence_county="息县",
    )
    application, result = build_application(
        answers, channel="web", name="张秀英", phone="13800138000", standards=standards
    )
    assert result.decision.outcome == NOT_IN_SCOPE
    assert precheck(answers, standards).decision.outcome == NOT_IN_SCOPE
    assert application.decision["hardship_county"] == "固始县"
    assert application.competent_centre == "gushi"
    assert application.receiving_centre == "xixian"
    assert application.residence_county == "息县"


def test_application_carries_route_decision_materials_and_clean_contact():
    answers = Answers(
        "labor",
        statuses={"migrant_worker"},
        stage="none",
        event_place="xixian",  # a centre key from the form's buttons works too
        residence_county="潢川",
    )
    application, result = build_application(
        answers,
        channel="wechat",
        name=" 我叫张秀英",
        phone="+86 138-0013-8000",
        conversation_id="conv-1",
    )
    assert application.competent_centre == "xixian"
    assert application.receiving_centre == "huangchuan"
    assert application.outcome == MEANS_CHECK_WAIVED
    assert application.matter == "labor_pay"
    assert application.decision["basis"] == "non_litigation"
    assert application.decision["reasons"][1]["citation"] == "《法律援助法》第四十二条"
    assert application.materials == list(result.materials)
    assert application.applicant_name == "张秀英"
    assert application.applicant_phone == "13800138000"
    assert application.residence_county == "潢川县"
    assert "13800138000" not in repr(application)
    assert "张秀英" not in repr(application)


def test_unknown_places_go_to_the_city_centre_and_keep_the_competent_one_open():
    application, _ = build_application(
        Answers("debt", stage="court", organ_place="郑州市", residence_county="不清楚"),
        channel="hotline",
        name="王强",
        phone="13900000000",
    )
    assert application.receiving_centre == "city"
    assert application.competent_centre is None


def test_criminal_category_is_a_criminal_proceeding_without_saying_so():
    result = precheck(
        Answers("criminal", role="victim", household_size=1, monthly_income=500),
        STANDARD,
    )
    assert result.reasons[0]["rule"] == "criminal_victim"


@pytest.mark.parametrize(
    ("answers", "extra", "field"),
    [
        (Answers("weather"), {}, "category"),
        (Answers(None), {}, "category"),
        (Answers("labor", matter="divorce"), {}, "matter"),
        (Answers("criminal", role="judge"), {}, "role"),
        (Answers("labor", proceeding="military"), {}, "proceeding"),
        (Answers("labor", circumstances={"rich"}), {}, "circumstances"),
        (Answers("labor", statuses={"student"}), {}, "statuses"),
        (Answers("labor", household_size=0), {}, "household_size"),
        (Answers("labor", household_size=True), {}, "household_size"),
        (Answers("labor", household_size=2.5), {}, "household_size"),
        (Answers("labor", monthly_income=-1), {}, "monthly_income"),
        (Answers("labor", monthly_income=float("nan")), {}, "monthly_income"),
        (Answers("labor", days_to_deadline=-1), {}, "days_to_deadline"),
        (Answers("labor", urgent_preservation="yes"), {}, "urgent_preservation"),
        (Answers("labor", stage="heaven"), {}, "stage"),
        (Answers("labor", organ_place="县" * 21), {}, "organ_place"),
        (Answers("labor"), {"channel": "sms"}, "channel"),
        (Answers("labor"), {"name": ""}, "name"),
        (Answers("labor"), {"name": "张3"}, "name"),
        (Answers("labor"), {"phone": "0376-1234567"}, "phone"),
        (Answers("labor"), {"conversation_id": "x" * 129}, "conversation_id"),
    ],
)
def test_answers_the_pre_check_cannot_use_name_their_field(answers, extra, field):
    contact = {"channel": "web", "name": "张秀英", "phone": "13800138000", **extra}
    with pytest.raises(InvalidAnswer) as caught:
        build_application(answers, **contact)
    assert caught.value.field == field
