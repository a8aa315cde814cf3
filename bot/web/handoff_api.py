"""转人工 in the web app: the chat's pause while an operator holds a conversation,
the widget's polling for operator replies, and the console's queue.

Citizen side (no sign-in; the random sender id is the conversation's key):
    POST /api/chat/updates {"sender", "after": N} -> {"handoff": "waiting"|"held"|
        "closed"|null, "messages": [{"id", "text"}]}  operator and system lines, id > N
    (POST, not GET: the sender id must not end up in URLs and proxies' access logs)
Console side (bot.web.console.login_required("operator", "admin"); CSRF on POST):
    GET  /console/queue                       the page
    GET  /console/api/handoffs                waiting and held conversations
    GET  /console/api/handoffs/{id}           one, with transcript, triage, call-back
    POST /console/api/handoffs/{id}/take      409 if someone else was first
    POST /console/api/handoffs/{id}/reply     {"text"}; only the holder
    POST /console/api/handoffs/{id}/release   hand back to the bot

Replies reach a web citizen by the widget's polling, a WeChat citizen through the
customer-service message API (bot.wechat.CustomerService, credentials from Settings).
Conversation ids, openids and transcripts are never logged: logs name the handoff id.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from aiohttp import web

from bot import handoff, wechat
from bot.console import audit
from bot.handoff import (
    Gate,
    HandoffConflict,
    HandoffStore,
    HandoffUnavailable,
    Message,
)
from bot.web.app import SETTINGS, bad_request, read_json, readable_json
from bot.web.console import USER, console_page, login_required

log = logging.getLogger(__name__)
HANDOFFS = web.AppKey("handoff_store", HandoffStore)
WECHAT = web.AppKey("handoff_wechat", dict)  # {"api": CustomerService | None}
HEADER = "X-Handoff"  # on /api/chat answers: the conversation's open handoff
TEXTS = handoff.spec()["console_errors"]


def error(status: int, key: str, **values) -> web.Response:
    return web.json_response(
        {"error": HTTPStatus(status).phrase, "message": TEXTS[key].format(**values)},
        status=status,
        dumps=readable_json,
    )


# --- the chat: called by bot.web.app.chat around its Rasa turn --------------------


async def before_chat(request: web.Request, sender: str, message: str) -> Gate:
    """Whether this message goes to Rasa (see bot.handoff.before_turn). A database
    that is down never stops the chat: the bot answers as if nothing were open."""
    try:
        return await asyncio.to_thread(
            handoff.before_turn, request.app[HANDOFFS], sender, message
        )
    except HandoffUnavailable:
        log.warning("handoff database unavailable: chat not checked for a handoff")
        return Gate()


def gated_answer(gate: Gate) -> web.Response:
    """The chat's answer when Rasa is not asked (held by an operator, call-back)."""
    response = web.json_response(
        [{"text": t, "buttons": []} for t in gate.answer or []], dumps=readable_json
    )
    response.headers[HEADER] = gate.handoff.status if gate.handoff else ""
    return response


async def after_chat(
    request: web.Request,
    sender: str,
    message: str,
    gate: Gate,
    replies: list[dict],
    response: web.Response,
) -> None:
    """Record the turn in a waiting handoff; tell the widget whether one is open."""
    texts = [r.get("text") or "" for r in replies]
    try:
        status = await asyncio.to_thread(
            handoff.after_turn, request.app[HANDOFFS], sender, message, gate, texts
        )
    except HandoffUnavailable:
        log.warning("handoff database unavailable: turn not recorded")
        return
    if status:
        response.headers[HEADER] = status


AFTER_MAX = 2**62


async def updates(request: web.Request) -> web.Response:
    """POST /api/chat/updates {"sender", "after"}: the widget polls this while a
    handoff is open, for the operator's replies."""
    body = await read_json(request)
    sender, after = body.get("sender"), body.get("after", 0)
    if not isinstance(sender, str) or not 8 <= len(sender) <= 64:
        raise bad_request("sender: 需要 8 到 64 个字符的会话编号。")
    # bool is an int in Python: true/false are not message ids.
    if (
        isinstance(after, bool)
        or not isinstance(after, int)
        or not 0 <= after <= AFTER_MAX
    ):
        raise bad_request("after: 需要一个不小于 0 的整数。")
    try:
        status, lines = await asyncio.to_thread(
            request.app[HANDOFFS].updates, sender, after
        )
    except HandoffUnavailable:
        log.warning("handoff database unavailable: updates not read")
        raise web.HTTPServiceUnavailable(
            text=TEXTS["citizen_unavailable"], content_type="text/plain"
        ) from None
    return web.json_response(
        {
            "handoff": status,
            "messages": [{"id": m.id, "text": handoff.citizen_text(m)} for m in lines],
        },
        headers={"Cache-Control": "no-store"},
        dumps=readable_json,
    )


# --- delivery to WeChat -----------------------------------------------------------


async def deliver(request: web.Request, case: handoff.Handoff, line: Message) -> bool:
    """Send an operator or system line to a WeChat citizen now. Web citizens fetch
    it by polling, so for them this does nothing (and returns True)."""
    if case.channel != "wechat":
        return True
    api = request.app[WECHAT].get("api")
    sent = False
    if api is None:
        log.warning(
            "handoff %s: a reply to WeChat was not sent: set XY_WECHAT_APPID and "
            "XY_WECHAT_SECRET for the web app too",
            case.id,
        )
    else:
        sent = await api.send_texts(
            case.conversation_id, wechat.pack([handoff.citizen_text(line)])
        )
    await asyncio.to_thread(request.app[HANDOFFS].mark_delivered, line.id, sent)
    return sent


