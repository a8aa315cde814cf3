"""`python -m bot triage`: what an operator or an evaluation script gets back."""

import json
import subprocess
import sys

from bot.settings import ROOT

CLI = [sys.executable, "-m", "bot", "triage"]


def run_cli(*args, stdin=None):
    done = subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=600,
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode()


def test_one_text_is_triaged_with_category_ranking_and_entities():
    out = json.loads(run_cli("老板跑了，俺三个月工钱没拿到，咋整，在息县干的活"))
    assert out["category"] == "labor"
    assert out["category_name"] == "劳动争议"
    assert len(out["ranking"]) == 3 and out["ranking"][0]["category"] == "labor"
    found = {(e["entity"], e["value"]) for e in out["entities"]}
    assert ("duration", "三个月") in found and ("county", "息县") in found


def test_jsonl_keeps_order_and_survives_garbage():
    lines = [
        json.dumps({"text": "俺爹叫车撞了，司机跑了"}, ensure_ascii=False),
        json.dumps({"text": ""}),
        "this is not json {",
        json.dumps(["a", "list"]),
        json.dumps({"text": "\u0000\u0001😀😀😀"}),
        json.dumps(
            {"text": "借给他两万块钱，打了欠条，现在不还了"}, ensure_ascii=False
        ),
    ]
    out = [
        json.loads(line)
        for line in run_cli("--jsonl", stdin="\n".join(lines).encode()).splitlines()
    ]
    assert len(out) == len(lines)
    assert out[0]["category"] == "traffic"
    assert out[5]["category"] == "debt"
    for garbage in (out[1], out[3], out[4]):
        assert garbage["category"] == "other" and garbage["confidence"] <= 0.5
    assert set(out[0]) == {
        "text",
        "category",
        "category_name",
        "confidence",
        "ranking",
        "entities",
    }
