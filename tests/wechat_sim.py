"""A local stand-in for WeChat's servers, so tests never reach the real ones.

Two halves, as WeChat has them:
- the platform API (aiohttp on a loopback port): /cgi-bin/token issues access tokens
  (a new one leaves the old valid for 5 minutes, as WeChat does; tests can expire
  them), /cgi-bin/message/custom/send records customer-service messages and rejects
  bad or expired tokens, unknown openids and closed 48-hour windows with WeChat's
  errcodes;
- the pusher: builds the signed pushes WeChat sends to the account's server (plain
  or safe mode, with MsgId, CreateTime, FromUserName, ToUserName), waits 5 seconds,
  retries up to 3 times, and checks each passive reply as WeChat would (signature,
  decryption, addressing, size) before "showing" it to the user.

The crypto here is written separately from bot.wechat on purpose: the simulator must
not share the channel's mistakes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import secrets
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import ElementTree

# What WeChat shows the user when the server's answer is late or unusable.
UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"
TOKEN_LIFETIME = 7200
# Hostile bodies someone other than WeChat might post: entity expansion and XXE.
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<xml><Content>&lol3;</Content></xml>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<xml><Content>&x;</Content></xml>"
)

OLD_TOKEN_GRACE = 300


@dataclass(frozen=True)
class Account:
    token: str = "xinyang12348token"
    appid: str = "wx1234567890abcdef"
    secret: str = "0123456789abcdef0123456789abcdef"
    aes_key: str = "Xy12348LegalAidXinyangHotlineKey0123456789a"
    original_id: str = "gh_0123456789ab"

    def env(self, api_base: str) -> dict[str, str]:
        return {
            "XY_WECHAT_TOKEN": self.token,
            "XY_WECHAT_APPID": self.appid,
            "XY_WECHAT_SECRET": self.secret,
            "XY_WECHAT_AES_KEY": self.aes_key,
            "XY_WECHAT_API_BASE": api_base,
        }


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class Aes:
    """WeChat's safe-mode cipher, as the platform applies it."""

    def __init__(self, account: Account) -> None:
        self.key = base64.b64decode(account.aes_key + "=")
        self.appid = account.appid.encode()

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def seal(self, xml: str) -> str:
        body = xml.encode()
        data = secrets.token_bytes(16) + struct.pack("!I", len(body)) + body
        data += self.appid
        n = 32 - len(data) % 32
        data += bytes([n] * n)
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(data) + enc.finalize()).decode()

    def open(self, encrypted: str) -> str:
        dec = self._cipher().decryptor()
        data = dec.update(base64.b64decode(encrypted)) + dec.finalize()
        data = data[: -data[-1]]
        size = struct.unpack("!I", data[16:20])[0]
        if data[20 + size :] != self.appid:
            raise ValueError("reply encrypted for another AppID")
        return data[20 : 20 + size].decode()


def xml_of(fields: dict[str, str | int]) -> str:
    inner = "".join(
        f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
        for k, v in fields.items()
    )
    return f"<xml>{inner}</xml>"


def fields_of(xml: str | bytes) -> dict[str, str]:
    root = ElementTree.fromstring(xml, forbid_dtd=True)
    return {child.tag: child.text or "" for child in root}


@dataclass
class Push:
    """One message or event as WeChat sends it to the account's server."""

    openid: str
    fields: dict[str, str | int]

    @property
    def msg_id(self) -> str:
        return str(self.fields.get("MsgId", ""))


@dataclass
class Attempt:
    """One HTTP try of a push and what WeChat made of the answer."""

    status: int
    body: str
    reply: str | None = None  # the passive text reply the user would see
    problem: str | None = None  # why WeChat would show UNAVAILABLE instead


@dataclass
class _Token:
    expires: float
    expired: bool = False


@dataclass
class Platform:
    """State of the simulated platform API."""

    account: Account
    tokens: dict[str, _Token] = field(default_factory=dict)
    token_fetches: int = 0
    rejections: list[int] = field(default_factory=list)
    known_users: set[str] = field(default_factory=set)
    closed_windows: set[str] = field(default_factory=set)
    # Everything each user sees, in order: passive replies and customer-service texts.
    seen: dict[str, list[str]] = field(default_factory=dict)
    customer_service: dict[str, list[str]] = field(default_factory=dict)


