"""The operator console's web side: sign-in, sessions, CSRF, pages and JSON API.

Shared with the other console parts (handoff queue, dashboard):

    from bot.web.console import login_required, USER

    @login_required("operator", "admin")     # no roles: any signed-in user
    async def handler(request):
        user = request[USER]                 # bot.console.accounts.User

No or expired session: 401 JSON {"error", "message"} (a page request is redirected to
the sign-in page instead); wrong role: 403; any request but GET/HEAD must carry the
session's token in the X-CSRF-Token header (GET /console/api/me gives it), else 403.
The session cookie `xy_console` is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time
from collections import defaultdict, deque
from datetime import date, datetime, timedelta, timezone
from http import HTTPStatus
from urllib.parse import quote

import sqlalchemy as sa
from aiohttp import web

from bot import knowledge, legal_aid, legal_aid_form
from bot.console import audit, calls, message, texts
from bot.console.accounts import Accounts, Session, User
from bot.intake import (
    NEXT_STATUSES,
    OPEN_STATUSES,
    REFERENCE,
    STATUSES,
    Intake,
    IntakeUnavailable,
    centre_ref,
    normalise_reference,
)
from bot.legal_aid import InvalidAnswer
from bot.triage import normalise
from bot.web.app import (
    SETTINGS,
    STATIC,
    ask_rasa,
    bad_request,
    read_json,
    readable_json,
)
from bot.web.legal_aid_api import (
    INTAKE_FIELDS,
    STANDARDS,
    STORE,
    _answers,
    _receipt,
    _typed,
    invalid,
)

log = logging.getLogger(__name__)
PAGES = STATIC / "console"
ACCOUNTS = web.AppKey("console_accounts", Accounts)
FAILURES = web.AppKey("console_login_failures", dict)
USER = "console_user"  # request[USER]: the signed-in bot.console.accounts.User
SESSION = "console_session"  # request[SESSION]: its Session (with the CSRF token)
COOKIE = "xy_console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD")
LOGIN_PAGE = "/console/login"
# Sign-in throttling per username: this many failures within the window lock it.
MAX_FAILURES, FAILURE_WINDOW = 5, 15 * 60
MAX_TRACKED_NAMES = 10_000
DB_ERRORS = (
    IntakeUnavailable,
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    OSError,
)


def error(status: int, key: str, **values) -> web.Response:
    """{"error", "message"}: the shape of the app's other JSON errors."""
    return web.json_response(
        {
            "error": HTTPStatus(status).phrase,
            "message": message("errors", key, **values),
        },
        status=status,
        dumps=readable_json,
    )


def bad_input(field: str, key: str, **values) -> web.HTTPBadRequest:
    """400 whose message starts with the field, like the rest of the JSON API."""
    return bad_request(f"{field}: {message('input_errors', key, **values)}")


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/console/api/")


async def current_session(request: web.Request) -> Session | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    return await asyncio.to_thread(request.app[ACCOUNTS].session, token)


def _csrf_ok(request: web.Request, session: Session) -> bool:
    given = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(
        given.encode("utf-8", "replace"), session.csrf.encode("utf-8")
    )


def login_required(*roles: str):
    """Wrap a console handler: a valid session (of one of `roles`, if given) and, for
    requests that change something, the CSRF header."""

    def wrap(handler):
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                session = await current_session(request)
            except DB_ERRORS:
                log.warning("console: database unavailable while checking a session")
                return error(503, "database")
            if session is None:
                if request.method in SAFE_METHODS and not is_api(request):
                    target = quote(request.path_qs, safe="/?=&")
                    raise web.HTTPFound(f"{LOGIN_PAGE}?next={target}")
                return error(401, "unauthenticated")
            if roles and session.user.role not in roles:
                if request.method in SAFE_METHODS and not is_api(request):
                    return web.Response(  # a page: a readable sentence, not JSON
                        status=403,
                        text=message("errors", "forbidden_page"),
                        content_type="text/plain",
                        charset="utf-8",
                    )
                return error(403, "forbidden_role")
            if request.method not in SAFE_METHODS and not _csrf_ok(request, session):
                return error(403, "csrf")
            request[USER] = session.user
            request[SESSION] = session
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400 or not is_api(request):
                    raise
                return web.json_response(
                    {"error": exc.reason, "message": exc.text},
                    status=exc.status,
                    dumps=readable_json,
                )
            except DB_ERRORS:
                log.warning("console: database unavailable on %s", request.path)
                return error(503, "database")
            # Records carry names and phone numbers: never kept in a browser cache.
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return guarded

    return wrap


