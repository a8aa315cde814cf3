"""Triage: from an NLU parse to a category, a ranking and the entities that matter.

Plain Python without Rasa imports: the action server, the command line and the
operator console all call these functions on Rasa's parse result (a dict).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot import knowledge

TRIAGE_PREFIX = "triage_"
FALLBACK_CATEGORY = "other"
# Which extractor we trust for each entity, chosen on held-out data
# (docs/nlu-evaluation.md); the others are ignored for that entity.
PREFERRED_EXTRACTOR = {
    "county": "DIETClassifier",
    "date": "DIETClassifier",
    "money": "DIETClassifier",
    "duration": "SpacyEntityExtractor",
}
# Intents that mean "not a legal problem": a parse won by one of these is not triaged.
HAN = re.compile(r"[\u4e00-\u9fff]")
NOT_LEGAL = {"greet", "goodbye", "thank", "affirm", "deny", "chitchat", "out_of_scope"}


@dataclass(frozen=True)
class Triage:
    category: str
    confidence: float
    ranking: list[tuple[str, float]]  # top triage categories, renormalised

    @property
    def name(self) -> str:
        return knowledge.categories()[self.category].name


def normalise(text: str) -> str:
    """Full-width to half-width, drop control characters, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(
        ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t"
    )
    return re.sub(r"\s+", " ", text).strip()


def triage_ranking(parse: dict, top: int = 3) -> list[tuple[str, float]]:
    """Triage categories from the intent ranking, renormalised over triage intents."""
    scores = [
        (r["name"][len(TRIAGE_PREFIX) :], r["confidence"])
        for r in parse.get("intent_ranking", [])
        if r["name"].startswith(TRIAGE_PREFIX)
    ]
    total = sum(c for _, c in scores) or 1.0
    return [(code, c / total) for code, c in sorted(scores, key=lambda s: -s[1])][:top]


def triage(parse: dict) -> Triage:
    """The category for a parse. Non-legal, empty or non-Chinese text falls back to `other`."""
    ranking = triage_ranking(parse)
    top_intent = (parse.get("intent") or {}).get("name") or ""
    if (
        not ranking
        or not HAN.search(parse.get("text") or "")
        or top_intent in NOT_LEGAL
    ):
        return Triage(FALLBACK_CATEGORY, 0.0, ranking)
    # Report the model's own confidence in the winner among all intents: it stays
    # low when the model thought the message was something else (a FAQ, chitchat).
    absolute = next(
        r["confidence"]
        for r in parse["intent_ranking"]
        if r["name"] == TRIAGE_PREFIX + ranking[0][0]
    )
    return Triage(ranking[0][0], round(absolute, 4), ranking)


def entities(parse: dict) -> list[dict]:
    """Entities from the preferred extractor for each type, without duplicates."""
    seen, result = set(), []
    for e in parse.get("entities", []):
        preferred = PREFERRED_EXTRACTOR.get(e["entity"])
        if preferred and e.get("extractor") != preferred:
            continue
        key = (e["entity"], e.get("start"), e.get("end"))
        if key not in seen:
            seen.add(key)
            result.append({k: e.get(k) for k in ("entity", "value", "start", "end")})
    return result


def danger(text: str) -> str | None:
    """The kind of danger a message speaks of right now (violence, self_harm, domestic)."""
    text = normalise(text)
    for kind, words in knowledge.danger_patterns().items():
        if any(w in text for w in words):
            return kind
    return None
