"""`python -m bot triage`: triage one text, or JSON lines from stdin, with the trained model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from bot.triage import entities, normalise, triage


def result(parse: dict) -> dict:
    t = triage(parse)
    return {
        "text": parse.get("text", ""),
        "category": t.category,
        "category_name": t.name,
        "confidence": round(t.confidence, 4),
        "ranking": [{"category": c, "confidence": round(p, 4)} for c, p in t.ranking],
        "entities": entities(parse),
    }


class Triager:
    """Loads the trained Rasa model once and triages texts with it."""

    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent  # heavy: imported only when a model is used

        self.agent = Agent.load(str(model))

    async def parse(self, text: str) -> dict:
        clean = normalise(text)
        if not clean:
            return {"text": text, "intent": {}, "intent_ranking": [], "entities": []}
        parse = await self.agent.parse_message(clean)
        return {**parse, "text": text}

    async def triage_many(self, texts: Iterable[str]) -> list[dict]:
        return [result(await self.parse(t)) for t in texts]


def read_jsonl(lines: Iterable[str]) -> Iterator[str]:
    """The `text` of each JSON line; a line that is not such JSON is triaged as given."""
    for line in lines:
        line = line.rstrip("\n")
        try:
            item = json.loads(line)
            text = item.get("text") if isinstance(item, dict) else None
        except ValueError:
            text = line
        yield text if isinstance(text, str) else ""


def run(args, model: Path) -> int:
    logging.disable(logging.WARNING)
    texts = list(read_jsonl(sys.stdin)) if args.jsonl else [" ".join(args.text)]
    # Rasa's own debug lines go to stdout; keep stdout for our JSON only.
    with contextlib.redirect_stdout(sys.stderr):
        outputs = asyncio.run(Triager(model).triage_many(texts))
    for out in outputs:
        print(json.dumps(out, ensure_ascii=False, indent=None if args.jsonl else 2))
    return 0


def read_password(from_stdin: bool) -> str:
    """The new password: one line from stdin (scripts), else typed twice unseen."""
    from bot.console import message

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(message("cli", "password_prompt"))
    if getpass.getpass(message("cli", "password_again")) != first:
        raise SystemExit(message("cli", "password_mismatch"))
    return first


def run_console_user(args, database_url: str) -> int:
    """`python -m bot console-user add|passwd|disable|enable|list`: console accounts
    in the intake database (the same XY_DATABASE_URL the web app uses)."""
    import sqlalchemy as sa

    from bot.console import message
    from bot.console.accounts import AccountError, Accounts
    from bot.intake import IntakeStore

    store = IntakeStore(database_url)
    accounts = Accounts(store.engine)
    try:
        if args.action == "list":
            for u in accounts.list_users():
                state = "" if u["active"] else "  (disabled)"
                print(f"{u['username']}\t{u['role']}\t{u['centre'] or '-'}{state}")
            return 0
        if args.action == "add":
            password = read_password(args.password_stdin)
            user = accounts.create_user(
                args.username, password, args.role, args.centre or None
            )
            print(message("cli", "created", username=user.username, role=user.role))
        elif args.action == "passwd":
            accounts.set_password(args.username, read_password(args.password_stdin))
            print(message("cli", "password_changed", username=args.username))
        else:
            accounts.set_active(args.username, args.action == "enable")
            print(message("cli", args.action + "d", username=args.username))
    except AccountError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError):
        print(message("cli", "database"), file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
