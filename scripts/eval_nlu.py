"""Measure a trained model on the held-out sets and print a Markdown report.

Usage: python scripts/eval_nlu.py MODEL.tar.gz [MODEL2.tar.gz ...]
Reports triage accuracy (overall and per category), FAQ answers right, and entity
precision/recall/F1 per entity and extractor (exact span match).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actions.faq import FAQ_MIN_CONFIDENCE, best_faq  # noqa: E402
from bot.cli import Triager  # noqa: E402
from bot.triage import triage  # noqa: E402
from scripts.check_nlu import examples, parse  # noqa: E402

HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "nlu"


async def evaluate(model: Path) -> dict:
    triager = Triager(model)
    hits, totals = Counter(), Counter()
    tp, fp, fn = Counter(), Counter(), Counter()
    for intent, raw in examples(HELDOUT / "heldout_triage.yml"):
        text, spans = parse(raw)
        result = await triager.parse(text)
        if intent.startswith("triage_"):
            totals[intent] += 1
            hits[intent] += f"triage_{triage(result).category}" == intent
        gold = {(s, e, ent) for s, e, ent in spans}
        for extractor in ("DIETClassifier", "SpacyEntityExtractor"):
            found = {
                (x["start"], x["end"], x["entity"])
                for x in result.get("entities", [])
                if x.get("extractor") == extractor
            }
            for s, e, ent in found:
                (tp if (s, e, ent) in gold else fp)[(ent, extractor)] += 1
            for _s, _e, ent in gold - found:
                fn[(ent, extractor)] += 1
    faq_right = faq_total = 0
    for intent, text in examples(HELDOUT / "heldout_faq.yml"):
        best = best_faq(await triager.parse(text))
        faq_total += 1
        faq_right += bool(best and best[0] == intent and best[1] >= FAQ_MIN_CONFIDENCE)
    return {
        "accuracy": sum(hits.values()) / sum(totals.values()),
        "per_category": {i: hits[i] / totals[i] for i in sorted(totals)},
        "faq": faq_right / max(faq_total, 1),
        "entities": {
            key: (
                tp[key] / max(tp[key] + fp[key], 1),
                tp[key] / max(tp[key] + fn[key], 1),
            )
            for key in sorted(set(tp) | set(fn))
        },
    }


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def main(paths: list[str]) -> None:
    logging.disable(logging.WARNING)
    for path in paths:
        r = asyncio.run(evaluate(Path(path)))
        print(f"\n### {Path(path).name}\n")
        print(f"- held-out triage accuracy: **{r['accuracy']:.1%}**")
        print(f"- held-out FAQ answered right: **{r['faq']:.1%}**\n")
        print("| category | accuracy |\n|---|---|")
        for intent, acc in r["per_category"].items():
            print(f"| {intent.removeprefix('triage_')} | {acc:.0%} |")
        print(
            "\n| entity | extractor | precision | recall | F1 |\n|---|---|---|---|---|"
        )
        for (entity, extractor), (p, rec) in r["entities"].items():
            print(
                f"| {entity} | {extractor} | {p:.2f} | {rec:.2f} | {f1(p, rec):.2f} |"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
