"""Build the rule-based spaCy pipeline (jieba segmenter + entity_ruler) from project data.

Rasa's SpacyNLP loads it by path; the folder is not packed into the Rasa model, so it is
rebuilt before every training and its path carries a version (see docs/nlu-evaluation.md).
Run: python -m bot.nlu.spacy_rules [output_dir]
"""

from __future__ import annotations

import sys
from pathlib import Path

import spacy
import yaml

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "data" / "knowledge"
DEFAULT_OUT = ROOT / "var" / "spacy" / "zh_xinyang_v1"


def _expand(node, num: str):
    """Replace the NUM placeholder inside regex strings of a token pattern."""
    if isinstance(node, dict):
        return {k: _expand(v, num) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, num) for v in node]
    return node.replace("NUM", num) if isinstance(node, str) else node


def ruler_patterns(knowledge: Path = KNOWLEDGE) -> list[dict]:
    spec = yaml.safe_load(
        (knowledge / "entity_patterns.yml").read_text(encoding="utf-8")
    )
    centres = yaml.safe_load((knowledge / "centres.yml").read_text(encoding="utf-8"))
    patterns = [
        {"label": label, "pattern": _expand(tokens, spec["num"])}
        for label, token_lists in spec["patterns"].items()
        for tokens in token_lists
    ]
    for centre in centres["centres"].values():
        if centre.get("county"):
            for name in {centre["county"], *centre.get("aliases", [])}:
                patterns.append(
                    {"label": "county", "pattern": name, "id": centre["county"]}
                )
    return patterns


def build(
    out: Path = DEFAULT_OUT, knowledge: Path = KNOWLEDGE
) -> spacy.language.Language:
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True})
    ruler.add_patterns(ruler_patterns(knowledge))
    out.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    return nlp


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    build(target)
    print(f"spaCy entity rules written to {target}")
