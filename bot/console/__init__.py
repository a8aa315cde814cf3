"""The operator console's plain-Python side: accounts, sessions, the audit log and the
call analysis. No Rasa imports, no aiohttp: bot/web/console.py is the web side."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from bot.knowledge import KNOWLEDGE_DIR


@lru_cache(maxsize=4)
def texts(knowledge_dir: Path = KNOWLEDGE_DIR) -> dict:
    """The console's Chinese texts and word lists (data/knowledge/console.yml)."""
    path = knowledge_dir / "console.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def message(section: str, key: str, **values) -> str:
    return texts()[section][key].format(**values)
