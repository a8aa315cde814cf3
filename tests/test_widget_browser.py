"""The chat widget in a real browser: Debian's Chromium driven by Playwright, talking
to the real stack (web app -> Rasa -> action server) the way a citizen would."""

from __future__ import annotations

import socket
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.settings import ROOT
from tests.conftest import Stack

SCREENSHOT = ROOT / "docs" / "widget-conversation.png"
EXIT_URL = "https://www.baidu.com/"  # the widget's default quick-exit page
WIDGET_TITLE = "信阳12348法律服务助手"
REPLY_TIMEOUT_MS = 90_000  # the first turn after Rasa starts loads the model


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1000, "height": 760}
    )
    # The quick-exit target is outside this machine; answer for it here.
    context.route(
        f"{EXIT_URL}**",
        lambda route: route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            body="<!doctype html><title>百度一下</title><p>搜索</p>",
        ),
    )
    page = context.new_page()
    yield page
    context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_widget(page: Page, web: str) -> None:
    page.goto(f"{web}/demo")
    page.get_by_role("button", name=f"打开{WIDGET_TITLE}").click()
    expect(page.get_by_role("dialog", name=WIDGET_TITLE)).to_be_visible()
    expect(page.get_by_label("输入您的问题")).to_be_focused()


def wait_for_answer(page: Page, bot_messages_before: int) -> None:
    page.wait_for_function(
        """n => document.querySelectorAll('.xy-bot').length > n
               && !document.querySelector('.xy-typing')""",
        arg=bot_messages_before,
        timeout=REPLY_TIMEOUT_MS,
    )


def say(page: Page, text: str) -> str:
    """Type, press 发送, wait for the answer; returns the bot's new text."""
    before = page.locator(".xy-bot").count()
    page.get_by_label("输入您的问题").fill(text)
    page.get_by_role("button", name="发送").click()
    wait_for_answer(page, before)
    return "\n".join(page.locator(".xy-bot").all_inner_texts()[before:])


def click_reply(page: Page, title: str) -> str:
    before = page.locator(".xy-bot").count()
    page.locator(".xy-choice", has_text=title).last.click()
    wait_for_answer(page, before)
    return "\n".join(page.locator(".xy-bot").all_inner_texts()[before:])


def stored(page: Page) -> list[str]:
    """The widget's keys in this origin's localStorage and this tab's sessionStorage."""
    return page.evaluate(
        """() => [localStorage, sessionStorage].flatMap(s =>
               Object.keys(s).filter(k => k.startsWith('xy12348.')))"""
    )


def test_wage_story_is_triaged_and_a_reply_button_is_answered(stack, page):
    open_widget(page, stack.web)
    expect(page.locator(".xy-bot").first).to_contain_text("您好")

    answer = say(page, "老板跑了，俺三个月工钱没拿到，咋整")
    assert "劳动争议" in answer
    assert "12348" in answer
    expect(page.locator(".xy-user")).to_have_text(
        ["老板跑了，俺三个月工钱没拿到，咋整"]
    )
    expect(page.get_by_label("输入您的问题")).to_have_value("")
    # Screen readers hear new messages: they land inside the polite live log.
    log = page.get_by_role("log", name="对话记录")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(log.locator(".xy-bot").last).to_be_visible()
    assert log.locator(".xy-bot", has_text="劳动争议").count() >= 1
    for title in ("申请法律援助", "常见问题", "转人工"):
        expect(log.locator(".xy-choice", has_text=title).last).to_be_visible()
    # The picture in the README: the question and the start of the answer.
    page.locator(".xy-messages").evaluate(
        """m => { const u = m.querySelector('.xy-user');
                  m.scrollTop += u.getBoundingClientRect().top
                                 - m.getBoundingClientRect().top - 12; }"""
    )
    page.screenshot(path=str(SCREENSHOT))

    answer = click_reply(page, "常见问题")
    expect(page.locator(".xy-user").last).to_have_text("常见问题")
    assert "劳动争议" in answer, answer
    question = page.locator(".xy-choice").last
    question_title = question.inner_text()
    before = page.locator(".xy-bot").count()
    question.click()
    wait_for_answer(page, before)
    expect(page.locator(".xy-user").last).to_have_text(question_title)
    # The answer with its citation, then the offer of the pre-check or a human.
    expect(page.locator(".xy-bot").nth(before)).to_contain_text("依据：")
    expect(page.locator(".xy-choice", has_text="申请法律援助").last).to_be_visible()


def test_conversation_survives_a_reload_and_new_conversation_starts_fresh(stack, page):
    open_widget(page, stack.web)
    say(page, "借给他两万块钱，打了欠条，现在不还了")
    sender = page.evaluate("() => localStorage.getItem('xy12348.session')")
    bubbles = page.locator(".xy-msg").all_text_contents()

    page.reload()
    # Still open and still the same conversation, buttons and all.
    expect(page.get_by_role("dialog", name=WIDGET_TITLE)).to_be_visible()
    expect(page.locator(".xy-msg")).to_have_text(bubbles)
    expect(page.locator(".xy-user")).to_have_text(
        ["借给他两万块钱，打了欠条，现在不还了"]
    )
    answer = say(page, "能申请法律援助吗")
    assert answer.strip()

    page.get_by_role("button", name="开始新的对话").click()
    expect(page.locator(".xy-user")).to_have_count(0)
    expect(page.locator(".xy-msg")).to_have_count(1)
    expect(page.locator(".xy-bot")).to_contain_text("您好")
    assert page.evaluate("() => localStorage.getItem('xy12348.session')") != sender
    page.reload()
    expect(page.locator(".xy-msg")).to_have_count(1)