# --- sign-in ------------------------------------------------------------------


def _locked(app: web.Application, username: str) -> bool:
    failures = app[FAILURES].get(username)
    if not failures:
        return False
    cutoff = time.monotonic() - FAILURE_WINDOW
    while failures and failures[0] < cutoff:
        failures.popleft()
    return len(failures) >= MAX_FAILURES


async def login(request: web.Request) -> web.Response:
    """POST /console/api/login {"username", "password"} -> the session's "me"."""
    # JSON only: a cross-site HTML form cannot send it without a CORS preflight.
    if request.content_type != "application/json":
        return error(415, "json_only")
    try:
        body = await request.json()
    except ValueError:
        return error(400, "json_only")
    username = body.get("username") if isinstance(body, dict) else None
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(username, str) or not isinstance(password, str):
        return error(400, "bad_login")
    username = username.strip().lower()[:32]
    if _locked(request.app, username):
        return error(429, "locked", minutes=FAILURE_WINDOW // 60)
    accounts = request.app[ACCOUNTS]
    settings = request.app[SETTINGS]
    try:
        user = await asyncio.to_thread(accounts.authenticate, username, password[:200])
        if user is None:
            failures = request.app[FAILURES]
            if len(failures) > MAX_TRACKED_NAMES:  # a flood of made-up names
                failures.clear()
            failures.setdefault(username, deque()).append(time.monotonic())
            return error(401, "bad_login")
        request.app[FAILURES].pop(username, None)
        lifetime = timedelta(hours=settings.console_session_hours)
        token, session = await asyncio.to_thread(accounts.start_session, user, lifetime)
        await asyncio.to_thread(
            audit.record, accounts, user.username, "console.login", "", {}
        )
    except DB_ERRORS:
        log.warning("console: database unavailable at sign-in")
        return error(503, "database")
    response = web.json_response(me_of(session), dumps=readable_json)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=settings.console_secure_cookie,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@login_required()
async def logout(request: web.Request) -> web.Response:
    """POST /console/api/logout: ends the session on the server too."""
    accounts = request.app[ACCOUNTS]
    await asyncio.to_thread(accounts.end_session, request.cookies.get(COOKIE, ""))
    await asyncio.to_thread(
        audit.record, accounts, request[USER].username, "console.logout", "", {}
    )
    response = web.json_response({"signed_out": True})
    response.del_cookie(COOKIE, path="/console")
    return response


def me_of(session: Session) -> dict:
    centre = centre_ref(session.user.centre)
    return {
        **session.user.as_dict(),
        "role_name": message("roles", session.user.role),
        "centre_name": centre["name"] if centre else None,
        "csrf": session.csrf,
        "expires_at": session.expires_at.isoformat(),
    }


@login_required()
async def me(request: web.Request) -> web.Response:
    """GET /console/api/me -> {"username", "role", "centre", "csrf", ...}"""
    return web.json_response(me_of(request[SESSION]), dumps=readable_json)


# --- pages --------------------------------------------------------------------

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'"
    ),
}


def console_page(name: str, *roles: str):
    """A console page: only for a signed-in user (else to the sign-in page)."""

    @login_required(*roles)
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGES / name, headers=PAGE_HEADERS)

    return handler


async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGES / "login.html", headers=PAGE_HEADERS)


