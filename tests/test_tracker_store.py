"""The applicant's name and phone are hidden in the stored conversation."""

from bot.tracker_store import HIDDEN, scrub


def slot(name, value):
    return {"event": "slot", "name": name, "value": value}


def user(text):
    return {"event": "user", "text": text, "parse_data": {"text": text, "entities": []}}


def test_private_answers_and_slots_are_hidden_and_the_rest_kept():
    events = [
        user("包工头欠我工资"),
        slot("requested_slot", "la_name"),
        user("张秀英"),
        slot("la_name", "张秀英"),
        slot("requested_slot", "la_phone"),
        user("138 0013 8000"),
        slot("la_phone", "13800138000"),
        slot("requested_slot", "la_residence"),
        user("平桥区"),
        slot("la_residence", "pingqiao"),
    ]
    changed = scrub(events)
    assert changed == [2, 3, 5, 6]
    assert events[0]["text"] == "包工头欠我工资" and events[8]["text"] == "平桥区"
    assert events[5]["text"] == events[5]["parse_data"]["text"] == HIDDEN
    assert events[6]["value"] == HIDDEN and events[9]["value"] == "pingqiao"
    assert scrub(events) == []  # a second pass changes nothing


async def test_sqlite_store_reads_back_what_it_saved_in_write_ahead_log_mode(tmp_path):
    import sqlite3

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.tracker_store import PrivateSQLTrackerStore

    db = tmp_path / "tracker.db"
    domain = Domain.empty()
    tracker = DialogueStateTracker.from_events("c1", [UserUttered("包工头欠我工资")])
    await PrivateSQLTrackerStore(domain=domain, dialect="sqlite", db=str(db)).save(
        tracker
    )
    again = PrivateSQLTrackerStore(domain=domain, dialect="sqlite", db=str(db))
    restored = await again.retrieve("c1")
    assert restored.latest_message.text == "包工头欠我工资"
    with sqlite3.connect(db) as conn:  # commits no longer sync the disk each time
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_action_server_responses_are_checked_as_strictly_as_rasa_does():
    import jsonschema
    import pytest
    from rasa.core.actions.action import RemoteAction

    from bot import rasa_speedups

    rasa_speedups.install()
    action = RemoteAction("action_triage", None)
    good = {
        "events": [{"event": "slot", "name": "category", "value": "labor"}],
        "responses": [{"response": "utter_triage"}],
    }
    assert action._validate_action_result(good)
    for bad in (
        {"events": [{"event": "no_such_event"}]},
        {"events": "not a list"},
        {"responses": [1]},
    ):
        with pytest.raises(jsonschema.ValidationError, match="Action server"):
            action._validate_action_result(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, RemoteAction.action_response_format_spec())
