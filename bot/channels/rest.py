"""Rasa's REST channel with its input checked: /webhooks/rest/webhook.

credentials.yml names it `bot.channels.rest.RestInput` in place of `rest:`. The web
app is the citizens' front door and checks everything itself; this guards the
channel for any other caller (a proxy exposing it, a script on the machine). Stock
Rasa 3.6 answers a JSON array or empty body with a 500, files every message without
a sender under one shared conversation "default", writes the text of a failed turn
into its log, and runs a message of any length through the NLU, whose transformer
grows with the square of the length. Here those get a 4xx with a Chinese message.

The answer format is unchanged: a JSON list of {"recipient_id", "text", "buttons"…}.
Streaming (?stream=true) and a caller-chosen input_channel are not offered.

The channel also checks requests to Rasa's own POST /model/parse (the web app's FAQ
search and the operator console call it): stock Rasa answers 500 to an unparsable
body, a JSON array, a missing or non-string "text" and lone surrogates, and parses a
text of any length. A channel is the one place a project can hook into Rasa's Sanic
app without patching Rasa, so it registers a request middleware for that path.
"""

from __future__ import annotations

import json
import logging
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.inputs import clean_message
from bot.knowledge import service_texts
from bot.settings import Settings

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # the web app's limit too
MAX_SENDER = 128
FIELDS = {"sender", "message", "metadata"}
# /model/parse also serves the operator console's call notes (bot/web/console.py
# takes up to 5,000 characters); the NLU's cost grows with the square of the length.
MAX_PARSE_CHARS = 5000


class BadInput(Exception):
    def __init__(self, status: int, text_key: str, **values: Any) -> None:
        super().__init__(text_key)
        self.status = status
        self.message = service_texts()[text_key].format(**values)


def _json_object(body: bytes, max_chars: int, too_long: str = "too_long") -> dict:
    if len(body) > MAX_BODY:
        raise BadInput(413, too_long, limit=max_chars)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # also invalid UTF-8, absurd nesting
        raise BadInput(400, "bad_json") from None
    if not isinstance(data, dict):
        raise BadInput(400, "bad_json")
    return data


def parse_body(body: bytes, max_chars: int) -> tuple[str, str, dict | None]:
    """(sender, message, metadata) from a request body, or BadInput."""
    data = _json_object(body, max_chars)
    for name in sorted(data):
        if name not in FIELDS:
            raise BadInput(400, "unknown_field", field=str(name)[:40])
    sender, message = data.get("sender"), data.get("message")
    metadata = data.get("metadata")
    if (
        not isinstance(sender, str)
        or not 1 <= len(sender) <= MAX_SENDER
        or not sender.isprintable()
    ):
        raise BadInput(400, "bad_sender", limit=MAX_SENDER)
    if not isinstance(message, str) or not clean_message(message):
        raise BadInput(400, "bad_message")
    message = clean_message(message)
    if len(message) > max_chars:
        raise BadInput(413, "too_long", limit=max_chars)
    if metadata is not None and not isinstance(metadata, dict):
        raise BadInput(400, "bad_json")
    return sender, message, metadata


def parse_request_body(body: bytes) -> bytes:
    """The /model/parse body with its text cleaned, or BadInput. Other fields
    (Rasa's "message_id") pass unchanged."""
    data = _json_object(body, MAX_PARSE_CHARS, "text_too_long")
    text = data.get("text")
    if not isinstance(text, str):
        raise BadInput(400, "bad_text")
    text = clean_message(text)
    if len(text) > MAX_PARSE_CHARS:
        raise BadInput(413, "text_too_long", limit=MAX_PARSE_CHARS)
    return json.dumps({**data, "text": text}).encode()


async def check_model_parse(request: Request) -> HTTPResponse | None:
    """Sanic request middleware for Rasa's POST /model/parse; None lets it through."""
    if request.method != "POST" or request.path.rstrip("/") != "/model/parse":
        return None
    try:
        request.body = parse_request_body(request.body)
    except BadInput as bad:
        # The shape of Rasa's own errors on this API.
        return response.json(
            {"status": "failure", "message": bad.message, "code": bad.status},
            status=bad.status,
            dumps=json.dumps,
            ensure_ascii=False,
        )
    request.parsed_json = None  # parse the cleaned body, not a cached one
    return None


class RestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"  # keeps the URL /webhooks/rest/webhook

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RestInput:
        return cls(Settings.from_env().max_message_chars)

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        hook = Blueprint("checked_rest_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.listener("before_server_start")
        async def guard_model_parse(app: Any, loop: Any) -> None:
            app.register_middleware(check_model_parse, "request")

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                sender, text, metadata = parse_body(request.body, self.max_chars)
            except BadInput as bad:
                return response.json(
                    {"error": "bad_request", "message": bad.message},
                    status=bad.status,
                    dumps=json.dumps,
                    ensure_ascii=False,
                )
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        text,
                        collector,
                        sender,
                        input_channel=self.name(),
                        metadata=metadata,
                    )
                )
            except CancelledError:
                log.error("a REST turn was cancelled (timeout)")
            except Exception as exc:
                # Rasa's own channel logs the message text here; it may hold a
                # name or a phone number, so only the kind of failure is logged.
                log.error("a REST turn failed: %s", type(exc).__name__)
            return response.json(collector.messages)

        return hook