@login_required()
async def home(request: web.Request) -> web.Response:
    # The hotline starts at the call view; a county centre at its records.
    start = "/console/records" if request[USER].role == "centre" else "/console/call"
    raise web.HTTPFound(start)


# --- call view ----------------------------------------------------------------

MAX_CALL_CHARS = 5000  # a long call, typed turn by turn


@login_required("operator", "admin")
async def analyse_call(request: web.Request) -> web.Response:
    """POST /console/api/analyse {"text"} -> category top 3, entities, FAQ answers,
    pre-check with open questions, urgency flags, fields for the application."""
    body = await read_json(request)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_input("text", "text_empty")
    if len(text) > MAX_CALL_CHARS:
        raise bad_input("text", "text_too_long", limit=MAX_CALL_CHARS)
    unknown = sorted(set(body) - {"text", "category"})
    if unknown:
        raise bad_input(unknown[0][:40], "unknown_field")
    chosen = body.get("category")
    if chosen is not None and (
        not isinstance(chosen, str) or chosen not in knowledge.categories()
    ):
        raise bad_input("category", "one_of", options="、".join(knowledge.categories()))
    try:
        parse = await ask_rasa(request, "/model/parse", {"text": normalise(text)})
    except web.HTTPServiceUnavailable:
        parse = None  # the rest still helps: counties, pre-check, danger words
    result = calls.analyse(text, parse, request.app[STANDARDS] or None, chosen)
    if parse is None:
        result["notice"] = message("errors", "rasa")
    return web.json_response(result, dumps=readable_json)


@login_required("operator", "admin")
async def save_call(request: web.Request) -> web.Response:
    """POST /console/api/intakes: the call as an application (channel "hotline")."""
    body = await read_json(request)
    fields = {k: v for k, v in INTAKE_FIELDS.items() if k != "channel"}
    try:
        values = _typed(body, fields)
        for name in ("name", "phone"):
            if name not in values:
                raise InvalidAnswer(name, "required")
        application, _ = legal_aid.build_application(
            _answers(values),
            channel="hotline",
            name=values["name"],
            phone=values["phone"],
            conversation_id=values.get("conversation_id"),
            standards=request.app[STANDARDS] or None,
        )
    except InvalidAnswer as exc:
        return invalid(exc)
    store = request.app[STORE]
    intake = await asyncio.to_thread(store.submit, application)
    if intake.created:
        await asyncio.to_thread(
            audit.record,
            store,
            request[USER].username,
            "intake.create",
            intake.reference,
            {
                "channel": "hotline",
                "category": intake.category,
                "receiving_centre": intake.receiving_centre,
                "competent_centre": intake.competent_centre,
            },
        )
    return web.json_response(
        {**_receipt(intake), "record": record_summary(intake)},
        status=201 if intake.created else 200,
        dumps=readable_json,
    )


# --- records ------------------------------------------------------------------

CHINA = timezone(timedelta(hours=8))  # dates typed in the console are local dates


def _status_name(status: str) -> str:
    return legal_aid_form.spec()["statuses"].get(status, status)


def handler_centre(intake: Intake) -> str:
    """The centre whose move it is: the competent one, else the receiving one."""
    return intake.competent_centre or intake.receiving_centre


def is_overdue(intake: Intake) -> bool:
    return intake.status in OPEN_STATUSES and intake.review_due < datetime.now(
        timezone.utc
    )


def record_summary(intake: Intake) -> dict:
    status = intake.as_status()
    categories = knowledge.categories()
    return {
        "reference": intake.reference,
        "status": intake.status,
        "status_name": _status_name(intake.status),
        "category": intake.category,
        "category_name": (
            categories[intake.category].name
            if intake.category in categories
            else intake.category
        ),
        "channel": intake.record.get("channel"),
        "applicant_name": intake.record.get("applicant_name"),
        "receiving_centre": status["receiving_centre"],
        "competent_centre": status["competent_centre"],
        "transfer": intake.transfer,
        "created_at": status["created_at"],
        "review_due": status["review_due"],
        "assign_due": status["assign_due"],
        "overdue": is_overdue(intake),
    }


