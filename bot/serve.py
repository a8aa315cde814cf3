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


def console_hint(settings: Settings) -> str:
    """How to create the first administrator, while there is none."""
    from bot.console.accounts import Accounts
    from bot.intake import IntakeStore

    store = IntakeStore(settings.database_url)
    try:
        if Accounts(store.engine).count_admins():
            return ""
    except Exception:  # the database is down: the web app says so per request
        return ""
    finally:
        store.close()
    return (
        "  还没有管理员账号。先创建第一个管理员（按提示输入两次密码）：\n"
        "    .venv/bin/python -m bot console-user add admin --role admin\n"
        "  接线员、县区中心工作人员：--role operator，或 --role centre --centre 中心代码\n"
    )


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
        base = f"http://{settings.web_host}:{settings.web_port}"
        print(
            f"\n  12348 智能法律服务助手已启动：{base}/\n"
            f"  工作人员控制台：{base}/console/\n"
            f"{console_hint(settings)}"
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
