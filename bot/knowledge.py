"""The bureau's facts, read from data/knowledge/*.yml (one source for each fact)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

KNOWLEDGE_DIR = Path(__file__).resolve().parents[1] / "data" / "knowledge"


def _load(name: str, knowledge_dir: Path) -> dict:
    return yaml.safe_load((knowledge_dir / name).read_text(encoding="utf-8")) or {}


@dataclass(frozen=True)
class Deadline:
    text: str
    basis: str


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    scope: str
    matter_type: str
    steps: tuple[str, ...]
    institutions: tuple[str, ...]
    hotlines: tuple[str, ...]
    deadlines: tuple[Deadline, ...]
    legal_aid_route: str
    legal_aid_text: str
    legal_aid_basis: tuple[str, ...]
    faqs: tuple[str, ...] = field(default=())


@lru_cache(maxsize=4)
def categories(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict[str, Category]:
    raw = _load("categories.yml", knowledge_dir)["categories"]
    return {
        code: Category(
            code=code,
            name=c["name"],
            scope=c.get("scope", ""),
            matter_type=c.get("matter_type", "civil"),
            steps=tuple(c["steps"]),
            institutions=tuple(c.get("institutions", [])),
            hotlines=tuple(str(h) for h in c.get("hotlines", [])),
            deadlines=tuple(
                Deadline(d["text"], d["basis"]) for d in c.get("deadlines", [])
            ),
            legal_aid_route=c["legal_aid"]["route"],
            legal_aid_text=c["legal_aid"]["text"],
            legal_aid_basis=tuple(c["legal_aid"].get("basis", [])),
            faqs=tuple(c.get("faqs", [])),
        )
        for code, c in raw.items()
    }


@lru_cache(maxsize=4)
def centres(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict[str, dict]:
    return _load("centres.yml", knowledge_dir)["centres"]


@lru_cache(maxsize=4)
def danger_patterns(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict[str, tuple[str, ...]]:
    raw = _load("emergency.yml", knowledge_dir)["patterns"]
    return {kind: tuple(words) for kind, words in raw.items()}


@lru_cache(maxsize=4)
def service_texts(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict[str, str]:
    """What the web app and channels say by themselves (limits, outages, bad input)."""
    return _load("service_texts.yml", knowledge_dir)