# --- the console ------------------------------------------------------------------


def _handoff_id(request: web.Request) -> int:
    raw = request.match_info["handoff_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise web.HTTPNotFound(text=TEXTS["not_found"], content_type="text/plain")
    return int(raw)


async def _audit(request: web.Request, action: str, case_id: int, detail: dict):
    await asyncio.to_thread(
        audit.record,
        request.app[HANDOFFS],
        request[USER].username,
        action,
        f"handoff:{case_id}",
        detail,
    )


def _conflict(exc: HandoffConflict) -> web.Response:
    if exc.status == "held":
        return error(409, "held_by", operator=exc.operator or "")
    return error(409, "state_" + exc.status)


@login_required("operator", "admin")
async def list_handoffs(request: web.Request) -> web.Response:
    try:
        cases = await asyncio.to_thread(request.app[HANDOFFS].queue)
    except HandoffUnavailable:
        return error(503, "unavailable")
    at = handoff.now()
    return web.json_response(
        {
            "handoffs": [c.as_console(at) for c in cases],
            "working_hours": handoff.hours_text(),
        },
        dumps=readable_json,
    )


@login_required("operator", "admin")
async def get_handoff(request: web.Request) -> web.Response:
    case_id = _handoff_id(request)
    try:
        case = await asyncio.to_thread(request.app[HANDOFFS].get, case_id)
    except HandoffUnavailable:
        return error(503, "unavailable")
    if case is None:
        return error(404, "not_found")
    return web.json_response(case.as_console(full=True), dumps=readable_json)


@login_required("operator", "admin")
async def take(request: web.Request) -> web.Response:
    case_id = _handoff_id(request)
    store = request.app[HANDOFFS]
    user = request[USER]
    try:
        case, line = await asyncio.to_thread(store.take, case_id, user.username)
    except HandoffUnavailable:
        return error(503, "unavailable")
    except KeyError:
        return error(404, "not_found")
    except HandoffConflict as exc:
        return _conflict(exc)
    await _audit(request, "handoff.take", case_id, {"channel": case.channel})
    await deliver(request, case, line)
    case = await asyncio.to_thread(store.get, case_id)
    return web.json_response(case.as_console(full=True), dumps=readable_json)


@login_required("operator", "admin")
async def reply(request: web.Request) -> web.Response:
    case_id = _handoff_id(request)
    body = await read_json(request)
    unknown = sorted(set(body) - {"text"})
    if unknown:
        return error(400, "unknown_field", field=unknown[0])
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return error(400, "empty_reply")
    text = text.strip()
    if len(text) > handoff.MAX_REPLY_CHARS:
        return error(400, "long_reply", limit=handoff.MAX_REPLY_CHARS)
    store = request.app[HANDOFFS]
    user = request[USER]
    try:
        line = await asyncio.to_thread(store.reply, case_id, user.username, text)
        case = await asyncio.to_thread(store.get, case_id)
    except HandoffUnavailable:
        return error(503, "unavailable")
    except KeyError:
        return error(404, "not_found")
    except HandoffConflict as exc:
        if exc.status == "held":
            return error(409, "not_yours", operator=exc.operator or "")
        return _conflict(exc)
    delivered = await deliver(request, case, line)
    await _audit(
        request,
        "handoff.reply",
        case_id,
        {"channel": case.channel, "chars": len(text), "delivered": delivered},
    )
    return web.json_response(
        {"message": line.as_dict(), "delivered": delivered},
        status=201,
        dumps=readable_json,
    )


@login_required("operator", "admin")
async def release(request: web.Request) -> web.Response:
    case_id = _handoff_id(request)
    store = request.app[HANDOFFS]
    user = request[USER]
    try:
        case, line = await asyncio.to_thread(
            store.release, case_id, user.username, override=user.role == "admin"
        )
    except HandoffUnavailable:
        return error(503, "unavailable")
    except KeyError:
        return error(404, "not_found")
    except HandoffConflict as exc:
        if exc.status == "held":
            return error(409, "not_yours", operator=exc.operator or "")
        return _conflict(exc)
    await _audit(request, "handoff.release", case_id, {"channel": case.channel})
    await deliver(request, case, line)
    return web.json_response(case.as_console(full=True), dumps=readable_json)


# --- wiring -----------------------------------------------------------------------


async def handoff_store(app: web.Application):
    settings = app[SETTINGS]
    app[HANDOFFS] = HandoffStore(settings.database_url)
    api = None
    if settings.wechat_appid and settings.wechat_secret:
        api = wechat.CustomerService(
            settings.wechat_api_base, settings.wechat_appid, settings.wechat_secret
        )
    app[WECHAT] = {"api": api}
    yield
    if api is not None:
        await api.close()
    await asyncio.to_thread(app[HANDOFFS].close)


def setup(app: web.Application) -> None:
    """Hook 转人工 into the web app (bot/web/app.py create_app, after console)."""
    app.cleanup_ctx.append(handoff_store)
    r = app.router
    r.add_post("/api/chat/updates", updates)
    r.add_get("/console/queue", console_page("queue.html", "operator", "admin"))
    r.add_get("/console/api/handoffs", list_handoffs)
    r.add_get("/console/api/handoffs/{handoff_id}", get_handoff)
    r.add_post("/console/api/handoffs/{handoff_id}/take", take)
    r.add_post("/console/api/handoffs/{handoff_id}/reply", reply)
    r.add_post("/console/api/handoffs/{handoff_id}/release", release)
