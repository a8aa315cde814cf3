"""The legal-aid JSON API through aiohttp's test server, on a real SQLite file and on
PostgreSQL: the anonymous pre-check, intake creation, and the citizen's status look-up.
"""

import asyncio
import json
import logging
from contextlib import asynccontextmanager

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.eligibility import HardshipStandard
from bot.settings import Settings
from bot.web.app import MAX_BODY, create_app
from bot.web.legal_aid_api import NOT_FOUND, STANDARDS

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STANDARD = {"default": HardshipStandard("test", 1000.0, "2026-01-01", "test fixture")}
NAME, PHONE = "张秀英", "13800138000"
INTAKE = {
    "category": "labor",
    "statuses": ["migrant_worker"],
    "stage": "court",
    "organ_place": "固始",
    "residence_county": "息县",
    "channel": "web",
    "name": NAME,
    "phone": "+86 138-0013-8000",
}


@asynccontextmanager
async def serve(tmp_path, **settings):
    settings = {"var_dir": tmp_path, "api_token": TOKEN, **settings}
    app = create_app(Settings(**settings))
    app[STANDARDS] = STANDARD
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def client(database_url, tmp_path):
    async with serve(tmp_path, database_url=database_url) as c:
        yield c


@pytest.fixture
async def sqlite_client(tmp_path):
    async with serve(tmp_path) as c:  # the default: var_dir/intakes.db
        yield c


@pytest.fixture
async def down_client(unreachable_postgres_url, tmp_path):
    async with serve(tmp_path, database_url=unreachable_postgres_url) as c:
        yield c


async def create(client, **changes):
    response = await client.post(
        "/api/intakes", json={**INTAKE, **changes}, headers=AUTH
    )
    return response.status, await response.json()


# --- POST /api/eligibility ----------------------------------------------------------


async def test_pre_check_explains_the_outcome_with_articles_and_materials(
    sqlite_client,
):
    response = await sqlite_client.post(
        "/api/eligibility", json={"category": "labor", "statuses": ["migrant_worker"]}
    )
    assert response.status == 200
    body = await response.json()
    assert body["outcome"] == "means_check_waived"
    assert "不再核查" in body["outcome_text"]
    assert [r["rule"] for r in body["reasons"]] == [
        "matter_labor_pay",
        "migrant_worker",
    ]
    assert body["reasons"][1]["citation"] == "《法律援助法》第四十二条"
    assert body["reasons"][1]["quote"] and body["reasons"][1]["text"]
    assert body["missing"] == [] and body["advance_aid_possible"] is False
    assert body["notices"][0]["citation"] == "《法律援助法》第四十三条"
    assert any("进城务工人员" in m for m in body["materials"])


async def test_pre_check_with_income_and_a_close_deadline(sqlite_client):
    response = await sqlite_client.post(
        "/api/eligibility",
        json={
            "category": "traffic",
            "household_size": 3,
            "monthly_income": 2400.5,
            "days_to_deadline": 2,
            "county": "息县",
        },
    )
    body = await response.json()
    assert body["outcome"] == "likely_eligible"
    assert body["advance_aid_possible"] is True
    assert "advance_aid" in [n["key"] for n in body["notices"]]


async def test_pre_check_refuses_personal_data(sqlite_client):
    response = await sqlite_client.post(
        "/api/eligibility", json={"category": "labor", "phone": PHONE}
    )
    assert response.status == 400
    body = await response.json()
    assert body["message"].startswith("phone:") and "个人信息" in body["message"]
    assert PHONE not in json.dumps(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "category"),
        ({"category": "weather"}, "category"),
        ({"category": 7}, "category"),
        ({"category": "labor", "household_size": "3"}, "household_size"),
        ({"category": "labor", "household_size": True}, "household_size"),
        ({"category": "labor", "household_size": 0}, "household_size"),
        ({"category": "labor", "monthly_income": "两千"}, "monthly_income"),
        ({"category": "labor", "monthly_income": -5}, "monthly_income"),
        ({"category": "labor", "circumstances": "minor"}, "circumstances"),
        ({"category": "labor", "circumstances": [1]}, "circumstances"),
        ({"category": "labor", "circumstances": ["rich"]}, "circumstances"),
        ({"category": "labor", "urgent_preservation": "yes"}, "urgent_preservation"),
        ({"category": "criminal", "role": "judge"}, "role"),
        ({"category": "labor", "county": "县" * 21}, "county"),
        ({"category": "labor", "colour": "red"}, "colour"),
    ],
)
async def test_bad_pre_check_input_gets_400_naming_the_field(
    sqlite_client, body, field
):
    response = await sqlite_client.post("/api/eligibility", json=body)
    assert response.status == 400
    reply = await response.json()
    assert reply["message"].startswith(f"{field}:"), reply
    assert reply["field"] == field


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"[1, 2]", 400, "JSON 对象"),
        (b'"labor"', 400, "JSON 对象"),
        (b"{not json", 400, "JSON"),
        (b"\xff\xfe\x00", 400, "JSON"),
        (b'{"category": "' + b"x" * (MAX_BODY + 10) + b'"}', 413, "过大"),
    ],
)
async def test_malformed_and_huge_bodies_are_refused(
    sqlite_client, data, status, words
):
    for path, headers in (("/api/eligibility", {}), ("/api/intakes", AUTH)):
        response = await sqlite_client.post(
            path, data=data, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status == status
        assert words in (await response.json())["message"]


# --- POST /api/intakes ------------------------------------------------------------


async def test_intake_is_created_with_reference_centres_and_review_due(client):
    status, body = await create(client)
    assert status == 201
    assert body["created"] is True and body["status"] == "transferred"
    assert body["receiving_centre"] == {"key": "xixian", "name": "息县法律援助中心"}
    assert body["competent_centre"] == {"key": "gushi", "name": "固始县法律援助中心"}
    assert body["transfer"] is True and body["review_due"]
    assert body["outcome"] == "means_check_waived" and body["materials"]
    assert NAME not in json.dumps(body, ensure_ascii=False)


async def test_the_same_conversation_submitted_twice_gives_the_first_receipt(client):
    status, first = await create(client, conversation_id="wx-conv-1")
    status_again, again = await create(
        client, conversation_id="wx-conv-1", residence_county="潢川"
    )
    assert (status, status_again) == (201, 200)
    assert again["reference"] == first["reference"] and again["created"] is False
    assert again["receiving_centre"]["key"] == "xixian"


async def test_concurrent_submits_of_one_conversation_give_one_reference(client):
    results = await asyncio.gather(
        *(create(client, conversation_id="hotline-call-7") for _ in range(4))
    )
    assert sorted(status for status, _ in results) == [200, 200, 200, 201]
    assert len({body["reference"] for _, body in results}) == 1


async def test_intake_write_api_is_closed_without_a_configured_token(tmp_path):
    async with serve(tmp_path, api_token="") as c:
        response = await c.post("/api/intakes", json=INTAKE, headers=AUTH)
        assert response.status == 503
        assert "XY_API_TOKEN" in (await response.json())["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer 令牌"},
    ],
)
async def test_intake_needs_the_bearer_token(sqlite_client, headers):
    response = await sqlite_client.post("/api/intakes", json=INTAKE, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": "sms"}, "channel"),
        ({"channel": None}, "channel"),
        ({"phone": "0376-1234567"}, "phone"),
        ({"phone": 13800138000}, "phone"),
        ({"name": ""}, "name"),
        ({"name": "张3"}, "name"),
        ({"conversation_id": "x" * 129}, "conversation_id"),
        ({"stage": "heaven"}, "stage"),
        ({"residence_county": "县" * 21}, "residence_county"),
        ({"id_number": "410000000000000000"}, "id_number"),
    ],
)
async def test_bad_intake_input_gets_400_naming_the_field(
    sqlite_client, changes, field
):
    status, body = await create(sqlite_client, **changes)
    assert status == 400 and body["field"] == field
    assert body["message"].startswith(f"{field}:")


