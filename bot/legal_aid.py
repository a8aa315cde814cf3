"""A legal-aid pre-check and application from a citizen's plain answers.

Plain Python, no Rasa imports: the Rasa form (actions/legal_aid.py), the web API
(bot/web/legal_aid_api.py) and the tests call these same functions. The decision is
bot/eligibility.py, the competent centre bot/routing.py, the record bot/intake.py;
the texts and the materials list are data (data/knowledge/eligibility.yml).

Also the normalisers a form validator needs: a mainland mobile number, a name, and a
number as people say it ("3口人", "两千五", "1.5万", "三千多").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot import eligibility, knowledge, routing
from bot.eligibility import Case, Decision, HardshipStandard
from bot.intake import CHANNELS, Application
from bot.knowledge import KNOWLEDGE_DIR

PROCEEDINGS = ("civil", "administrative", "criminal")
STAGES = ("court", "police", "procuratorate", "arbitration", "none")
# Matter keys meaning "none of the listed matters" (the form offers both).
UNLISTED_MATTERS = ("none", "other")
MAX_HOUSEHOLD = 50
MAX_MONTHLY_INCOME = 10_000_000
MAX_DAYS = 3650
MAX_PLACE = 20  # intakes.residence_county is VARCHAR(20)
MAX_CONVERSATION_ID = 128


class InvalidAnswer(ValueError):
    """An answer the pre-check cannot use. `field` names it; `problem` is a code
    (required | unknown_value | out_of_range | wrong_type | too_long) that callers
    turn into their own words."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Answers:
    """What the citizen said. None means "not asked" or "不清楚"."""

    category: str
    matter: str | None = None  # a key of eligibility.MATTERS, or none/other
    proceeding: str | None = None  # civil | administrative | criminal; None: category's
    role: str | None = None  # criminal cases: eligibility.CRIMINAL_ROLES
    circumstances: frozenset[str] = frozenset()  # eligibility.APPOINTED / NO_MEANS
    statuses: frozenset[str] = frozenset()  # eligibility.WAIVERS
    retrial: bool = False
    household_size: int | None = None
    monthly_income: float | None = None  # whole household, yuan per month
    days_to_deadline: int | None = None
    urgent_preservation: bool = False
    stage: str | None = None  # court | police | procuratorate | arbitration | none
    organ_place: str | None = None  # county of the court/police/arbitration handling it
    event_place: str | None = None  # county where it happened
    residence_county: str | None = None
    county: str | None = None  # whose hardship standard; None: from the routing

    def __post_init__(self) -> None:
        for name in ("circumstances", "statuses"):
            value = getattr(self, name)
            if isinstance(value, str):  # a bare "minor" is one flag, not 5 letters
                value = (value,)
            object.__setattr__(self, name, frozenset(value or ()))


@dataclass(frozen=True)
class PreCheck:
    decision: Decision
    outcome_text: str
    reasons: tuple[dict, ...]  # {"rule", "text", "citation", "quote"}
    notices: tuple[dict, ...]  # {"key", "text", "citation"}
    materials: tuple[str, ...]

    def as_dict(self) -> dict:
        d = self.decision
        return {
            "outcome": d.outcome,
            "outcome_text": self.outcome_text,
            "reasons": list(self.reasons),
            "missing": list(d.missing),
            "advance_aid_possible": d.advance_aid_possible,
            "notices": list(self.notices),
            "materials": list(self.materials),
        }


