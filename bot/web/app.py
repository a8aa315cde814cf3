"""The project's web app: chat page, widget files and the JSON API in front of Rasa.

Citizens' browsers talk only to this app; it forwards chat turns to Rasa's REST
channel, so any number of Rasa servers can sit behind it (no sticky sockets).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.faq import faqs
from bot.inputs import clean_message
from bot.knowledge import service_texts
from bot.laws import (
    article_number,
    find_law,
    int_to_chinese,
    load_laws,
    nearest_articles,
)
from bot.ratelimit import RateLimiter
from bot.settings import Settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SETTINGS = web.AppKey("settings", Settings)
HTTP = web.AppKey("http", aiohttp.ClientSession)
LIMITER = web.AppKey("rate_limiter", RateLimiter)
# Operators read the API in curl and logs too: keep the Chinese readable.
readable_json = functools.partial(json.dumps, ensure_ascii=False)


@web.middleware
async def errors(request: web.Request, handler):
    """Every failure becomes a clear JSON error, never a stack trace."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith(JSON_APIS):
            message = exc.text or ""
            if not CJK.search(message):  # aiohttp's own words, in English
                texts = service_texts()
                message = texts.get(f"http_{exc.status}", texts["http_other"])
            return web.json_response(
                {"error": exc.reason, "message": message},
                status=exc.status,
                dumps=readable_json,
            )
        raise
    except RecursionError:
        # json.loads on absurdly nested input, in a handler that only expected
        # ValueError: the client's doing, so a 400 rather than a 500.
        log.warning("input nested too deeply on %s", request.path)
        return web.json_response(
            {"error": "Bad Request", "message": service_texts()["bad_json"]},
            status=400,
            dumps=readable_json,
        )
    except Exception:
        log.exception("unhandled error on %s", request.path)
        return web.json_response(
            {
                "error": "internal",
                "message": "服务暂时出了问题，请稍后再试，或拨打12348。",
            },
            status=500,
            dumps=readable_json,
        )


JSON_APIS = ("/api/", "/console/api/")
CJK = re.compile("[\u4e00-\u9fff]")


def client_address(request: web.Request) -> str:
    """The citizen's address: the peer, or with XY_TRUSTED_PROXY_HOPS = n the n-th
    X-Forwarded-For entry from the right (the one our own proxies wrote; whatever
    the client put further left may be forged)."""
    hops = request.app[SETTINGS].trusted_proxy_hops
    if hops > 0:
        forwarded = [
            a.strip()
            for a in request.headers.get("X-Forwarded-For", "").split(",")
            if a.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote or ""


LOOPBACK = ("127.", "::1", "::ffff:127.")


def too_many(seconds: int) -> web.Response:
    return web.json_response(
        {
            "error": "Too Many Requests",
            "message": service_texts()["rate_limited"].format(seconds=seconds),
            "retry_after": seconds,
        },
        status=429,
        headers={"Retry-After": str(seconds)},
        dumps=readable_json,
    )


@web.middleware
async def rate_limits(request: web.Request, handler):
    """Per-address limit on the public JSON API (the chat adds one per sender)."""
    if request.path.startswith("/api/"):
        address = client_address(request)
        # A loopback peer is a tool on this machine or a proxy whose hops are not
        # configured: limiting it would throttle every citizen behind that proxy
        # as one. The per-sender limit on /api/chat still applies.
        if not address.startswith(LOOPBACK):
            decision = await request.app[LIMITER].hit(
                "address", address, request.app[SETTINGS].rate_limit_ip_per_minute
            )
            if not decision.allowed:
                return too_many(decision.retry_after)
    return await handler(request)


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message, content_type="text/plain")


MAX_BODY = 64 * 1024


def too_large() -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=MAX_BODY,
        actual_size=MAX_BODY + 1,
        text="message: 内容过大，请分几次发送。",
    )


async def read_json(request: web.Request) -> dict:
    if (request.content_length or 0) > MAX_BODY:
        raise too_large()
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge:
        raise too_large() from None
    except Exception:
        raise bad_request("请求内容不是有效的 JSON。") from None
    if not isinstance(body, dict):
        raise bad_request("请求内容应为 JSON 对象。")
    return body


