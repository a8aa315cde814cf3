"""Statute look-up in every channel: "民法典1077条" gets the article's official text."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.laws import (
    article_request,
    find_law,
    int_to_chinese,
    load_laws,
    nearest_articles,
)


class ActionLookupArticle(Action):
    def name(self) -> str:
        return "action_lookup_article"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        request = article_request(tracker.latest_message.get("text") or "")
        if request is None:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        name, number = request
        law = find_law(name)
        if law is None:
            dispatcher.utter_message(
                response="utter_law_not_found",
                law=name,
                known="、".join(f"《{n}》" for n in load_laws()),
            )
        elif number not in law.articles:
            nearest = "、".join(
                f"第{int_to_chinese(n)}条" for n in nearest_articles(law, number)
            )
            dispatcher.utter_message(
                response="utter_article_not_found",
                law=law.name,
                number=number,
                count=len(law.articles),
                nearest=nearest,
            )
        else:
            dispatcher.utter_message(
                response="utter_article",
                title=law.title,
                text=law.articles[number],
                source=law.source,
            )
        return []
