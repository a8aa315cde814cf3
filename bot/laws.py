"""Statute texts shipped in data/laws: parse them, look up articles, check citations.

Plain Python, no Rasa imports: the action server, the web API and the tests share it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LAWS_DIR = Path(__file__).resolve().parents[1] / "data" / "laws"

_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2, "〇": 0}
_UNITS = {"十": 10, "百": 100, "千": 1000}
NUMERAL = "零〇一二两三四五六七八九十百千"

ARTICLE_LINE = re.compile(
    rf"^第([{NUMERAL}]+)\s*条\s*(.*)$"
)  # one source has "第一百二十八 条"
# 《劳动合同法》第八十二条、第八十七条 / 《民法典》第1077条
CITATION = re.compile(
    rf"《([^》]+)》((?:第[{NUMERAL}0-9]+条(?:第[{NUMERAL}]+款)?[、，和及]?)+)"
)
ARTICLE_REF = re.compile(rf"第([{NUMERAL}0-9]+)条")
# 《法律援助法》第四十二条规定：“……”  — words presented as the statute's own
QUOTED = re.compile(
    rf"《([^》]+)》第([{NUMERAL}0-9]+)条(?:第[{NUMERAL}]+款)?规定[：:，,]?“([^”]+)”"
)


def chinese_to_int(text: str) -> int:
    """'一千零七十七' -> 1077, '三十一' -> 31, '82' -> 82."""
    if text.isdigit():
        return int(text)
    total, digit = 0, 0
    for char in text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _UNITS:
            total += (digit or 1) * _UNITS[char]
            digit = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text}")
    return total + digit


def int_to_chinese(number: int) -> str:
    """1077 -> '一千零七十七', 31 -> '三十一', 10 -> '十'."""
    digits = "零一二三四五六七八九"
    if number == 0:
        return "零"
    parts, zero = [], False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, number = divmod(number, value)
        if d:
            if zero:
                parts.append("零")
            parts.append(
                ("" if d == 1 and unit == "十" and not parts else digits[d]) + unit
            )
            zero = False
        elif parts:
            zero = True
    return "".join(parts)


@dataclass(frozen=True)
class Law:
    name: str  # short name used in citations, e.g. 劳动合同法
    title: str  # full title from the file, e.g. 中华人民共和国劳动合同法
    source: str  # file name(s), with the version date
    articles: dict[int, str]

    def citation(self, number: int) -> str:
        return f"《{self.name}》第{int_to_chinese(number)}条"


def _parse_articles(text: str) -> dict[int, str]:
    articles: dict[int, str] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        match = ARTICLE_LINE.match(line)
        if match:
            current = chinese_to_int(match.group(1))
            articles[current] = f"第{match.group(1)}条 {match.group(2)}".rstrip()
        elif line.startswith("#") or line.startswith("<!--"):
            current = None
        elif line and current is not None:
            articles[current] += "\n" + line
    return articles


@lru_cache(maxsize=2)
def load_laws(laws_dir: Path = LAWS_DIR) -> dict[str, Law]:
    laws: dict[str, Law] = {}
    for path in sorted(laws_dir.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        name = path.stem.split("(")[0]
        title = text.splitlines()[0].lstrip("# ").strip()
        laws[name] = Law(name, title, path.name, _parse_articles(text))
    for book_dir in sorted(p for p in laws_dir.iterdir() if p.is_dir()):
        articles: dict[int, str] = {}
        for path in sorted(book_dir.glob("*.md")):
            articles |= _parse_articles(path.read_text(encoding="utf-8"))
        name = book_dir.name
        laws[name] = Law(name, f"中华人民共和国{name}", f"{name}/", articles)
    return laws


def find_law(name: str, laws: dict[str, Law] | None = None) -> Law | None:
    """Accept short or full names, with or without 《》: 劳动合同法,
    《中华人民共和国劳动合同法》; 法援法 is not guessed."""
    laws = load_laws() if laws is None else laws
    name = name.strip().removeprefix("《").removesuffix("》").strip()
    return laws.get(name.removeprefix("中华人民共和国"))


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_citations(text: str, laws: dict[str, Law] | None = None) -> list[str]:
    """Return the problems with every 《law》第N条 citation in text (empty = all valid)."""
    laws = load_laws() if laws is None else laws
    problems = []
    for match in CITATION.finditer(text):
        law = find_law(match.group(1), laws)
        if law is None:
            problems.append(f"unknown law 《{match.group(1)}》")
            continue
        for ref in ARTICLE_REF.finditer(match.group(2)):
            if chinese_to_int(ref.group(1)) not in law.articles:
                problems.append(f"《{law.name}》has no article 第{ref.group(1)}条")
    for match in QUOTED.finditer(text):
        law = find_law(match.group(1), laws)
        article = law.articles.get(chinese_to_int(match.group(2)), "") if law else ""
        if _normalise(match.group(3)) not in _normalise(article):
            problems.append(
                f"quote not in 《{match.group(1)}》第{match.group(2)}条: {match.group(3)}"
            )
    return problems


ARTICLE_NUMBER = re.compile(rf"第?\s*([{NUMERAL}0-9]+)\s*条?")


def article_number(text: str) -> int | None:
    """'31', '三十一', '第三十一条', '第 31 条', '３１' -> 31; anything else -> None."""
    match = ARTICLE_NUMBER.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if not match:
        return None
    try:
        return chinese_to_int(match.group(1))
    except ValueError:  # digits and numerals mixed, e.g. 3十
        return None


# 法律援助法第三十一条 / 民法典1077条 / 劳动合同法第82条讲的啥
ARTICLE_REQUEST = re.compile(
    rf"《?([\u4e00-\u9fff]{{1,20}}?(?:法典|法|条例))》?\s*第?\s*([{NUMERAL}0-9]+)\s*条"
)
ASKING = re.compile(r"^(?:请问|我?想问(?:问|一?下)?|问一?下|查一?下|查查|看看|帮我查)")


def article_request(text: str) -> tuple[str, int] | None:
    """The (law name as written, article number) a citizen asks for, if any."""
    match = ARTICLE_REQUEST.search(text)
    if not match:
        return None
    name = ASKING.sub("", match.group(1)).removeprefix("中华人民共和国")
    return name, chinese_to_int(match.group(2))


def nearest_articles(law: Law, number: int, count: int = 3) -> list[int]:
    """Valid article numbers closest to a missing one, for "没有找到这一条" answers."""
    return sorted(sorted(law.articles, key=lambda n: abs(n - number))[:count])
