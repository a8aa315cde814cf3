"""WeChat official-account protocol, in plain Python (no Rasa imports).

Everything the WeChat channel needs besides Rasa itself: signature checks, the AES
"safe mode" envelope, XML in and out, turning bot replies into WeChat text messages
(numbered choices instead of buttons, WeChat's size limit), answering each message
exactly once despite WeChat's retries, and the customer-service message API with its
access_token. The Rasa channel (`bot.channels.wechat`) only wires these together.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import struct
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

log = logging.getLogger(__name__)

# A text message (passive reply or customer-service message) carries at most
# 2048 bytes of UTF-8 content.
TEXT_LIMIT = 2048
# Bodies WeChat pushes are a few hundred bytes; anything this large is not WeChat.
MAX_BODY = 64 * 1024
# access_token rejected: invalid (40001), invalid openid/token pair (40014), expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# The user has not written to the account in the last 48 hours.
WINDOW_CLOSED = 45015
# The calling server's IP address is not in the account's allow-list.
IP_NOT_ALLOWED = 40164


def short_hash(openid: str) -> str:
    """A stable pseudonym for logs: openids must never appear there in clear."""
    return hashlib.sha256(openid.encode()).hexdigest()[:10]


# --- signatures ---------------------------------------------------------------


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the lexically sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _same(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(
        expected.encode(), given.encode("utf-8", "replace")
    )


def check_signature(
    token: str, signature: str | None, timestamp: str | None, nonce: str | None
) -> bool:
    """The `signature` query parameter of every request from WeChat."""
    if not (token and timestamp and nonce):
        return False
    return _same(sign(token, timestamp, nonce), signature)


def check_msg_signature(
    token: str,
    msg_signature: str | None,
    timestamp: str | None,
    nonce: str | None,
    encrypted: str | None,
) -> bool:
    """`msg_signature` of safe mode, which also covers the encrypted payload."""
    if not (token and timestamp and nonce and encrypted):
        return False
    return _same(sign(token, timestamp, nonce, encrypted), msg_signature)


# --- safe mode (AES) ----------------------------------------------------------


class CryptoError(ValueError):
    """A payload that does not decrypt to a message for this account."""


class WeChatCrypto:
    """AES-256-CBC as WeChat's safe mode uses it.

    key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding to 32-byte
    blocks; plaintext = 16 random bytes + 4-byte big-endian length + message + AppID.
    """

    BLOCK = 32

    def __init__(self, encoding_aes_key: str, appid: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except ValueError:
            raise ValueError("EncodingAESKey is not base64") from None
        if len(key) != 32 or not appid:
            raise ValueError("EncodingAESKey must decode to 32 bytes; AppID needed")
        self._key = key
        self._appid = appid.encode()

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: str | bytes, random_prefix: bytes | None = None) -> str:
        body = message.encode() if isinstance(message, str) else message
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("the random prefix is 16 bytes")
        plain = prefix + struct.pack(">I", len(body)) + body + self._appid
        pad = self.BLOCK - len(plain) % self.BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except ValueError:
            raise CryptoError("not base64") from None
        if not data or len(data) % 16:
            raise CryptoError("not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= self.BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise CryptoError("too short")
        (length,) = struct.unpack(">I", plain[16:20])
        body, appid = plain[20 : 20 + length], plain[20 + length :]
        if len(body) != length or not hmac.compare_digest(appid, self._appid):
            raise CryptoError("not addressed to this AppID")
        return body

    def encrypt_reply(self, xml: str, token: str) -> str:
        """The envelope WeChat expects around a passive reply in safe mode."""
        encrypted = self.encrypt(xml)
        timestamp = str(int(time.time()))
        nonce = str(int.from_bytes(os.urandom(4), "big"))
        return (
            f"<xml><Encrypt>{cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{cdata(sign(token, timestamp, nonce, encrypted))}"
            f"</MsgSignature><TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce>{cdata(nonce)}</Nonce></xml>"
        )


# --- XML ----------------------------------------------------------------------


class XMLError(ValueError):
    """A body that is not a flat WeChat <xml> message."""


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The children of WeChat's <xml> root as a dict of texts.

    defusedxml refuses DOCTYPEs, entity declarations and external references, so
    entity expansion ("billion laughs") and XXE never reach us.
    """
    if len(body) > MAX_BODY:
        raise XMLError("too large")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise XMLError(type(exc).__name__) from None
    if root.tag != "xml":
        raise XMLError("root is not <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


# Characters XML 1.0 cannot carry at all, even inside CDATA.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def cdata(text: str) -> str:
    text = _NOT_XML.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str) -> str:
    """A passive text reply: to the user's openid, from the account's original ID."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


@dataclass(frozen=True)
class Incoming:
    """One push from WeChat, whatever its type."""

    account: str  # ToUserName: the official account's original ID (gh_...)
    openid: str  # FromUserName
    create_time: str
    msg_type: str
    content: str = ""
    msg_id: str = ""
    event: str = ""
    recognition: str = ""

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Incoming:
        try:
            account, openid = fields["ToUserName"], fields["FromUserName"]
            msg_type = fields["MsgType"].lower()
        except KeyError as missing:
            raise XMLError(f"no {missing.args[0]}") from None
        if not (account and openid and msg_type):
            raise XMLError("empty ToUserName, FromUserName or MsgType")
        return cls(
            account=account,
            openid=openid,
            create_time=fields.get("CreateTime", ""),
            msg_type=msg_type,
            content=fields.get("Content", ""),
            msg_id=fields.get("MsgId", ""),
            event=fields.get("Event", "").lower(),
            recognition=fields.get("Recognition", ""),
        )

    @property
    def key(self) -> str:
        """What stays the same when WeChat retries this push."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.openid}:{self.create_time}:{self.event}"


