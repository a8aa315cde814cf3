"""The call view's analysis: what the caller has said so far, read for the operator.

Plain Python, no Rasa imports: the web side passes Rasa's /model/parse result (or None
when Rasa cannot be reached) and gets back the category ranking, the entities, the best
FAQ answers, the pre-check with the questions still open, and the urgency flags. The
application fields it recognises use the names of POST /api/intakes, so the page can
prefill the application form with them.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from bot import eligibility, knowledge, legal_aid, legal_aid_form, triage
from bot.console import texts
from bot.faq import faqs

TOP_CATEGORIES, TOP_FAQS = 3, 3
# A whole call is long and mixed; FAQ matches below this are noise (the chat's own
# floor for answering a question with a FAQ is the same, actions/faq.py).
FAQ_FLOOR = 0.3
# The model's date and amount extractors sometimes tag a bare number ("4" of
# "4口人", a phone number): without a unit or a time word it is neither.
BARE_NUMBER = re.compile(r"^[0-9.]+$")
# The pre-check follows the top category only when the model is this sure; below
# it the operator picks the category (the page still shows the ranking).
CATEGORY_FLOOR = 0.35
# Options whose words are too common in ordinary speech ("没有", "其他") to be read
# from free text: the operator asks those questions instead.
VAGUE_OPTIONS = {"none", "other", "unknown", "later"}
NUMBER = r"[0-9.一二三四五六七八九十两百千万仨俩零]+"
MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d){8})(?!\d)")


def _cues(key: str) -> list[str]:
    return list(texts()["extract"][key])


def _closed(slot: str, text: str, slots: dict) -> str | None:
    choices = {
        k: v
        for k, v in legal_aid_form.options(slot, slots).items()
        if k not in VAGUE_OPTIONS
    }
    return legal_aid_form.match_option(text, choices) if choices else None


def _county_mentions(text: str) -> list[tuple[int, str, bool]]:
    """(position, centre key, is_residence) for each county named in the text."""
    found: dict[int, tuple[int, str]] = {}
    for key, centre in knowledge.centres().items():
        for word in {centre["county"], *centre.get("aliases", [])}:
            for m in re.finditer(re.escape(word), text):
                # The longest name at a position wins (信阳市 over 信阳).
                if len(word) > found.get(m.start(), (0, ""))[0]:
                    found[m.start()] = (len(word), key)
    cues = _cues("residence_cues")
    mentions = []
    for start in sorted(found):
        before = text[max(0, start - 6) : start]
        mentions.append((start, found[start][1], any(c in before for c in cues)))
    return mentions


def _number_after(text: str, cues: list[str]) -> float | None:
    for cue in cues:
        m = re.search(
            re.escape(cue) + r"[^0-9一二三四五六七八九十两]{0,6}(" + NUMBER + ")", text
        )
        if m:
            n = legal_aid.parse_number(m.group(1))
            if n is not None:
                return n
    return None


def _household(text: str) -> int | None:
    m = re.search(
        "(" + NUMBER + ")" + re.escape(texts()["extract"]["household_suffix"]), text
    )
    n = legal_aid.parse_number(m.group(1)) if m else None
    return n if isinstance(n, int) and 1 <= n <= legal_aid.MAX_HOUSEHOLD else None


def _days_to_deadline(text: str) -> int | None:
    events = "|".join(map(re.escape, _cues("deadline_events")))
    extract = texts()["extract"]
    for word, days in sorted(extract["day_words"].items(), key=lambda w: -len(w[0])):
        if re.search(re.escape(word) + f".{{0,4}}(?:{events})", text):
            return int(days)
    m = re.search(f"({NUMBER})天(?:后|以后|之后|就|内)?.{{0,3}}(?:{events})", text)
    n = legal_aid.parse_number(m.group(1)) if m else None
    return n if isinstance(n, int) and 0 <= n <= legal_aid.MAX_DAYS else None


def _name(text: str) -> str | None:
    for cue in _cues("name_cues"):
        m = re.search(re.escape(cue) + r"[:：\s]*([\u4e00-\u9fff·]{2,5})", text)
        if m:
            name = legal_aid.normalise_name(m.group(1))
            if name:
                return name
    return None


def recognise(text: str, category: str | None) -> tuple[dict, dict]:
    """(form slots, application fields) read from the call text.

    Slots are bot/legal_aid_form's (for the questions still open); fields are
    POST /api/intakes names (for the prefilled application)."""
    slots: dict = {"la_consent": "yes"}  # hotline: the operator asks in person
    if category:
        slots["la_category"] = category
    for slot in ("la_role", "la_matter", "la_special", "la_status", "la_stage"):
        value = _closed(slot, text, slots)
        if value:
            slots[slot] = value
    days = _days_to_deadline(text)
    deadline = _closed("la_deadline", text, slots)
    if days is not None and days < eligibility.ADVANCE_AID_DAYS:
        deadline = "within_7_days"
    if deadline:
        slots["la_deadline"] = deadline
    size = _household(text)
    if size is not None:
        slots["la_household_size"] = size
    income = _number_after(text, _cues("income_cues"))
    if income is not None and 0 <= income <= legal_aid.MAX_MONTHLY_INCOME:
        slots["la_income"] = income
    counties = _county_mentions(text)
    residence = next((k for _, k, home in counties if home), None)
    place = next((k for _, k, home in counties if not home), None)
    if place:
        slots["la_place"] = place
    if residence:
        slots["la_residence"] = residence

    answers = legal_aid_form.answers(slots)
    if days is not None:
        answers = dataclasses.replace(answers, days_to_deadline=days)
    fields = {
        k: v
        for k, v in dataclasses.asdict(answers).items()
        if v not in (None, False, frozenset(), set())
    }
    for name in ("circumstances", "statuses"):
        if name in fields:
            fields[name] = sorted(fields[name])
    if not category:
        fields.pop("category", None)
    centres = knowledge.centres()
    for name in ("organ_place", "event_place", "residence_county"):
        if name in fields:  # the county's name, as the application form shows it
            fields[name] = centres[fields[name]]["county"]
    phone = MOBILE.search(text)
    if phone:
        fields["phone"] = legal_aid.normalise_phone(phone.group(1))
    name = _name(text)
    if name:
        fields["name"] = name
    return slots, fields


def open_questions(slots: dict) -> list[dict]:
    """The form's questions this caller still has to answer (personal ones aside:
    the application form asks those)."""
    if "la_category" not in slots:
        return [
            {
                "slot": "la_category",
                "text": legal_aid_form.question_text("la_category", slots),
            }
        ]
    skip = {"la_consent", *legal_aid_form.PERSONAL}
    return [
        {"slot": s, "text": legal_aid_form.question_text(s, slots)}
        for s in legal_aid_form.required_slots(slots)
        if s not in skip and s not in slots
    ]


def _flag(key: str, **extra) -> dict:
    f = texts()["flags"][key]
    return {
        "key": key,
        "level": f["level"],
        "text": f["text"],
        "basis": f.get("basis", ""),
        **extra,
    }


def flags_for(text: str, category: str | None, decision) -> list[dict]:
    """Urgency flags, most urgent first."""
    flags = []
    kind = triage.danger(text)
    if kind:
        flags.append(_flag(kind))
    if kind == "domestic" or category == "domestic_violence":
        flags.append(_flag("protection_order"))
    if decision is not None and decision.advance_aid_possible:
        flags.append(_flag("advance_aid"))
    if category:
        deadlines = knowledge.categories()[category].deadlines
        if deadlines:
            flags.append(
                _flag(
                    "deadline",
                    items=[{"text": d.text, "basis": d.basis} for d in deadlines],
                )
            )
    return flags


def _faq(entry, score: float | None, source: str) -> dict:
    return {
        "id": entry.key,
        "question": entry.question,
        "answer": entry.answer,
        "citations": list(entry.citations),
        "score": score,
        "source": source,  # model: ranked for this call; category: the category's own
    }


def faq_results(
    parse: dict | None, category: str | None = None, limit: int = TOP_FAQS
) -> list[dict]:
    """The FAQ answers Rasa's response selector ranks best for the call, with their
    citations; weak matches give way to the FAQs listed for the call's category."""
    selector = ((parse or {}).get("response_selector") or {}).get("faq") or {}
    index = faqs()
    results = []
    for item in selector.get("ranking") or []:
        entry = index.get(str(item.get("intent_response_key", "")).removeprefix("faq/"))
        score = round(float(item.get("confidence", 0.0)), 4)
        # None: a model trained on other data than this checkout.
        if entry is not None and score >= FAQ_FLOOR:
            results.append(_faq(entry, score, "model"))
    results.sort(key=lambda r: -r["score"])
    if category:
        seen = {r["id"] for r in results}
        for key in knowledge.categories()[category].faqs:
            if key in index and key not in seen:
                results.append(_faq(index[key], None, "category"))
    return results[:limit]


