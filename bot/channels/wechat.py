"""Rasa input channel for a WeChat official account (公众号).

credentials.yml names it `bot.channels.wechat.WeChatInput`; Rasa serves it at
/webhooks/wechat/webhook, which is the server URL entered in the WeChat console.
Secrets come from bot.settings (XY_WECHAT_*); without a token the channel answers
503 and the rest of the assistant is unaffected. The protocol lives in bot.wechat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import handoff, wechat
from bot.knowledge import service_texts
from bot.ratelimit import RateLimiter
from bot.settings import Settings

log = logging.getLogger(__name__)
TEXTS: dict[str, str] = yaml.safe_load(
    (Path(__file__).with_name("wechat_texts.yml")).read_text(encoding="utf-8")
)
UNSUPPORTED_TYPES = {"image", "video", "shortvideo", "location", "link", "file"}


class WeChatOutput(CollectingOutputChannel):
    """Sends bot messages through the customer-service API, for turns Rasa starts
    itself (reminders, /conversations/<id>/trigger_intent?output_channel=wechat)."""

    @classmethod
    def name(cls) -> str:
        return WeChatInput.name()

    def __init__(self, channel: WeChatInput) -> None:
        super().__init__()
        self._channel = channel

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        await self._channel.push(message["recipient_id"], [message])


class WeChatInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        # Secrets are never written into credentials.yml; they come from settings.
        return cls(Settings.from_env())

    def __init__(self, settings: Settings) -> None:
        self.token = settings.wechat_token
        self.max_chars = settings.max_message_chars
        self.per_minute = settings.rate_limit_per_minute
        self.limiter = RateLimiter(settings.redis_url)
        self.crypto: wechat.WeChatCrypto | None = None
        if settings.wechat_aes_key:
            try:
                self.crypto = wechat.WeChatCrypto(
                    settings.wechat_aes_key, settings.wechat_appid
                )
            except ValueError as exc:
                log.error("WeChat safe mode is off: %s", exc)
        self.api: wechat.CustomerService | None = None
        if settings.wechat_appid and settings.wechat_secret:
            self.api = wechat.CustomerService(
                settings.wechat_api_base, settings.wechat_appid, settings.wechat_secret
            )
        self.choices = wechat.Choices()
        # 转人工: while an operator holds a conversation, messages go to the operator.
        self.handoffs = handoff.HandoffStore(settings.database_url)
        self.desk = wechat.ReplyDesk(self.deliver, budget=settings.wechat_reply_budget)
        if not self.token:
            log.info("WeChat channel not configured (XY_WECHAT_TOKEN is empty)")

    def get_output_channel(self) -> OutputChannel | None:
        return WeChatOutput(self) if self.token and self.api else None

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        message = getattr(request.ctx, "wechat", None)
        if message is None:
            return None
        return {
            "wechat": {
                "openid": message.openid,
                "msg_id": message.msg_id,
                "msg_type": message.msg_type,
                "account": message.account,
            }
        }

    async def deliver(self, openid: str, texts: list[str]) -> None:
        if self.api is None:
            log.warning(
                "a late reply to %s was dropped: set XY_WECHAT_APPID and "
                "XY_WECHAT_SECRET to use the customer-service API",
                wechat.short_hash(openid),
            )
            return
        await self.api.send_texts(openid, texts)

    async def push(self, openid: str, messages: list[dict[str, Any]]) -> None:
        texts, payloads = wechat.render_turn(messages, TEXTS["choice_hint"])
        if payloads:
            self.choices.remember(openid, payloads)
        await self.deliver(openid, texts)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        hook = Blueprint("wechat_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": bool(self.token)})

        @hook.route("/webhook", methods=["GET"])
        async def handshake(request: Request) -> HTTPResponse:
            if not self.token:
                return response.text(TEXTS["not_configured"], status=503)
            args = request.args
            timestamp, nonce = args.get("timestamp"), args.get("nonce")
            echostr = args.get("echostr", "")
            if "msg_signature" not in args:
                if not wechat.check_signature(
                    self.token, args.get("signature"), timestamp, nonce
                ):
                    return response.text("signature mismatch", status=403)
                return response.text(echostr)
            if self.crypto is None:
                return response.text(TEXTS["not_configured"], status=503)
            if not wechat.check_msg_signature(
                self.token, args.get("msg_signature"), timestamp, nonce, echostr
            ):
                return response.text("signature mismatch", status=403)
            try:
                return response.text(self.crypto.decrypt(echostr).decode())
            except (wechat.CryptoError, UnicodeDecodeError):
                return response.text("bad echostr", status=400)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            started = asyncio.get_running_loop().time()
            if not self.token:
                return response.text(TEXTS["not_configured"], status=503)
            args = request.args
            timestamp, nonce = args.get("timestamp"), args.get("nonce")
            if not wechat.check_signature(
                self.token, args.get("signature"), timestamp, nonce
            ):
                return response.text("signature mismatch", status=403)
            if len(request.body) > wechat.MAX_BODY:
                return response.text("body too large", status=413)
            safe = args.get("encrypt_type") == "aes"
            try:
                fields = wechat.parse_xml(request.body)
                if safe:
                    if self.crypto is None:
                        return response.text(TEXTS["not_configured"], status=503)
                    encrypted = fields.get("Encrypt")
                    if not wechat.check_msg_signature(
                        self.token,
                        args.get("msg_signature"),
                        timestamp,
                        nonce,
                        encrypted,
                    ):
                        return response.text("signature mismatch", status=403)
                    fields = wechat.parse_xml(self.crypto.decrypt(encrypted))
                message = wechat.Incoming.from_fields(fields)
            except (wechat.XMLError, wechat.CryptoError) as exc:
                log.info("rejected a WeChat push: %s", exc)
                return response.text("bad message", status=400)

            request.ctx.wechat = message
            metadata = self.get_metadata(request)
            reply = await self.desk.answer(
                message.key,
                message.openid,
                lambda: self.reply_to(message, metadata, on_new_message),
                started,
            )
            if reply is None:
                return response.text("success")
            xml = wechat.text_reply_xml(message.openid, message.account, reply)
            if safe:
                xml = self.crypto.encrypt_reply(xml, self.token)
            return response.text(xml, content_type="application/xml")

        @hook.listener("after_server_stop")
        async def close(app: Any, loop: Any) -> None:
            if self.api is not None:
                await self.api.close()
            await self.limiter.close()

        return hook

    async def reply_to(
        self,
        message: wechat.Incoming,
        metadata: dict[str, Any] | None,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> list[str]:
        """The WeChat texts answering one push (empty: nothing to say)."""
        if message.msg_type == "event":
            if message.event == "subscribe":
                return [TEXTS["welcome"]]
            if message.event == "unsubscribe":
                self.choices.forget(message.openid)
            return []
        if message.msg_type == "voice":
            if not message.recognition.strip():
                return [TEXTS["voice_unclear"]]
            text = message.recognition
        elif message.msg_type == "text" and message.content.strip():
            text = message.content
        else:
            if message.msg_type not in UNSUPPORTED_TYPES | {"text"}:
                log.info("WeChat message of unknown type %r", message.msg_type[:20])
            return [TEXTS["text_only"]]
        if len(text) > self.max_chars:
            return [TEXTS["too_long"].format(limit=self.max_chars)]
        # Over the limit: a polite passive reply. An HTTP error would make WeChat
        # retry the push, and "success" would leave the citizen without a word.
        decision = await self.limiter.hit("openid", message.openid, self.per_minute)
        if not decision.allowed:
            return [
                service_texts()["rate_limited"].format(seconds=decision.retry_after)
            ]

        user = wechat.short_hash(message.openid)
        gate = await self._handoff(handoff.before_turn, message.openid, text)
        if gate is not None and not gate.to_rasa:
            return gate.answer
        collector = CollectingOutputChannel()
        try:
            await on_new_message(
                UserMessage(
                    self.choices.resolve(message.openid, text),
                    collector,
                    message.openid,
                    input_channel=self.name(),
                    message_id=message.msg_id or None,
                    metadata=metadata,
                )
            )
        except Exception as exc:
            # Exception texts may quote the sender id: log only the kind of failure.
            log.error("Rasa turn for %s failed: %s", user, type(exc).__name__)
            return [TEXTS["error"]]
        texts, payloads = wechat.render_turn(collector.messages, TEXTS["choice_hint"])
        self.choices.remember(message.openid, payloads)
        if not texts:
            # Rasa swallows a failed custom action (action server down) and says
            # nothing; the form state is in the tracker store, so sending the same
            # words again later continues where the citizen was.
            log.warning("Rasa answered %s with nothing (action server down?)", user)
            return [service_texts()["no_answer"]]
        log.debug("answered %s with %d message(s)", user, len(texts))
        await self._handoff(
            handoff.after_turn, message.openid, text, gate or handoff.Gate(), texts
        )
        if gate is not None and gate.resumed is not None:
            # The operator had gone quiet: say the bot is back before it answers.
            texts = [handoff.citizen_text(gate.resumed), *texts]
        return texts

    async def _handoff(self, step: Callable[..., Any], *args: Any) -> Any:
        """A bot.handoff step, off the event loop; a database that is down never
        stops the bot (None: carry on as if no handoff were open)."""
        try:
            return await asyncio.to_thread(step, self.handoffs, *args)
        except handoff.HandoffUnavailable:
            log.warning("handoff database unavailable: the bot answers as usual")
            return None