async def ask_rasa(request: web.Request, path: str, payload: dict):
    """POST to the Rasa server; a Rasa that cannot answer becomes a 503 with 12348."""
    settings = request.app[SETTINGS]
    try:
        async with request.app[HTTP].post(
            f"{settings.rasa_url}{path}",
            json=payload,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            response.raise_for_status()
            return await response.json()
    except (aiohttp.ClientError, TimeoutError):
        log.warning("Rasa server unreachable at %s", settings.rasa_url)
        raise web.HTTPServiceUnavailable(
            text="助手暂时连不上，请稍后再试，或拨打12348公共法律服务热线。",
            content_type="text/plain",
        ) from None


async def chat(request: web.Request) -> web.Response:
    """POST /api/chat {"sender": str, "message": str} -> [{"text", "buttons"}...]"""
    settings = request.app[SETTINGS]
    body = await read_json(request)
    sender, message = body.get("sender"), body.get("message")
    if (
        not isinstance(sender, str)
        or not 8 <= len(sender) <= 64
        or not sender.isprintable()  # it becomes a database key
    ):
        raise bad_request("sender: 需要 8 到 64 个字符的会话编号。")
    if isinstance(message, str):
        message = clean_message(message)
    if not isinstance(message, str) or not message:
        raise bad_request("message: 请输入要说的话。")
    if len(message) > settings.max_message_chars:
        raise bad_request(
            f"message: 一次最多 {settings.max_message_chars} 个字，请分几次发送。"
        )
    decision = await request.app[LIMITER].hit(
        "sender", sender, settings.rate_limit_per_minute
    )
    if not decision.allowed:
        return too_many(decision.retry_after)
    from bot.web import handoff_api  # not at the top: it imports this module

    # While an operator holds the conversation, the message goes to the operator.
    gate = await handoff_api.before_chat(request, sender, message)
    if not gate.to_rasa:
        return handoff_api.gated_answer(gate)
    replies = await ask_rasa(
        request, "/webhooks/rest/webhook", {"sender": sender, "message": message}
    )
    answer = [
        {"text": r.get("text", ""), "buttons": r.get("buttons", [])}
        for r in replies
        if r.get("text") or r.get("buttons")
    ]
    if not replies:
        # Rasa swallows a failed custom action (action server down) and answers
        # nothing; the citizen would be left waiting. The form state is kept in
        # the tracker store, so sending the words again continues where it was.
        log.warning("Rasa answered nothing (is the action server running?)")
        answer = [{"text": service_texts()["no_answer"], "buttons": []}]
    response = web.json_response(answer)
    await handoff_api.after_chat(request, sender, message, gate, replies, response)
    return response


FAQ_LIMIT_DEFAULT, FAQ_LIMIT_MAX = 5, 10


async def faq_search(request: web.Request) -> web.Response:
    """GET /api/faq?q=...&limit=N -> the FAQ entries Rasa's ResponseSelector ranks
    best for q, with answer and citations (the operators' console)."""
    settings = request.app[SETTINGS]
    query = clean_message(request.query.get("q", ""))
    if not query:
        raise bad_request("q: 请输入要查的问题。")
    if len(query) > settings.max_message_chars:
        raise bad_request(f"q: 问题最多 {settings.max_message_chars} 个字。")
    raw_limit = request.query.get("limit", str(FAQ_LIMIT_DEFAULT))
    # isascii: int() would also take "٥", " 5" and "+5"
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not (
        1 <= int(raw_limit) <= FAQ_LIMIT_MAX
    ):
        raise bad_request(f"limit: 需要 1 到 {FAQ_LIMIT_MAX} 之间的整数。")
    limit = int(raw_limit)
    parse = await ask_rasa(request, "/model/parse", {"text": query})
    selector = (parse.get("response_selector") or {}).get("faq") or {}
    index = faqs()
    results = []
    for item in selector.get("ranking") or []:
        key = str(item.get("intent_response_key", "")).removeprefix("faq/")
        entry = index.get(key)
        if entry is None:  # a model trained on other data than this checkout
            continue
        results.append(
            {
                "id": entry.key,
                "question": entry.question,
                "answer": entry.answer,
                "citations": list(entry.citations),
                "score": round(float(item.get("confidence", 0.0)), 4),
            }
        )
    results.sort(key=lambda r: r["score"], reverse=True)
    return web.json_response(
        {"query": query, "results": results[:limit]}, dumps=readable_json
    )


def not_found(message: str, **details) -> web.Response:
    return web.json_response(
        {"error": "Not Found", "message": message, **details},
        status=404,
        dumps=readable_json,
    )


async def law_article(request: web.Request) -> web.Response:
    """GET /api/laws/{law}/{article} -> the article's official text, verbatim."""
    name, raw_article = request.match_info["law"], request.match_info["article"]
    law = find_law(name)
    if law is None:
        known = sorted(load_laws())
        return not_found(
            f"没有收录《{name.strip().strip('《》')}》。"
            f"可以查的有：{'、'.join(f'《{n}》' for n in known)}。",
            laws=known,
        )
    number = article_number(raw_article)
    if number is None:
        raise bad_request("article: 条号写成 31、三十一 或 第三十一条 都可以。")
    if number not in law.articles:
        nearest = nearest_articles(law, number)
        return not_found(
            f"《{law.name}》一共{len(law.articles)}条，没有第{number}条。"
            f"离得最近的是{'、'.join(f'第{n}条' for n in nearest)}。",
            law=law.name,
            nearest=nearest,
        )
    return web.json_response(
        {
            "law": law.name,
            "title": law.title,
            "article": f"第{int_to_chinese(number)}条",
            "number": number,
            "text": law.articles[number],
            "source": law.source,
        },
        dumps=readable_json,
    )


def page(name: str):
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name)

    return handler


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", page("index.html"))
    app.router.add_get("/demo", page("demo.html"))
    app.router.add_get("/health", health)
    app.router.add_post("/api/chat", chat)
    app.router.add_get("/api/faq", faq_search)
    app.router.add_get("/api/laws/{law}/{article}", law_article)
    app.router.add_static("/static/", STATIC)


async def http_client(app: web.Application):
    app[HTTP] = aiohttp.ClientSession()
    yield
    await app[HTTP].close()


async def rate_limiter(app: web.Application):
    app[LIMITER] = RateLimiter(app[SETTINGS].redis_url)
    yield
    await app[LIMITER].close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[errors, rate_limits], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(http_client)
    app.cleanup_ctx.append(rate_limiter)
    setup_routes(app)
    # not at the top: they import this module
    from bot.web import console, dashboard_api, handoff_api, legal_aid_api

    legal_aid_api.setup(app)
    console.setup(app)
    dashboard_api.setup(app)
    handoff_api.setup(app)
    return app


class AccessLogger(AbstractAccessLogger):
    """Method, path, status and time only: query strings (phone digits, references)
    and client addresses stay out of the log."""

    def log(self, request, response, time: float) -> None:
        self.logger.info(
            "%s %s %s %.0fms", request.method, request.path, response.status, time * 1e3
        )


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(level=logging.INFO)
    web.run_app(
        create_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        access_log_class=AccessLogger,
    )
