"""Parts of the real stack failing while citizens talk to it.

- The action server down: the citizen (web and WeChat) is told so, with 12348, and
  once it is back the conversation, a legal-aid form included, goes on where it was.
- Rasa restarted mid-form: the form continues from the SQL tracker store.
- The intake database down during a submission is in
  tests/test_legal_aid_chat.py::test_a_database_failure_is_told_honestly_and_nothing_is_lost.

One stack (action server, Rasa with the WeChat channel, web app) for the module; the
tests stop and start its parts, and leave them all running.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
from conftest import MODEL, PORT_OFFSET, Stack
from test_legal_aid_chat import REFERENCE, Citizen, store
from wechat_sim import WeChatSim

from bot.knowledge import service_texts

NO_ANSWER = service_texts()["no_answer"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    rasa_port = 5806 + PORT_OFFSET
    sim = WeChatSim(
        webhook=f"http://127.0.0.1:{rasa_port}/webhooks/wechat/webhook"
    ).start()
    s = Stack(
        tmp_path_factory.mktemp("faults"),
        action_port=5805 + PORT_OFFSET,
        rasa_port=rasa_port,
        web_port=5807 + PORT_OFFSET,
        env=sim.account.env(sim.api_base),
    )
    s.sim = sim
    try:
        for name in ("actions", "rasa", "web"):
            s.start(name)
        yield s
    finally:
        s.stop_all()
        sim.stop()


@pytest.fixture
def restarts_actions(stack):
    """The test stops the action server; it runs again afterwards in any case."""
    yield
    if "actions" not in stack.processes:
        stack.start("actions")


def start_wage_claim(stack) -> tuple[Citizen, dict[str, str]]:
    """Up to the special-circumstance question; returns its buttons."""
    citizen = Citizen(stack)
    citizen.says("我要申请法律援助")
    citizen.clicks("同意")
    citizen.picks("labor")
    citizen.picks("labor_pay")
    assert "都不是" in citizen.buttons, citizen.text
    return citizen, citizen.buttons


def finish_wage_claim(citizen: Citizen) -> str:
    citizen.picks("migrant_worker")
    citizen.clicks("还有时间")
    citizen.clicks("还没找任何部门")
    assert "姓名" in citizen.says("在息县干的活")
    citizen.says("张秀英")
    citizen.says("13800138000")
    return citizen.says("平桥区")


def test_action_server_down_mid_form_tells_12348_and_the_form_goes_on(
    stack, restarts_actions
):
    citizen, buttons = start_wage_claim(stack)
    stack.stop("actions")
    answer = citizen.says(buttons["都不是"])
    assert answer == NO_ANSWER and "12348" in answer  # not silence, not an error

    stack.start("actions")
    citizen.says(buttons["都不是"])  # the same answer again, as the text asks
    assert "进城务工人员（农民工）" in citizen.buttons, citizen.text
    final = finish_wage_claim(citizen)
    reference = REFERENCE.search(final).group()
    record = store(stack).get(reference).record
    assert record["category"] == "labor" and record["matter"] == "labor_pay"


def test_action_server_down_on_wechat_tells_12348_and_then_answers_again(
    stack, restarts_actions
):
    stack.stop("actions")
    openid = "o" + uuid.uuid4().hex[:27]
    sim = stack.sim
    attempts = sim.deliver(sim.text(openid, "老板欠我三个月工资"))
    assert attempts[-1].problem is None and attempts[-1].reply == NO_ANSWER

    stack.start("actions")
    sim.deliver(sim.text(openid, "老板欠我三个月工资"))
    seen = sim.wait_seen(openid, lambda s: any("劳动争议" in m for m in s))
    assert seen[0] == NO_ANSWER


def test_rasa_restarted_mid_form_continues_from_the_tracker_store(stack):
    citizen, buttons = start_wage_claim(stack)
    stack.stop("rasa")
    try:
        request = urllib.request.Request(
            f"{stack.web}/api/chat",
            data=json.dumps({"sender": citizen.sender, "message": "都不是"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as down:
            urllib.request.urlopen(request, timeout=30)
        assert down.value.code == 503
        assert "12348" in json.loads(down.value.read())["message"]
    finally:
        stack.start("rasa")

    citizen.says(buttons["都不是"])
    assert "进城务工人员（农民工）" in citizen.buttons, citizen.text
    final = finish_wage_claim(citizen)
    assert "《法律援助法》第四十二条" in final
    reference = REFERENCE.search(final).group()
    assert store(stack).get(reference).record["matter"] == "labor_pay"
