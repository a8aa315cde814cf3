"""Start-up time to the first answer and memory per process of `python -m bot serve`.

Usage: .venv/bin/python scripts/startup.py [--turns N]
Starts the whole stack on its default ports (as `make run` does), sends one chat turn
through the web app as soon as it can, then N more, prints seconds and resident memory
(MB) per process, and stops everything with Ctrl-C's signal.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = ["老板跑了，俺三个月工钱没拿到，咋整", "离婚冷静期是多少天", "民法典1077条"]


def chat(url: str, sender: str, message: str) -> list:
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(
        f"{url}/api/chat", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    out = subprocess.run(
        ["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)],
        capture_output=True,
        text=True,
    ).stdout
    return sum(int(x) for x in out.split()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    url = "http://127.0.0.1:8000"
    started = time.monotonic()
    serve = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                chat(url, "startup-probe", MESSAGES[0])
                break
            except OSError:
                if serve.poll() is not None or time.monotonic() - started > 600:
                    sys.exit("the stack did not answer")
                time.sleep(0.5)
        first = time.monotonic() - started
        latencies = []
        for i in range(args.turns):
            t = time.monotonic()
            chat(url, f"startup-{i % 5}", MESSAGES[i % len(MESSAGES)])
            latencies.append((time.monotonic() - t) * 1000)
        children = subprocess.run(
            ["ps", "-o", "pid=,args=", "--ppid", str(serve.pid)],
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        print(f"start-up to first answer: {first:.1f} s")
        print(
            f"per-turn latency over {args.turns} turns (ms): "
            f"p50 {statistics.median(latencies):.0f}, "
            f"p95 {sorted(latencies)[int(0.95 * len(latencies)) - 1]:.0f}, "
            f"max {max(latencies):.0f}"
        )
        for line in children:
            pid, command = line.strip().split(maxsplit=1)
            name = "rasa server" if " run --model" in command else command.split()[-1]
            if "actions" in command:
                name = "action server"
            elif "bot.web" in command:
                name = "web app"
            print(f"resident memory, {name}: {rss_mb(int(pid)):.0f} MB")
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=60)


if __name__ == "__main__":
    main()
