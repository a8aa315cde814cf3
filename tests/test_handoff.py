"""转人工 without Rasa: the queue (SQLite and PostgreSQL), working hours, call-back
numbers, and the actions that queue a conversation and tell the citizen what next."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import handoff as handoff_actions
from actions.handoff import ActionHandoff
from actions.triage import ActionClarify
from bot import handoff
from bot.handoff import CHINA, HandoffConflict, HandoffStore, HandoffUnavailable

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
WEEKDAYS_9_TO_5 = {
    "working_hours": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}],
    "weekday_names": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
    "day_range": "{first}至{last}",
    "period_separator": "；",
}


@pytest.fixture
def store(database_url):
    s = HandoffStore(database_url)
    yield s
    s.close()


def queue_one(store, conversation="web-" + "a" * 32, channel="web", **kwargs):
    return store.open(
        conversation,
        channel,
        transcript=[
            {"sender": "citizen", "text": "老板欠我三个月工资"},
            {"sender": "bot", "text": "您说的属于【劳动争议】方面的问题。"},
            {"sender": "citizen", "text": "〔转人工〕"},
        ],
        **kwargs,
    )


# --- the queue ---------------------------------------------------------------------


def test_a_queued_conversation_keeps_its_transcript_and_is_waiting(store):
    case, created = queue_one(store, category="labor")
    assert created and case.status == "waiting"
    assert [m.sender for m in case.messages] == ["citizen", "bot", "citizen"]
    assert case.messages[0].text == "老板欠我三个月工资"
    [listed] = store.queue()
    shown = listed.as_console()
    assert shown["category_name"] == "劳动争议"
    assert shown["channel"] == "web" and shown["status"] == "waiting"
    # The console never sees the conversation id, only a short tag of it.
    assert "web-" not in str(shown) and len(shown["tag"]) == 8


def test_asking_twice_does_not_queue_the_conversation_twice(store):
    first, _ = queue_one(store)
    again, created = queue_one(store)
    assert not created and again.id == first.id
    assert len(store.queue()) == 1


def test_two_operators_cannot_take_the_same_conversation(store):
    case, _ = queue_one(store)
    results: list = []

    def take(operator):
        try:
            results.append(store.take(case.id, operator)[0].operator)
        except HandoffConflict as exc:
            results.append(f"conflict:{exc.operator}")

    threads = [threading.Thread(target=take, args=(n,)) for n in ("li", "wang")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = store.get(case.id).operator
    assert sorted(results) == sorted([winner, f"conflict:{winner}"])
    # The citizen is told once that a person has joined.
    joined = [m for m in store.get(case.id).messages if m.sender == "system"]
    assert [m.text for m in joined] == [handoff.text("operator_joined")]


def test_only_the_holder_replies_and_hands_back_then_the_bot_answers_again(store):
    conversation = "web-" + "b" * 32
    case, _ = queue_one(store, conversation)
    assert store.active(conversation).status == "waiting"
    store.take(case.id, "li")
    assert store.active(conversation).status == "held"
    with pytest.raises(HandoffConflict):
        store.reply(case.id, "wang", "我来答")
    store.record(case.id, "citizen", "仲裁要多久？")
    store.reply(case.id, "li", "一般四十五日内结束。")
    with pytest.raises(HandoffConflict):
        store.release(case.id, "wang")
    closed, line = store.release(case.id, "li")
    assert closed.status == "closed" and line.text == handoff.text("handed_back")
    assert store.active(conversation) is None
    assert store.queue() == []
    # The citizen's chat gets the operator's lines, not its own or the bot's.
    status, lines = store.updates(conversation, after=0)
    assert status == "closed"
    assert [m.sender for m in lines] == ["system", "operator", "system"]
    assert lines[1].text == "一般四十五日内结束。"
    _, newer = store.updates(conversation, after=lines[1].id)
    assert [m.text for m in newer] == [handoff.text("handed_back")]
    # A later request opens a new handoff.
    _, created = queue_one(store, conversation)
    assert created


def test_an_admin_may_hand_back_someone_elses_conversation(store):
    case, _ = queue_one(store)
    store.take(case.id, "li")
    closed, _ = store.release(case.id, "boss", override=True)
    assert closed.status == "closed"


def test_unknown_handoff_is_a_key_error(store):
    with pytest.raises(KeyError):
        store.take(12345, "li")


def test_a_database_that_is_down_is_reported_as_unavailable(unreachable_postgres_url):
    s = HandoffStore(unreachable_postgres_url)
    with pytest.raises(HandoffUnavailable):
        s.active("web-" + "c" * 32)


def test_call_back_number_is_stored_but_not_in_the_repr(store):
    case, _ = queue_one(store, OPENID, "wechat", outside_hours=True)
    store.set_callback(case.id, "13800138000")
    found = store.get(case.id)
    assert found.callback_phone == "13800138000"
    assert "13800138000" not in repr(found) and OPENID not in repr(found)
    assert found.as_console(full=True)["callback_phone"] == "13800138000"
    assert found.as_console()["callback_requested"] is True


# --- working hours and call-back numbers -------------------------------------------


def test_no_hours_set_means_not_configured_and_the_citizen_is_pointed_to_12348():
    assert handoff.working_hours({"working_hours": []}) == ()
    assert handoff.in_working_hours(handoff.now(), {"working_hours": []}) is None
    # The shipped file: hours are the bureau's to fill in.
    assert handoff.spec()["working_hours"] == []
    answer, outside = handoff.queued_text(handoff.now())
    assert "12348" in answer and not outside


def test_outside_the_hours_the_citizen_may_call_12348_or_leave_a_number():
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=CHINA)
    monday_evening = datetime(2026, 12, 7, 18, 30, tzinfo=CHINA)
    monday_morning = datetime(2026, 12, 7, 9, 0, tzinfo=CHINA)
    assert handoff.in_working_hours(saturday, WEEKDAYS_9_TO_5) is False
    assert handoff.in_working_hours(monday_evening, WEEKDAYS_9_TO_5) is False
    assert handoff.in_working_hours(monday_morning, WEEKDAYS_9_TO_5) is True
    assert handoff.hours_text(WEEKDAYS_9_TO_5) == "周一至周五 09:00–17:00"
    answer, outside = handoff.queued_text(saturday, WEEKDAYS_9_TO_5)
    assert outside and "周一至周五 09:00–17:00" in answer
    assert "12348" in answer and "手机号" in answer


def test_hours_in_utc_are_read_as_china_time():
    # 01:30 UTC on a Monday is 09:30 in Xinyang.
    at = datetime.fromisoformat("2026-12-07T01:30:00+00:00")
    assert handoff.in_working_hours(at, WEEKDAYS_9_TO_5) is True


@pytest.mark.parametrize(
    ("message", "number"),
    [
        ("13800138000", "13800138000"),
        ("我的电话 138 0013 8000", "13800138000"),
        ("＋８６ １３８-００１３-８０００", "13800138000"),
        ("0376-1234567", "03761234567"),
        ("我欠了13800块钱，对方一直不还，我该怎么办呢", None),
        ("老板欠我三个月工资", None),
        ("1380013", None),
    ],
)
def test_a_call_back_number_is_recognised_only_when_it_is_one(message, number):
    assert handoff.callback_number(message) == number


# --- the actions -------------------------------------------------------------------


def user(text, intent="request_human", channel="rest", at=1_764_000_000.0):
    return {
        "event": "user",
        "timestamp": at,
        "text": text,
        "input_channel": channel,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}},
    }


def bot(text, buttons=None, at=1_764_000_001.0):
    return {
        "event": "bot",
        "timestamp": at,
        "text": text,
        "data": {"buttons": buttons or []},
    }


def tracker(events, sender="web-" + "d" * 32, slots=None):
    latest = next(e for e in reversed(events) if e["event"] == "user")
    message = {**latest["parse_data"], "text": latest["text"], "entities": []}
    message["intent_ranking"] = [message["intent"]]
    return Tracker(
        sender, slots or {}, message, events, False, None, {}, "action_listen"
    )


@pytest.fixture
def queue(tmp_path, monkeypatch):
    s = HandoffStore(f"sqlite:///{tmp_path / 'var' / 'intakes.db'}")
    monkeypatch.setattr(handoff_actions, "_store", s)
    yield s
    s.close()


async def run(action, t):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return [m["text"] for m in dispatcher.messages], events


WAGES_TURN = [
    {"event": "session_started"},
    user("老板跑了，俺三个月工钱没拿到", intent="triage_labor"),
    bot(
        "您说的属于【劳动争议】方面的问题。",
        [
            {"title": "申请法律援助", "payload": "/apply_legal_aid"},
            {"title": "转人工", "payload": "/request_human"},
        ],
    ),
]


async def test_asking_for_a_person_queues_the_transcript_and_triage(queue):
    sender = "web-" + "e" * 32
    t = tracker([*WAGES_TURN, user("/request_human")], sender, {"category": "labor"})
    texts, _ = await run(ActionHandoff(), t)
    assert texts == [handoff.queued_text(handoff.now())[0]]
    case = queue.active(sender)
    assert case.status == "waiting" and case.channel == "web"
    assert case.category == "labor"
    case = queue.get(case.id)
    assert [(m.sender, m.text.splitlines()[0]) for m in case.messages] == [
        ("citizen", "老板跑了，俺三个月工钱没拿到"),
        ("bot", "您说的属于【劳动争议】方面的问题。"),
        ("citizen", "〔转人工〕"),  # the button as the citizen saw it
    ]
    assert {"key": "category", "label": "分流类别", "value": "劳动争议"} in case.triage


async def test_asking_again_says_it_is_already_queued(queue):
    t = tracker([*WAGES_TURN, user("转人工")])
    await run(ActionHandoff(), t)
    texts, _ = await run(ActionHandoff(), t)
    assert texts == [handoff.text("already_queued")]
    assert len(queue.queue()) == 1


async def test_wechat_conversations_are_queued_as_wechat(queue):
    t = tracker([user("人工", channel="wechat")], OPENID)
    await run(ActionHandoff(), t)
    assert queue.active(OPENID).channel == "wechat"


async def test_where_no_operator_can_write_back_the_citizen_is_sent_to_12348(queue):
    t = tracker([user("转人工", channel="cmdline")])
    texts, _ = await run(ActionHandoff(), t)
    assert texts == [handoff.text("no_channel")] and "12348" in texts[0]
    assert queue.queue() == []


async def test_a_database_that_is_down_is_told_honestly(monkeypatch, tmp_path):
    monkeypatch.setattr(handoff_actions, "_store", HandoffStore("sqlite:////proc/x/y"))
    texts, _ = await run(ActionHandoff(), tracker([user("转人工")]))
    assert texts == [handoff.text("unavailable")] and "12348" in texts[0]


def fallback(text, at):
    return user(text, intent="nlu_fallback", at=at)


async def test_second_not_understood_turn_in_a_row_queues_the_conversation(queue):
    sender = "web-" + "f" * 32
    first = [fallback("嗯那个啥", 1.0), bot("抱歉，我没太明白。")]
    await run(ActionClarify(), tracker(first[:1], sender))
    assert queue.active(sender) is None  # once is not "repeated"
    twice = [*first, fallback("就是那个", 2.0)]
    texts, _ = await run(ActionClarify(), tracker(twice, sender))
    assert texts[0].startswith(handoff.text("not_understood"))
    assert queue.active(sender).reason == "not_understood"
    # Still not understood: asked back as usual, not queued a second time.
    more = [*first, fallback("就是那个", 2.0), bot("…"), fallback("哎", 3.0)]
    dispatcher = CollectingDispatcher()
    await ActionClarify().run(dispatcher, tracker(more, sender), {})
    assert len(queue.queue()) == 1
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_rephrase"]


async def test_a_fallback_after_an_understood_turn_is_not_repeated_failure(queue):
    sender = "web-" + "0" * 32
    events = [*WAGES_TURN, fallback("嗯", 5.0)]
    await run(ActionClarify(), tracker(events, sender))
    assert queue.active(sender) is None


# --- the channels' gate ------------------------------------------------------------


def test_while_held_the_citizen_talks_to_the_operator_not_the_bot(store):
    conversation = "web-" + "1" * 32
    case, _ = queue_one(store, conversation)
    gate = handoff.before_turn(store, conversation, "还在吗")
    assert gate.to_rasa  # waiting: the bot still answers
    handoff.after_turn(store, conversation, "还在吗", gate, ["在的，工作人员马上来。"])
    store.take(case.id, "li")
    gate = handoff.before_turn(store, conversation, "仲裁要多久")
    assert not gate.to_rasa and gate.answer == []
    lines = [(m.sender, m.text) for m in store.get(case.id).messages]
    assert lines[3:] == [
        ("citizen", "还在吗"),
        ("bot", "在的，工作人员马上来。"),
        ("system", handoff.text("operator_joined")),
        ("citizen", "仲裁要多久"),
    ]


def test_danger_reaches_the_bot_even_while_an_operator_holds_it(store):
    conversation = "web-" + "2" * 32
    case, _ = queue_one(store, conversation)
    store.take(case.id, "li")
    gate = handoff.before_turn(store, conversation, "他拿着刀要砍我")
    assert gate.to_rasa  # 110 comes first, from the bot, now
    handoff.after_turn(store, conversation, "他拿着刀要砍我", gate, ["请马上拨打110"])
    lines = [(m.sender, m.text) for m in store.get(case.id).messages]
    assert lines[-2:] == [("citizen", "他拿着刀要砍我"), ("bot", "请马上拨打110")]


def test_an_operator_gone_quiet_hands_the_conversation_back_to_the_bot(store):
    conversation = "web-" + "3" * 32
    case, _ = queue_one(store, conversation)
    store.take(case.id, "li")
    idle = handoff.spec()["held_idle_minutes"]
    long_ago = handoff.now() - timedelta(minutes=idle + 1)
    with store.engine.begin() as conn:
        conn.execute(
            handoff.handoffs.update()
            .where(handoff.handoffs.c.id == case.id)
            .values(taken_at=long_ago)
        )
        conn.execute(
            handoff.handoff_messages.update()
            .where(handoff.handoff_messages.c.handoff_id == case.id)
            .values(at=long_ago)
        )
    assert store.get(case.id).status == "held"
    gate = handoff.before_turn(store, conversation, "有人吗")
    assert gate.to_rasa and gate.resumed.text == handoff.text("handed_back")
    assert store.active(conversation) is None


def test_a_recent_reply_keeps_the_operator_holding(store):
    conversation = "web-" + "4" * 32
    case, _ = queue_one(store, conversation)
    store.take(case.id, "li")
    store.reply(case.id, "li", "我在查，请稍等")
    assert not handoff.before_turn(store, conversation, "好的").to_rasa