@lru_cache(maxsize=4)
def texts(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict:
    path = knowledge_dir / "eligibility.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def centre_key(place: str | None) -> str | None:
    """A centre key from a key ("xixian"), a county name or an alias ("息县")."""
    if not place:
        return None
    place = place.strip()
    return place if place in knowledge.centres() else routing.centre_for(place)


def county_name(place: str | None) -> str | None:
    """The county as data/knowledge names it (固始 -> 固始县), or None if not ours."""
    key = centre_key(place)
    return knowledge.centres()[key]["county"] if key else None


def check(answers: Answers) -> None:
    """Raise InvalidAnswer for the first answer the pre-check cannot use."""
    a = answers
    _one_of("category", a.category, knowledge.categories(), required=True)
    _one_of("matter", a.matter, [*eligibility.MATTERS, *UNLISTED_MATTERS])
    _one_of("proceeding", a.proceeding, PROCEEDINGS)
    _one_of("role", a.role, eligibility.CRIMINAL_ROLES)
    for flag in a.circumstances:
        _one_of("circumstances", flag, [*eligibility.APPOINTED, *eligibility.NO_MEANS])
    for flag in a.statuses:
        _one_of("statuses", flag, eligibility.WAIVERS)
    _number("household_size", a.household_size, 1, MAX_HOUSEHOLD, integer=True)
    _number("monthly_income", a.monthly_income, 0, MAX_MONTHLY_INCOME)
    _number("days_to_deadline", a.days_to_deadline, 0, MAX_DAYS, integer=True)
    for name in ("retrial", "urgent_preservation"):
        if not isinstance(getattr(a, name), bool):
            raise InvalidAnswer(name, "wrong_type")
    _one_of("stage", a.stage, STAGES)
    for name in ("organ_place", "event_place", "residence_county", "county"):
        _text(name, getattr(a, name), MAX_PLACE)


def _one_of(name: str, value, allowed: Iterable[str], required: bool = False) -> None:
    if value is None:
        if required:
            raise InvalidAnswer(name, "required")
        return
    if not isinstance(value, str):
        raise InvalidAnswer(name, "wrong_type")
    if value not in allowed:
        raise InvalidAnswer(name, "unknown_value")


def _number(name, value, low, high, integer: bool = False) -> None:
    if value is None:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise InvalidAnswer(name, "wrong_type")
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidAnswer(name, "out_of_range")


def _text(name: str, value, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidAnswer(name, "wrong_type")
    if len(value.strip()) > limit:
        raise InvalidAnswer(name, "too_long")


def case_of(answers: Answers, county: str | None = None) -> Case:
    """The eligibility Case; `county` picks the hardship standard (a county name)."""
    matter_type = knowledge.categories()[answers.category].matter_type
    proceeding = answers.proceeding or (
        matter_type if matter_type in PROCEEDINGS else "civil"
    )
    return Case(
        category=answers.category,
        matter=answers.matter,
        proceeding=proceeding,
        role=answers.role,
        circumstances=answers.circumstances,
        statuses=answers.statuses,
        retrial=answers.retrial,
        household_size=answers.household_size,
        monthly_income=(
            float(answers.monthly_income)
            if answers.monthly_income is not None
            else None
        ),
        county=county,
        days_to_deadline=answers.days_to_deadline,
        urgent_preservation=answers.urgent_preservation,
    )


def materials_for(
    category: str, statuses: Iterable[str] = (), outcome: str | None = None
) -> list[str]:
    """What to bring: everyone's list, the category's, and the proof of a status.
    Nothing when a lawyer is appointed without an application (Art. 25, 28)."""
    if outcome == eligibility.APPOINTED_DEFENSE:
        return []
    lists = texts()["materials"]
    by_status = lists.get("by_status") or {}
    items = [
        *lists["common"],
        *(lists.get("by_category") or {}).get(category, []),
        *(by_status[s] for s in sorted(set(statuses)) if s in by_status),
    ]
    return list(dict.fromkeys(items))  # in order, once each


def notices_for(decision: Decision) -> list[dict]:
    notice = texts()["notice"]
    keys = []
    if decision.outcome != eligibility.APPOINTED_DEFENSE:
        keys.append("decides")  # the agency decides (Art. 43)
    if decision.outcome in (eligibility.NOT_IN_SCOPE, eligibility.NEEDS_REVIEW):
        keys.append("objection")  # what to do if refused (Art. 49)
    if decision.advance_aid_possible:
        keys.append("advance_aid")  # Art. 44
    return [
        {"key": k, "text": notice[k], "citation": notice[f"{k}_basis"]} for k in keys
    ]


def _precheck(answers: Answers, county: str | None, standards) -> PreCheck:
    decision = eligibility.decide(case_of(answers, county), standards)
    t = texts()
    return PreCheck(
        decision=decision,
        outcome_text=t["outcomes"][decision.outcome],
        reasons=tuple(
            {
                "rule": r.rule,
                "text": t["reasons"][r.rule],
                "citation": r.citation,
                "quote": r.quote,
            }
            for r in decision.reasons
        ),
        notices=tuple(notices_for(decision)),
        materials=tuple(
            materials_for(answers.category, answers.statuses, decision.outcome)
        ),
    )


def route_of(answers: Answers) -> routing.Route:
    """Competent and receiving centre (Art. 38) for these answers."""
    return routing.route(
        answers.stage,
        county_name(answers.organ_place) or answers.organ_place,
        county_name(answers.event_place) or answers.event_place,
        county_name(answers.residence_county),
    )


def _standard_county(answers: Answers, where: routing.Route) -> str | None:
    """Whose hardship standard: the one asked for, else where aid would be given
    (the competent centre), else where the citizen lives; None: the default."""
    return county_name(answers.county) or county_name(
        where.competent or where.receiving
    )


def precheck(
    answers: Answers, standards: dict[str, HardshipStandard] | None = None
) -> PreCheck:
    """The pre-check with its texts, citations, notices and materials; the same
    result build_application gives for the same answers. No personal data involved.
    Raises InvalidAnswer."""
    check(answers)
    return _precheck(answers, _standard_county(answers, route_of(answers)), standards)


def build_application(
    answers: Answers,
    *,
    channel: str,
    name: str,
    phone: str,
    conversation_id: str | None = None,
    standards: dict[str, HardshipStandard] | None = None,
) -> tuple[Application, PreCheck]:
    """The Application to submit (IntakeStore.submit) and the pre-check it carries.

    name and phone are normalised here (normalise_name / normalise_phone); the
    hardship standard is the competent centre's county's, else the residence's.
    Raises InvalidAnswer naming the field.
    """
    check(answers)
    if channel not in CHANNELS:
        raise InvalidAnswer("channel", "unknown_value")
    clean_name = normalise_name(name) if isinstance(name, str) else None
    if clean_name is None:
        raise InvalidAnswer("name", "required" if not name else "unknown_value")
    clean_phone = normalise_phone(phone) if isinstance(phone, str) else None
    if clean_phone is None:
        raise InvalidAnswer("phone", "required" if not phone else "unknown_value")
    if conversation_id is not None and (
        not isinstance(conversation_id, str)
        or not 1 <= len(conversation_id) <= MAX_CONVERSATION_ID
    ):
        raise InvalidAnswer("conversation_id", "out_of_range")

    where = route_of(answers)
    county = _standard_county(answers, where)
    result = _precheck(answers, county, standards)
    d = result.decision
    residence = answers.residence_county
    application = Application(
        conversation_id=conversation_id,
        channel=channel,
        receiving_centre=where.receiving,
        competent_centre=where.competent,
        category=answers.category,
        matter=d.matter,
        outcome=d.outcome,
        decision={
            "outcome": d.outcome,
            "reasons": [
                {"rule": r.rule, "citation": r.citation, "quote": r.quote}
                for r in d.reasons
            ],
            "missing": list(d.missing),
            "advance_aid_possible": d.advance_aid_possible,
            "basis": where.basis,  # litigation | non_litigation (Art. 38)
            "hardship_county": county,
        },
        materials=list(result.materials),
        applicant_name=clean_name,
        applicant_phone=clean_phone,
        residence_county=county_name(residence) or (residence or "").strip() or None,
    )
    return application, result


# --- Normalisers for typed answers -------------------------------------------------

MOBILE = re.compile(r"1[3-9]\d{9}")
PHONE_JUNK = re.compile(r"[\s\-‐‑‒–—―−·.()（）]")


def normalise_phone(text: str | None) -> str | None:
    """'１３８ ００１３-８０００', '+86 138…', '0086138…' -> '13800138000'; a mainland
    mobile number or None (landlines and anything else)."""
    if not text:
        return None
    digits = PHONE_JUNK.sub("", unicodedata.normalize("NFKC", text))
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    return digits if MOBILE.fullmatch(digits) else None


NAME_PREFIXES = ("我的名字叫", "我的名字是", "名字叫", "名字是", "姓名", "我叫", "我是")
NAME_DOTS = "·•・．."


def normalise_name(text: str | None) -> str | None:
    """A person's name as typed: '我叫 张秀英' -> '张秀英'; letters (any script),
    the middle dot of minority names and single spaces; 1–30 characters."""
    if not text:
        return None
    name = unicodedata.normalize("NFKC", text).strip().strip("：:，,。")
    for prefix in NAME_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :].strip().lstrip("：:")
            break
    name = re.sub(r"\s+", " ", name)
    for dot in NAME_DOTS:
        name = name.replace(dot, "·")
    if not 1 <= len(name) <= 30:
        return None
    if not all(c.isalpha() or c in "· " for c in name) or name.strip("· ") != name:
        return None
    return name


_DIGITS = {
    **{c: i for i, c in enumerate("零一二三四五六七八九")},
    **{c: i for i, c in enumerate("〇壹贰叁肆伍陆柒捌玖")},
    "两": 2,
    "俩": 2,  # 俺俩
    "仨": 3,  # 俺家仨人
}
_SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000}
_NUMERAL = "".join(_DIGITS) + "".join(_SMALL) + "".join(_BIG)
_RUN = re.compile(rf"(?:\d+(?:\.\d+)?|[{_NUMERAL}])+")
_TOKEN = re.compile(rf"\d+(?:\.\d+)?|[{_NUMERAL}]")
# Words with a numeral that is not the quantity asked for.
_IDIOMS = (
    "一家",
    "一共",
    "一个月",
    "每个月",
    "一月",
    "一般",
    "一直",
    "一起",
    "一些",
    "一样",
    "一下",
    "一定",
    "统一",
    "万一",
    "零工",
    "零活",
    "零钱",
    "零花",
)
_NOTHING = {"没有", "没", "无", "没有收入", "没收入", "无收入", "没工作", "没有工作"}


