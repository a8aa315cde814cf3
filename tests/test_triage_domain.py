"""Triage rules on Rasa parse results, independent of any trained model."""

import pytest

from bot.triage import danger, entities, normalise, triage


def parse(text, *ranking):
    ranked = [{"name": n, "confidence": c} for n, c in ranking]
    return {
        "text": text,
        "intent": ranked[0] if ranked else {},
        "intent_ranking": ranked,
    }


def test_triage_renormalises_over_categories_when_a_faq_wins():
    result = triage(
        parse("仲裁要多久", ("faq", 0.5), ("triage_labor", 0.3), ("triage_debt", 0.1))
    )
    assert result.category == "labor"
    assert result.ranking[0] == ("labor", pytest.approx(0.75))
    assert result.confidence == 0.3


def test_greetings_and_empty_text_are_not_a_legal_category():
    assert (
        triage(parse("你好", ("greet", 0.9), ("triage_labor", 0.05))).category
        == "other"
    )
    empty = triage(parse("", ("triage_labor", 0.9)))
    assert empty.category == "other" and empty.confidence == 0.0
    assert triage(parse("???", ("triage_labor", 0.9))).category == "other"
    assert triage(parse("😀😀", ("triage_debt", 0.9))).category == "other"


def test_entities_keep_the_preferred_extractor_for_each_type():
    result = entities(
        {
            "entities": [
                {
                    "entity": "money",
                    "value": "三万块",
                    "start": 3,
                    "end": 6,
                    "extractor": "DIETClassifier",
                },
                {
                    "entity": "money",
                    "value": "三万块",
                    "start": 3,
                    "end": 6,
                    "extractor": "SpacyEntityExtractor",
                },
                {
                    "entity": "county",
                    "value": "息县",
                    "start": 8,
                    "end": 10,
                    "extractor": "DIETClassifier",
                },
            ]
        }
    )
    assert result == [
        {"entity": "money", "value": "三万块", "start": 3, "end": 6},
        {"entity": "county", "value": "息县", "start": 8, "end": 10},
    ]


def test_danger_words_are_specific():
    assert danger("他拿着刀要砍我") == "violence"
    assert danger("我不想活了") == "self_harm"
    assert danger("我老公正在打我") in {"domestic", "violence"}
    assert danger("我想打官司，老板欠钱") is None
    assert danger("去年被打了一次，现在想起诉") is None


def test_normalise_makes_full_width_text_plain():
    assert normalise("  俺的电话１３８ \x00 ") == "俺的电话138"
