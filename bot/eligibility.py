"""Legal-aid eligibility pre-check under the PRC Legal Aid Law (法律援助法).

Plain Python, no Rasa imports. The rules are the table below, checked in order; every
reason names its article and carries the statute's own words (read from data/laws).
The result is indicative: the legal-aid agency decides (以法律援助机构审查决定为准).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.knowledge import KNOWLEDGE_DIR
from bot.laws import find_law, int_to_chinese

LAW = "法律援助法"
ITEMS = "一二三四五六七八九"

# Outcomes, from the strongest to the weakest.
APPOINTED_DEFENSE = (
    "appointed_defense"  # Art. 25, 28: a lawyer is appointed, no application
)
NO_MEANS_TEST = "no_means_test"  # Art. 32: aid without the economic condition
MEANS_CHECK_WAIVED = (
    "means_check_waived"  # Art. 42: hardship presumed with the document
)
LIKELY_ELIGIBLE = (
    "likely_eligible"  # Art. 31/24/29/33 matter + income under the standard
)
NEEDS_REVIEW = "needs_review"  # missing information, standard not set, borderline
NOT_IN_SCOPE = (
    "not_in_scope"  # outside the listed matters, or income above the standard
)

# Art. 25 (items) and 28: suspects/defendants for whom a lawyer must be appointed.
APPOINTED = {
    "minor": (25, 1),
    "blind_deaf_mute": (25, 2),
    "cannot_recognise_conduct": (25, 3),
    "life_or_death_penalty": (25, 4),
    "death_penalty_review": (25, 5),
    "trial_in_absentia": (25, 6),
    "compulsory_treatment": (28, None),
}
# Art. 32: no economic-hardship condition.
NO_MEANS = {
    "hero_relative": 1,
    "brave_act": 2,
    "retrial_acquittal_compensation": 3,
    "abuse_victim": 4,  # 虐待、遗弃或者家庭暴力的受害人
}
# Art. 42: exempt from the economic check when the document is shown.
WAIVERS = {
    "vulnerable_without_income": 1,  # 无固定生活来源的未成年人、老年人、残疾人
    "assistance_recipient": 2,  # 社会救助、司法救助或者优抚对象
    "migrant_worker": 3,  # only for labour pay or work-injury compensation
}
# Art. 31 items: civil and administrative matters that qualify with economic hardship.
MATTERS = {
    "state_compensation": 1,
    "social_insurance": 2,
    "social_assistance": 2,
    "pension_allowance": 3,  # 抚恤金
    "support_payment": 4,  # 赡养费、抚养费、扶养费
    "labor_relation": 5,
    "labor_pay": 5,
    "incapacity_declaration": 6,
    "work_injury_compensation": 7,
    "traffic_injury_compensation": 7,
    "food_drug_injury_compensation": 7,
    "medical_injury_compensation": 7,
    "environment_damage": 8,
}
MIGRANT_WORKER_MATTERS = {"labor_pay", "work_injury_compensation"}
# The matter a triage category usually means; the form lets the citizen confirm it.
DEFAULT_MATTER = {
    "labor": "labor_pay",
    "work_injury": "work_injury_compensation",
    "social_security": "social_insurance",
    "traffic": "traffic_injury_compensation",
    "medical": "medical_injury_compensation",
}
CRIMINAL_ROLES = {
    "suspect": 24,
    "victim": 29,
    "private_prosecutor": 29,
    "civil_plaintiff": 29,
}
BORDERLINE = 0.10  # within 10% above the standard: the agency should look closely
ADVANCE_AID_DAYS = 7  # Art. 44 (一): 距法定时效或者期限届满不足七日


@dataclass(frozen=True)
class Case:
    category: str
    matter: str | None = None
    proceeding: str = "civil"  # civil | administrative | criminal
    role: str | None = (
        None  # criminal: suspect | victim | private_prosecutor | civil_plaintiff
    )
    circumstances: frozenset[str] = frozenset()  # keys of APPOINTED and NO_MEANS
    statuses: frozenset[str] = frozenset()  # keys of WAIVERS (with a document)
    retrial: bool = False  # Art. 33: 申诉、再审
    household_size: int | None = None
    monthly_income: float | None = None  # whole household, yuan per month (Art. 41)
    county: str | None = None
    days_to_deadline: int | None = None
    urgent_preservation: bool = False


@dataclass(frozen=True)
class Reason:
    rule: str  # a key of data/knowledge/eligibility.yml `reasons`
    citation: str  # 《法律援助法》第三十一条
    quote: str  # the statute's own words


@dataclass(frozen=True)
class Decision:
    outcome: str
    reasons: tuple[Reason, ...]
    missing: tuple[str, ...] = ()
    advance_aid_possible: bool = False
    matter: str | None = None


@dataclass(frozen=True)
class HardshipStandard:
    basis: str
    amount: float | None  # yuan per person per month; None until the bureau sets it
    effective_date: str
    source: str


def statute(article: int, item: int | None = None) -> tuple[str, str]:
    """(citation, quoted words) of an article or one of its items, from data/laws."""
    text = find_law(LAW).articles[article]
    citation = f"《{LAW}》第{int_to_chinese(article)}条"
    if item is None:
        first = text.split("\n")[0]
        return citation, re.sub(r"^第[^条]+条\s*", "", first)
    marker = f"（{ITEMS[item - 1]}）"
    line = next(line for line in text.split("\n") if line.startswith(marker))
    return citation, line


def reason(rule: str, article: int, item: int | None = None) -> Reason:
    citation, quote = statute(article, item)
    return Reason(rule, citation, quote)


@lru_cache(maxsize=4)
def hardship_standards(
    knowledge_dir: Path = KNOWLEDGE_DIR,
) -> dict[str, HardshipStandard]:
    raw = yaml.safe_load(
        (knowledge_dir / "hardship_standard.yml").read_text(encoding="utf-8")
    )
    default = raw["default"]
    result = {"default": HardshipStandard(**default)}
    for county, override in (raw.get("counties") or {}).items():
        result[county] = HardshipStandard(**{**default, **override})
    return result


def _means_test(
    case: Case, standards: dict[str, HardshipStandard], scope: Reason
) -> Decision:
    standard = standards.get(case.county or "", standards["default"])
    missing = [
        name
        for name, value in (
            ("household_size", case.household_size),
            ("monthly_income", case.monthly_income),
        )
        if value is None
    ]
    if standard.amount is None:
        missing.append("hardship_standard")
    if missing:
        return Decision(
            NEEDS_REVIEW, (scope, reason("means_unknown", 34)), tuple(missing)
        )
    per_person = case.monthly_income / max(case.household_size, 1)
    if per_person <= standard.amount:
        return Decision(LIKELY_ELIGIBLE, (scope, reason("income_under_standard", 34)))
    if per_person <= standard.amount * (1 + BORDERLINE) or case.role == "suspect":
        # Suspects may also qualify for "其他原因" (Art. 24): the agency decides.
        return Decision(NEEDS_REVIEW, (scope, reason("income_borderline", 34)))
    return Decision(NOT_IN_SCOPE, (scope, reason("income_above_standard", 34)))


def _scope(case: Case, matter: str | None) -> Reason | None:
    if case.proceeding == "criminal" and case.role in CRIMINAL_ROLES:
        article = CRIMINAL_ROLES[case.role]
        return reason(f"criminal_{case.role}", article)
    if case.retrial:
        return reason("retrial", 33)
    if matter in MATTERS:
        return reason(f"matter_{matter}", 31, MATTERS[matter])
    return None


def decide(
    case: Case, standards: dict[str, HardshipStandard] | None = None
) -> Decision:
    """The pre-check. Rules in order: appointed defence, no means test, scope, waiver, means."""
    standards = standards or hardship_standards()
    matter = case.matter or DEFAULT_MATTER.get(case.category)
    circumstances = set(case.circumstances)
    if case.category == "domestic_violence" and case.role != "suspect":
        circumstances.add("abuse_victim")
    advance = case.urgent_preservation or (
        case.days_to_deadline is not None and case.days_to_deadline < ADVANCE_AID_DAYS
    )

    def done(decision: Decision) -> Decision:
        return Decision(
            decision.outcome, decision.reasons, decision.missing, advance, matter
        )

    if case.proceeding == "criminal" and case.role == "suspect":
        for flag, (article, item) in APPOINTED.items():
            if flag in circumstances:
                return done(Decision(APPOINTED_DEFENSE, (reason(flag, article, item),)))
    for flag, item in NO_MEANS.items():
        if flag in circumstances:
            return done(Decision(NO_MEANS_TEST, (reason(flag, 32, item),)))

    scope = _scope(case, matter)
    if scope is None:
        if case.proceeding == "criminal" and case.role is None:
            return done(
                Decision(
                    NEEDS_REVIEW, (reason("criminal_role_unknown", 24),), ("role",)
                )
            )
        missing = (
            ("matter",)
            if matter is None and case.category in {"family", "administrative"}
            else ()
        )
        outcome = NEEDS_REVIEW if missing else NOT_IN_SCOPE
        return done(Decision(outcome, (reason("matter_not_listed", 31),), missing))

    for flag, item in WAIVERS.items():
        if flag not in case.statuses:
            continue
        if flag == "migrant_worker" and matter not in MIGRANT_WORKER_MATTERS:
            continue
        return done(Decision(MEANS_CHECK_WAIVED, (scope, reason(flag, 42, item))))

    return done(_means_test(case, standards, scope))