async def test_database_down_is_told_honestly_and_nothing_is_claimed(down_client):
    status, body = await create(down_client)
    assert status == 503
    assert "12348" in body["message"] and "没有保存" in body["message"]
    assert body["saved"] is False
    response = await down_client.get(
        "/api/intakes/XY260101-ABCD", params={"phone_last4": "8000"}
    )
    assert response.status == 503 and "12348" in (await response.json())["message"]
    # The pre-check needs no database and keeps working.
    response = await down_client.post("/api/eligibility", json={"category": "labor"})
    assert response.status == 200


# --- GET /api/intakes/{reference} -------------------------------------------------


async def test_staff_with_the_token_get_the_full_record(client):
    _, created = await create(client)
    response = await client.get(f"/api/intakes/{created['reference']}", headers=AUTH)
    assert response.status == 200
    record = await response.json()
    assert record["applicant"] == {
        "name": NAME,
        "phone": PHONE,
        "residence_county": "息县",
    }
    assert record["decision"]["reasons"][1]["citation"] == "《法律援助法》第四十二条"
    assert [e["status"] for e in record["history"]] == ["received", "transferred"]


async def test_citizen_sees_status_without_personal_data(client):
    _, created = await create(client)
    reference = created["reference"]
    response = await client.get(
        f"/api/intakes/{reference.lower()}", params={"phone_last4": "8000"}
    )
    assert response.status == 200
    body = await response.json()
    assert body["reference"] == reference and body["status"] == "transferred"
    assert [e["status"] for e in body["history"]] == ["received", "transferred"]
    assert body["review_due"] and "assign_due" in body
    text = json.dumps(body, ensure_ascii=False)
    assert NAME not in text and PHONE not in text and "applicant" not in text


async def test_wrong_digits_look_exactly_like_an_unknown_reference(client):
    _, created = await create(client)
    wrong = await client.get(
        f"/api/intakes/{created['reference']}", params={"phone_last4": "1234"}
    )
    unknown = await client.get(
        "/api/intakes/XY000101-AAAA", params={"phone_last4": "8000"}
    )
    assert wrong.status == unknown.status == 404
    assert await wrong.json() == await unknown.json()
    assert (await wrong.json())["message"] == NOT_FOUND


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({}, {}, 400),
        ({"phone_last4": "80"}, {}, 400),
        ({"phone_last4": "abcd"}, {}, 400),
        ({"phone_last4": "8000"}, {"Authorization": "Bearer nope"}, 401),
    ],
)
async def test_status_lookup_without_valid_credentials(
    sqlite_client, params, headers, status
):
    _, created = await create(sqlite_client)
    response = await sqlite_client.get(
        f"/api/intakes/{created['reference']}", params=params, headers=headers
    )
    assert response.status == status
    body = await response.json()
    assert NAME not in json.dumps(body, ensure_ascii=False)
    if status == 400:
        assert body["message"].startswith("phone_last4:")


async def test_no_name_or_phone_in_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQL logging on
    _, created = await create(client, conversation_id="log-check")
    await create(client, conversation_id="log-check")
    await client.get(f"/api/intakes/{created['reference']}", headers=AUTH)
    assert NAME not in caplog.text and PHONE not in caplog.text
