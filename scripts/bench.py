"""`make bench`: per-turn latency, throughput, memory and start-up on this machine.

Usage: .venv/bin/python scripts/bench.py [--conversations 8] [--turns 10]
           [--configs floor,embedded,production] [--servers 2] [--no-write]
           [--url http://127.0.0.1:5005,...] [--py-spy PATH] [--stock-tracker-store]

Starts each configuration on its own ports (base XY_BENCH_PORT, default 5600), drives
bounded loopback load against Rasa's REST channel (N conversations at once, each M
turns one after the other, no think time), prints the numbers and writes them into
docs/benchmarks.md between the `bench:start` / `bench:end` markers (the analysis
around them is kept). Configurations:

- floor: a minimal model (scripts/bench_floor: six intents, rules, no custom
  actions) trained with the project's config.yml; what Rasa itself costs here.
  Trained once into var/bench/ and reused while config.yml and its data are unchanged.
- embedded: the default profile (SQLite tracker store, in-process lock store), the
  action server and the web app; one turn is also taken apart (NLU, actions, DB).
- production: deploy/endpoints.production.yml on a scratch PostgreSQL database and
  Redis prefix (scripts/production.py), first one Rasa server, then two behind a
  per-turn round robin (no stickiness: the worst case for shared state).

--url drives already running Rasa servers (a stack started with `make run`, say)
and starts nothing. --py-spy samples the Rasa server's stacks during each load
(py-spy is not a project dependency: `pip install --target /tmp/pyspy py-spy`).

This is a benchmark, not a test: it prints what it measured and never fails on a
number. The model must exist (`make train`); the script never trains it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.settings import ROOT, Settings  # noqa: E402

FLOOR_DIR = ROOT / "scripts" / "bench_floor"
BENCH_DIR = ROOT / "var" / "bench"
PROJECT_STORE = "bot.tracker_store.PrivateSQLTrackerStore"
STORES = {False: "the project's (write-ahead log)", True: "Rasa's (rollback journal)"}
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"
BASE_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}


# --- what the simulated citizens say -----------------------------------------


@dataclass(frozen=True)
class Step:
    kind: str  # triage / faq / law / form / basic: for the per-kind latency
    text: str = ""  # typed text ...
    button: str = ""  # ... or the title of a button offered in the last answer
    choice: str = ""  # ... or the value of a /choose button in the last answer
    expect: str = ""  # a piece of the answer that shows it understood


# A citizen without consent to store personal data goes through the legal-aid
# pre-check (no record, no name), then asks about other things. The form comes
# first: after a triage the form would confirm that category instead of asking.
OURS = [
    Step("form", "我要申请法律援助", expect="个人信息"),
    Step("form", button="不同意", expect="哪一类"),
    Step("form", choice="domestic_violence", expect="期限"),
    Step("form", button="还有时间"),
    Step("form", button="还没找任何部门"),
    Step("form", "罗山县", expect="没有生成受理编号"),
    Step("triage", "老板跑了，俺三个月工钱没拿到，咋整", expect="劳动争议"),
    Step("faq", "离婚冷静期是多少天", expect="依据"),
    Step("law", "民法典1077条", expect="第一千零七十七条"),
    Step("faq", "农民工工资被拖欠了找谁", expect="依据"),
    Step("triage", "邻居家装修天天吵，跟他说也不听"),
    Step("basic", "谢谢"),
]
OURS_AGAIN = 6  # turns past the end repeat from here (the stateless questions)
FLOOR = [
    Step("basic", "你好", expect="请说"),
    Step("faq", "离婚冷静期是多少天", expect="最小模型"),
    Step("basic", "好的", expect="好的"),
    Step("faq", "农民工工资被拖欠了找谁", expect="最小模型"),
    Step("basic", "谢谢", expect="不客气"),
    Step("basic", "不用了"),
    Step("faq", "协议离婚要等多久", expect="最小模型"),
    Step("basic", "再见", expect="再见"),
]


def step_at(script: list[Step], again: int, i: int) -> Step:
    if i < len(script):
        return script[i]
    return script[again + (i - len(script)) % (len(script) - again)]


# --- processes ---------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True
    ).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_mb(pid: int) -> float:
    total = 0
    for p in descendants(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children that are alive."""
    ticks = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Service:
    """One server process: started, polled for memory, stopped with its children."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path):
        self.name, self.cmd, self.env, self.log = name, cmd, env, log
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.peak_mb = 0.0

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.cmd,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()

    def sample(self) -> None:
        if self.process and self.process.poll() is None:
            self.peak_mb = max(self.peak_mb, rss_mb(self.process.pid))

    def cpu(self) -> float:
        if self.process and self.process.poll() is None:
            return cpu_seconds(self.process.pid)
        return 0.0

    def stop(self) -> None:
        if not self.process or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Sampler:
    """Peak resident memory of every running service, twice a second."""

    def __init__(self) -> None:
        self.services: list[Service] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for service in list(self.services):
                service.sample()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def wait_http(url: str, service: Service, timeout: float = 600) -> float:
    """Seconds from the service's start until `url` answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited; see {service.log}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return time.monotonic() - service.started
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"{service.name} did not answer at {url}")


