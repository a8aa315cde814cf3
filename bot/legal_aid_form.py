"""The legal-aid application conversation: which questions, in what order, and how a
typed or clicked answer becomes a value. Plain Python, no Rasa imports.

Questions and options are data (data/knowledge/legal_aid_form.yml). Only what the
pre-check (bot/eligibility.py) and the competent centre (bot/routing.py) need is asked:
the means questions disappear when the law needs no means test, the personal questions
when the citizen did not consent.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from bot import eligibility, knowledge, legal_aid
from bot.knowledge import KNOWLEDGE_DIR

UNKNOWN = "unknown"
NONE = "none"
PERSONAL = ("la_name", "la_phone", "la_residence")
# Open questions that also offer a "不清楚" button.
UNKNOWN_ALLOWED = ("la_household_size", "la_income", "la_place", "la_residence")
# Slots the citizen answers by typing; the others are closed questions with buttons.
TYPED = ("la_household_size", "la_income", *PERSONAL)
ALL_SLOTS = (
    "la_consent",
    "la_category",
    "la_role",
    "la_matter",
    "la_special",
    "la_status",
    "la_household_size",
    "la_income",
    "la_deadline",
    "la_stage",
    "la_place",
    *PERSONAL,
)
LITIGATION = {"court", "police", "procuratorate", "arbitration"}
REFERENCE = re.compile(r"XY\d{6}-[A-Z2-9]{4}", re.IGNORECASE)
CHINA = timezone(timedelta(hours=8))


@lru_cache(maxsize=2)
def spec(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict:
    return knowledge._load("legal_aid_form.yml", knowledge_dir)


def _county_options() -> dict[str, dict]:
    return {
        key: {"label": c["county"], "words": [c["county"], *c.get("aliases", [])]}
        for key, c in knowledge.centres().items()
    }


def options(slot: str, answers: dict) -> dict[str, dict]:
    """The closed options of a question given the answers so far ({} for typed ones)."""
    question = spec()["questions"].get(slot, {})
    if slot == "la_category":
        return {
            code: {"label": c.name, "words": [c.name]}
            for code, c in knowledge.categories().items()
        }
    if slot == "la_matter":
        return question["by_category"].get(answers.get("la_category"), {})
    if slot == "la_special" and answers.get("la_role") == "suspect":
        return question["suspect_options"]
    if slot in ("la_place", "la_residence"):
        return _county_options()
    return question.get("options", {})


def question_text(slot: str, answers: dict) -> str:
    question = spec()["questions"][slot]
    if slot == "la_special" and answers.get("la_role") == "suspect":
        return question["suspect_text"]
    if slot == "la_place":
        organ = answers.get("la_stage") in LITIGATION
        return question["text"].format(
            which=question["which_organ" if organ else "which_event"]
        )
    return question["text"]


def _contains_any(text: str, words: list[str]) -> str | None:
    hits = [w for w in words if w and w in text]
    return max(hits, key=len) if hits else None


def match_option(text: str, choices: dict[str, dict]) -> str | None:
    """The option a typed answer means: its label or the longest of its words."""
    text = text.strip()
    best, best_len = None, 0
    for key, option in choices.items():
        if text == option["label"] or text == key:
            return key
        hit = _contains_any(text, option.get("words", []))
        if hit and len(hit) > best_len:
            best, best_len = key, len(hit)
    return best


def han_count(text: str) -> int:
    return sum("\u4e00" <= c <= "\u9fff" for c in text)


def says_unknown(text: str) -> bool:
    return _contains_any(text, spec()["unknown_words"]) is not None


def wants_back(text: str) -> bool:
    return _contains_any(text, spec()["back_words"]) is not None


def is_correction(text: str) -> bool:
    return _contains_any(text, spec()["correction_words"]) is not None


def county_in(text: str) -> str | None:
    """The centre key of a county named in free text ("不对，是在息县" -> xixian)."""
    return match_option(text, _county_options())


def _known(value):
    return None if value in (None, UNKNOWN, NONE) else value


def answers(slots: dict) -> legal_aid.Answers:
    """The pre-check's input from the form's slots (unknowns stay None)."""
    stage, place = _known(slots.get("la_stage")), _known(slots.get("la_place"))
    size, income = (
        _known(slots.get("la_household_size")),
        _known(slots.get("la_income")),
    )
    deadline = slots.get("la_deadline")
    return legal_aid.Answers(
        category=slots.get("la_category") or "other",
        matter=_known(slots.get("la_matter")),
        role=_known(slots.get("la_role")),
        circumstances=frozenset(filter(None, [_known(slots.get("la_special"))])),
        statuses=frozenset(filter(None, [_known(slots.get("la_status"))])),
        household_size=int(size) if size is not None else None,
        monthly_income=float(income) if income is not None else None,
        days_to_deadline=(
            eligibility.ADVANCE_AID_DAYS - 1 if deadline == "within_7_days" else None
        ),
        urgent_preservation=deadline == "preservation",
        stage=stage if stage in LITIGATION | {"none"} else None,
        organ_place=place if stage in LITIGATION else None,
        event_place=None if stage in LITIGATION else place,
        residence_county=_known(slots.get("la_residence")),
    )


def case(slots: dict) -> eligibility.Case:
    return legal_aid.case_of(answers(slots))


def parse_typed(slot: str, text: str):
    """A typed answer to an open question, or None when it does not fit."""
    if slot in ("la_household_size", "la_income", "la_residence") and says_unknown(
        text
    ):
        return UNKNOWN
    if slot == "la_household_size":
        n = legal_aid.parse_number(text)
        ok = isinstance(n, int) and 1 <= n <= legal_aid.MAX_HOUSEHOLD
        return n if ok else None
    if slot == "la_income":
        n = legal_aid.parse_number(text)
        return n if n is not None and 0 <= n <= legal_aid.MAX_MONTHLY_INCOME else None
    if slot == "la_name":
        name = legal_aid.normalise_name(text)
        # A Han name without a middle dot is 2-5 characters; a longer run of Han
        # characters is a sentence (a question asked in between), not a name.
        han = name and all("\u4e00" <= c <= "\u9fff" for c in name)
        return None if han and not 2 <= len(name) <= 5 else name
    if slot == "la_phone":
        return legal_aid.normalise_phone(text)
    if slot == "la_residence":
        return county_in(text)
    return None


def _outcome_without_means(answers: dict) -> str:
    """What the law decides before any income is known."""
    partial = case({**answers, "la_household_size": None, "la_income": None})
    return eligibility.decide(partial).outcome


def required_slots(answers: dict) -> list[str]:
    """The questions this citizen must answer, in order."""
    slots = ["la_consent", "la_category"]
    category = answers.get("la_category")
    if category == "criminal":
        slots.append("la_role")
    if options("la_matter", answers):
        slots.append("la_matter")
    if category != "domestic_violence":  # Art. 32 (四) applies by the category itself
        slots.append("la_special")
    outcome = _outcome_without_means(answers)
    if outcome not in {
        eligibility.APPOINTED_DEFENSE,
        eligibility.NO_MEANS_TEST,
        eligibility.NOT_IN_SCOPE,
    }:
        slots.append("la_status")
        if outcome != eligibility.MEANS_CHECK_WAIVED:
            slots += ["la_household_size", "la_income"]
    slots += ["la_deadline", "la_stage", "la_place"]
    if answers.get("la_consent") == "yes":
        slots += list(PERSONAL)
    return slots


def previous_slot(answers: dict, current: str | None) -> str | None:
    """The question answered just before `current`, for "上一步"."""
    slots = required_slots(answers)
    before = slots[: slots.index(current)] if current in slots else slots
    answered = [s for s in before if answers.get(s) is not None]
    return answered[-1] if answered else None


def status_query(text: str) -> tuple[str, str] | None:
    """(reference, phone's last 4 digits) from "XY261201-ABCD 1234", else None."""
    text = unicodedata.normalize("NFKC", text)
    reference = REFERENCE.search(text)
    if not reference:
        return None
    rest = text[: reference.start()] + " " + text[reference.end() :]
    last4 = re.search(r"(?<!\d)(\d{4})(?!\d)", rest)
    return (reference.group().upper(), last4.group(1)) if last4 else None


def local_date(at: datetime) -> str:
    """A date as a citizen in Xinyang reads it: 12月8日."""
    if at.tzinfo is None:  # SQLite returns naive UTC datetimes
        at = at.replace(tzinfo=timezone.utc)
    local = at.astimezone(CHINA)
    return f"{local.month}月{local.day}日"
