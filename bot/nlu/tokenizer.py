"""Jieba tokenizer with the project dictionary that never emits whitespace tokens.

Rasa's JiebaTokenizer yields whitespace tokens on mixed Chinese/English text
(rasa#7910), which breaks entity alignment. Segmentation lives in bot.nlu.segment so
that the data checks see exactly the tokens the model sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.segment import DICT_DIR, segment


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class XinyangTokenizer(Tokenizer):
    @staticmethod
    def supported_languages() -> list[str]:
        return ["zh"]

    @staticmethod
    def required_packages() -> list[str]:
        return ["jieba"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "dictionary_path": str(DICT_DIR),
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> XinyangTokenizer:
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        text = message.get(attribute)
        words = segment(text, Path(self._config["dictionary_path"]))
        return self._apply_token_pattern([Token(w, start) for w, start in words])
