"""The statute loader and the citation check that guards every answer."""

import pytest

from bot.laws import (
    article_request,
    check_citations,
    chinese_to_int,
    find_law,
    int_to_chinese,
    load_laws,
)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("一", 1),
        ("十", 10),
        ("十二", 12),
        ("三十一", 31),
        ("一百零五", 105),
        ("一百一十", 110),
        ("一千零七十七", 1077),
        ("一千二百六十", 1260),
        ("82", 82),
    ],
)
def test_chinese_numerals_both_ways(text, number):
    assert chinese_to_int(text) == number
    if not text.isdigit():
        assert int_to_chinese(number) == text


def test_every_shipped_statute_parses_with_articles_in_order():
    laws = load_laws()
    assert len(laws) >= 25
    for law in laws.values():
        numbers = sorted(law.articles)
        assert numbers[0] == 1, law.name
        assert numbers == list(range(1, numbers[-1] + 1)), f"gap in {law.name}"


def test_civil_code_books_form_one_law():
    civil = find_law("中华人民共和国民法典")
    assert len(civil.articles) == 1260
    assert "三十日内" in civil.articles[1077]


def test_legal_aid_law_article_31_keeps_its_items():
    article = find_law("法律援助法").articles[31]
    assert "（五）请求确认劳动关系或者支付劳动报酬" in article
    assert article.startswith("第三十一条")


def test_citation_check_accepts_real_articles_and_verbatim_quotes():
    assert (
        check_citations(
            "依据：《法律援助法》第三十一条、第四十二条；《民法典》第1077条"
        )
        == []
    )
    assert (
        check_citations("《法律援助法》第二条规定：“本法所称法律援助，是国家建立的”")
        == []
    )


def test_citation_check_rejects_missing_articles_unknown_laws_and_false_quotes():
    problems = check_citations(
        "《劳动合同法》第二百条；《治安管理处罚法》第一条；"
        "《法律援助法》第二条规定：“法律援助对所有人免费”"
    )
    assert len(problems) == 3
    assert any("第二百条" in p for p in problems)
    assert any("治安管理处罚法" in p for p in problems)
    assert any("quote" in p for p in problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("法律援助法第三十一条是什么", ("法律援助法", 31)),
        ("民法典1077条", ("民法典", 1077)),
        ("劳动合同法第82条讲的啥", ("劳动合同法", 82)),
        ("请问《中华人民共和国民法典》第一千零七十七条", ("民法典", 1077)),
        ("工伤保险条例第十四条", ("工伤保险条例", 14)),
        ("老板违反了劳动合同法吗", None),
        ("我想问下劳动法", None),
    ],
)
def test_article_requests_are_recognised_in_everyday_wording(text, expected):
    assert article_request(text) == expected
