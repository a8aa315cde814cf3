"""The bureau's dashboard in the console: the page, its JSON and its CSV export.

GET /console/dashboard                      the page (charts drawn in the browser)
GET /console/api/dashboard?from=&to=        figures as JSON (bot.dashboard.figures)
GET /console/api/dashboard.csv?from=&to=    the same figures as CSV; &table= one table

Dates are Beijing-time days, YYYY-MM-DD; the default is the last 30 days. Admins and
hotline operators see the whole city and may narrow it with ?centre=; centre staff
always see their own centre (received by it or transferred to it), and asking for
another centre is refused. Nothing personal is in the figures.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

import sqlalchemy as sa
from aiohttp import web

from bot import dashboard, knowledge
from bot.console import audit
from bot.dashboard import BadRequest, Dashboard, DashboardUnavailable
from bot.intake import centre_ref, now
from bot.web.app import SETTINGS, readable_json
from bot.web.console import USER, console_page, login_required

log = logging.getLogger(__name__)
DASHBOARD = web.AppKey("dashboard", Dashboard)


def error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": HTTPStatus(status).phrase, "message": message},
        status=status,
        dumps=readable_json,
    )


async def _figures(request: web.Request) -> dict:
    """The figures the signed-in user asked for and may see; raises BadRequest,
    PermissionError or DashboardUnavailable."""
    query = request.query
    start, end = dashboard.parse_range(
        query.get("from"), query.get("to"), dashboard.china_day(now())
    )
    centre = dashboard.parse_centre(query.get("centre"))
    user = request[USER]
    if user.role == "centre":
        if centre not in (None, user.centre):
            raise PermissionError(centre)
        centre = user.centre
    return await asyncio.to_thread(request.app[DASHBOARD].figures, start, end, centre)


async def _answer(request: web.Request, respond) -> web.Response:
    try:
        table = dashboard.parse_table(request.query.get("table"))
        figures = await _figures(request)
    except BadRequest as exc:
        return error(400, str(exc))
    except PermissionError:
        return error(403, dashboard.labels()["errors"]["other_centre"])
    except DashboardUnavailable:
        log.warning("dashboard: database unavailable")
        return error(503, dashboard.labels()["errors"]["unavailable"])
    return await respond(request, figures, table)


async def _json(request: web.Request, figures: dict, table: str | None):
    if request[USER].role != "centre":  # the page's choice of scope
        figures = {
            **figures,
            "centres": [centre_ref(key) for key in knowledge.centres()],
        }
    return web.json_response(figures, dumps=readable_json)


async def _csv(request: web.Request, figures: dict, table: str | None):
    name = "-".join(
        part for part in ("dashboard", table, figures["from"], figures["to"]) if part
    )
    try:
        await asyncio.to_thread(
            audit.record,
            request.app[DASHBOARD],
            request[USER].username,
            "dashboard.export",
            table or "all",
            {"from": figures["from"], "to": figures["to"], "centre": figures["centre"]},
        )
    except (sa.exc.SQLAlchemyError, OSError):
        # The figures were just read; a failed audit write is not worth a 503.
        log.warning("dashboard: export not written to the audit log")
    return web.Response(
        body=dashboard.to_csv(figures, table).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@login_required()
async def figures_json(request: web.Request) -> web.Response:
    return await _answer(request, _json)


@login_required()
async def figures_csv(request: web.Request) -> web.Response:
    return await _answer(request, _csv)


async def dashboard_ctx(app: web.Application):
    app[DASHBOARD] = Dashboard(app[SETTINGS].database_url)
    yield
    await asyncio.to_thread(app[DASHBOARD].close)


def setup(app: web.Application) -> None:
    """Hook the dashboard into the web app (bot/web/app.py create_app)."""
    app.cleanup_ctx.append(dashboard_ctx)
    app.router.add_get("/console/dashboard", console_page("dashboard.html"))
    app.router.add_get("/console/api/dashboard", figures_json)
    app.router.add_get("/console/api/dashboard.csv", figures_csv)
