"""The intake store on SQLite and PostgreSQL: one record per conversation, references
a citizen can read out, honest failure when the database is down, no personal data in
logs."""

import logging
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.eligibility import HardshipStandard
from bot.intake import IntakeStore, IntakeUnavailable, intakes
from bot.legal_aid import Answers, build_application
from bot.settings import Settings

STANDARD = {"default": HardshipStandard("test", 1000.0, "2026-01-01", "test fixture")}
NAME, PHONE = "张秀英", "13800138000"


def application(conversation_id=None, **answers):
    answers = {
        "category": "labor",
        "statuses": {"migrant_worker"},
        "stage": "none",
        "event_place": "息县",
        "residence_county": "息县",
        **answers,
    }
    app, _ = build_application(
        Answers(**answers),
        channel="web",
        name=NAME,
        phone=PHONE,
        conversation_id=conversation_id,
        standards=STANDARD,
    )
    return app


@pytest.fixture
def store(database_url):
    s = IntakeStore(database_url)
    yield s
    s.close()


def rows(store):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(intakes)).scalar()


def test_submitted_application_gets_a_readable_reference_and_the_art_43_clock(store):
    intake = store.submit(application())
    assert intake.created
    assert re.fullmatch(r"XY\d{6}-[A-HJ-NP-Z2-9]{4}", intake.reference)
    assert intake.status == "received" and not intake.transfer
    assert intake.created_at.tzinfo is not None
    assert intake.review_due - intake.created_at == timedelta(days=7)
    assert [e["status"] for e in intake.history] == ["received"]
    again = store.get(intake.reference)
    assert again.record["applicant_phone"] == PHONE
    assert again.as_record()["materials"] == application().materials
    assert again.as_record()["decision"]["outcome"] == "means_check_waived"


def test_application_received_in_another_county_is_transferred(store):
    intake = store.submit(
        application(stage="court", organ_place="固始", residence_county="息县")
    )
    assert intake.transfer and intake.status == "transferred"
    assert intake.receiving_centre == "xixian" and intake.competent_centre == "gushi"
    assert [e["status"] for e in intake.history] == ["received", "transferred"]
    status = intake.as_status()
    assert status["competent_centre"] == {"key": "gushi", "name": "固始县法律援助中心"}


def test_submitting_the_same_conversation_twice_returns_the_first_record(store):
    first = store.submit(application("conv-twice"))
    second = store.submit(application("conv-twice", residence_county="潢川"))
    assert second.reference == first.reference and not second.created
    assert second.receiving_centre == "xixian"
    assert rows(store) == 1


def submit_together(store, conversation_id, threads=2):
    """Submit from several threads released at the same instant."""
    barrier = threading.Barrier(threads)
    results, errors = [], []

    def submit():
        try:
            barrier.wait()
            results.append(store.submit(application(conversation_id)))
        except Exception as exc:  # surfaced by the caller's assertion
            errors.append(exc)

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert errors == []
    return results


def test_two_concurrent_submits_of_one_conversation_make_one_record(store):
    for round_ in range(5):
        results = submit_together(store, f"conv-race-{round_}")
        assert len({r.reference for r in results}) == 1
        assert sorted(r.created for r in results) == [False, True]
    assert rows(store) == 5


def test_status_lookup_needs_the_reference_and_the_phones_last_four_digits(store):
    reference = store.submit(application()).reference
    assert store.lookup(reference, "8000").reference == reference
    assert store.lookup(reference.lower(), "8000").reference == reference
    assert store.lookup(f"  {reference.lower()} ", "８０００").reference == reference
    assert store.lookup(reference, "8001") is None
    assert store.lookup(reference, "800") is None
    assert store.lookup(reference, "abcd") is None
    assert store.lookup(reference, "") is None
    assert store.lookup("XY000101-AAAA", "8000") is None
    assert store.lookup("nonsense", "8000") is None


def test_a_decision_starts_the_three_day_assignment_clock(store):
    reference = store.submit(application()).reference
    decided = store.set_status(reference, "decided", "给予法律援助")
    assert decided.assign_due - decided.history[-1]["at"] == timedelta(days=3)
    assert [e["status"] for e in decided.history] == ["received", "decided"]
    with pytest.raises(ValueError):
        store.set_status(reference, "lost")


def test_unreachable_postgres_raises_intake_unavailable(unreachable_postgres_url):
    store = IntakeStore(unreachable_postgres_url)  # constructing it does not connect
    try:
        with pytest.raises(IntakeUnavailable):
            store.submit(application())
        with pytest.raises(IntakeUnavailable):
            store.lookup("XY260101-ABCD", "8000")
        with pytest.raises(IntakeUnavailable):
            store.get("XY260101-ABCD")
    finally:
        store.close()


def test_store_recovers_once_the_database_is_back(tmp_path):
    path = tmp_path / "var" / "intakes.db"
    path.parent.mkdir()
    path.mkdir()  # a directory where the file should be: SQLite cannot open it
    store = IntakeStore(f"sqlite:///{path}")
    with pytest.raises(IntakeUnavailable):
        store.submit(application())
    path.rmdir()
    assert store.submit(application()).created
    store.close()


def test_personal_data_never_reaches_the_logs(store, unreachable_postgres_url, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQL logging on
    intake = store.submit(application("conv-logs"))
    store.submit(application("conv-logs"))
    store.lookup(intake.reference, "8000")
    down = IntakeStore(unreachable_postgres_url)
    with pytest.raises(IntakeUnavailable) as caught:
        down.submit(application())
    down.close()
    text = caplog.text + str(caught.value) + repr(intake)
    assert "INSERT INTO intakes" in text
    assert NAME not in text and PHONE not in text


def test_default_database_is_an_sqlite_file_in_var_dir(tmp_path):
    settings = Settings(var_dir=tmp_path / "not" / "yet")
    assert (
        settings.database_url == f"sqlite:///{tmp_path / 'not' / 'yet' / 'intakes.db'}"
    )
    store = IntakeStore(settings.database_url)
    store.submit(application())
    store.close()
    assert (tmp_path / "not" / "yet" / "intakes.db").is_file()


def test_database_url_and_api_token_come_from_the_environment():
    env = {"XY_DATABASE_URL": "postgresql+psycopg2://x@h/db", "XY_API_TOKEN": "s3cret"}
    settings = Settings.from_env(env)
    assert settings.database_url == env["XY_DATABASE_URL"]
    assert settings.api_token == "s3cret"
    assert "s3cret" not in repr(settings)
    assert Settings.from_env({}).api_token == ""
