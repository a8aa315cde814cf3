"""Command line: `python -m bot serve`, `python -m bot triage` and
`python -m bot console-user` (also `xinyang-12348`)."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> int:
    from bot.settings import Settings

    parser = argparse.ArgumentParser(
        prog="xinyang-12348", description="12348 智能法律服务助手"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="start Rasa, the action server and the web app")
    tri = sub.add_parser("triage", help="triage a text, or JSON lines from stdin")
    tri.add_argument("text", nargs="*", help="the citizen's words")
    tri.add_argument(
        "--jsonl", action="store_true", help='read {"text": ...} lines from stdin'
    )
    tri.add_argument("--model", help="model archive (default: newest in models/)")
    acc = sub.add_parser("console-user", help="operator console accounts")
    acc.add_argument("action", choices=("add", "passwd", "disable", "enable", "list"))
    acc.add_argument("username", nargs="?", help="3-32 characters: a-z 0-9 _ . -")
    acc.add_argument(
        "--role", choices=("operator", "centre", "admin"), default="operator"
    )
    acc.add_argument("--centre", help="centre key (role centre), see centres.yml")
    acc.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin instead of asking for it",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()

    if args.command == "console-user":
        if args.action != "list" and not args.username:
            acc.error("give the username")
        from bot.cli import run_console_user

        return run_console_user(args, settings.database_url)

    if args.command == "serve":
        from bot.serve import serve as run_serve

        return run_serve(settings)
    if not args.jsonl and not args.text:
        tri.error("give a text, or --jsonl with JSON lines on stdin")
    from pathlib import Path

    from bot.cli import run

    return run(args, Path(args.model) if args.model else settings.latest_model())


if __name__ == "__main__":
    sys.exit(main())
