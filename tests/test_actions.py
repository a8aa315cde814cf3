"""Actions as the citizen sees them: what the assistant says after each kind of turn."""

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.triage import ActionClarify, ActionEmergency, ActionListFaqs, ActionTriage
from bot import knowledge
from bot.faq import faqs


def tracker(text, ranking, slots=None):
    ranked = [{"name": n, "confidence": c} for n, c in ranking]
    message = {
        "text": text,
        "intent": ranked[0],
        "intent_ranking": ranked,
        "entities": [],
    }
    return Tracker(
        "test-user", slots or {}, message, [], False, None, {}, "action_listen"
    )


async def run(action, t):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


async def test_wage_arrears_gets_category_steps_deadline_and_legal_aid():
    t = tracker(
        "老板跑了，俺三个月工钱没拿到，咋整",
        [("triage_labor", 0.9), ("triage_debt", 0.05)],
    )
    messages, events = await run(ActionTriage(), t)
    responses = [m["response"] for m in messages]
    assert responses[0] == "utter_triage_steps"
    assert messages[0]["category_name"] == knowledge.categories()["labor"].name
    assert "1. " in messages[0]["steps"]
    assert "utter_triage_deadlines" in responses
    assert (
        "劳动争议调解仲裁法"
        in messages[responses.index("utter_triage_deadlines")]["deadlines"]
    )
    last = messages[-1]
    assert "法律援助法" in last["basis"]
    assert events == [
        {"event": "slot", "timestamp": None, "name": "category", "value": "labor"}
    ]


@pytest.mark.parametrize("code", sorted(knowledge.categories()))
async def test_every_category_is_answered_from_its_data(code):
    messages, _ = await run(ActionTriage(), tracker("x", [(f"triage_{code}", 0.95)]))
    assert messages[0]["category_name"] == knowledge.categories()[code].name
    assert messages[-1]["response"] in {"utter_triage_next", "utter_triage_next_12348"}


async def test_two_close_categories_are_asked_back_not_guessed():
    t = tracker(
        "撞了人又欠钱",
        [("triage_traffic", 0.46), ("triage_debt", 0.42), ("triage_labor", 0.1)],
    )
    messages, events = await run(ActionTriage(), t)
    assert messages[0]["response"] == "utter_clarify"
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        "/triage_traffic",
        "/triage_debt",
        "/triage_labor",
    ]
    assert events == []


async def test_a_button_press_is_answered_even_if_scores_were_close():
    t = tracker("/triage_debt", [("triage_debt", 1.0)])
    messages, _ = await run(ActionTriage(), t)
    assert messages[0]["response"] == "utter_triage_steps"


async def test_low_confidence_offers_the_likely_categories_as_buttons():
    t = tracker(
        "那个事咋弄",
        [("nlu_fallback", 0.35), ("triage_land", 0.3), ("triage_neighbor", 0.25)],
    )
    messages, _ = await run(ActionClarify(), t)
    assert messages[0]["response"] == "utter_clarify"
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert titles[:2] == [
        knowledge.categories()["land"].name,
        knowledge.categories()["neighbor"].name,
    ]


async def test_no_legal_signal_asks_to_rephrase():
    t = tracker(
        "嗯嗯", [("nlu_fallback", 0.3), ("affirm", 0.28), ("triage_labor", 0.01)]
    )
    messages, _ = await run(ActionClarify(), t)
    assert messages[0]["response"] == "utter_ask_rephrase"


@pytest.mark.parametrize(
    ("text", "response"),
    [
        ("我老公正在打我", "utter_emergency_domestic"),
        ("我不想活了", "utter_emergency_self_harm"),
        ("他拿着刀要砍我", "utter_emergency_violence"),
    ],
)
async def test_emergencies_get_the_right_numbers_first(text, response):
    messages, _ = await run(ActionEmergency(), tracker(text, [("emergency", 1.0)]))
    assert messages[0]["response"] == response


async def test_common_questions_of_the_current_category_are_offered():
    code = next(c.code for c in knowledge.categories().values() if c.faqs)
    t = tracker("/ask_category_faq", [("ask_category_faq", 1.0)], {"category": code})
    messages, _ = await run(ActionListFaqs(), t)
    assert messages[0]["response"] == "utter_faq_list"
    questions = {f.question for f in faqs().values()}
    assert messages[0]["buttons"] and all(
        b["payload"] in questions for b in messages[0]["buttons"]
    )


async def test_danger_with_a_clear_problem_gets_safety_first_then_next_steps():
    t = tracker(
        "老公打我，天天打，我想离婚",
        [("emergency", 1.0), ("triage_domestic_violence", 0.7)],
    )
    messages, events = await run(ActionEmergency(), t)
    assert messages[0]["response"] == "utter_emergency_domestic"
    assert (
        messages[1]["category_name"] == knowledge.categories()["domestic_violence"].name
    )
    assert events[-1]["value"] == "domestic_violence"


async def test_article_lookup_returns_the_official_text():
    from actions.laws import ActionLookupArticle

    messages, _ = await run(
        ActionLookupArticle(), tracker("民法典1077条", [("ask_article", 1.0)])
    )
    assert messages[0]["response"] == "utter_article"
    assert messages[0]["text"].startswith(
        "第一千零七十七条 自婚姻登记机关收到离婚登记申请之日起三十日内"
    )


async def test_missing_article_says_not_found_with_the_nearest_ones():
    from actions.laws import ActionLookupArticle

    messages, _ = await run(
        ActionLookupArticle(), tracker("法律援助法第99条", [("ask_article", 1.0)])
    )
    assert messages[0]["response"] == "utter_article_not_found"
    assert messages[0]["count"] == 71 and "第七十一条" in messages[0]["nearest"]


async def test_unknown_or_repealed_law_is_named_honestly():
    from actions.laws import ActionLookupArticle

    messages, _ = await run(
        ActionLookupArticle(), tracker("婚姻法第32条", [("ask_article", 1.0)])
    )
    assert messages[0]["response"] == "utter_law_not_found"
    assert messages[0]["law"] == "婚姻法" and "《民法典》" in messages[0]["known"]
