"""The legal-aid pre-check, one row per article branch, boundary and named combination."""

import pytest

from bot.eligibility import (
    APPOINTED_DEFENSE,
    LIKELY_ELIGIBLE,
    MEANS_CHECK_WAIVED,
    NEEDS_REVIEW,
    NO_MEANS_TEST,
    NOT_IN_SCOPE,
    Case,
    HardshipStandard,
    decide,
    hardship_standards,
)
from bot.laws import find_law

STANDARD = {"default": HardshipStandard("test", 1000.0, "2026-01-01", "test fixture")}
S = frozenset


def criminal(role, *flags, **kw):
    return Case(
        "criminal", proceeding="criminal", role=role, circumstances=S(flags), **kw
    )


CASES = [
    # (name, case, outcome, first reason rule)
    ("minor suspect", criminal("suspect", "minor"), APPOINTED_DEFENSE, "minor"),
    (
        "deaf suspect",
        criminal("suspect", "blind_deaf_mute"),
        APPOINTED_DEFENSE,
        "blind_deaf_mute",
    ),
    (
        "incapacity",
        criminal("suspect", "cannot_recognise_conduct"),
        APPOINTED_DEFENSE,
        "cannot_recognise_conduct",
    ),
    (
        "death penalty",
        criminal("suspect", "life_or_death_penalty"),
        APPOINTED_DEFENSE,
        "life_or_death_penalty",
    ),
    (
        "death review",
        criminal("suspect", "death_penalty_review"),
        APPOINTED_DEFENSE,
        "death_penalty_review",
    ),
    (
        "absentia",
        criminal("suspect", "trial_in_absentia"),
        APPOINTED_DEFENSE,
        "trial_in_absentia",
    ),
    (
        "compulsory treatment",
        criminal("suspect", "compulsory_treatment"),
        APPOINTED_DEFENSE,
        "compulsory_treatment",
    ),
    (
        "hero relative",
        Case("other", circumstances=S({"hero_relative"})),
        NO_MEANS_TEST,
        "hero_relative",
    ),
    (
        "brave act",
        Case("personal_injury", circumstances=S({"brave_act"})),
        NO_MEANS_TEST,
        "brave_act",
    ),
    (
        "retrial acquittal",
        Case("administrative", circumstances=S({"retrial_acquittal_compensation"})),
        NO_MEANS_TEST,
        "retrial_acquittal_compensation",
    ),
    (
        "abuse victim",
        Case("family", circumstances=S({"abuse_victim"})),
        NO_MEANS_TEST,
        "abuse_victim",
    ),
    (
        "poor suspect",
        criminal("suspect", household_size=2, monthly_income=1000),
        LIKELY_ELIGIBLE,
        "criminal_suspect",
    ),
    (
        "rich suspect: other reasons",
        criminal("suspect", household_size=1, monthly_income=9000),
        NEEDS_REVIEW,
        "criminal_suspect",
    ),
    (
        "poor victim",
        criminal("victim", household_size=1, monthly_income=800),
        LIKELY_ELIGIBLE,
        "criminal_victim",
    ),
    (
        "private prosecutor",
        criminal("private_prosecutor", household_size=1, monthly_income=800),
        LIKELY_ELIGIBLE,
        "criminal_private_prosecutor",
    ),
    (
        "civil plaintiff",
        criminal("civil_plaintiff", household_size=1, monthly_income=800),
        LIKELY_ELIGIBLE,
        "criminal_civil_plaintiff",
    ),
    (
        "criminal role unknown",
        Case("criminal", proceeding="criminal"),
        NEEDS_REVIEW,
        "criminal_role_unknown",
    ),
    (
        "retrial",
        Case("contract", retrial=True, household_size=1, monthly_income=500),
        LIKELY_ELIGIBLE,
        "retrial",
    ),
    (
        "state compensation",
        Case(
            "administrative",
            matter="state_compensation",
            household_size=1,
            monthly_income=500,
        ),
        LIKELY_ELIGIBLE,
        "matter_state_compensation",
    ),
    (
        "social insurance",
        Case("social_security", household_size=1, monthly_income=500),
        LIKELY_ELIGIBLE,
        "matter_social_insurance",
    ),
    (
        "pension allowance",
        Case(
            "social_security",
            matter="pension_allowance",
            household_size=1,
            monthly_income=500,
        ),
        LIKELY_ELIGIBLE,
        "matter_pension_allowance",
    ),
    (
        "child support",
        Case("family", matter="support_payment", household_size=3, monthly_income=2400),
        LIKELY_ELIGIBLE,
        "matter_support_payment",
    ),
    (
        "labour relation",
        Case("labor", matter="labor_relation", household_size=1, monthly_income=900),
        LIKELY_ELIGIBLE,
        "matter_labor_relation",
    ),
    (
        "incapacity declaration",
        Case(
            "family",
            matter="incapacity_declaration",
            household_size=1,
            monthly_income=900,
        ),
        LIKELY_ELIGIBLE,
        "matter_incapacity_declaration",
    ),
    (
        "traffic injury",
        Case("traffic", household_size=4, monthly_income=3000),
        LIKELY_ELIGIBLE,
        "matter_traffic_injury_compensation",
    ),
    (
        "medical injury",
        Case("medical", household_size=4, monthly_income=3000),
        LIKELY_ELIGIBLE,
        "matter_medical_injury_compensation",
    ),
    (
        "food safety injury",
        Case(
            "consumer",
            matter="food_drug_injury_compensation",
            household_size=1,
            monthly_income=100,
        ),
        LIKELY_ELIGIBLE,
        "matter_food_drug_injury_compensation",
    ),
    (
        "pollution",
        Case(
            "neighbor",
            matter="environment_damage",
            household_size=1,
            monthly_income=100,
        ),
        LIKELY_ELIGIBLE,
        "matter_environment_damage",
    ),
    (
        "divorce property is not listed",
        Case("family", matter="none", household_size=1, monthly_income=100),
        NOT_IN_SCOPE,
        "matter_not_listed",
    ),
    ("family matter unknown", Case("family"), NEEDS_REVIEW, "matter_not_listed"),
    (
        "landlord dispute with low income",
        Case("property", household_size=3, monthly_income=600),
        NOT_IN_SCOPE,
        "matter_not_listed",
    ),
    (
        "social assistance recipient",
        Case("traffic", statuses=S({"assistance_recipient"})),
        MEANS_CHECK_WAIVED,
        "matter_traffic_injury_compensation",
    ),
    (
        "elderly without income",
        Case("social_security", statuses=S({"vulnerable_without_income"})),
        MEANS_CHECK_WAIVED,
        "matter_social_insurance",
    ),
    (
        "migrant worker wage claim",
        Case("labor", statuses=S({"migrant_worker"})),
        MEANS_CHECK_WAIVED,
        "matter_labor_pay",
    ),
    (
        "migrant worker work injury",
        Case("work_injury", statuses=S({"migrant_worker"})),
        MEANS_CHECK_WAIVED,
        "matter_work_injury_compensation",
    ),
    (
        "migrant worker traffic claim: no waiver",
        Case(
            "traffic",
            statuses=S({"migrant_worker"}),
            household_size=1,
            monthly_income=5000,
        ),
        NOT_IN_SCOPE,
        "matter_traffic_injury_compensation",
    ),
    ("income missing", Case("labor"), NEEDS_REVIEW, "matter_labor_pay"),
]


