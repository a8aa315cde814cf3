"""Start the action server, the Rasa server and the web app; stop them all on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from bot.settings import ROOT, Settings


def _wait(url: str, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def commands(settings: Settings) -> dict[str, list[str]]:
    bin_dir = os.path.dirname(sys.executable)
    rasa = os.path.join(bin_dir, "rasa")
    return {
        "actions": [
            rasa,
            "run",
            "actions",
            "--actions",
            "actions",
            "--port",
            str(settings.action_port),
        ],
        "rasa": [
            rasa,
            "run",
            "--model",
            str(settings.latest_model()),
            "--interface",
            "127.0.0.1",
            "--port",
            str(settings.rasa_port),
            "--endpoints",
            str(settings.endpoints),
            "--credentials",
            str(settings.credentials),
            "--enable-api",
        ],
        "web": [sys.executable, "-m", "bot.web"],
    }


def serve(settings: Settings) -> int:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = {
        name: subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        for name, cmd in commands(settings).items()
    }
    ready = {
        "actions": f"http://127.0.0.1:{settings.action_port}/health",
        "rasa": f"{settings.rasa_url}/status",
        "web": f"http://{settings.web_host}:{settings.web_port}/health",
    }
    try:
        for name, url in ready.items():
            if not _wait(url, processes[name], timeout=180):
                print(f"{name} did not start; see the messages above.", file=sys.stderr)
                return 1
        print(
            f"\n  12348 智能法律服务助手已启动：http://{settings.web_host}:{settings.web_port}/\n"
            "  按 Ctrl-C 停止。\n",
            flush=True,
        )
        while all(p.poll() is None for p in processes.values()):
            time.sleep(1)
        print("a service stopped unexpectedly; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in processes.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in processes.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
