"""What citizens type, made safe to store and parse (plain Python, no Rasa).

The web app and Rasa's REST channel both call clean_message, so a message the web
app accepts is never refused by the channel behind it.
"""

from __future__ import annotations

import unicodedata

KEEP = {"\n", "\t"}


def clean_message(text: str) -> str:
    """Drop control characters (NUL cannot be stored in PostgreSQL, and none of them
    mean anything in a chat) and lone surrogates (JSON "\\ud800" decodes to text that
    cannot be written as UTF-8), then strip. Emoji, Chinese and every printable
    character stay as typed."""
    cleaned = "".join(
        ch for ch in text if ch in KEEP or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    return cleaned.strip()
