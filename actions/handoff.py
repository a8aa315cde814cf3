"""转人工: put the conversation in the console's queue and say honestly what happens
next. The queue, the working hours and every text are bot/handoff.py and
data/knowledge/handoff.yml; pausing the bot while an operator holds the conversation
happens in the channels (bot/web/app.py, bot/channels/wechat.py), not here.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation_facts
from bot import handoff
from bot.handoff import HandoffStore, HandoffUnavailable
from bot.settings import Settings

log = logging.getLogger(__name__)
FALLBACK_INTENT = "nlu_fallback"
_store: HandoffStore | None = None


def store() -> HandoffStore:
    """The queue, opened on first use (the database may be down at start)."""
    global _store
    if _store is None:
        _store = HandoffStore(Settings.from_env().database_url)
    return _store


def _session(tracker: Tracker) -> list[dict[str, Any]]:
    """This session's events: an earlier session's talk is not the operator's concern."""
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "session_started":
            return events[index + 1 :]
    return events


def _at(event: dict[str, Any]) -> datetime | None:
    stamp = event.get("timestamp")
    return datetime.fromtimestamp(stamp, timezone.utc) if stamp else None


def transcript(tracker: Tracker) -> list[dict[str, Any]]:
    """What the citizen and the bot said, in order. A button press is shown by its
    title ("〔转人工〕"), as the citizen saw it, not as its payload."""
    lines: list[dict[str, Any]] = []
    titles: dict[str, str] = {}
    for event in _session(tracker):
        kind = event.get("event")
        if kind == "bot":
            buttons = (event.get("data") or {}).get("buttons") or []
            titles = {b.get("payload"): b.get("title") for b in buttons}
            text = event.get("text") or ""
            if buttons:
                text += "\n" + " ".join(f"〔{b.get('title')}〕" for b in buttons)
            if text.strip():
                lines.append({"sender": "bot", "text": text.strip(), "at": _at(event)})
        elif kind == "user":
            text = event.get("text") or ""
            if text.startswith("/") and titles.get(text):
                text = f"〔{titles[text]}〕"
            if text.strip():
                lines.append({"sender": "citizen", "text": text, "at": _at(event)})
    return lines


def slots_of(tracker: Tracker) -> dict[str, Any]:
    return {key: tracker.get_slot(key) for key in handoff.spec()["triage_labels"]}


def not_understood_twice(tracker: Tracker) -> bool:
    """The last two things the citizen said both fell back (nlu_fallback)."""
    users = [e for e in _session(tracker) if e.get("event") == "user"]
    if len(users) < 2:
        return False
    return all(
        ((e.get("parse_data") or {}).get("intent") or {}).get("name") == FALLBACK_INTENT
        for e in users[-2:]
    )


async def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str = "asked"
) -> bool:
    """Queue the conversation and tell the citizen what happens next. Returns whether
    anything was said: for reason "not_understood", nothing is said (and the caller
    asks back as usual) when the conversation is already queued or cannot be."""
    asked = reason == "asked"
    channel = handoff.RASA_CHANNELS.get(tracker.get_latest_input_channel() or "")
    if channel is None:
        if asked:
            dispatcher.utter_message(text=handoff.text("no_channel"))
        return asked
    slots = slots_of(tracker)
    at = handoff.now()
    answer, outside = handoff.queued_text(at)
    try:
        case, created = await asyncio.to_thread(
            store().open,
            tracker.sender_id,
            channel,
            reason=reason,
            category=slots.get("category") or slots.get("la_category"),
            triage=handoff.triage_summary(slots),
            transcript=transcript(tracker),
            outside_hours=outside,
        )
    except HandoffUnavailable:
        log.warning("handoff database unavailable: conversation not queued")
        if asked:
            dispatcher.utter_message(text=handoff.text("unavailable"))
        return asked
    if not created:
        if asked:
            dispatcher.utter_message(text=handoff.text("already_queued"))
        return asked
    log.info("handoff %s queued (%s, %s)", case.id, channel, reason)
    category = slots.get("category") or slots.get("la_category")
    conversation_facts.note(tracker, "handoff", category)  # the dashboard's count
    if not asked:
        answer = f"{handoff.text('not_understood')}\n{answer}"
    dispatcher.utter_message(text=answer)
    return True


class ActionHandoff(Action):
    """转人工 (button or words), in or outside the legal-aid form."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        await hand_over(dispatcher, tracker, "asked")
        return []