def first_answer(rasa_url: str, service: Service, timeout: float = 600) -> float:
    """Seconds from the service's start to its first chat answer."""
    deadline = time.monotonic() + timeout
    body = json.dumps({"sender": f"probe-{uuid.uuid4().hex}", "message": "你好"})
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited; see {service.log}")
        request = urllib.request.Request(
            f"{rasa_url}/webhooks/rest/webhook",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                if json.loads(response.read()):
                    return time.monotonic() - service.started
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{service.name} gave no answer")


# --- load ----------------------------------------------------------------------


@dataclass
class Load:
    label: str
    servers: int
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (kind, ms)
    errors: int = 0  # HTTP errors, timeouts, empty answers
    unexpected: int = 0  # answered, but not what the script expected
    seconds: float = 0.0
    memory: dict[str, float] = field(default_factory=dict)  # process -> peak MB
    startup: dict[str, float] = field(default_factory=dict)  # process -> seconds
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cpu_ms_per_turn: dict[str, float] = field(default_factory=dict)

    def percentile(self, p: float, kind: str | None = None) -> float:
        values = sorted(ms for k, ms in self.latencies if kind in (None, k))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def buttons_of(replies: list[dict]) -> dict[str, str]:
    return {b["title"]: b["payload"] for r in replies for b in r.get("buttons", [])}


def message_for(step: Step, replies: list[dict]) -> tuple[str, bool]:
    """What to send for this step, and whether the last answer offered it."""
    if step.button:
        payload = buttons_of(replies).get(step.button)
        return (payload, True) if payload else (step.button, False)
    if step.choice:
        for payload in buttons_of(replies).values():
            if payload.startswith("/choose") and step.choice in payload:
                return payload, True
        return step.choice, False
    return step.text, True


async def converse(
    http: aiohttp.ClientSession,
    urls: list[str],
    index: int,
    turns: int,
    script: list[Step],
    again: int,
    load: Load,
) -> None:
    sender = f"bench-{uuid.uuid4().hex}"
    replies: list[dict] = []
    for turn in range(turns):
        step = step_at(script, again, turn)
        message, offered = message_for(step, replies)
        url = urls[(index + turn) % len(urls)]
        started = time.perf_counter()
        try:
            async with http.post(
                f"{url}/webhooks/rest/webhook",
                json={"sender": sender, "message": message},
                timeout=aiohttp.ClientTimeout(total=120),
            ) as response:
                replies = await response.json() if response.status == 200 else []
        except (aiohttp.ClientError, asyncio.TimeoutError):
            replies = []
        load.latencies.append((step.kind, (time.perf_counter() - started) * 1000))
        text = "\n".join(r.get("text") or "" for r in replies)
        if not replies:
            load.errors += 1
        elif not offered or (step.expect and step.expect not in text):
            load.unexpected += 1


async def drive(
    urls: list[str],
    conversations: int,
    turns: int,
    script: list[Step],
    again: int,
    load: Load,
) -> None:
    connector = aiohttp.TCPConnector(limit=conversations * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                converse(http, urls, i, turns, script, again, load)
                for i in range(conversations)
            )
        )
        load.seconds = time.perf_counter() - started
    load.load_average = os.getloadavg()


