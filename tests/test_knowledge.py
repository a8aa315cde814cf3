"""The bureau's data: complete categories, honest contact fields, only real citations."""

import re
from pathlib import Path

import yaml

from bot import knowledge
from bot.faq import faqs
from bot.laws import CITATION, check_citations
from bot.legal_aid_form import REFERENCE
from bot.settings import ROOT

CODES = {
    "labor",
    "work_injury",
    "social_security",
    "family",
    "inheritance",
    "domestic_violence",
    "traffic",
    "medical",
    "personal_injury",
    "debt",
    "contract",
    "property",
    "land",
    "consumer",
    "neighbor",
    "criminal",
    "administrative",
    "company",
    "ip",
    "other",
}
NATIONAL_NUMBERS = {"12348", "110", "120", "12333", "12315", "12338", "12345"}
SUPERSEDED = {"河南省法律援助条例"}


def product_texts():
    """Every file a citizen's answer can come from, as (name, text)."""
    yield "domain.yml", (ROOT / "domain.yml").read_text(encoding="utf-8")
    for path in sorted((ROOT / "data").glob("**/*.yml")):
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def test_every_triage_category_has_a_route_in_the_data():
    cats = knowledge.categories()
    assert set(cats) == CODES
    for c in cats.values():
        assert c.name and len(c.steps) >= 3, c.code
        assert c.legal_aid_route in {
            "means_tested",
            "no_means_test",
            "criminal",
            "not_listed",
        }
        assert c.legal_aid_text, c.code
        if c.legal_aid_route != "not_listed":
            assert any("法律援助法" in b for b in c.legal_aid_basis), c.code


def test_every_category_has_an_nlu_intent_and_a_domain_intent():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert {f"triage_{c}" for c in CODES} <= set(domain["intents"])
    files = {p.stem for p in (ROOT / "data" / "nlu").glob("triage_*.yml")}
    assert files == {f"triage_{c}" for c in CODES}


def test_all_citations_in_responses_faqs_and_knowledge_exist_in_the_statutes():
    problems = [
        f"{name}: {p}" for name, text in product_texts() for p in check_citations(text)
    ]
    assert problems == []


def test_superseded_statutes_are_never_cited():
    cited = {m.group(1) for _, text in product_texts() for m in CITATION.finditer(text)}
    assert not cited & SUPERSEDED


def citizen_facing_texts():
    """Responses (domain and FAQ files) and knowledge files: what the bot says."""
    yield (
        "domain.yml",
        str(yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]),
    )
    for path in sorted((ROOT / "data" / "nlu").glob("faq_*.yml")):
        yield (
            path.name,
            str(yaml.safe_load(path.read_text(encoding="utf-8"))["responses"]),
        )
    for path in sorted((ROOT / "data" / "knowledge").glob("*.yml")):
        if path.name != "entity_patterns.yml":  # recognition rules, never shown
            yield path.name, path.read_text(encoding="utf-8")


def test_no_invented_phone_numbers_in_what_citizens_read():
    for name, text in citizen_facing_texts():
        text = REFERENCE.sub("", text)  # example reference numbers, XY261201-ABCD
        for number in re.findall(r"(?<![\d.])(?:0\d{2,3}-?)?\d{5,}(?![\d.])", text):
            assert number in NATIONAL_NUMBERS, f"{name}: {number}"


def test_centres_cover_the_city_and_ten_counties_with_contacts_left_to_the_bureau():
    centres = knowledge.centres()
    assert len(centres) == 11
    counties = {c["county"] for key, c in centres.items() if key != "city"}
    assert centres["city"]["name"] == "信阳市法律援助中心"
    assert counties == {
        "浉河区",
        "平桥区",
        "罗山县",
        "光山县",
        "新县",
        "商城县",
        "固始县",
        "潢川县",
        "淮滨县",
        "息县",
    }
    for c in centres.values():
        assert c["phone"] == "" and c["address"] == "" and c["hours"] == "", c["name"]


def test_faq_links_of_categories_point_to_existing_faqs():
    index = faqs()
    for c in knowledge.categories().values():
        assert set(c.faqs) <= set(index), c.code


def test_laws_folder_is_the_shipped_official_text():
    assert (ROOT / "data" / "laws" / "法律援助法(2021-08-20).md").exists()
    assert Path(ROOT / "data" / "laws" / "民法典").is_dir()