def _entities(text: str, parse: dict | None) -> list[dict]:
    names = texts()["entity_names"]
    found = [
        {"entity": e["entity"], "value": e["value"], "label": names[e["entity"]]}
        for e in triage.entities(parse or {})
        if e["entity"] in names
        and not (
            e["entity"] in ("date", "money", "duration")
            and BARE_NUMBER.match(unicodedata.normalize("NFKC", str(e["value"])))
        )
    ]
    # Counties are also found by name, so they show even without the model.
    seen = {(e["entity"], e["value"]) for e in found}
    centres = knowledge.centres()
    for _, key, _home in _county_mentions(text):
        county = centres[key]["county"]
        if ("county", county) not in seen and not any(
            e["entity"] == "county" and e["value"] in county for e in found
        ):
            seen.add(("county", county))
            found.append(
                {"entity": "county", "value": county, "label": names["county"]}
            )
    phone = MOBILE.search(text)
    if phone:
        found.append(
            {
                "entity": "phone",
                "value": legal_aid.normalise_phone(phone.group(1)),
                "label": names["phone"],
            }
        )
    return found


def analyse(
    text: str, parse: dict | None, standards=None, chosen: str | None = None
) -> dict:
    """Everything the call view shows for the call text so far. `parse` is Rasa's
    /model/parse of the text, or None when Rasa cannot be reached; `chosen` is the
    category the operator picked, which wins over the model's."""
    text = triage.normalise(text)
    categories = knowledge.categories()
    ranking, category, confidence = [], None, 0.0
    if parse is not None:
        t = triage.triage({**parse, "text": text})
        ranking = [
            {"category": c, "name": categories[c].name, "confidence": round(p, 4)}
            for c, p in t.ranking[:TOP_CATEGORIES]
            if c in categories
        ]
        if t.category != triage.FALLBACK_CATEGORY or t.confidence > 0:
            confidence = t.confidence
            if confidence >= CATEGORY_FLOOR:
                category = t.category
    source = "model" if category else None
    if chosen:
        category, source = chosen, "operator"
    slots, fields = recognise(text, category)
    precheck = None
    if category:
        answers = legal_aid_form.answers(slots)
        if "days_to_deadline" in fields:
            answers = dataclasses.replace(
                answers, days_to_deadline=fields["days_to_deadline"]
            )
        result = legal_aid.precheck(answers, standards)
        precheck = {**result.as_dict(), "decision": result.decision}
    decision = precheck.pop("decision") if precheck else None
    return {
        "rasa": parse is not None,
        "category": (
            {
                "code": category,
                "name": categories[category].name,
                "confidence": confidence if source == "model" else None,
                "source": source,
            }
            if category
            else None
        ),
        "ranking": ranking,
        "entities": _entities(text, parse),
        "faqs": faq_results(parse, category),
        "fields": fields,
        "precheck": precheck,
        "open_questions": open_questions(slots),
        "flags": flags_for(text, category, decision),
    }
