"""Through the real stack (web app -> Rasa -> action server): a citizen's chat shows up
on the dashboard as an anonymous count, and nothing that names the citizen is stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
import uuid

import sqlalchemy as sa

from bot import dashboard
from bot.dashboard import Dashboard


def chat(stack, sender: str, message: str) -> list[dict]:
    request = urllib.request.Request(
        f"{stack.web}/api/chat",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def test_a_triaged_chat_is_counted_once_and_anonymously(stack):
    first, second = f"dash-{uuid.uuid4().hex[:12]}", f"dash-{uuid.uuid4().hex[:12]}"
    replies = chat(stack, first, "老板跑了，俺三个月工钱没拿到，咋整")
    assert "劳动争议" in replies[0]["text"]
    chat(stack, first, "老板跑了，俺三个月工钱没拿到，咋整")  # the same conversation
    chat(stack, second, "借给他两万块钱，打了欠条，现在不还了")

    board = Dashboard(stack.settings.database_url)
    today = dashboard.china_day(dashboard.intake.now())

    def read() -> tuple[list, dict[str, list]]:
        with board.engine.connect() as conn:
            rows = conn.execute(sa.select(dashboard.conversation_facts)).all()
            secret = conn.execute(
                sa.select(dashboard.day_keys.c.secret).where(
                    dashboard.day_keys.c.day == today
                )
            ).scalar()
        if secret is None:
            return rows, {}
        # Today's key is still there, so today (only) a code can be recomputed.
        key = bytes.fromhex(secret)
        codes = {
            hmac.new(key, s.encode(), hashlib.sha256).hexdigest()[:32]: s
            for s in (first, second)
        }
        mine: dict[str, list] = {first: [], second: []}
        for row in rows:
            if row.visitor in codes:
                mine[codes[row.visitor]].append(row)
        return rows, mine

    try:
        deadline = time.monotonic() + 20  # facts are written in the background
        rows, mine = read()
        while sum(map(len, mine.values())) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            rows, mine = read()
        figures = board.figures(today, today)
    finally:
        board.close()

    assert [r.category for r in mine[first]] == ["labor", "labor"]
    assert [r.category for r in mine[second]] == ["debt"]
    assert {(r.kind, r.channel) for r in mine[first] + mine[second]} == {
        ("triage", "web")
    }
    # Two conversations (whatever other tests of this session added besides).
    categories = {c["key"]: c["conversations"] for c in figures["categories"]}
    assert categories["labor"] >= 1 and categories["debt"] >= 1
    assert figures["totals"]["conversations"] >= 2
    stored = repr(rows)
    assert first not in stored and second not in stored
    assert "工钱" not in stored and "欠条" not in stored
