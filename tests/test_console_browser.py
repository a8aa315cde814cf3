"""The operator console in a real browser: Debian's Chromium driven by Playwright
against the real stack (web app -> Rasa), at the 1366x768 screen the hotline uses.

An operator signs in, types a call turn by turn, reads the analysis, saves the call
as an application, transfers it to the competent centre and finds the transfer in
the audit log; an administrator reads the same log; a county centre's staff cannot
open another centre's record; overdue records stand out.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.console import audit
from bot.intake import IntakeStore, intakes
from bot.settings import ROOT

CALL_SCREENSHOT = ROOT / "docs" / "console-call.png"
RECORDS_SCREENSHOT = ROOT / "docs" / "console-records.png"
AUDIT_SCREENSHOT = ROOT / "docs" / "console-audit.png"
PASSWORD = "browser-test-password"
ACCOUNTS = {
    "hotline.op": ["--role", "operator"],
    "chief": ["--role", "admin"],
    "guangshan.staff": ["--role", "centre", "--centre", "guangshan"],
}
ANALYSIS_TIMEOUT_MS = 90_000  # the first parse after Rasa starts loads the model
CALL = [
    "你好，俺是农民工，在工地上干了大半年",
    "老板欠俺三万块工钱一直不给，电话也不接",
    "俺家住在息县，家里4口人",
    "我叫张秀英，电话13800138000",
]


@pytest.fixture(scope="module")
def console_stack(stack):
    """The shared stack with console accounts made by the real command line."""
    for username, role in ACCOUNTS.items():
        done = subprocess.run(
            [sys.executable, "-m", "bot", "console-user", "add", username, *role]
            + ["--password-stdin"],
            input=PASSWORD + "\n",
            env=stack.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert f"已创建账号 {username}" in done.stdout
    return stack


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1366, "height": 768},
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], errors  # no script error on any console page


def sign_in(page: Page, web: str, username: str, start: str) -> None:
    page.goto(f"{web}{start}")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_label("密码").press("Enter")
    expect(page).to_have_url(re.compile(re.escape(start) + "$"))
    expect(page.locator("#console-who")).to_contain_text(username)


def hide_toast(page: Page) -> None:
    """Screenshots without the passing "copied" / "transferred" message."""
    page.locator("#console-toast").evaluate("t => t.className = ''")


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))


def test_a_call_becomes_an_intake_is_transferred_and_shows_in_the_audit_log(
    console_stack, page
):
    web = console_stack.web
    sign_in(page, web, "hotline.op", "/console/call")

    # The operator types the call turn by turn; the analysis follows.
    turn = page.get_by_label("来电人说")
    expect(turn).to_be_focused()
    for text in CALL:
        turn.fill(text)
        turn.press("Enter")
    expect(page.locator("#turns li")).to_have_count(len(CALL))
    ranking = page.locator("#ranking li[data-category]")
    expect(ranking.first).to_have_attribute(
        "data-category", "labor", timeout=ANALYSIS_TIMEOUT_MS
    )
    expect(ranking).to_have_count(3)
    expect(ranking.first).to_contain_text("劳动争议")
    expect(page.locator("#entities li[data-entity=county]")).to_contain_text("息县")
    expect(page.locator("#entities li[data-entity=phone]")).to_contain_text(
        "13800138000"
    )
    # A bare number ("4" of 4口人, the phone) is never shown as a date or amount.
    for chip in page.locator("#entities li").all_inner_texts():
        assert chip.startswith("手机号") or not re.search(r"：[\d.]+$", chip), chip
    expect(page.locator("#precheck-outcome")).to_contain_text("不再核查")
    expect(page.locator("#precheck")).to_contain_text("《法律援助法》第四十二条")
    expect(page.locator("#open-questions li[data-slot=la_stage]")).to_be_visible()
    deadline = page.locator("[data-flag=deadline]")
    expect(deadline).to_contain_text("《劳动争议调解仲裁法》第二十七条")
    faq = page.locator("#faqs .faq").first
    expect(faq).to_contain_text("依据")
    faq_ids = [f.get_attribute("data-faq") for f in page.locator("#faqs .faq").all()]
    assert any(i.startswith("labor_") for i in faq_ids), faq_ids
    faq.get_by_role("button", name="复制答案").click()
    expect(page.locator("#console-toast")).to_contain_text("已复制")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == faq.locator(".a").inner_text()
    # Typing more (without Enter) updates the analysis too: danger comes first.
    turn.fill("他刚才还说要杀我")
    expect(page.locator("#flags .flag").first).to_have_attribute(
        "data-flag", "violence"
    )
    expect(page.locator("#flags .flag").first).to_contain_text("110")
    turn.fill("")
    expect(page.locator("[data-flag=violence]")).to_have_count(0)
    page.locator("#faqs").scroll_into_view_if_needed()
    page.locator(".call-right").evaluate("e => e.scrollTop = 0")
    hide_toast(page)
    page.screenshot(path=str(CALL_SCREENSHOT))

    # Alt+S: the application, prefilled from what was recognised, edited, saved.
    page.keyboard.press("Alt+s")
    dialog = page.get_by_role("dialog", name=re.compile("法律援助申请"))
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("事情类别 *")).to_have_value("labor")
    expect(dialog.get_by_label("具体事项")).to_have_value("labor_pay")
    expect(dialog.get_by_label("申请人住在 *")).to_have_value("息县")
    expect(dialog.get_by_label("申请人姓名 *")).to_have_value("张秀英")
    expect(dialog.get_by_label("手机号 *")).to_have_value("13800138000")
    expect(dialog.get_by_label("家庭人口")).to_have_value("4")
    expect(dialog.get_by_label("进城务工人员（农民工）")).to_be_checked()
    dialog.get_by_label("现在到了哪一步").select_option("none")
    dialog.get_by_label("手机号 *").fill("")
    dialog.get_by_label("手机号 *").press("Control+Enter")
    expect(page.locator("#application-error")).to_contain_text("手机号")
    dialog.get_by_label("手机号 *").fill("138 0013 8000")
    dialog.get_by_label("手机号 *").press("Control+Enter")
    expect(dialog).to_be_hidden()
    reference = page.locator("#receipt-reference").inner_text()
    assert re.fullmatch(r"XY\d{6}-[A-Z2-9]{4}", reference)
    expect(page.locator("#receipt")).to_contain_text("息县法律援助中心")

    # The record: received by 息县; the operator learns the site is in 固始 and
    # transfers it to the competent centre (全域通办).
    page.locator("#receipt-open").click()
    expect(page.locator("#detail-reference")).to_have_text(reference)
    expect(page.locator("#detail-status")).to_have_text("已受理，等待审查")
    expect(page.locator("#detail")).to_contain_text("12348 热线")
    page.get_by_label("转给").select_option("gushi")
    page.get_by_placeholder("备注（可不填）").first.fill("工地在固始县")
    page.get_by_role("button", name="转交", exact=True).click()
    expect(page.locator("#detail-status")).to_have_text("已转交有管辖权的法律援助中心")
    expect(page.locator("#detail-history li").last).to_contain_text(
        "固始县法律援助中心 工地在固始县"
    )
    row = page.locator("#detail-audit tr[data-action='intake.transfer']")
    expect(row).to_contain_text("hotline.op")
    expect(row).to_contain_text("息县法律援助中心 → 固始县法律援助中心")
    expect(
        page.locator("#detail-audit tr[data-action='intake.create']")
    ).to_contain_text("hotline.op")
    listed = page.locator(f"#records-table tr[data-reference='{reference}']")
    expect(listed).to_contain_text("固始县法律援助中心")
    # The picture in the README: the record's transfer, history and audit log.
    page.locator("#detail").evaluate(
        """d => { const h = d.querySelector('#detail-history').previousElementSibling;
                  d.scrollTop += h.getBoundingClientRect().top
                                 - d.getBoundingClientRect().top - 230; }"""
    )
    hide_toast(page)
    page.screenshot(path=str(RECORDS_SCREENSHOT))

    # The database agrees: who, what, when, for this record.
    store = IntakeStore(console_stack.settings.database_url)
    entries = audit.entries(store, target=reference)
    store.close()
    assert [(e["who"], e["action"]) for e in entries] == [
        ("hotline.op", "intake.transfer"),
        ("hotline.op", "intake.view"),
        ("hotline.op", "intake.create"),
    ]
    assert entries[0]["detail"]["to"] == "gushi"

    # An administrator reads the whole log (the operator has no link to it).
    expect(page.get_by_role("link", name=re.compile("操作日志"))).to_have_count(0)
    sign_out(page)
    sign_in(page, web, "chief", "/console/audit")
    page.get_by_label("受理编号").fill(reference)
    page.get_by_label("受理编号").press("Enter")
    actions = page.locator("#audit-table tbody tr")
    expect(actions.first).to_have_attribute("data-action", "intake.transfer")
    expect(actions).to_have_count(3)
    expect(
        page.locator("#audit-table tr[data-action='intake.transfer']")
    ).to_contain_text("hotline.op")
    expect(page.locator("#audit-table")).not_to_contain_text("13800138000")
    page.screenshot(path=str(AUDIT_SCREENSHOT))


def test_centre_staff_see_only_their_centre_and_overdue_records_stand_out(
    console_stack, page
):
    web = console_stack.web
    store = IntakeStore(console_stack.settings.database_url)
    from bot.legal_aid import Answers, build_application

    def submit(residence: str) -> str:
        application, _ = build_application(
            Answers(category="family", residence_county=residence),
            channel="web",
            name="王芳",
            phone="13700137000",
        )
        return store.submit(application).reference

    ours, theirs = submit("光山县"), submit("新县")
    with store.engine.begin() as conn:  # received eight days ago, still undecided
        conn.execute(
            intakes.update()
            .where(intakes.c.reference == ours)
            .values(review_due=datetime.now(timezone.utc) - timedelta(days=1))
        )
    store.close()

    sign_in(page, web, "guangshan.staff", "/console/records")
    expect(page.locator("#filter-centre")).to_be_disabled()
    expect(page.locator("#filter-centre")).to_have_value("guangshan")
    row = page.locator(f"#records-table tr[data-reference='{ours}']")
    expect(row).to_have_class(re.compile("overdue"))
    expect(row).to_contain_text("超期")
    expect(page.locator(f"#records-table tr[data-reference='{theirs}']")).to_have_count(
        0
    )
    # Keyboard: the row takes focus, Enter opens it; deciding is this centre's job.
    row.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-reference")).to_have_text(ours)
    expect(page.locator("#status-next")).to_be_visible()
    page.get_by_label("改为").select_option("under_review")
    page.get_by_role("button", name="确定").click()
    expect(page.locator("#detail-status")).to_have_text("审查中（超期）")
    # Another centre's record, even with its reference typed in: refused.
    page.goto(f"{web}/console/records?ref={theirs}")
    expect(page.locator("#console-toast")).to_contain_text("不归您所在的中心")
    expect(page.locator("#detail-reference")).to_have_count(0)
    # The call view is the hotline's: not in this user's nav, refused if typed.
    expect(page.get_by_role("link", name=re.compile("来电处理"))).to_have_count(0)
    page.keyboard.press("Alt+1")
    expect(page).to_have_url(re.compile(r"/console/records"))