def _local_date(raw: str, name: str) -> datetime:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise bad_input(name, "date") from None
    return datetime(day.year, day.month, day.day, tzinfo=CHINA)


def _forbidden_centre() -> web.Response:
    return error(403, "forbidden_centre")


@login_required()
async def list_records(request: web.Request) -> web.Response:
    """GET /console/api/records?centre=&status=&category=&from=&to=&overdue=1"""
    user = request[USER]
    q = request.query
    unknown = sorted(set(q) - {"centre", "status", "category", "from", "to", "overdue"})
    if unknown:
        raise bad_input(unknown[0][:40], "unknown_filter")
    centre = q.get("centre") or None
    if centre is not None and centre not in knowledge.centres():
        raise bad_input("centre", "one_of", options="、".join(knowledge.centres()))
    if user.role == "centre":
        if centre not in (None, user.centre):
            return _forbidden_centre()
        centre = user.centre  # centre staff only ever see their own centre's records
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        raise bad_input("status", "one_of", options="、".join(STATUSES))
    category = q.get("category") or None
    if category is not None and category not in knowledge.categories():
        raise bad_input("category", "one_of", options="、".join(knowledge.categories()))
    created_from = _local_date(q["from"], "from") if q.get("from") else None
    created_to = _local_date(q["to"], "to") + timedelta(days=1) if q.get("to") else None
    if q.get("overdue", "") not in ("", "0", "1"):
        raise bad_input("overdue", "overdue")
    intakes = await asyncio.to_thread(
        request.app[STORE].list_intakes,
        centre=centre,
        status=status,
        category=category,
        created_from=created_from,
        created_to=created_to,
        overdue=q.get("overdue") == "1",
    )
    return web.json_response(
        {"records": [record_summary(i) for i in intakes]}, dumps=readable_json
    )


async def _visible_intake(request: web.Request) -> Intake | web.Response:
    """The record of the URL if this user may see it, else the error response."""
    reference = normalise_reference(request.match_info["reference"])
    intake = None
    if REFERENCE.match(reference):
        intake = await asyncio.to_thread(request.app[STORE].get, reference)
    if intake is None:
        return error(404, "not_found", reference=reference[:20])
    if not request[USER].sees_centre(intake.receiving_centre, intake.competent_centre):
        return _forbidden_centre()
    return intake


def _allowed_actions(user: User, intake: Intake) -> dict:
    own = user.role == "admin" or (
        user.role == "centre" and user.centre == handler_centre(intake)
    )
    can_transfer = intake.status != "decided" and (user.role == "operator" or own)
    return {
        "transfer": can_transfer,
        # Deciding is the legal-aid centre's (Art. 43): not the hotline's.
        "next_statuses": list(NEXT_STATUSES.get(intake.status, ())) if own else [],
    }


def record_detail(intake: Intake, user: User, log_entries: list[dict]) -> dict:
    record = intake.as_record()
    reasons = legal_aid.texts()["reasons"]
    decision = record["decision"]
    centres = knowledge.centres()
    history = []
    for event in record["history"]:
        note = event["note"] or ""
        key = note.split(" ", 1)[0]
        history.append(
            {
                **event,
                "status_name": _status_name(event["status"]),
                # Transfer notes start with the centre key: show its name.
                "note": (
                    centres[key]["name"] + note[len(key) :] if key in centres else note
                ),
            }
        )
    return {
        **record,
        **record_summary(intake),
        "outcome_text": legal_aid.texts()["outcomes"].get(intake.outcome, ""),
        "reasons": [
            {**r, "text": reasons.get(r.get("rule"), "")}
            for r in decision.get("reasons", [])
        ],
        "missing": decision.get("missing", []),
        "advance_aid_possible": decision.get("advance_aid_possible", False),
        "history": history,
        "actions": _allowed_actions(user, intake),
        "audit": log_entries,
    }