@pytest.mark.parametrize(
    ("name", "case", "outcome", "rule"), CASES, ids=[c[0] for c in CASES]
)
def test_pre_check_follows_the_legal_aid_law(name, case, outcome, rule):
    decision = decide(case, STANDARD)
    assert decision.outcome == outcome
    assert decision.reasons[0].rule == rule


@pytest.mark.parametrize(
    ("name", "case", "outcome", "rule"), CASES, ids=[c[0] for c in CASES]
)
def test_every_reason_quotes_the_statute_it_cites(name, case, outcome, rule):
    law = find_law("法律援助法")
    for reason in decide(case, STANDARD).reasons:
        number = next(n for n in law.articles if law.citation(n) == reason.citation)
        assert reason.quote in law.articles[number]


@pytest.mark.parametrize(
    ("income", "size", "outcome"),
    [
        (2000, 2, LIKELY_ELIGIBLE),
        (2001, 2, NEEDS_REVIEW),
        (2200, 2, NEEDS_REVIEW),
        (2201, 2, NOT_IN_SCOPE),
        (0, 1, LIKELY_ELIGIBLE),
    ],
)
def test_income_boundaries_per_person(income, size, outcome):
    case = Case("labor", household_size=size, monthly_income=income)
    assert decide(case, STANDARD).outcome == outcome


def test_migrant_worker_wage_claim_skips_the_means_check():
    decision = decide(Case("labor", statuses=S({"migrant_worker"})), STANDARD)
    assert decision.outcome == MEANS_CHECK_WAIVED and decision.missing == ()


def test_domestic_violence_victim_above_the_line_needs_no_means_test():
    decision = decide(
        Case("domestic_violence", household_size=1, monthly_income=20000), STANDARD
    )
    assert decision.outcome == NO_MEANS_TEST
    assert decision.reasons[0].citation == "《法律援助法》第三十二条"


def test_minor_suspect_gets_an_appointed_lawyer_without_applying():
    decision = decide(
        criminal("suspect", "minor", household_size=1, monthly_income=50000), STANDARD
    )
    assert decision.outcome == APPOINTED_DEFENSE
    assert decision.reasons[0].citation == "《法律援助法》第二十五条"


def test_landlord_dispute_with_low_income_is_not_a_listed_matter():
    decision = decide(Case("property", household_size=2, monthly_income=400), STANDARD)
    assert decision.outcome == NOT_IN_SCOPE


def test_work_injury_claim_with_a_five_day_deadline_can_get_advance_aid():
    decision = decide(
        Case("work_injury", household_size=3, monthly_income=1500, days_to_deadline=5),
        STANDARD,
    )
    assert decision.outcome == LIKELY_ELIGIBLE and decision.advance_aid_possible
    assert not decide(
        Case("work_injury", days_to_deadline=7), STANDARD
    ).advance_aid_possible
    assert decide(Case("debt", urgent_preservation=True), STANDARD).advance_aid_possible


def test_unset_henan_standard_makes_the_means_part_needs_review():
    assert hardship_standards()["default"].amount is None
    decision = decide(Case("labor", household_size=1, monthly_income=100))
    assert decision.outcome == NEEDS_REVIEW and "hardship_standard" in decision.missing


def test_county_override_of_the_standard_applies():
    standards = {**STANDARD, "息县": HardshipStandard("test", 500.0, "2026-01-01", "t")}
    case = Case("labor", household_size=1, monthly_income=800, county="息县")
    assert decide(case, standards).outcome == NOT_IN_SCOPE
    assert (
        decide(Case("labor", household_size=1, monthly_income=800), standards).outcome
        == LIKELY_ELIGIBLE
    )
