"""An intent classifier for what rules recognise better than a model.

- `emergency`: a danger word list (data/knowledge/emergency.yml) backs up DIET, so a
  person in danger gets 110/120/12338 first even when the model guessed otherwise.
- `ask_article`: "民法典1077条", "法律援助法第三十一条是什么" are statute look-ups.
- `check_status`: a message with a legal-aid reference number (XY261201-ABCD).
The rule's intent is put first with confidence 1.0; the model's ranking stays below
it, so triage can still use it.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.laws import article_request
from bot.legal_aid_form import REFERENCE
from bot.triage import danger

MODEL_CAP = 0.9


def rule_intent(text: str) -> str | None:
    if danger(text):
        return "emergency"
    if article_request(text):
        return "ask_article"
    if REFERENCE.search(text):
        return "check_status"
    return None


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class RuleIntentClassifier(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RuleIntentClassifier:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = rule_intent(message.get(TEXT) or "")
            if intent is None:
                continue
            top = {"name": intent, "confidence": 1.0}
            # The model's guesses stay, in their order, capped: a model intent at
            # 1.0 next to the rule's would look like a tie to the FallbackClassifier's
            # ambiguity check (0.08) and end in "没太明白".
            below = [
                {**r, "confidence": min(r["confidence"], MODEL_CAP)}
                for r in message.get(INTENT_RANKING_KEY) or []
                if r["name"] != intent
            ]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *below], add_to_output=True)
        return messages
