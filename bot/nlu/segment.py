"""Chinese word segmentation shared by the Rasa tokenizer and the data checks.

Plain jieba plus the project dictionary; whitespace tokens are dropped (rasa#7910).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jieba

DICT_DIR = Path(__file__).resolve().parents[2] / "data" / "dict" / "jieba_v1"


@lru_cache(maxsize=4)
def _segmenter(dict_dir: str) -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    for path in sorted(Path(dict_dir).glob("*.txt")):
        tokenizer.load_userdict(str(path))
    return tokenizer


def segment(text: str, dict_dir: Path = DICT_DIR) -> list[tuple[str, int]]:
    """Return (word, start offset) pairs; whitespace-only words are dropped."""
    words = []
    offset = 0
    for word in _segmenter(str(dict_dir)).cut(text):
        if word.strip():
            words.append((word, offset))
        offset += len(word)
    return words
