"""Round-trip latency of the WeChat channel: a signed push from the simulator of
WeChat's servers to the passive reply, through a real Rasa and action server.

Usage: .venv/bin/python scripts/bench_wechat.py [--turns N] [--safe]
Uses the test simulator (tests/wechat_sim.py) and ports 5355/5305.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import Stack  # noqa: E402
from wechat_sim import WeChatSim  # noqa: E402

MESSAGES = ["老板跑了，俺三个月工钱没拿到，咋整", "离婚冷静期是多少天", "你好"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--safe", action="store_true", help="AES safe mode")
    args = parser.parse_args()
    rasa = "http://127.0.0.1:5305"
    sim = WeChatSim(webhook=f"{rasa}/webhooks/wechat/webhook").start()
    stack = Stack(
        Path(tempfile.mkdtemp()),
        action_port=5355,
        rasa_port=5305,
        env=sim.account.env(sim.api_base),
    )
    try:
        stack.start("actions")
        stack.start("rasa")
        sim.post(sim.text("o" + uuid.uuid4().hex[:27], "你好"), timeout=60)  # warm-up
        latencies, passive = [], 0
        for i in range(args.turns):
            push = sim.text("o" + uuid.uuid4().hex[:27], MESSAGES[i % len(MESSAGES)])
            started = time.monotonic()
            attempt = sim.post(push, safe=args.safe)
            latencies.append((time.monotonic() - started) * 1000)
            passive += attempt.reply is not None
        latencies.sort()
        mode = "safe (AES)" if args.safe else "plain"
        print(
            f"WeChat round trip, {mode} mode, {args.turns} turns (ms): "
            f"p50 {statistics.median(latencies):.0f}, "
            f"p95 {latencies[int(0.95 * len(latencies)) - 1]:.0f}, "
            f"max {latencies[-1]:.0f}; answered passively: {passive}/{args.turns}"
        )
    finally:
        stack.stop_all()
        sim.stop()


if __name__ == "__main__":
    main()
