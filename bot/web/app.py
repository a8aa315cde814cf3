"""The project's web app: chat page, widget files and the JSON API in front of Rasa.

Citizens' browsers talk only to this app; it forwards chat turns to Rasa's REST
channel, so any number of Rasa servers can sit behind it (no sticky sockets).
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.settings import Settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SETTINGS = web.AppKey("settings", Settings)
HTTP = web.AppKey("http", aiohttp.ClientSession)


@web.middleware
async def errors(request: web.Request, handler):
    """Every failure becomes a clear JSON error, never a stack trace."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return web.json_response(
                {"error": exc.reason, "message": exc.text}, status=exc.status
            )
        raise
    except Exception:
        log.exception("unhandled error on %s", request.path)
        return web.json_response(
            {
                "error": "internal",
                "message": "服务暂时出了问题，请稍后再试，或拨打12348。",
            },
            status=500,
        )


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


async def chat(request: web.Request) -> web.Response:
    """POST /api/chat {"sender": str, "message": str} -> [{"text", "buttons"}...]"""
    settings = request.app[SETTINGS]
    body = await read_json(request)
    sender, message = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not 8 <= len(sender) <= 64:
        raise bad_request("sender: 需要 8 到 64 个字符的会话编号。")
    if not isinstance(message, str) or not message.strip():
        raise bad_request("message: 请输入要说的话。")
    if len(message) > settings.max_message_chars:
        raise bad_request(
            f"message: 一次最多 {settings.max_message_chars} 个字，请分几次发送。"
        )
    try:
        async with request.app[HTTP].post(
            f"{settings.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            response.raise_for_status()
            replies = await response.json()
    except (aiohttp.ClientError, TimeoutError):
        log.warning("Rasa server unreachable at %s", settings.rasa_url)
        raise web.HTTPServiceUnavailable(
            text="助手暂时连不上，请稍后再试，或拨打12348公共法律服务热线。",
            content_type="text/plain",
        ) from None
    return web.json_response(
        [
            {"text": r.get("text", ""), "buttons": r.get("buttons", [])}
            for r in replies
            if r.get("text") or r.get("buttons")
        ]
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
    app.router.add_static("/static/", STATIC)


async def http_client(app: web.Application):
    app[HTTP] = aiohttp.ClientSession()
    yield
    await app[HTTP].close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(http_client)
    setup_routes(app)
    return app


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(level=logging.INFO)
    web.run_app(create_app(settings), host=settings.web_host, port=settings.web_port)


if __name__ == "__main__":
    main()