# --- one turn taken apart ------------------------------------------------------


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed(coro_factory, repeats: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = await coro_factory()
        samples.append(time.perf_counter() - started)
    return median_ms(samples), result


async def profile_turn(
    rasa_url: str,
    action_url: str | None,
    web_url: str | None,
    tracker_db: Path | None,
    message: str,
    repeats: int = 7,
) -> dict[str, object]:
    """Median times of the parts of one turn, each measured on its own."""
    out: dict[str, object] = {"message": message}
    async with aiohttp.ClientSession() as http:

        async def post(url: str, payload: dict) -> object:
            async with http.post(url, json=payload) as response:
                response.raise_for_status()
                return await response.json()

        async def get(url: str, **headers) -> object:
            async with http.get(url, headers=headers) as response:
                response.raise_for_status()
                return await response.json()

        senders = iter([f"profile-{uuid.uuid4().hex}" for _ in range(repeats)])
        out["turn"], _ = await timed(
            lambda: post(
                f"{rasa_url}/webhooks/rest/webhook",
                {"sender": next(senders), "message": message},
            ),
            repeats,
        )
        out["parse"], _ = await timed(
            lambda: post(f"{rasa_url}/model/parse", {"text": message}), repeats
        )
        sender = f"profile-{uuid.uuid4().hex}"
        await post(
            f"{rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": message}
        )
        out["tracker_read"], tracker = await timed(
            lambda: get(f"{rasa_url}/conversations/{sender}/tracker"), repeats
        )
        if web_url:
            web_senders = iter([f"profile-{uuid.uuid4().hex}" for _ in range(repeats)])
            out["web_turn"], _ = await timed(
                lambda: post(
                    f"{web_url}/api/chat",
                    {"sender": next(web_senders), "message": message},
                ),
                repeats,
            )
        if tracker_db:
            out["db_query"] = sqlite_read_ms(tracker_db, sender, repeats)
        if action_url:
            domain = await get(f"{rasa_url}/domain", Accept="application/json")
            custom = set(domain.get("actions", [])) - set(domain.get("responses", {}))
            last_user = max(
                i for i, e in enumerate(tracker["events"]) if e["event"] == "user"
            )
            ran = [
                e["name"]
                for e in tracker["events"][last_user:]
                if e["event"] == "action" and e["name"] in custom
            ]
            actions, body = {}, {}
            for name in ran:
                body = {
                    "next_action": name,
                    "sender_id": sender,
                    "tracker": tracker,
                    "domain": domain,
                    "version": "3.6.21",
                }
                actions[name], _ = await timed(
                    lambda body=body: post(action_url, body), repeats
                )
            out["actions"] = actions
            if body:
                out["payload_kb"] = len(json.dumps(body, ensure_ascii=False)) / 1024
    return out


def sqlite_read_ms(db: Path, sender: str, repeats: int) -> float:
    import sqlite3

    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)
            ).fetchall()
            [json.loads(r[0]) for r in rows]
        samples.append(time.perf_counter() - started)
    return median_ms(samples)


# Where a sampled stack of the Rasa server spends its time: the first bucket with a
# frame in the stack wins, so the order matters (every stack runs under the HTTP
# server; building an action request serialises the domain).
BUCKETS = [
    ("tracker store: load/save, event replay", ("tracker_store.py",)),
    ("lock store", ("lock_store.py",)),
    ("action server call (request building)", ("core/actions/action.py",)),
    ("NLU", ("rasa/nlu/", "bot/nlu/", "spacy/", "jieba/")),
    ("policies", ("core/policies/", "core/featurizers/")),
    ("domain / tracker state", ("shared/core/domain.py", "shared/core/trackers.py")),
    ("HTTP server and channel", ("sanic/", "core/channels/")),
]


ACTION_BUCKETS = [
    ("database (intake store, dashboard facts)", ("sqlalchemy/", "bot/intake.py")),
    ("project actions and domain code", ("/actions/", "/bot/")),
    ("rasa-sdk: request, tracker and domain parsing", ("rasa_sdk/",)),
    ("HTTP server", ("sanic/",)),
]


