"""One measured hot spot of Rasa 3.6, removed without changing what Rasa does.

Rasa checks every action server response with `jsonschema.validate(response,
schema)`. That call first validates Rasa's own, large event schema against the JSON
Schema meta-schema, on every call, before it looks at the response: py-spy put 57%
of the Rasa server's CPU there under `make bench` load (docs/benchmarks.md). Here the
schema is checked once and its validator kept. A valid response passes as before; an
invalid one goes to Rasa's own method, which raises its usual error.

`install()` runs when the project's tracker store is created (bot/tracker_store.py),
the one project module every Rasa server of every profile loads from endpoints.yml.
"""

from __future__ import annotations

import functools
from typing import Any

from rasa.core.actions.action import RemoteAction

_rasa_validate = RemoteAction._validate_action_result


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, where jsonschema.validate does it every call
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    if _validator().is_valid(result):
        return True
    return _rasa_validate(self, result)  # raises Rasa's ValidationError


def install() -> None:
    RemoteAction._validate_action_result = _validate_action_result
