"""JSON API for legal aid: the anonymous pre-check, intake creation and status look-up.

POST /api/eligibility        the pre-check; takes no personal data
POST /api/intakes            create an intake (Authorization: Bearer <XY_API_TOKEN>)
GET  /api/intakes/{ref}      full record with the token; without it, status only and
                             only with ?phone_last4= matching the applicant's phone

The answers go through bot/legal_aid.py, the same functions the Rasa form calls.
Unknown body fields are rejected (400 naming the field), so personal data sent to the
pre-check by mistake is refused rather than silently dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import math
import unicodedata
from http import HTTPStatus

from aiohttp import web

from bot import eligibility, knowledge, legal_aid
from bot.intake import (
    CHANNELS,
    REFERENCE,
    Intake,
    IntakeStore,
    IntakeUnavailable,
    normalise_reference,
)
from bot.knowledge import service_texts
from bot.legal_aid import Answers, InvalidAnswer
from bot.web.app import SETTINGS, read_json

log = logging.getLogger(__name__)
STORE = web.AppKey("intake_store", IntakeStore)
# Empty: the hardship standard in data/knowledge (tests put their own here).
STANDARDS = web.AppKey("hardship_standards", dict)

# Body fields and their JSON types.
ANSWER_FIELDS = {
    "category": str,
    "matter": str,
    "proceeding": str,
    "role": str,
    "circumstances": list,
    "statuses": list,
    "retrial": bool,
    "household_size": int,
    "monthly_income": float,
    "days_to_deadline": int,
    "urgent_preservation": bool,
    "county": str,
}
INTAKE_FIELDS = {
    **ANSWER_FIELDS,
    "stage": str,
    "organ_place": str,
    "event_place": str,
    "residence_county": str,
    "channel": str,
    "name": str,
    "phone": str,
    "conversation_id": str,
}
ANSWER_KEYS = {f.name for f in dataclasses.fields(Answers)}
TYPE_NAMES = {
    str: "字符串",
    list: "字符串数组",
    bool: "true 或 false",
    int: "整数",
    float: "数字",
}
OPTIONS = {
    "matter": [*eligibility.MATTERS, *legal_aid.UNLISTED_MATTERS],
    "proceeding": legal_aid.PROCEEDINGS,
    "role": eligibility.CRIMINAL_ROLES,
    "circumstances": [*eligibility.APPOINTED, *eligibility.NO_MEANS],
    "statuses": eligibility.WAIVERS,
    "stage": legal_aid.STAGES,
    "channel": CHANNELS,
}
RANGES = {
    "household_size": (1, legal_aid.MAX_HOUSEHOLD),
    "monthly_income": (0, legal_aid.MAX_MONTHLY_INCOME),
    "days_to_deadline": (0, legal_aid.MAX_DAYS),
    "conversation_id": (1, legal_aid.MAX_CONVERSATION_ID),
}

NOT_FOUND = "没有找到这条申请：受理编号或手机号后四位不对。请核对后再查，或拨打12348公共法律服务热线。"
NOT_SAVED = "受理系统暂时连不上，这次申请没有保存成功。请稍后再提交，或拨打12348公共法律服务热线办理。"
NOT_READ = (
    "受理系统暂时连不上，现在查不到办理进度。请稍后再试，或拨打12348公共法律服务热线。"
)


def error(status: int, message: str, **extra) -> web.Response:
    """The same shape as app.py's error middleware: {"error", "message"}."""
    return web.json_response(
        {"error": HTTPStatus(status).phrase, "message": message, **extra},
        status=status,
    )


def message_for(exc: InvalidAnswer) -> str:
    field = exc.field
    if field == "name":
        return "name: 请填写申请人的姓名（1 到 30 个字，不含数字）。"
    if field == "phone":
        return "phone: 需要 11 位大陆手机号（1 开头）；可以带空格、横线或 +86。"
    if exc.problem == "required":
        return f"{field}: 必须填写。"
    if exc.problem == "unknown_value":
        if field == "category":
            options = knowledge.categories()
        else:
            options = OPTIONS.get(field, ())
        return f"{field}: 不认识这个取值，可以用的有：{'、'.join(options)}。"
    if exc.problem == "out_of_range" and field in RANGES:
        low, high = RANGES[field]
        unit = "个字符" if field == "conversation_id" else ""
        return f"{field}: 要在 {low} 到 {high}{unit} 之间。"
    if exc.problem == "too_long":
        return f"{field}: 最多 {legal_aid.MAX_PLACE} 个字。"
    return f"{field}: 取值不对。"


def _typed(body: dict, fields: dict[str, type]) -> dict:
    """Check JSON types; null counts as not given. Raises InvalidAnswer."""
    for name in sorted(body):
        if name not in fields:
            raise InvalidAnswer(name, "unknown_field")
    values = {}
    for name, kind in fields.items():
        value = body.get(name)
        if value is None:
            continue
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise InvalidAnswer(name, f"wrong_type:{TYPE_NAMES[kind]}")
        values[name] = value
    return values


def _answers(values: dict) -> Answers:
    if "category" not in values:
        raise InvalidAnswer("category", "required")
    return Answers(**{k: v for k, v in values.items() if k in ANSWER_KEYS})