def spy_buckets(raw: Path, buckets: list) -> dict[str, float]:
    """Share of the samples per bucket, from py-spy's raw (collapsed) output."""
    counts: dict[str, int] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        bucket = next(
            (b for b, marks in buckets if any(m in stack for m in marks)), "other"
        )
        counts[bucket] = counts.get(bucket, 0) + int(count)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


# --- the floor model -------------------------------------------------------------


def floor_fingerprint() -> str:
    digest = hashlib.sha256()
    inputs = [ROOT / "config.yml", *sorted(FLOOR_DIR.rglob("*.yml"))]
    inputs += sorted((ROOT / "bot" / "nlu").glob("*.py"))
    for path in inputs:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def floor_model() -> tuple[Path, float, bool]:
    """The floor model, its training seconds, and whether it was trained just now."""
    fingerprint = floor_fingerprint()
    model = BENCH_DIR / f"floor-{fingerprint}.tar.gz"
    record = BENCH_DIR / f"floor-{fingerprint}.json"
    if model.exists() and record.exists():
        return model, json.loads(record.read_text())["train_seconds"], False
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    rasa = Path(sys.executable).parent / "rasa"
    print("training the floor model (once per config.yml) ...", flush=True)
    with tempfile.TemporaryDirectory() as cache:
        started = time.monotonic()
        subprocess.run(
            [
                str(rasa),
                "train",
                "--config",
                "config.yml",
                "--domain",
                str(FLOOR_DIR / "domain.yml"),
                "--data",
                str(FLOOR_DIR / "data"),
                "--out",
                str(BENCH_DIR),
                "--fixed-model-name",
                f"floor-{fingerprint}",
                "--quiet",
            ],
            cwd=ROOT,
            # Its own training cache: never touch the project's .rasa cache.
            env={**os.environ, **BASE_ENV, "RASA_CACHE_DIRECTORY": cache},
            check=True,
        )
        seconds = time.monotonic() - started
    record.write_text(json.dumps({"train_seconds": round(seconds, 1)}))
    return model, seconds, True