# --- replies as WeChat text ---------------------------------------------------


def utf8_len(text: str) -> int:
    return len(text.encode())


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf8_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        while utf8_len(line) > limit:
            cut = _cut(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        pieces.append(current)
    return pieces


def _cut(line: str, limit: int) -> int:
    """The largest character count whose UTF-8 encoding fits in `limit` bytes."""
    size = 0
    for index, char in enumerate(line):
        size += utf8_len(char)
        if size > limit:
            return max(index, 1)
    return len(line)


def pack(parts: Iterable[str], limit: int = TEXT_LIMIT, sep: str = "\n\n") -> list[str]:
    """Join parts into as few messages as fit the limit, keeping their order."""
    messages: list[str] = []
    current = ""
    for part in parts:
        for piece in split_text(part.strip(), limit):
            candidate = f"{current}{sep}{piece}" if current else piece
            if utf8_len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def render_turn(
    messages: Iterable[dict], hint: str, limit: int = TEXT_LIMIT
) -> tuple[list[str], list[str]]:
    """Bot messages of one turn -> (WeChat texts, payloads of the numbered choices).

    WeChat text has no buttons, so every button becomes a numbered line; numbers run
    on across the turn so each one means a single payload.
    """
    parts: list[str] = []
    payloads: list[str] = []
    hint_after = -1
    for message in messages:
        lines = [message["text"].strip()] if message.get("text") else []
        for key in ("image", "attachment"):
            if isinstance(message.get(key), str):
                lines.append(message[key])
        numbered = len(payloads)
        for button in message.get("buttons") or []:
            title = str(button.get("title") or button.get("payload") or "").strip()
            if title:
                payloads.append(str(button.get("payload") or title))
                lines.append(f"{len(payloads)}. {title}")
        if lines:
            parts.append("\n".join(lines))
            if len(payloads) > numbered:
                hint_after = len(parts) - 1
    if hint_after >= 0:
        parts[hint_after] += "\n" + hint
    return pack(parts, limit), payloads


_CHOICE = re.compile(r"\d{1,2}")


def choice_number(text: str) -> int | None:
    """ "1", "１", " 2。" -> the number the user picked; anything else -> None."""
    cleaned = unicodedata.normalize("NFKC", text).strip().rstrip(".。、)）").strip()
    return int(cleaned) if _CHOICE.fullmatch(cleaned) else None


class Choices:
    """The numbered options each user was last shown, to turn "1" into a payload.

    Kept in this process's memory: with several Rasa servers behind a load balancer
    this must move to a shared store (Redis, like the lock store), or a "1" answered
    by another server would be taken literally.
    """

    def __init__(self, max_users: int = 50_000) -> None:
        self._last: OrderedDict[str, list[str]] = OrderedDict()
        self._max_users = max_users

    def remember(self, openid: str, payloads: list[str]) -> None:
        self._last.pop(openid, None)
        if payloads:
            self._last[openid] = payloads
            while len(self._last) > self._max_users:
                self._last.popitem(last=False)

    def forget(self, openid: str) -> None:
        self._last.pop(openid, None)

    def resolve(self, openid: str, text: str) -> str:
        """The payload for a number the user was offered, else the text itself."""
        number = choice_number(text)
        payloads = self._last.get(openid, [])
        if number is not None and 1 <= number <= len(payloads):
            return payloads[number - 1]
        return text


# --- answering once, within WeChat's 5 seconds --------------------------------


@dataclass
class _Exchange:
    task: asyncio.Task
    created: float
    deferred: bool = False  # the reply goes out through the customer-service API
    followed_up: bool = False  # the part after a passive reply has been sent


Deliver = Callable[[str, list[str]], Awaitable[object]]


class ReplyDesk:
    """Answers each WeChat push once, however often WeChat retries it.

    WeChat waits 5 seconds for the HTTP answer, then sends the same push again (three
    tries in all), possibly while the first is still being worked on. The first
    arrival starts the work; every arrival waits for it until the budget runs out.
    A reply that is ready in time is answered passively (the first message in the
    HTTP response, the rest through `deliver` shortly after); otherwise the answer is
    "success" and the whole reply goes through `deliver` once it is ready.
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        budget: float,
        follow_up_delay: float = 0.5,
        keep: float = 300.0,
        max_entries: int = 10_000,
    ) -> None:
        self._deliver = deliver
        self.budget = budget
        self._follow_up_delay = follow_up_delay
        self._keep = keep
        self._max_entries = max_entries
        self._exchanges: OrderedDict[str, _Exchange] = OrderedDict()
        self._background: set[asyncio.Task] = set()

    async def answer(
        self,
        key: str,
        openid: str,
        make_reply: Callable[[], Awaitable[list[str]]],
        started: float,
    ) -> str | None:
        """The passive reply to send now, or None to answer "success"."""
        loop = asyncio.get_running_loop()
        exchange = self._exchanges.get(key)
        if exchange is None:
            exchange = _Exchange(loop.create_task(make_reply()), loop.time())
            self._remember(key, exchange, loop.time())
        deadline = started + self.budget
        if not exchange.deferred and not exchange.task.done():
            await asyncio.wait({exchange.task}, timeout=max(deadline - loop.time(), 0))
        if exchange.deferred:
            return None
        # Rasa's inference can hold the event loop past the deadline, so a finished
        # reply may still be too late for WeChat: check the clock, not just the task.
        if exchange.task.done() and loop.time() <= deadline:
            replies = self._replies(exchange.task)
            if not replies:
                return None
            if len(replies) > 1 and not exchange.followed_up:
                exchange.followed_up = True
                self._spawn(self._follow_up(openid, replies[1:]))
            return replies[0]
        exchange.deferred = True
        self._spawn(self._deliver_when_ready(openid, exchange.task))
        return None

    @staticmethod
    def _replies(task: asyncio.Task) -> list[str]:
        if task.cancelled() or task.exception() is not None:
            return []
        return list(task.result())

    def _remember(self, key: str, exchange: _Exchange, now: float) -> None:
        self._exchanges[key] = exchange
        while self._exchanges:
            oldest = next(iter(self._exchanges.values()))
            too_many = len(self._exchanges) > self._max_entries
            if not too_many and (now - oldest.created < self._keep):
                break
            self._exchanges.popitem(last=False)

    def _spawn(self, coro: Awaitable) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _follow_up(self, openid: str, replies: list[str]) -> None:
        # Let the passive reply reach WeChat first, so the user reads them in order.
        await asyncio.sleep(self._follow_up_delay)
        await self._deliver(openid, replies)

    async def _deliver_when_ready(self, openid: str, task: asyncio.Task) -> None:
        await asyncio.wait({task})
        replies = self._replies(task)
        if replies:
            await self._deliver(openid, replies)


# --- the customer-service message API -----------------------------------------


class ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode


class AccessToken:
    """The account's access_token, fetched and refreshed in this one place.

    Fetching a new token invalidates the previous one, so concurrent callers must
    share a single fetch: a lock guards it, and a refresh after a rejection only
    fetches if nobody else has replaced the rejected token already.
    """

    def __init__(
        self,
        http: Callable[[], aiohttp.ClientSession],
        api_base: str,
        appid: str,
        secret: str,
        *,
        margin: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = f"{api_base.rstrip('/')}/cgi-bin/token"
        self._appid = appid
        self._secret = secret
        self._margin = margin
        self._clock = clock
        self._token = ""
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def _fresh(self) -> bool:
        return bool(self._token) and self._clock() < self._expires

    async def get(self) -> str:
        if self._fresh():
            return self._token
        async with self._lock:
            if not self._fresh():
                await self._fetch()
            return self._token

    async def refresh(self, rejected: str) -> str:
        """A new token after WeChat rejected `rejected` (unless already replaced)."""
        async with self._lock:
            if self._token == rejected or not self._fresh():
                await self._fetch()
            return self._token

    async def _fetch(self) -> None:
        params = {
            "grant_type": "client_credential",
            "appid": self._appid,
            "secret": self._secret,
        }
        self.fetches += 1
        async with self._http().get(self._url, params=params) as response:
            data = await response.json(content_type=None)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token:
            data = data if isinstance(data, dict) else {}
            raise ApiError(int(data.get("errcode", -1)), str(data.get("errmsg", "")))
        lifetime = float(data.get("expires_in", 7200))
        # Refresh ahead of expiry, so a request never races the deadline.
        self._expires = self._clock() + max(lifetime - self._margin, lifetime / 2)
        self._token = token


class CustomerService:
    """Sends text through the customer-service message API (48 h after the user's
    last message), sharing one HTTP session and one access_token cache."""

    def __init__(
        self, api_base: str, appid: str, secret: str, *, timeout: float = 10.0
    ) -> None:
        self._url = f"{api_base.rstrip('/')}/cgi-bin/message/custom/send"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.tokens = AccessToken(self._http, api_base, appid, secret)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send_texts(self, openid: str, texts: list[str]) -> bool:
        """Send in order; stop at the first failure (the rest would fail too)."""
        for text in texts:
            if not await self.send_text(openid, text):
                return False
        return True

    async def send_text(self, openid: str, text: str) -> bool:
        payload = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        # WeChat shows \u escapes literally in some APIs: send real UTF-8.
        body = json.dumps(payload, ensure_ascii=False).encode()
        user = short_hash(openid)
        try:
            token = await self.tokens.get()
            result = await self._post(token, body)
            if result.get("errcode") in TOKEN_ERRORS:
                token = await self.tokens.refresh(token)
                result = await self._post(token, body)
        except ApiError as exc:
            log.warning("WeChat access_token unavailable: errcode %s", exc.errcode)
            return False
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            # The URL carries the token: log the kind of failure, not the message.
            log.warning(
                "WeChat API unreachable (%s); reply to %s dropped",
                type(exc).__name__,
                user,
            )
            return False
        code = int(result.get("errcode", 0) or 0)
        if code == 0:
            return True
        if code == WINDOW_CLOSED:
            log.warning("customer-service window (48 h) closed; a reply was dropped")
        elif code == IP_NOT_ALLOWED:
            log.warning(
                "WeChat refused this server's IP: add it to the account's IP allow-list"
            )
        else:
            log.warning(
                "customer-service message to %s refused: errcode %s %s",
                user,
                code,
                result.get("errmsg", ""),
            )
        return False

    async def _post(self, token: str, body: bytes) -> dict:
        async with self._http().post(
            self._url,
            params={"access_token": token},
            data=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as response:
            data = await response.json(content_type=None)
        return data if isinstance(data, dict) else {"errcode": -1}