def invalid(exc: InvalidAnswer, unknown_hint: str = "") -> web.Response:
    if exc.problem == "unknown_field":
        name = exc.field[:40]  # echoed back: keep it short
        return error(400, f"{name}: 不认识的字段。{unknown_hint}", field=name)
    if exc.problem.startswith("wrong_type:"):
        kind = exc.problem.split(":", 1)[1]
        return error(400, f"{exc.field}: 类型不对，应为{kind}。", field=exc.field)
    return error(400, message_for(exc), field=exc.field)


async def eligibility_check(request: web.Request) -> web.Response:
    """POST /api/eligibility -> outcome, reasons with citations, notices, materials."""
    body = await read_json(request)
    try:
        answers = _answers(_typed(body, ANSWER_FIELDS))
        result = legal_aid.precheck(answers, request.app[STANDARDS] or None)
    except InvalidAnswer as exc:
        return invalid(exc, "预审不需要、也不接收姓名、电话等个人信息。")
    return web.json_response(result.as_dict())


def _bearer_problem(request: web.Request) -> web.Response | None:
    """None when the request carries the configured token."""
    token = request.app[SETTINGS].api_token
    if not token:
        return error(503, "受理接口没有开放：服务器没有设置访问令牌（XY_API_TOKEN）。")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    ):
        return web.json_response(
            {"error": "Unauthorized", "message": "需要有效的访问令牌（Bearer）。"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="12348"'},
        )
    return None


def _receipt(intake: Intake) -> dict:
    status = intake.as_status()
    record = intake.as_record()
    return {
        "reference": intake.reference,
        "created": intake.created,
        "status": intake.status,
        "receiving_centre": status["receiving_centre"],
        "competent_centre": status["competent_centre"],
        "transfer": intake.transfer,
        "review_due": status["review_due"],
        "outcome": intake.outcome,
        "outcome_text": legal_aid.texts()["outcomes"].get(intake.outcome, ""),
        "materials": record["materials"],
    }


async def create_intake(request: web.Request) -> web.Response:
    """POST /api/intakes -> 201 and the receipt (200 with the first receipt when the
    conversation_id was submitted before)."""
    problem = _bearer_problem(request)
    if problem is not None:
        return problem
    body = await read_json(request)
    try:
        values = _typed(body, INTAKE_FIELDS)
        for name in ("channel", "name", "phone"):
            if name not in values:
                raise InvalidAnswer(name, "required")
        application, _ = legal_aid.build_application(
            _answers(values),
            channel=values["channel"],
            name=values["name"],
            phone=values["phone"],
            conversation_id=values.get("conversation_id"),
            standards=request.app[STANDARDS] or None,
        )
    except InvalidAnswer as exc:
        return invalid(exc)
    try:
        intake = await asyncio.to_thread(request.app[STORE].submit, application)
    except IntakeUnavailable:
        log.warning("intake database unavailable: application not saved")
        return error(503, NOT_SAVED, saved=False)
    return web.json_response(_receipt(intake), status=201 if intake.created else 200)


async def get_intake(request: web.Request) -> web.Response:
    """GET /api/intakes/{reference}: with the token the full record; without it the
    status, history and dues, only when ?phone_last4= matches."""
    reference = normalise_reference(request.match_info["reference"])
    store = request.app[STORE]
    try:
        if "Authorization" in request.headers:
            problem = _bearer_problem(request)
            if problem is not None:
                return problem
            intake = None
            if REFERENCE.match(reference):
                intake = await asyncio.to_thread(store.get, reference)
            return (
                web.json_response(intake.as_record())
                if intake
                else error(404, NOT_FOUND)
            )
        last4 = unicodedata.normalize("NFKC", request.query.get("phone_last4", ""))
        if not last4:
            return error(
                400,
                "phone_last4: 查进度需要受理编号和申请时留的手机号的后四位。",
                field="phone_last4",
            )
        if not (len(last4) == 4 and last4.isascii() and last4.isdigit()):
            return error(400, "phone_last4: 需要 4 位数字。", field="phone_last4")
        found = await asyncio.to_thread(store.check_status, reference, last4)
    except IntakeUnavailable:
        log.warning("intake database unavailable: status not read")
        return error(503, NOT_READ)
    if found.locked:
        seconds = max(1, math.ceil(found.retry_after.total_seconds()))
        message = service_texts()["lookup_locked"].format(
            minutes=math.ceil(seconds / 60)
        )
        return web.json_response(
            {"error": "Too Many Requests", "message": message, "retry_after": seconds},
            status=429,
            headers={"Retry-After": str(seconds)},
        )
    if found.intake is None:
        return error(404, NOT_FOUND)
    return web.json_response(found.intake.as_status())


async def intake_store(app: web.Application):
    store = IntakeStore(app[SETTINGS].database_url)
    app[STORE] = store
    yield
    await asyncio.to_thread(store.close)


def setup(app: web.Application) -> None:
    """Hook the legal-aid API into the web app (bot/web/app.py create_app)."""
    app.setdefault(STANDARDS, {})
    app.cleanup_ctx.append(intake_store)
    app.router.add_post("/api/eligibility", eligibility_check)
    app.router.add_post("/api/intakes", create_intake)
    app.router.add_get("/api/intakes/{reference}", get_intake)
