"""The 普法 FAQ: read the retrieval-intent files (data/nlu/faq_*.yml) as one index.

Each file keeps a FAQ's questions (NLU examples), answer (response) and citations
together; this module serves them to the web API, the console and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.laws import CITATION

NLU_DIR = Path(__file__).resolve().parents[1] / "data" / "nlu"


@dataclass(frozen=True)
class Faq:
    key: str  # without the faq/ prefix
    question: str  # the canonical question: the first example
    examples: tuple[str, ...]
    answer: str
    citations: tuple[str, ...]
    topic: str


def _examples(block: str) -> list[str]:
    return [
        line.strip()[2:].strip()
        for line in block.splitlines()
        if line.strip().startswith("- ")
    ]


@lru_cache(maxsize=2)
def faqs(nlu_dir: Path = NLU_DIR) -> dict[str, Faq]:
    index: dict[str, Faq] = {}
    for path in sorted(nlu_dir.glob("faq_*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        responses = doc.get("responses", {})
        for item in doc.get("nlu", []):
            key = item["intent"].split("/", 1)[1]
            examples = _examples(item["examples"])
            answer = responses[f"utter_faq/{key}"][0]["text"].strip()
            index[key] = Faq(
                key=key,
                question=examples[0],
                examples=tuple(examples),
                answer=answer,
                citations=tuple(m.group(0) for m in CITATION.finditer(answer)),
                topic=path.stem.removeprefix("faq_"),
            )
    return index
