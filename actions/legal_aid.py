"""The legal-aid form: questions, answers, submission, cancel, and status look-up.

Which question comes next and what an answer means is bot/legal_aid_form.py; the
decision is bot/eligibility.py; the record is bot/intake.py. This module only moves
values between the tracker and those.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import FAQ_MIN_CONFIDENCE, best_faq
from bot import knowledge, legal_aid
from bot import legal_aid_form as form
from bot.intake import IntakeStore, IntakeUnavailable
from bot.settings import Settings
from bot.triage import TRIAGE_PREFIX

FORM = "legal_aid_form"
# Intents that leave the current question unanswered: the rules answer them, then the
# form asks the same question again.
INTERRUPTIONS = {
    "faq",
    "ask_article",
    "ask_category_faq",
    "request_human",
    "check_status",
    "greet",
    "thank",
    "chitchat",
    "out_of_scope",
}
ALWAYS_INTERRUPT = {"emergency", "cancel", "ask_article"}
# A typed story this clearly about a category interrupts a closed question.
TRIAGE_INTERRUPT = 0.6
STORY_MIN_HAN = 5
CHANNELS = {"rest": "web", "wechat": "wechat"}
_store: IntakeStore | None = None


def store() -> IntakeStore:
    """The intake records, opened on first use (the database may be down at start)."""
    global _store
    if _store is None:
        _store = IntakeStore(Settings.from_env().database_url)
    return _store


def answers_of(tracker: Tracker) -> dict[str, Any]:
    return {slot: tracker.get_slot(slot) for slot in form.ALL_SLOTS}


def choose(value: str) -> str:
    return "/choose" + json.dumps({"choice": value}, ensure_ascii=False)


def buttons(choices: dict[str, dict]) -> list[dict[str, str]]:
    return [{"title": o["label"], "payload": choose(k)} for k, o in choices.items()]


class AskQuestion(Action):
    """action_ask_<slot>: the question's text and buttons, from the form's data."""

    slot = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        answers = answers_of(tracker)
        text = form.question_text(self.slot, answers)
        choices = form.options(self.slot, answers)
        if self.slot == "la_consent":
            text = f"{form.spec()['privacy_notice']}\n{text}"
        if self.slot == "la_category":
            choices, text = self._categories(tracker, choices, text)
        if self.slot in form.UNKNOWN_ALLOWED:
            choices = {**choices, form.UNKNOWN: {"label": "不清楚"}}
        dispatcher.utter_message(text=text, buttons=buttons(choices))
        return []

    @staticmethod
    def _categories(tracker: Tracker, choices: dict, text: str) -> tuple[dict, str]:
        """Confirm the triaged category, or offer the common ones."""
        triaged = tracker.get_slot("category")
        common = form.spec()["questions"]["la_category"]["common"]
        if triaged in choices:
            keys = [triaged, *(c for c in common if c != triaged)][:6]
            confirm = form.spec()["questions"]["la_category"]["confirm"]
            text = confirm.format(name=choices[triaged]["label"])
            choices = {k: choices[k] for k in keys}
            choices[triaged] = {**choices[triaged], "label": "对，是这类"}
            return choices, text
        return {k: choices[k] for k in common}, text


def _ask_action(slot: str) -> type[AskQuestion]:
    return type(f"Ask_{slot}", (AskQuestion,), {"slot": slot})


ASK_ACTIONS = [_ask_action(slot) for slot in form.ALL_SLOTS]


def _triaged(parse: dict) -> tuple[str | None, float]:
    intent = parse.get("intent") or {}
    name = intent.get("name") or ""
    if name.startswith(TRIAGE_PREFIX):
        return name.removeprefix(TRIAGE_PREFIX), intent.get("confidence") or 0.0
    return None, 0.0


class ValidateLegalAidForm(FormValidationAction):
    """Turns the latest message into a value for the question asked, and picks the next.

    Returning no value for the requested question makes Rasa reject the form for this
    turn, so the rules can answer an interruption (a FAQ, a statute, danger) and the
    form asks the same question again.
    """

    def name(self) -> str:
        return f"validate_{FORM}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        answers = answers_of(tracker)
        requested = tracker.get_slot("requested_slot")
        values = (
            self.extract(dispatcher, tracker, requested, answers) if requested else {}
        )
        answers.update(values)
        missing = [s for s in form.required_slots(answers) if answers.get(s) is None]
        return [SlotSet(k, v) for k, v in values.items()] + [
            SlotSet("requested_slot", missing[0] if missing else None)
        ]

    def extract(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        requested: str,
        answers: dict[str, Any],
    ) -> dict[str, Any]:
        parse = tracker.latest_message or {}
        text = (parse.get("text") or "").strip()
        intent = (parse.get("intent") or {}).get("name")
        if intent in ALWAYS_INTERRUPT:
            return {}
        choice = next(
            (e["value"] for e in parse.get("entities", []) if e["entity"] == "choice"),
            None,
        )
        value = self._checked(requested, str(choice), answers) if choice else None
        if value is not None:
            return {requested: value}
        if form.wants_back(text):
            previous = form.previous_slot(answers, requested)
            if previous:
                dispatcher.utter_message(text="好的，回到上一个问题。")
                return {previous: None}
        corrected = self._correction(dispatcher, text, parse, requested, answers)
        if corrected:
            return corrected
        value = self._parse(requested, text, parse, tracker, answers)
        if value is not None:
            return {requested: value}
        faq = best_faq(parse)
        if faq and faq[1] >= FAQ_MIN_CONFIDENCE:
            # A common question in between: answer it, then ask the same again.
            dispatcher.utter_message(response=f"utter_{faq[0]}")
            return {requested: None}
        category, confidence = _triaged(parse)
        # Another problem told in between is triaged by the rules. For typed answers
        # only a real sentence counts: "138001" is a wrong phone number, not a story.
        story = category and (
            form.han_count(text) >= STORY_MIN_HAN
            if requested in form.TYPED
            else confidence >= TRIAGE_INTERRUPT
        )
        if intent in INTERRUPTIONS or story:
            return {}
        dispatcher.utter_message(text=self._hint(requested))
        return {requested: None}

    @staticmethod
    def _checked(slot: str, value: str, answers: dict) -> str | None:
        """A button's value, if it is one this question offers."""
        allowed = set(form.options(slot, answers)) | {form.UNKNOWN}
        return value if value in allowed else None

    @staticmethod
    def _correction(dispatcher, text, parse, requested, answers) -> dict[str, Any]:
        """ "不对，是在息县" or "不对，是工伤的事" while another question is open."""
        if not form.is_correction(text):
            return {}
        county = form.county_in(text)
        if (
            county
            and requested not in ("la_place", "la_residence")
            and answers.get("la_place") not in (None, county)
        ):
            name = knowledge.centres()[county]["county"]
            dispatcher.utter_message(text=f"好的，地点改为{name}。")
            return {"la_place": county}
        category, confidence = _triaged(parse)
        if (
            requested != "la_category"
            and answers.get("la_category") not in (None, category)
            and category
            and confidence >= TRIAGE_INTERRUPT
        ):
            name = knowledge.categories()[category].name
            dispatcher.utter_message(text=f"好的，改为【{name}】。")
            return {
                "la_category": category,
                "la_matter": None,
                "la_role": None,
                "la_special": None,
            }
        return {}

    @staticmethod
    def _parse(slot, text, parse, tracker, answers) -> Any:
        intent = (parse.get("intent") or {}).get("name")
        if slot in form.TYPED:
            return form.parse_typed(slot, text)
        if slot == "la_category":
            category, _ = _triaged(parse)
            if intent == "affirm" and tracker.get_slot("category"):
                return tracker.get_slot("category")
            return form.match_option(text, form.options(slot, answers)) or category
        choices = form.options(slot, answers)
        key = form.match_option(text, choices)
        if key:
            return key
        if slot == "la_consent" and intent in ("affirm", "deny"):
            return "yes" if intent == "affirm" else "no"
        if form.says_unknown(text) and slot != "la_consent":
            return form.UNKNOWN
        return None

    @staticmethod
    def _hint(slot: str) -> str:
        return form.spec()["hints"].get(slot, form.spec()["hints"]["default"])


