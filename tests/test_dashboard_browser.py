"""The dashboard in a real browser: Debian's Chromium signs in to the console of a
real web app process, opens 数据看板 and sees every chart drawn from the figures.
No Rasa needed: the dashboard reads the database only. Saves docs/console-dashboard.png.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from bot import db, intake, knowledge
from bot.console.accounts import Accounts
from bot.dashboard import Dashboard
from bot.eligibility import HardshipStandard
from bot.intake import IntakeStore
from bot.legal_aid import Answers, build_application
from bot.settings import ROOT, Settings
from tests.conftest import wait_for
from tests.test_widget_browser import free_port

SCREENSHOT = ROOT / "docs" / "console-dashboard.png"
STANDARD = {"default": HardshipStandard("test", 1000.0, "2026-01-01", "test fixture")}
PASSWORD = "correct-horse-battery"
COUNTIES = [
    "息县",
    "固始",
    "潢川",
    "光山",
    "罗山",
    "浉河",
    "平桥",
    "商城",
    "新县",
    "淮滨",
]
CATEGORIES = ["labor", "work_injury", "family", "debt", "traffic", "property", "land"]
CHANNELS = ["web", "wechat", "hotline", "api"]


def person(i: int) -> tuple[str, str]:
    """60 different made-up names and phone numbers."""
    return "赵钱孙李周吴郑王冯陈"[i % 10] + [
        "建国",
        "秀英",
        "春花",
        "明亮",
        "红梅",
        "大勇",
    ][i // 10], f"139{i:08d}"


def seed(database_url: str, monkeypatch) -> None:
    """A month of made-up but plausible activity, at fixed random seed."""
    rng = random.Random(12348)
    store = IntakeStore(database_url)
    board = Dashboard(database_url)
    today = intake.now().replace(hour=2, minute=0, second=0, microsecond=0)
    clock = {"now": today}
    monkeypatch.setattr(intake, "now", lambda: clock["now"])
    events = []
    for i in range(60):
        created = today - timedelta(
            days=rng.randrange(0, 29), hours=rng.randrange(0, 8)
        )
        residence = rng.choice(COUNTIES)
        court = rng.random() < 0.25
        answers = Answers(
            category=rng.choice(CATEGORIES),
            stage="court" if court else "none",
            organ_place=rng.choice(COUNTIES) if court else None,
            event_place=residence,
            residence_county=residence,
        )
        name, phone = person(i)
        decided = (
            created + timedelta(hours=rng.randrange(6, 24 * 9))
            if rng.random() < 0.7
            else None
        )
        events.append((created, answers, name, phone, decided))
    for created, answers, name, phone, decided in sorted(events, key=lambda e: e[0]):
        clock["now"] = created
        app, _ = build_application(
            answers,
            channel=rng.choice(CHANNELS),
            name=name,
            phone=phone,
            standards=STANDARD,
        )
        reference = store.submit(app).reference
        if decided and decided < today:
            clock["now"] = decided
            store.set_status(reference, "decided", f"{name} {phone}")
    for day in range(29, -1, -1):
        for n in range(rng.randrange(3, 14)):
            at = today - timedelta(days=day, minutes=n)
            sender = f"sender-{day}-{n % 9}"
            board.record(
                rng.choice(["triage", "triage", "faq", "handoff"]),
                sender_id=sender,
                input_channel=rng.choice(["rest", "rest", "wechat"]),
                category=rng.choice(CATEGORIES),
                county=rng.choice(COUNTIES + [None, None]),
                at=at,
            )
    board.close()
    store.close()
    accounts = Accounts(db.create_engine(database_url))
    accounts.create_user("admin1", PASSWORD, "admin")
    accounts.create_user("gushi1", PASSWORD, "centre", "gushi")
    accounts.engine.dispose()


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The web app alone, as its own process (Stack would want a trained model)."""
    tmp = tmp_path_factory.mktemp("dashboard")
    port = free_port()  # 5800-5809 (+ offset) belong to other test files
    env = {
        **os.environ,
        "XY_WEB_PORT": str(port),
        "XY_VAR_DIR": str(tmp),
        "XY_RASA_URL": "http://127.0.0.1:9",  # nothing here needs Rasa
    }
    env.pop("XY_DATABASE_URL", None)
    monkeypatch = pytest.MonkeyPatch()
    try:
        seed(Settings.from_env(env).database_url, monkeypatch)
    finally:
        monkeypatch.undo()
    with open(tmp / "web.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.web"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_admin_signs_in_and_sees_every_chart_with_its_numbers(web, browser):
    page = browser.new_page(locale="zh-CN", viewport={"width": 1366, "height": 768})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and "favicon" not in (m.location or {}).get("url", "")
            and problems.append(m.text)
        ),
    )
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and not r.url.endswith("/favicon.ico")  # no icon is served at all
            and problems.append(f"{r.status} {r.url}")
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(f"{web}/console/dashboard")
    expect(page).to_have_url(f"{web}/console/login?next=/console/dashboard")
    page.get_by_label("用户名").fill("admin1")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("body[data-loaded]")
    expect(page.get_by_role("heading", name="数据看板")).to_be_visible()

    figures = page.evaluate(
        "async () => (await fetch('/console/api/dashboard')).json()"
    )
    assert len(figures["days"]) == 30
    assert figures["totals"]["intakes"] == 60
    # Days: one dot per day for conversations and for intakes.
    assert page.locator("#chart-days circle.dot").count() == 60
    assert page.locator("#chart-days polyline").count() == 2
    # One bar per category / county / channel and series, each saying its number.
    for chart, rows in [
        ("categories", figures["categories"]),
        ("counties", figures["counties"]),
        ("channels", figures["channels"]),
    ]:
        bars = page.locator(f"#chart-{chart} rect.bar")
        assert bars.count() == 2 * len(rows)
        for row in rows:
            for series, word in (("conversations", "对话"), ("intakes", "申请")):
                bar = page.locator(
                    f'#chart-{chart} rect.bar[data-key="{row["key"]}"]'
                    f'[data-series="{series}"]'
                )
                assert bar.get_attribute("data-value") == str(row[series])
                expected = f"{row['name']} {word} {row[series]}"
                assert bar.get_attribute("aria-label") == expected
    labor = next(c for c in figures["categories"] if c["key"] == "labor")
    assert labor["name"] == knowledge.categories()["labor"].name
    assert len(figures["channels"]) == 4
    # Transfers: a bar per pair and the from -> to table.
    pairs = figures["transfers"]
    assert pairs, "the seed has court cases in other counties"
    assert page.locator("#chart-transfers rect.bar").count() == len(pairs)
    first = page.locator("#chart-transfers tbody tr").first
    expect(first).to_contain_text(pairs[0]["from"]["name"])
    expect(first).to_contain_text(pairs[0]["to"]["name"])
    # Time to decision: average, median and the 7-day limit.
    assert page.locator("#chart-decisions rect.bar").count() == 3
    average = figures["decisions"]["average_days"]
    expect(page.locator("#average-days")).to_have_text(str(average))
    expect(page.locator("#total-intakes")).to_have_text("60")
    # Every chart is a labelled picture; its numbers are a table.
    for svg in page.locator("svg.plot-svg").all():
        assert svg.get_attribute("aria-label")
    page.get_by_text("查看数字").first.click()
    expect(page.locator("#chart-days table")).to_be_visible()
    assert page.locator("#chart-days tbody tr").count() == 30
    # The export links carry the range shown.
    href = page.locator("#export-all").get_attribute("href")
    assert f"from={figures['from']}" in href and f"to={figures['to']}" in href
    text = page.locator("body").inner_text()
    for i in range(60):
        name, phone = person(i)
        assert name not in text and phone not in text
    assert problems == []

    page.get_by_text("查看数字").first.click()  # closed again for the picture
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # A narrower range redraws with fewer days.
    page.get_by_label("开始日期").fill(figures["days"][-7]["day"])
    page.get_by_role("button", name="查看", exact=True).click()
    expect(page.locator("#chart-days circle.dot")).to_have_count(14)
    assert "from=" + figures["days"][-7]["day"] in page.url

    # Centre staff: their own centre's figures, no choice of scope.
    page.get_by_role("button", name="退出").click()
    # Signing out ends on the sign-in page; going elsewhere before it gets
    # there would race the page's own navigation.
    page.wait_for_url("**/console/login")
    page.goto(f"{web}/console/dashboard")
    page.get_by_label("用户名").fill("gushi1")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("body[data-loaded]")
    expect(page.locator("#scope")).to_contain_text("固始县法律援助中心")
    expect(page.locator("#centre-field")).to_be_hidden()
    mine = page.evaluate("async () => (await fetch('/console/api/dashboard')).json()")
    assert 0 < mine["totals"]["intakes"] < figures["totals"]["intakes"]
    expect(page.locator("#total-intakes")).to_have_text(str(mine["totals"]["intakes"]))