def test_large_font_and_high_contrast_change_the_page_and_stay_on(stack, page):
    open_widget(page, stack.web)
    bubble = page.locator(".xy-bot").first
    big = page.get_by_role("button", name="切换大字模式")
    contrast = page.get_by_role("button", name="切换高对比度")

    def font_px() -> float:
        return float(bubble.evaluate("e => getComputedStyle(e).fontSize")[:-2])

    def style(locator, prop: str) -> str:
        return locator.evaluate(f"e => getComputedStyle(e).{prop}")

    normal = font_px()
    big.click()
    expect(big).to_have_attribute("aria-pressed", "true")
    assert font_px() >= normal * 1.25

    header = page.locator(".xy-header")
    assert style(header, "backgroundColor") != "rgb(0, 0, 0)"
    contrast.click()
    expect(contrast).to_have_attribute("aria-pressed", "true")
    assert style(header, "backgroundColor") == "rgb(0, 0, 0)"
    assert style(header, "color") == "rgb(255, 255, 0)"
    # Pressed tool buttons are black on white, not the brand red.
    assert style(big, "color") == "rgb(0, 0, 0)"
    assert style(bubble, "color") == "rgb(0, 0, 0)"

    page.reload()
    expect(big).to_have_attribute("aria-pressed", "true")
    expect(contrast).to_have_attribute("aria-pressed", "true")
    assert font_px() >= normal * 1.25
    assert style(header, "backgroundColor") == "rgb(0, 0, 0)"

    big.click()
    expect(big).to_have_attribute("aria-pressed", "false")
    assert font_px() == normal


def test_the_window_opens_and_closes_from_the_keyboard(stack, page):
    open_widget(page, stack.web)
    launcher = page.get_by_role("button", name=f"打开{WIDGET_TITLE}")
    expect(launcher).to_be_hidden()  # not a Tab stop behind the open window
    page.get_by_label("输入您的问题").press("Escape")
    expect(page.get_by_role("dialog", name=WIDGET_TITLE)).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name=WIDGET_TITLE)).to_be_visible()
    expect(page.get_by_label("输入您的问题")).to_be_focused()


def test_html_in_a_message_is_shown_as_plain_text(stack, page):
    open_widget(page, stack.web)
    text = '<img src=x onerror="window.hacked=1"><b>老板</b>欠我工资'
    say(page, text)
    expect(page.locator(".xy-user")).to_have_text([text])
    assert page.locator(".xy-messages img, .xy-messages b").count() == 0
    assert page.evaluate("() => window.hacked") is None


def test_quick_exit_clears_screen_and_storage_and_leaves(stack, page):
    open_widget(page, stack.web)
    say(page, "俺男人天天打俺，俺想离婚")
    page.get_by_role("button", name="切换大字模式").click()
    assert "xy12348.log" in stored(page) and "xy12348.open" in stored(page)

    # Read the page in the same task as the click: before the next page arrives.
    left_behind = page.evaluate(
        """() => {
            document.querySelector('.xy-exit').click();
            return [document.body.innerText.includes('离婚'),
                    Object.keys(localStorage).concat(Object.keys(sessionStorage))
                        .filter(k => k.startsWith('xy12348.'))];
        }"""
    )
    assert left_behind == [False, []]
    page.wait_for_url(EXIT_URL)
    expect(page).to_have_title("百度一下")

    # Back in this tab on the assistant's site: nothing of the conversation is kept.
    page.goto(f"{stack.web}/health")
    assert stored(page) == []
    page.goto(f"{stack.web}/demo")
    page.get_by_role("button", name=f"打开{WIDGET_TITLE}").click()
    expect(page.locator(".xy-user")).to_have_count(0)
    expect(page.locator(".xy-msg")).to_have_count(1)


@pytest.fixture
def dead_rasa_web(tmp_path):
    """A second web app whose Rasa server is down (nothing listens on its port)."""
    dead = free_port()
    web = Stack(
        tmp_path,
        action_port=free_port(),
        rasa_port=dead,
        web_port=free_port(),
        env={"XY_RASA_URL": f"http://127.0.0.1:{dead}"},
    )
    web.start("web")
    try:
        yield web
    finally:
        web.stop_all()


def test_when_the_assistant_is_down_the_typed_text_stays_for_a_retry(
    dead_rasa_web, page
):
    open_widget(page, dead_rasa_web.web)
    text = f"邻居家的树倒了砸坏俺家的房子，咋赔 {uuid.uuid4().hex[:4]}"
    box = page.get_by_label("输入您的问题")
    box.fill(text)
    box.press("Enter")

    status = page.get_by_role("status")
    expect(status).to_contain_text("您的话还在输入框里", timeout=40_000)
    expect(status).to_contain_text("12348")
    expect(status).to_be_visible()
    expect(box).to_have_value(text)
    expect(page.get_by_role("button", name="发送")).to_be_enabled()
    expect(page.locator(".xy-user")).to_have_count(0)
    assert text not in (page.evaluate("() => localStorage.getItem('xy12348.log')"))

    # The web app itself gone too: the browser cannot reach anything.
    dead_rasa_web.stop("web")
    page.get_by_role("button", name="发送").click()
    expect(status).to_contain_text("网络或服务暂时连不上", timeout=40_000)
    expect(status).to_contain_text("重试")
    expect(box).to_have_value(text)