class WeChatSim:
    def __init__(self, account: Account | None = None, webhook: str = "") -> None:
        self.account = account or Account()
        self.webhook = webhook
        self.state = Platform(self.account)
        self.aes = Aes(self.account)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WeChatSim:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._thread.start()
        self._run(self._start())
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._run(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def _run(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- the platform API -----------------------------------------------------

    @staticmethod
    def _error(code: int, message: str) -> web.Response:
        # WeChat answers errors with HTTP 200 and a JSON errcode.
        return web.json_response({"errcode": code, "errmsg": message})

    async def _token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential":
            return self._error(40002, "invalid grant_type")
        if q.get("appid") != self.account.appid:
            return self._error(40013, "invalid appid")
        if q.get("secret") != self.account.secret:
            return self._error(40125, "invalid appsecret")
        now = time.monotonic()
        for old in self.state.tokens.values():
            old.expires = min(old.expires, now + OLD_TOKEN_GRACE)
        token = secrets.token_urlsafe(48)
        self.state.tokens[token] = _Token(expires=now + TOKEN_LIFETIME)
        self.state.token_fetches += 1
        return web.json_response({"access_token": token, "expires_in": TOKEN_LIFETIME})

    async def _custom_send(self, request: web.Request) -> web.Response:
        code, message = self._check_token(request.query.get("access_token"))
        if code:
            self.state.rejections.append(code)
            return self._error(code, message)
        try:
            body = json.loads(await request.read())
            openid, content = body["touser"], body["text"]["content"]
            msgtype = body["msgtype"]
        except (ValueError, KeyError, TypeError):
            return self._error(47001, "data format error")
        if msgtype != "text":
            return self._error(40008, "invalid message type")
        if openid not in self.state.known_users:
            return self._error(40003, "invalid openid")
        if openid in self.state.closed_windows:
            self.state.rejections.append(45015)
            return self._error(45015, "response out of time limit")
        if len(content.encode()) > 2048:
            return self._error(45002, "content size out of limit")
        self.state.customer_service.setdefault(openid, []).append(content)
        self.state.seen.setdefault(openid, []).append(content)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _check_token(self, token: str | None) -> tuple[int, str]:
        if not token:
            return 41001, "access_token missing"
        known = self.state.tokens.get(token)
        if known is None:
            return 40001, "invalid credential, access_token is invalid or not latest"
        if known.expired or time.monotonic() > known.expires:
            return 42001, "access_token expired"
        return 0, ""

    # --- test controls --------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (WeChat answers 42001)."""
        for token in self.state.tokens.values():
            token.expired = True

    def close_window(self, openid: str, closed: bool = True) -> None:
        """Pretend the user last wrote more than 48 hours ago."""
        (
            self.state.closed_windows.add
            if closed
            else self.state.closed_windows.discard
        )(openid)

    def seen(self, openid: str) -> list[str]:
        return list(self.state.seen.get(openid, []))

    def customer_service(self, openid: str) -> list[str]:
        return list(self.state.customer_service.get(openid, []))

    def wait_seen(self, openid: str, predicate, timeout: float = 60) -> list[str]:
        """Wait until what the user sees satisfies `predicate`; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.seen(openid)):
                return self.seen(openid)
            time.sleep(0.1)
        raise AssertionError(
            f"user never saw the expected messages: {self.seen(openid)}"
        )

    # --- pushes to the account's server ---------------------------------------

    def push(self, openid: str, msg_type: str, **extra: str | int) -> Push:
        fields: dict[str, str | int] = {
            "ToUserName": self.account.original_id,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": msg_type,
            **extra,
        }
        return Push(openid, fields)

    @staticmethod
    def _msg_id() -> int:
        return random.getrandbits(62) + 10**18

    def text(self, openid: str, content: str) -> Push:
        return self.push(openid, "text", Content=content, MsgId=self._msg_id())

    def voice(self, openid: str, recognition: str) -> Push:
        return self.push(
            openid,
            "voice",
            MediaId="media_" + secrets.token_hex(8),
            Format="amr",
            Recognition=recognition,
            MsgId=self._msg_id(),
        )

    def image(self, openid: str) -> Push:
        return self.push(
            openid,
            "image",
            PicUrl="http://mmbiz.qpic.cn/example.jpg",
            MediaId="media_" + secrets.token_hex(8),
            MsgId=self._msg_id(),
        )

    def event(self, openid: str, event: str) -> Push:
        return self.push(openid, "event", Event=event)

    def request(
        self,
        push: Push,
        safe: bool,
        *,
        forge: str = "",
        body: bytes | None = None,
        encrypted: str | None = None,
    ) -> tuple[str, bytes]:
        """The URL and body WeChat would POST for `push`.

        forge: a query parameter to sign with the wrong token; body: replaces the
        XML (plain mode); encrypted: replaces the sealed message (safe mode), still
        correctly signed, to test what the server does with undecryptable payloads.
        """
        timestamp, nonce = str(int(time.time())), str(random.randint(10**8, 10**10))
        token = self.account.token
        query = {
            "signature": signature(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": push.openid,
        }
        plain = xml_of(push.fields)
        if safe:
            encrypted = self.aes.seal(plain) if encrypted is None else encrypted
            query["encrypt_type"] = "aes"
            query["msg_signature"] = signature(token, timestamp, nonce, encrypted)
            plain = xml_of(
                {"ToUserName": self.account.original_id, "Encrypt": encrypted}
            )
        if forge:
            query[forge] = signature("forged", timestamp, nonce)
        return (
            f"{self.webhook}?{urllib.parse.urlencode(query)}",
            plain.encode() if body is None else body,
        )

    def post(
        self,
        push: Push,
        *,
        safe: bool = False,
        forge: str = "",
        body: bytes | None = None,
        encrypted: str | None = None,
        timeout: float = 5.0,
    ) -> Attempt:
        """One try, as WeChat makes it (5-second timeout)."""
        return self._run(self._post(push, safe, forge, body, timeout, encrypted))

    def post_concurrently(self, push: Push, times: int, *, safe: bool = False):
        async def all_at_once():
            return await asyncio.gather(
                *(self._post(push, safe, "", None, 5.0) for _ in range(times))
            )

        return self._run(all_at_once())

    def deliver(self, push: Push, *, safe: bool = False) -> list[Attempt]:
        """What WeChat does with a push: up to 3 tries; the user sees one outcome."""
        return self._run(self._deliver(push, safe))

    async def _deliver(self, push: Push, safe: bool) -> list[Attempt]:
        attempts: list[Attempt] = []
        for _ in range(3):
            attempt = await self._post(push, safe, "", None, 5.0)
            attempts.append(attempt)
            if attempt.status != 0:  # answered (not timed out): no more tries
                break
        last = attempts[-1]
        if last.reply is not None:
            self.state.seen.setdefault(push.openid, []).append(last.reply)
        elif last.problem is not None:
            self.state.seen.setdefault(push.openid, []).append(UNAVAILABLE)
        return attempts

    async def _post(
        self,
        push: Push,
        safe: bool,
        forge: str,
        body: bytes | None,
        timeout: float,
        encrypted: str | None = None,
    ) -> Attempt:
        self.state.known_users.add(push.openid)
        url, data = self.request(
            push, safe, forge=forge, body=body, encrypted=encrypted
        )
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    url,
                    data=data,
                    headers={"Content-Type": "text/xml"},
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as response,
            ):
                status, text = response.status, await response.text()
        except (asyncio.TimeoutError, aiohttp.ClientError):
            return Attempt(0, "", problem="no answer within 5 seconds")
        if status != 200:
            return Attempt(status, text, problem=f"HTTP {status}")
        if text.strip() in ("", "success"):
            return Attempt(status, text)
        try:
            reply = self._read_reply(push, text, safe)
        except Exception as exc:  # whatever is wrong, WeChat shows UNAVAILABLE
            return Attempt(status, text, problem=f"{type(exc).__name__}: {exc}")
        return Attempt(status, text, reply=reply)

    def _read_reply(self, push: Push, text: str, safe: bool) -> str:
        fields = fields_of(text)
        if safe:
            expected = signature(
                self.account.token,
                fields["TimeStamp"],
                fields["Nonce"],
                fields["Encrypt"],
            )
            if fields["MsgSignature"] != expected:
                raise ValueError("bad MsgSignature on the encrypted reply")
            fields = fields_of(self.aes.open(fields["Encrypt"]))
        if fields["ToUserName"] != push.openid:
            raise ValueError("reply addressed to someone else")
        if fields["FromUserName"] != self.account.original_id:
            raise ValueError("reply not from this account")
        if not fields["CreateTime"].isdigit():
            raise ValueError("CreateTime is not a number")
        if fields["MsgType"] != "text":
            raise ValueError(f"unexpected reply type {fields['MsgType']}")
        if len(fields["Content"].encode()) > 2048:
            raise ValueError("reply longer than 2048 bytes")
        return fields["Content"]

    def get(self, query: dict[str, str]) -> tuple[int, str]:
        """The URL check WeChat makes when the server address is saved."""

        async def fetch():
            url = f"{self.webhook}?{urllib.parse.urlencode(query)}"
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response,
            ):
                return response.status, await response.text()

        return self._run(fetch())

    def handshake_query(self, safe: bool = False, forge: bool = False) -> dict:
        timestamp, nonce = str(int(time.time())), str(random.randint(10**8, 10**10))
        token = "forged" if forge else self.account.token
        echostr = str(random.getrandbits(60))
        query = {
            "signature": signature(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        if safe:
            encrypted = self.aes.seal(echostr)
            query["echostr"] = encrypted
            query["msg_signature"] = signature(token, timestamp, nonce, encrypted)
        return {"query": query, "expected": echostr}