def _centre(key: str) -> str:
    """A centre's name, with the contacts the bureau has filled in."""
    centre = knowledge.centres()[key]
    contact = "，".join(
        f"{label}：{centre[field]}"
        for field, label in (("address", "地址"), ("phone", "电话"), ("hours", "时间"))
        if centre.get(field)
    )
    return centre["name"] + (f"（{contact}）" if contact else "")


def centre_text(slots: dict, submitted: bool) -> str:
    """Who decides (Art. 38) and, for a submitted application, who received it."""
    texts = form.spec()["centre"]
    where = legal_aid.route_of(form.answers(slots))
    lines = [
        texts["competent"].format(centre=_centre(where.competent))
        if where.competent
        else texts["competent_unknown"]
    ]
    if submitted and where.transfer:
        lines.append(texts["transfer"].format(centre=_centre(where.receiving)))
    if not knowledge.centres().get(where.competent or "", {}).get("phone"):
        lines.append(texts["ask_12348"])
    lines.append(texts["basis"])
    return "\n".join(lines)


def utter_precheck(
    dispatcher: CollectingDispatcher, result: legal_aid.PreCheck
) -> None:
    reasons = "\n".join(
        f"· {r['text']}（依据：{r['citation']}）" for r in result.reasons
    )
    dispatcher.utter_message(
        response="utter_legal_aid_result", outcome=result.outcome_text, reasons=reasons
    )
    dispatcher.utter_message(
        response="utter_legal_aid_notices",
        notices="\n".join(
            f"{n['text']}（依据：{n['citation']}）" for n in result.notices
        ),
    )
    if result.materials:
        materials = "\n".join(f"{i}. {m}" for i, m in enumerate(result.materials, 1))
        dispatcher.utter_message(
            response="utter_legal_aid_materials", materials=materials
        )


