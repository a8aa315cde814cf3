"""Check every 《law》第N条 citation in the given YAML/text files against data/laws.

Usage: python scripts/check_citations.py FILE...   Exits 1 and prints each wrong citation.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bot.laws import check_citations  # noqa: E402

bad = 0
for name in sys.argv[1:]:
    for number, line in enumerate(
        Path(name).read_text(encoding="utf-8").splitlines(), 1
    ):
        for problem in check_citations(line):
            print(f"{name}:{number}: {problem}")
            bad += 1
print(f"{bad} wrong citation(s)")
sys.exit(1 if bad else 0)
