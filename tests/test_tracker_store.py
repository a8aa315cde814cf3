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
