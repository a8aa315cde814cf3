"""Answer a 普法 question from the FAQ, but only when the selector is sure enough."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation_facts
from actions.triage import utter_category
from bot import knowledge
from bot.triage import FALLBACK_CATEGORY, triage

# Below this the best FAQ is more often wrong than right on held-out questions
# (docs/nlu-evaluation.md); the message is triaged instead.
FAQ_MIN_CONFIDENCE = 0.3


def best_faq(parse: dict) -> tuple[str, float] | None:
    ranking = parse.get("response_selector", {}).get("faq", {}).get("ranking", [])
    if not ranking:
        return None
    return ranking[0]["intent_response_key"], ranking[0]["confidence"]


def category_of(faq: str) -> str | None:
    """The category whose common questions include this FAQ."""
    return next(
        (code for code, c in knowledge.categories().items() if faq in c.faqs), None
    )


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        parse = tracker.latest_message
        best = best_faq(parse)
        if best and best[1] >= FAQ_MIN_CONFIDENCE:
            dispatcher.utter_message(response=f"utter_{best[0]}")
            faq_category = category_of(best[0].removeprefix("faq/"))
            conversation_facts.note(tracker, "faq", faq_category)
            if tracker.active_loop:  # the form asks its question next
                return []
            # The answer is general; this citizen's case may need more.
            dispatcher.utter_message(response="utter_faq_next")
            code = faq_category or triage(parse).category
            return [SlotSet("category", code)] if code else []
        result = triage(parse)
        if result.category == FALLBACK_CATEGORY:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        conversation_facts.note(tracker, "triage", result.category)
        return utter_category(dispatcher, result.category)