def parse_number(text: str | None) -> int | float | None:
    """The one number in an answer, as people say it; None when there is none, or
    more than one, or a range.

    '3口人' -> 3, '两千五' -> 2500, '2,500元' -> 2500, '一万二' -> 12000,
    '1.5万' -> 15000, '三千多' -> 3000, '没有收入' -> 0, '不知道' -> None,
    '三四千' -> None (a range: ask again).
    """
    if not text:
        return None
    s = unicodedata.normalize("NFKC", text).strip().lower()
    if re.sub(r"[\s,.，。!！~]", "", s) in _NOTHING:
        return 0
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)  # 2,500
    s = re.sub(r"(?<=\d)k", "千", s)
    s = re.sub(r"(?<=\d)w", "万", s)
    # 一点五万 -> 1.5万 (only between numerals: 一点点 stays words)
    s = re.sub(
        r"([零〇一二两三四五六七八九])点([零〇一二三四五六七八九]+)",
        lambda m: f"{_DIGITS[m[1]]}.{''.join(str(_DIGITS[c]) for c in m[2])}",
        s,
    )
    for idiom in _IDIOMS:
        s = s.replace(idiom, " ")
    runs = _RUN.findall(s)
    if len(runs) != 1:
        return None
    value = _parse_run(runs[0])
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _parse_run(run: str) -> float | None:
    tokens = _TOKEN.findall(run)
    if "".join(tokens) != run:
        return None
    total = 0.0  # finished 万/亿 groups
    section = 0.0  # the part below 万
    pending: float | None = None  # a number not yet multiplied by a unit
    last_unit = 0  # the unit just used, for 两千五 = 2500
    zero = False  # 一千零五 = 1005, not 1500
    for token in tokens:
        if token in _DIGITS or token[0].isdigit():
            value = _DIGITS[token] if token in _DIGITS else float(token)
            if pending is not None:
                return None  # 三四千, 2 3: a range or two numbers
            if value == 0 and token in _DIGITS:
                zero = True
                continue
            pending = value
        elif token in _SMALL:
            unit = _SMALL[token]
            if pending is None:
                if unit != 10:
                    return None  # 千 alone, 几千
                pending = 1  # 十二
            section += pending * unit
            pending, last_unit, zero = None, unit, False
        else:
            unit = _BIG[token]
            if pending is None and section == 0:
                return None
            total += (section + (pending or 0)) * unit
            section, pending, last_unit, zero = 0, None, unit, False
    if pending is not None:
        # 两千五 / 一万二 / 3千5: one digit right after a unit counts one unit lower.
        if last_unit and not zero and pending < 10 and float(pending).is_integer():
            pending *= last_unit // 10
        section += pending
    return total + section
