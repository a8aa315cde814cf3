"""Triage actions: name the category and its next steps, ask back when unsure, emergencies."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation_facts
from actions.handoff import hand_over, not_understood_twice
from bot import knowledge
from bot.faq import faqs
from bot.triage import FALLBACK_CATEGORY, TRIAGE_PREFIX, danger, triage, triage_ranking

# Ask back instead of answering when the runner-up is this close to the winner.
CLOSE_CALL = 0.15
# Offer categories as buttons only when the best one has at least this much support.
CLARIFY_MIN = 0.1
# After emergency advice, name the problem too only when the model is this sure of it.
EMERGENCY_TRIAGE_MIN = 0.3


def _numbered(lines: tuple[str, ...]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def utter_category(dispatcher: CollectingDispatcher, code: str) -> list[dict[str, Any]]:
    """The category's next steps, deadlines and legal-aid route, all from the data."""
    c = knowledge.categories()[code]
    dispatcher.utter_message(
        response="utter_triage_steps", category_name=c.name, steps=_numbered(c.steps)
    )
    if c.deadlines:
        lines = "\n".join(f"· {d.text}（依据：{d.basis}）" for d in c.deadlines)
        dispatcher.utter_message(response="utter_triage_deadlines", deadlines=lines)
    others = [h for h in c.hotlines if h != "12348"]
    dispatcher.utter_message(
        response="utter_triage_next" if others else "utter_triage_next_12348",
        legal_aid=c.legal_aid_text,
        basis="；".join(c.legal_aid_basis),
        hotlines="、".join(others),
    )
    return [SlotSet("category", code)]


def clarify_buttons(ranking: list[tuple[str, float]]) -> list[dict[str, str]]:
    names = knowledge.categories()
    return [
        {"title": names[code].name, "payload": f"/{TRIAGE_PREFIX}{code}"}
        for code, _ in ranking
        if code != FALLBACK_CATEGORY
    ]


class ActionTriage(Action):
    def name(self) -> str:
        return "action_triage"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        parse = tracker.latest_message
        intent = parse.get("intent", {}).get("name", "")
        code = intent.removeprefix(TRIAGE_PREFIX)
        ranking = triage_ranking(parse)
        # A typed message (not a button) whose runner-up is nearly as likely: ask back.
        typed = not parse.get("text", "").startswith("/")
        if typed and len(ranking) > 1 and ranking[0][1] - ranking[1][1] < CLOSE_CALL:
            dispatcher.utter_message(
                response="utter_clarify", buttons=clarify_buttons(ranking[:3])
            )
            return []
        conversation_facts.note(tracker, "triage", code)
        return utter_category(dispatcher, code)


class ActionClarify(Action):
    """Low confidence: offer the most likely categories as buttons, never a guess."""

    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # The second not-understood turn in a row: a person takes over (actions/handoff).
        if not_understood_twice(tracker) and await hand_over(
            dispatcher, tracker, "not_understood"
        ):
            return []
        parse = tracker.latest_message
        result = triage(parse)
        buttons = clarify_buttons(result.ranking[:3])
        if (
            result.category != FALLBACK_CATEGORY
            and result.confidence >= CLARIFY_MIN
            and buttons
        ):
            dispatcher.utter_message(response="utter_clarify", buttons=buttons)
        else:
            dispatcher.utter_message(response="utter_ask_rephrase")
        return []


class ActionEmergency(Action):
    def name(self) -> str:
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        parse = tracker.latest_message
        kind = danger(parse.get("text") or "") or "violence"
        dispatcher.utter_message(response=f"utter_emergency_{kind}")
        # Safety first; then, if the message also told us the problem, its next steps.
        result = triage(parse)
        if (
            result.category != FALLBACK_CATEGORY
            and result.confidence >= EMERGENCY_TRIAGE_MIN
        ):
            conversation_facts.note(tracker, "triage", result.category)
            return utter_category(dispatcher, result.category)
        return []


class ActionListFaqs(Action):
    """The common questions of the current category, as buttons that ask them."""

    def name(self) -> str:
        return "action_list_faqs"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        code = tracker.get_slot("category")
        category = knowledge.categories().get(code or "")
        index = faqs()
        keys = [k for k in (category.faqs if category else ()) if k in index]
        if not keys:
            dispatcher.utter_message(response="utter_no_faq_list")
            return []
        buttons = [
            {"title": index[k].question, "payload": index[k].question} for k in keys
        ]
        dispatcher.utter_message(
            response="utter_faq_list", category_name=category.name, buttons=buttons
        )
        return []
