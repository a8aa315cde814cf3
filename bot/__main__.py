"""Command line: `python -m bot serve` and `python -m bot triage` (also `xinyang-12348`)."""

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
    args = parser.parse_args(argv)
    settings = Settings.from_env()

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
