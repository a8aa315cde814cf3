"""Check NLU data: entity spans align with jieba tokens, no duplicates, held-out is unseen.

Usage: python scripts/check_nlu.py [files or folders ...]   (default: data/nlu tests/heldout)
Exits 1 on any problem, printing each one.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bot.nlu.segment import segment  # noqa: E402

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\((\w+)(?::[^)]*)?\)|(\{[^}]*\}))")
ENTITIES = {"county", "money", "duration", "date", "choice"}


def parse(example: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Strip Rasa markdown annotations, returning plain text and (start, end, entity)."""
    text, spans, last = "", [], 0
    for m in ANNOTATION.finditer(example):
        text += example[last : m.start()]
        entity = m.group(2) or yaml.safe_load(m.group(3)).get("entity")
        spans.append((len(text), len(text) + len(m.group(1)), entity))
        text += m.group(1)
        last = m.end()
    return text + example[last:], spans


def examples(path: Path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in doc.get("nlu", []):
        if "intent" not in item:
            continue
        for line in str(item.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                yield item["intent"], line[2:].strip()


def check(paths: list[Path]) -> list[str]:
    problems, seen = [], Counter()
    for path in paths:
        for intent, raw in examples(path):
            text, spans = parse(raw)
            seen[text] += 1
            if seen[text] == 2:
                problems.append(f"{path}: duplicate example: {text}")
            bounds = {(s, s + len(w)) for w, s in segment(text)}
            starts, ends = {b[0] for b in bounds}, {b[1] for b in bounds}
            for start, end, entity in spans:
                if entity not in ENTITIES:
                    problems.append(f"{path}: unknown entity {entity!r} in: {raw}")
                if start not in starts or end not in ends:
                    tokens = "/".join(w for w, _ in segment(text))
                    problems.append(
                        f"{path}: [{intent}] '{text[start:end]}' ({entity}) "
                        f"does not align with tokens {tokens}"
                    )
    return problems


def files(args: list[str]) -> list[Path]:
    out = []
    for arg in args:
        p = Path(arg)
        out += sorted(p.rglob("*.yml")) if p.is_dir() else [p]
    return out


if __name__ == "__main__":
    targets = files(sys.argv[1:] or ["data/nlu"])
    problems = check(targets)
    counts = Counter(i for p in targets for i, _ in examples(p))
    for intent, n in sorted(counts.items()):
        print(f"{intent:32s}{n:5d}")
    print("\n".join(problems) or "no problems")
    sys.exit(1 if problems else 0)