@login_required()
async def get_record(request: web.Request) -> web.Response:
    """GET /console/api/records/{reference}: the record with reasons, materials,
    history, the audit log of this record and what this user may do with it."""
    intake = await _visible_intake(request)
    if isinstance(intake, web.Response):
        return intake
    store = request.app[STORE]
    user = request[USER]
    # Reading a record shows personal data: that is logged too.
    await asyncio.to_thread(
        audit.record, store, user.username, "intake.view", intake.reference, {}
    )
    entries = await asyncio.to_thread(audit.entries, store, target=intake.reference)
    return web.json_response(
        record_detail(intake, user, _named(entries)), dumps=readable_json
    )


def _note(body: dict) -> str:
    note = body.get("note", "")
    if not isinstance(note, str):
        raise bad_input("note", "note_type")
    if len(note) > MAX_NOTE:
        raise bad_input("note", "note_too_long", limit=MAX_NOTE)
    return note.strip()


MAX_NOTE = 200


@login_required("operator", "centre", "admin")
async def transfer_record(request: web.Request) -> web.Response:
    """POST /console/api/records/{reference}/transfer {"centre", "note"}"""
    intake = await _visible_intake(request)
    if isinstance(intake, web.Response):
        return intake
    body = await read_json(request)
    unknown = sorted(set(body) - {"centre", "note"})
    if unknown:
        raise bad_input(unknown[0][:40], "unknown_field")
    centre, note = body.get("centre"), _note(body)
    if not isinstance(centre, str) or centre not in knowledge.centres():
        raise bad_input("centre", "transfer_to", options="、".join(knowledge.centres()))
    user = request[USER]
    if user.role == "centre" and user.centre != handler_centre(intake):
        return _forbidden_centre()  # only the centre handling it passes it on
    store = request.app[STORE]
    before = handler_centre(intake)
    try:
        updated = await asyncio.to_thread(
            store.transfer, intake.reference, centre, note
        )
    except ValueError as exc:
        return error(409, f"transfer_{exc}")
    await asyncio.to_thread(
        audit.record,
        store,
        user.username,
        "intake.transfer",
        intake.reference,
        {"from": before, "to": centre, "status": updated.status, "note": note},
    )
    entries = await asyncio.to_thread(audit.entries, store, target=intake.reference)
    return web.json_response(
        record_detail(updated, user, _named(entries)), dumps=readable_json
    )


@login_required("centre", "admin")
async def advance_record(request: web.Request) -> web.Response:
    """POST /console/api/records/{reference}/status {"status", "decision"?, "note"}"""
    intake = await _visible_intake(request)
    if isinstance(intake, web.Response):
        return intake
    body = await read_json(request)
    unknown = sorted(set(body) - {"status", "decision", "note"})
    if unknown:
        raise bad_input(unknown[0][:40], "unknown_field")
    status, note = body.get("status"), _note(body)
    if not isinstance(status, str) or status not in STATUSES:
        raise bad_input("status", "one_of", options="、".join(STATUSES))
    decisions = texts()["decisions"]
    decision = body.get("decision")
    if status == "decided":
        if decision not in decisions:
            raise bad_input(
                "decision", "decision_needed", options=" 或 ".join(decisions)
            )
        note = f"{decisions[decision]} {note}".strip()
    elif decision is not None:
        raise bad_input("decision", "decision_not_allowed")
    user = request[USER]
    if status not in _allowed_actions(user, intake)["next_statuses"]:
        if user.role == "centre" and user.centre != handler_centre(intake):
            return _forbidden_centre()
        return error(409, "status_not_allowed", current=_status_name(intake.status))
    store = request.app[STORE]
    try:
        updated = await asyncio.to_thread(store.advance, intake.reference, status, note)
    except ValueError:
        return error(409, "status_not_allowed", current=_status_name(intake.status))
    await asyncio.to_thread(
        audit.record,
        store,
        user.username,
        "intake.status",
        intake.reference,
        {"from": intake.status, "to": status, "decision": decision, "note": note},
    )
    entries = await asyncio.to_thread(audit.entries, store, target=intake.reference)
    return web.json_response(
        record_detail(updated, user, _named(entries)), dumps=readable_json
    )