# --- configurations -----------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, sampler: Sampler):
        self.args, self.workdir, self.sampler = args, workdir, sampler
        self.base = int(os.environ.get("XY_BENCH_PORT", "5600"))
        self.python = sys.executable
        self.rasa = str(Path(sys.executable).parent / "rasa")
        self.spy_outputs: dict[tuple[str, str], Path] = {}
        # The SQLite profiles' tracker store; Rasa's own one (rollback journal) is
        # the "before" of the write-ahead-log change in docs/benchmarks.md.
        self.store = "SQL" if args.stock_tracker_store else PROJECT_STORE

    def settings(self, env: dict[str, str]) -> Settings:
        return Settings.from_env(env)

    def service(self, name: str, cmd: list[str], env: dict[str, str]) -> Service:
        service = Service(name, cmd, env, self.workdir / f"{name}.log")
        service.start()
        self.sampler.services.append(service)
        return service

    def rasa_server(
        self, name: str, model: Path, port: int, endpoints: Path, env: dict
    ) -> Service:
        return self.service(
            name,
            [
                self.rasa,
                "run",
                "--model",
                str(model),
                "--interface",
                "127.0.0.1",
                "--port",
                str(port),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(ROOT / "credentials.yml"),
                "--enable-api",
            ],
            env,
        )

    def run_load(
        self, label: str, urls: list[str], script: list[Step], again: int
    ) -> Load:
        load = Load(label, len(urls))
        print(f"{label}: {self.args.conversations} x {self.args.turns} ...", flush=True)
        running = [s for s in self.sampler.services if s.cpu()]
        before = {s.name: s.cpu() for s in running}
        spies = self.py_spy(label, running)
        asyncio.run(
            drive(urls, self.args.conversations, self.args.turns, script, again, load)
        )
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
            spy.wait(timeout=60)
        turns = max(1, len(load.latencies))
        load.cpu_ms_per_turn = {
            s.name: (s.cpu() - before[s.name]) * 1000 / turns for s in running
        }
        return load

    def py_spy(self, label: str, services: list[Service]) -> list[subprocess.Popen]:
        """Sample the first Rasa server's and the action server's stacks, if asked."""
        if not self.args.py_spy:
            return []
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        spies = []
        for kind in ("rasa server", "action server"):
            service = next((s for s in services if s.name.startswith(kind)), None)
            if not service:
                continue
            out = BENCH_DIR / f"py-spy-{label}-{kind}.txt".replace(" ", "-")
            self.spy_outputs[(label, kind)] = out
            spies.append(
                subprocess.Popen(
                    [self.args.py_spy, "record", "--pid", str(service.process.pid)]
                    + ["--rate", "50", "--format", "raw", "--output", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(1)  # attached before the first turn
        return spies

    def floor(self) -> tuple[Load, dict]:
        model, train_seconds, trained = floor_model()
        port = self.base + 10
        endpoints = self.workdir / "floor-endpoints.yml"
        endpoints.write_text(
            f"tracker_store:\n  type: {self.store}\n  dialect: sqlite\n"
            f"  db: {self.workdir / 'floor-tracker.db'}\n"
        )
        env = {**os.environ, **BASE_ENV}
        server = self.rasa_server("rasa server (floor)", model, port, endpoints, env)
        try:
            url = f"http://127.0.0.1:{port}"
            startup = first_answer(url, server)
            load = self.run_load("floor", [url], FLOOR, 0)
            load.startup = {"rasa server": startup}
            profile = asyncio.run(
                profile_turn(url, None, None, None, "离婚冷静期是多少天")
            )
        finally:
            server.stop()
        load.memory = {"rasa server": server.peak_mb}
        facts = {"train_seconds": train_seconds, "trained_now": trained}
        return load, {**profile, **facts}

    def embedded(self) -> tuple[Load, dict]:
        port = self.base + 20
        var = self.workdir / "embedded"
        var.mkdir()
        env = {
            **os.environ,
            **BASE_ENV,
            "XY_VAR_DIR": str(var),
            "XY_RASA_PORT": str(port),
            "XY_ACTION_PORT": str(port + 1),
            "XY_WEB_PORT": str(port + 2),
        }
        endpoints = var / "endpoints.yml"
        endpoints.write_text(
            (ROOT / "endpoints.yml")
            .read_text(encoding="utf-8")
            .replace("127.0.0.1:5055", f"127.0.0.1:{port + 1}")
            .replace("db: var/tracker.db", f"db: {var / 'tracker.db'}")
            .replace(f"type: {PROJECT_STORE}", f"type: {self.store}"),
            encoding="utf-8",
        )
        env["XY_ENDPOINTS"] = str(endpoints)
        settings = self.settings(env)
        actions = self.service(
            "action server",
            [
                self.rasa,
                "run",
                "actions",
                "--actions",
                "actions",
                "--port",
                str(port + 1),
            ],
            env,
        )
        rasa = self.rasa_server(
            "rasa server", settings.latest_model(), port, endpoints, env
        )
        web = self.service("web app", [self.python, "-m", "bot.web"], env)
        services = (actions, rasa, web)
        try:
            action_start = wait_http(f"http://127.0.0.1:{port + 1}/health", actions)
            url = f"http://127.0.0.1:{port}"
            startup = first_answer(url, rasa)
            wait_http(f"http://127.0.0.1:{port + 2}/health", web)
            load = self.run_load("embedded", [url], OURS, OURS_AGAIN)
            load.startup = {"rasa server": startup, "action server": action_start}
            profile = asyncio.run(
                profile_turn(
                    url,
                    f"http://127.0.0.1:{port + 1}/webhook",
                    f"http://127.0.0.1:{port + 2}",
                    var / "tracker.db",
                    OURS[6].text,
                )
            )
        finally:
            for service in services:
                service.stop()
        load.memory = {s.name: s.peak_mb for s in services}
        return load, profile

    def production(self) -> list[Load]:
        from scripts.production import scratch_services, unavailable

        reason = unavailable()
        if reason:
            print(f"production profile skipped: {reason}", flush=True)
            return []
        port = self.base + 30
        action_port = port + 9
        loads = []
        with scratch_services(f"http://127.0.0.1:{action_port}/webhook") as profile:
            env = {**os.environ, **BASE_ENV, **profile, "XY_VAR_DIR": str(self.workdir)}
            model = self.settings(env).latest_model()
            endpoints = Path(profile["XY_ENDPOINTS"])
            actions = self.service(
                "action server (production)",
                [self.rasa, "run", "actions", "--actions", "actions"]
                + ["--port", str(action_port)],
                env,
            )
            servers: list[Service] = []
            try:
                wait_http(f"http://127.0.0.1:{action_port}/health", actions)
                for count in range(1, self.args.servers + 1):
                    servers.append(
                        self.rasa_server(
                            f"rasa server {count} (production)",
                            model,
                            port + count,
                            endpoints,
                            env,
                        )
                    )
                    urls = [f"http://127.0.0.1:{port + i}" for i in range(1, count + 1)]
                    startup = first_answer(urls[-1], servers[-1])
                    load = self.run_load(f"production x{count}", urls, OURS, OURS_AGAIN)
                    load.startup = {servers[-1].name: startup}
                    load.memory = {s.name: s.peak_mb for s in [actions, *servers]}
                    loads.append(load)
            finally:
                for service in [*servers, actions]:
                    service.stop()
        return loads


# --- the report -----------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    rasa_version = subprocess.run(
        [sys.executable, "-c", "import rasa; print(rasa.__version__)"],
        capture_output=True,
        text=True,
        env={**os.environ, **BASE_ENV},
    ).stdout.strip()
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{int(mem) / 1024 / 1024:.1f} GB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "rasa": rasa_version,
    }


def training_seconds() -> str:
    record = ROOT / "var" / "train_seconds"
    if record.exists():
        seconds = float(record.read_text().split()[0])
        return f"{seconds:.0f} s (`make train`, var/train_seconds)"
    return "not measured in this run (var/train_seconds is written by `make train`)"


def fmt(ms: float) -> str:
    return f"{ms:.0f}"


def report(
    args: argparse.Namespace,
    facts: dict[str, str],
    loads: list[Load],
    profiles: dict[str, dict],
    floor_train: float | None,
    load_before: tuple[float, float, float],
    started: str,
    spy: dict[tuple[str, str], dict[str, float]],
) -> str:
    lines = [
        f"Run {started} UTC: `scripts/bench.py --conversations {args.conversations} "
        f"--turns {args.turns}` ({args.conversations} conversations at once, "
        f"{args.turns} turns each, no think time, loopback, Rasa REST channel).",
        "",
        f"- Machine: {facts['cpu']}, {facts['memory']} RAM; {facts['os']}; "
        f"Python {facts['python']}, Rasa {facts['rasa']}.",
        f"- SQLite tracker store: {STORES[args.stock_tracker_store]}.",
        f"- Load average before the run: {load_before[0]:.2f} / {load_before[1]:.2f} / "
        f"{load_before[2]:.2f} (1/5/15 min); other work shares these cores.",
        f"- Training the project model: {training_seconds()}.",
    ]
    if floor_train is not None:
        lines.append(f"- Training the floor model: {floor_train:.0f} s.")
    lines += [
        "",
        "| configuration | servers | turns | errors | unexpected | p50 ms | p95 ms "
        "| p99 ms | turns/s | load avg (1 min) after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for load in loads:
        lines.append(
            f"| {load.label} | {load.servers} | {len(load.latencies)} | {load.errors} "
            f"| {load.unexpected} | {fmt(load.percentile(50))} "
            f"| {fmt(load.percentile(95))} | {fmt(load.percentile(99))} "
            f"| {load.throughput:.1f} | {load.load_average[0]:.2f} |"
        )
    floor = next((x for x in loads if x.label == "floor"), None)
    ours = next((x for x in loads if x.label == "embedded"), None)
    if floor and ours:
        lines += [
            "",
            f"Ratio to the floor (embedded / floor): p50 "
            f"{ours.percentile(50) / floor.percentile(50):.1f}x, throughput "
            f"{ours.throughput / floor.throughput:.2f}x.",
        ]
    lines += ["", "Per kind of turn, p50 / p95 ms:", ""]
    for load in loads:
        kinds = sorted({k for k, _ in load.latencies})
        parts = [
            f"{k} {fmt(load.percentile(50, k))} / {fmt(load.percentile(95, k))}"
            for k in kinds
        ]
        lines.append(f"- {load.label}: " + "; ".join(parts))
    lines += ["", "Start-up to first answer and peak resident memory:", ""]
    for load in loads:
        starts = ", ".join(f"{k} {v:.1f} s" for k, v in load.startup.items())
        memory = ", ".join(f"{k} {v:.0f} MB" for k, v in load.memory.items())
        lines.append(f"- {load.label}: start-up {starts}; memory {memory}")
    lines += [
        "",
        "CPU time per turn, by process (ms; PostgreSQL and Redis not counted):",
    ]
    lines.append("")
    for load in loads:
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in load.cpu_ms_per_turn.items())
        lines.append(f"- {load.label}: {cpu}")
    for (label, kind), buckets in spy.items():
        lines += ["", f"Where the {kind}'s time went ({label}, py-spy samples):", ""]
        lines += [f"- {name}: {share:.0%}" for name, share in buckets.items()]
    for name, profile in profiles.items():
        lines += [
            "",
            f"One turn taken apart ({name}, “{profile['message']}”, medians):",
            "",
        ]
        lines.append(f"- full turn (Rasa REST): {fmt(profile['turn'])} ms")
        if "web_turn" in profile:
            lines.append(
                f"- same turn through the web app: {fmt(profile['web_turn'])} ms"
            )
        lines.append(f"- NLU alone (/model/parse): {fmt(profile['parse'])} ms")
        for action, ms in profile.get("actions", {}).items():
            lines.append(f"- action server, {action}: {fmt(ms)} ms")
        if "payload_kb" in profile:
            lines.append(
                f"- size of one action server request: {profile['payload_kb']:.0f} KB"
            )
        lines.append(
            f"- tracker read through the API: {fmt(profile['tracker_read'])} ms"
        )
        if "db_query" in profile:
            lines.append(
                f"- the same events straight from SQLite: {profile['db_query']:.1f} ms"
            )
        rest = (
            profile["turn"]
            - profile["parse"]
            - sum(profile.get("actions", {}).values())
        )
        lines.append(
            f"- left for policies, locks, tracker load/save and HTTP: {fmt(rest)} ms"
        )
    return "\n".join(lines)


def write_report(path: Path, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{MARK_START}\n{body}\n{MARK_END}"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
    else:
        text = f"# Benchmarks\n\n{block}\n" if not text else f"{text}\n{block}\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--configs", default="floor,embedded,production")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="only print")
    parser.add_argument(
        "--url",
        default="",
        help="drive running Rasa servers instead (comma-separated); starts nothing",
    )
    parser.add_argument(
        "--stock-tracker-store",
        action="store_true",
        help="SQLite profiles on Rasa's SQLTrackerStore (the before of the WAL change)",
    )
    parser.add_argument(
        "--py-spy", default="", help="path to py-spy: sample the Rasa server's stacks"
    )
    args = parser.parse_args()
    configs = args.configs.split(",")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load_before = os.getloadavg()
    facts = machine_facts()
    loads: list[Load] = []
    profiles: dict[str, dict] = {}
    floor_train = None
    with tempfile.TemporaryDirectory(prefix="xy-bench-") as tmp, Sampler() as sampler:
        bench = Bench(args, Path(tmp), sampler)
        try:
            if args.url:
                urls = [u.strip().rstrip("/") for u in args.url.split(",")]
                loads.append(bench.run_load("running", urls, OURS, OURS_AGAIN))
                configs = []
            if "floor" in configs:
                load, profile = bench.floor()
                floor_train = profile["train_seconds"]
                loads.append(load)
                profiles["floor"] = profile
            if "embedded" in configs:
                load, profile = bench.embedded()
                loads.append(load)
                profiles["embedded"] = profile
            if "production" in configs:
                loads.extend(bench.production())
        finally:
            for service in sampler.services:
                service.stop()
        spy = {
            key: spy_buckets(path, ACTION_BUCKETS if "action" in key[1] else BUCKETS)
            for key, path in bench.spy_outputs.items()
            if path.exists()
        }
    body = report(args, facts, loads, profiles, floor_train, load_before, started, spy)
    print("\n" + body)
    if not args.no_write:
        write_report(args.out, body)
        print(f"\nwritten to {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