class ActionSubmitLegalAid(Action):
    """The pre-check, the materials, the competent centre and, with consent, the record."""

    def name(self) -> str:
        return "action_submit_legal_aid"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        slots = answers_of(tracker)
        reference = tracker.get_slot("la_reference")
        if reference:  # submitted before: the same record, never a second one
            dispatcher.utter_message(
                response="utter_legal_aid_submitted_before", reference=reference
            )
            return []
        if any(slots.get(s) is None for s in form.required_slots(slots)):
            dispatcher.utter_message(response="utter_legal_aid_nothing_to_submit")
            return []
        if slots["la_consent"] != "yes":
            utter_precheck(dispatcher, legal_aid.precheck(form.answers(slots)))
            dispatcher.utter_message(
                response="utter_legal_aid_centre", centre=centre_text(slots, False)
            )
            dispatcher.utter_message(response="utter_legal_aid_no_consent")
            return []
        application, result = legal_aid.build_application(
            form.answers(slots),
            channel=CHANNELS.get(tracker.get_latest_input_channel() or "", "web"),
            name=slots["la_name"],
            phone=slots["la_phone"],
            conversation_id=tracker.sender_id,
        )
        utter_precheck(dispatcher, result)
        dispatcher.utter_message(
            response="utter_legal_aid_centre", centre=centre_text(slots, True)
        )
        try:
            intake = await asyncio.to_thread(store().submit, application)
        except IntakeUnavailable:
            # The answers stay in the slots: "再提交一次" tries again.
            dispatcher.utter_message(response="utter_legal_aid_not_saved")
            return []
        dispatcher.utter_message(
            response="utter_legal_aid_submitted",
            reference=intake.reference,
            review_due=form.local_date(intake.review_due),
        )
        # The record has them now; the conversation no longer needs them.
        return [
            SlotSet("la_reference", intake.reference),
            SlotSet("la_name", None),
            SlotSet("la_phone", None),
        ]


class ActionCancelLegalAid(Action):
    def name(self) -> str:
        return "action_cancel_legal_aid"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_legal_aid_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None)]


class ActionCheckStatus(Action):
    """Status for a citizen: the reference plus the phone's last four digits."""

    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = (tracker.latest_message or {}).get("text") or ""
        query = form.status_query(text)
        if query is None:
            dispatcher.utter_message(response="utter_ask_status_details")
            return []
        try:
            # The same guess limit as the web API: the chat must not be a way
            # around it.
            found = await asyncio.to_thread(store().check_status, *query)
        except IntakeUnavailable:
            dispatcher.utter_message(response="utter_status_unavailable")
            return []
        if found.locked:
            minutes = math.ceil(found.retry_after.total_seconds() / 60)
            locked = knowledge.service_texts()["lookup_locked"]
            dispatcher.utter_message(text=locked.format(minutes=minutes))
            return []
        intake = found.intake
        if intake is None:
            dispatcher.utter_message(response="utter_status_not_found")
            return []
        labels = form.spec()["statuses"]
        history = "\n".join(
            f"· {form.local_date(e['at'])} {labels.get(e['status'], e['status'])}"
            for e in intake.history
        )
        dispatcher.utter_message(
            response="utter_status",
            reference=intake.reference,
            status=labels.get(intake.status, intake.status),
            history=history,
            due=f"决定期限：{form.local_date(intake.review_due)}之前（七日内）。",
        )
        return []