def _named(entries: list[dict]) -> list[dict]:
    names = texts()["actions"]
    return [{**e, "action_name": names.get(e["action"], e["action"])} for e in entries]


@login_required("admin")
async def audit_log(request: web.Request) -> web.Response:
    """GET /console/api/audit?who=&action=&target= : the newest 500 entries."""
    q = request.query
    unknown = sorted(set(q) - {"who", "action", "target"})
    if unknown:
        raise bad_input(unknown[0][:40], "unknown_filter")
    filters = {k: q[k].strip()[:40] for k in ("who", "action", "target") if q.get(k)}
    if "target" in filters and REFERENCE.match(normalise_reference(filters["target"])):
        filters["target"] = normalise_reference(filters["target"])  # typed lower-case
    entries = await asyncio.to_thread(
        audit.entries, request.app[STORE], limit=500, **filters
    )
    return web.json_response({"entries": _named(entries)}, dumps=readable_json)


@login_required()
async def options(request: web.Request) -> web.Response:
    """GET /console/api/options: the labels the console's forms and filters use."""
    questions = legal_aid_form.spec()["questions"]

    def labels(choices: dict) -> list[dict]:
        return [{"key": k, "label": v["label"]} for k, v in choices.items()]

    return web.json_response(
        {
            "categories": [
                {"key": c.code, "label": c.name}
                for c in knowledge.categories().values()
            ],
            "centres": [
                {"key": k, "label": c["name"], "county": c["county"]}
                for k, c in knowledge.centres().items()
            ],
            "statuses": [{"key": s, "label": _status_name(s)} for s in STATUSES],
            "decisions": [
                {"key": k, "label": v} for k, v in texts()["decisions"].items()
            ],
            "matters": {
                category: labels(choices)
                for category, choices in questions["la_matter"]["by_category"].items()
            },
            "roles": labels(questions["la_role"]["options"]),
            "circumstances": labels(
                {
                    **questions["la_special"]["options"],
                    **questions["la_special"]["suspect_options"],
                }
            ),
            "statuses_of_person": labels(questions["la_status"]["options"]),
            "stages": labels(questions["la_stage"]["options"]),
            "actions": [{"key": k, "label": v} for k, v in texts()["actions"].items()],
        },
        dumps=readable_json,
    )


async def console_accounts(app: web.Application):
    # The accounts live in the intake records' database: one database to back up.
    app[ACCOUNTS] = Accounts(app[STORE].engine)
    yield


def setup(app: web.Application) -> None:
    """Hook the console into the web app (after legal_aid_api.setup: needs STORE)."""
    app[FAILURES] = defaultdict(deque)
    app.cleanup_ctx.append(console_accounts)
    r = app.router
    r.add_get("/console", home)
    r.add_get("/console/", home)
    r.add_get(LOGIN_PAGE, login_page)
    r.add_get("/console/call", console_page("call.html", "operator", "admin"))
    r.add_get("/console/records", console_page("records.html"))
    r.add_get("/console/audit", console_page("audit.html", "admin"))
    r.add_post("/console/api/login", login)
    r.add_post("/console/api/logout", logout)
    r.add_get("/console/api/me", me)
    r.add_get("/console/api/options", options)
    r.add_post("/console/api/analyse", analyse_call)
    r.add_post("/console/api/intakes", save_call)
    r.add_get("/console/api/records", list_records)
    r.add_get("/console/api/records/{reference}", get_record)
    r.add_post("/console/api/records/{reference}/transfer", transfer_record)
    r.add_post("/console/api/records/{reference}/status", advance_record)
    r.add_get("/console/api/audit", audit_log)
