"""Two Rasa servers answering one conversation: the production profile.

deploy/endpoints.production.yml puts the conversations in PostgreSQL (Rasa's SQL
tracker store), the per-conversation lock in Redis and, through XY_DATABASE_URL,
the legal-aid records in PostgreSQL too. Turns go straight to Rasa's REST channel,
alternately to each server, as a round-robin load balancer would send them.

Needs PostgreSQL and Redis on 127.0.0.1; where they do not answer the tests are
skipped with the reason. Each run has its own database and Redis key prefix
(scripts/production.py), dropped afterwards.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest
import sqlalchemy as sa

from bot.settings import ROOT
from bot.tracker_store import HIDDEN
from scripts.production import scratch_services, unavailable
from tests.conftest import MODEL, PORT_OFFSET, Stack, wait_for
from tests.test_legal_aid_chat import REFERENCE, Citizen

RASA_PORTS = (5800 + PORT_OFFSET, 5801 + PORT_OFFSET)
ACTION_PORT = 5802 + PORT_OFFSET
NAME, PHONE, BAD_PHONE = "张秀英", "+86 138 0013 8000", "138001"


def post(url: str, payload: dict) -> list[dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


class ProfileStack(Stack):
    """A Stack whose Rasa servers may take longer to come up: three start-ups of
    the full model run in this test, on a machine shared with other test runs."""

    def start(self, name: str) -> None:
        from bot.serve import commands

        # The log stays open as long as the process writes to it.
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            commands(self.settings)[name],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        port = self.ports["rasa" if name == "rasa" else "actions"]
        path = "status" if name == "rasa" else "health"
        wait_for(f"http://127.0.0.1:{port}/{path}", self.processes[name], timeout=600)


class Cluster:
    def __init__(self, servers: list[ProfileStack], env: dict[str, str]):
        self.servers = servers
        self.env = env

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.servers[i].ports['rasa']}"

    def tracker(self, i: int, sender: str) -> dict:
        return get(f"{self.url(i)}/conversations/{sender}/tracker")

    def restart(self, i: int) -> None:
        self.servers[i].stop("rasa")
        self.servers[i].start("rasa")

    def query(self, sql: str, **params) -> list[tuple]:
        engine = sa.create_engine(self.env["XY_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable()
    if reason:
        pytest.skip(f"production profile needs PostgreSQL and Redis: {reason}")
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    with scratch_services(f"http://127.0.0.1:{ACTION_PORT}/webhook") as env:
        servers = [
            ProfileStack(
                tmp_path_factory.mktemp(f"rasa{i}"),
                action_port=ACTION_PORT,
                rasa_port=port,
                web_port=port + 10,  # unused: turns go to Rasa directly
                env=env,
            )
            for i, port in enumerate(RASA_PORTS)
        ]
        try:
            servers[0].start("actions")
            for server in servers:  # one at a time: two cores, a minute each
                server.start("rasa")
            yield Cluster(servers, env)
        finally:
            for server in servers:
                server.stop_all()


def user_turns(events: list[dict]) -> list[tuple[str, list[dict]]]:
    """(user text, the events that followed it) for every user message."""
    turns: list[tuple[str, list[dict]]] = []
    for event in events:
        if event["event"] == "user":
            turns.append((event["text"], []))
        elif turns:
            turns[-1][1].append(event)
    return turns


def assert_one_turn_at_a_time(events: list[dict]) -> None:
    """Every message was answered to the end before the next one was taken up."""
    for text, after in user_turns(events):
        names = [e.get("name") for e in after if e["event"] == "action"]
        assert names and names[-1] == "action_listen", (text, names)
        assert any(e["event"] == "bot" for e in after), text


class RoundRobinCitizen(Citizen):
    """A citizen whose turns go to the servers in turn; both must agree after each."""

    def __init__(self, cluster: Cluster):
        super().__init__(cluster)
        self.sender = f"scale-{uuid.uuid4().hex}"
        self.sent: list[str] = []
        self.down: set[int] = set()
        self._next = 0

    def says(self, message: str) -> str:
        up = [i for i in range(len(self.stack.servers)) if i not in self.down]
        server = up[self._next % len(up)]
        self._next += 1
        replies = post(
            f"{self.stack.url(server)}/webhooks/rest/webhook",
            {"sender": self.sender, "message": message},
        )
        self.replies = [
            {"text": r.get("text", ""), "buttons": r.get("buttons", [])}
            for r in replies
        ]
        self.sent.append(message)
        assert self.replies, message
        self.check_state(up)
        return self.text

    def check_state(self, servers: list[int]) -> None:
        trackers = [self.stack.tracker(i, self.sender) for i in servers]
        first = trackers[0]
        for other in trackers[1:]:
            assert other["events"] == first["events"]
            assert other["slots"] == first["slots"]
        assert_one_turn_at_a_time(first["events"])
        said = [text for text, _ in user_turns(first["events"])]
        assert len(said) == len(self.sent), (said, self.sent)
        for stored, sent in zip(said, self.sent, strict=True):
            assert stored == sent or (stored == HIDDEN and sent in PRIVATE)


PRIVATE = (NAME, PHONE, BAD_PHONE)


def test_one_conversation_across_two_servers_and_a_restart_gets_one_record(
    cluster,
):
    citizen = RoundRobinCitizen(cluster)
    citizen.says("包工头欠我工资")
    assert "个人信息" in citizen.clicks("申请法律援助")
    assert "劳动争议" in citizen.clicks("同意")
    assert "哪件事" in citizen.clicks("对，是这类")
    citizen.picks("labor_pay")
    citizen.clicks("都不是")
    citizen.picks("migrant_worker")
    assert "期限" in citizen.text

    # Server 1 goes away mid-form; server 0 alone carries on, then 1 is back.
    cluster.servers[1].stop("rasa")
    citizen.down = {1}
    citizen.clicks("还有时间")
    cluster.servers[1].start("rasa")
    citizen.down = set()

    citizen.clicks("还没找任何部门")
    assert "姓名" in citizen.says("在息县干的活")
    assert "手机号" in citizen.says(NAME)
    assert "手机号好像不对" in citizen.says(BAD_PHONE)
    assert "住在哪个县区" in citizen.says(PHONE)
    final = citizen.says("平桥区")
    assert "预审结果" in final and "息县法律援助中心" in final
    reference = REFERENCE.search(final).group()

    again = citizen.says("/submit_legal_aid")  # on the other server this time
    assert reference in again
    rows = cluster.query(
        "SELECT reference, conversation_id, applicant_phone FROM intakes"
    )
    assert rows == [(reference, citizen.sender, "13800138000")]

    # The conversation itself is in PostgreSQL, without the name and phone.
    stored = cluster.query(
        "SELECT data FROM events WHERE sender_id = :s", s=citizen.sender
    )
    text = "".join(row[0] for row in stored)
    user_events = [json.loads(r[0]) for r in stored]
    assert sum(e["event"] == "user" for e in user_events) == len(citizen.sent)
    assert "13800138000" not in text and "0013 8000" not in text
    assert json.dumps(NAME)[1:-1] not in text and NAME not in text


def test_two_messages_at_once_on_two_servers_are_answered_one_after_the_other(
    cluster,
):
    citizen = RoundRobinCitizen(cluster)
    citizen.says("老板跑了，俺三个月工钱没拿到，咋整")
    answers: dict[int, list[dict]] = {}

    def send(server: int, message: str) -> None:
        answers[server] = post(
            f"{cluster.url(server)}/webhooks/rest/webhook",
            {"sender": citizen.sender, "message": message},
        )

    threads = [
        threading.Thread(target=send, args=(0, "离婚冷静期是多少天")),
        threading.Thread(target=send, args=(1, "民法典1077条")),
    ]
    threads[0].start()
    time.sleep(0.05)  # the first has its lock ticket before the second arrives
    threads[1].start()
    for thread in threads:
        thread.join(timeout=180)

    assert "民法典" in "".join(r.get("text", "") for r in answers[0])
    assert "第一千零七十七条" in "".join(r.get("text", "") for r in answers[1])
    for server in (0, 1):
        events = cluster.tracker(server, citizen.sender)["events"]
        assert_one_turn_at_a_time(events)
        said = [text for text, _ in user_turns(events)]
        assert sorted(said[1:]) == sorted(["离婚冷静期是多少天", "民法典1077条"])
