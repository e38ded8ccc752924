"""Input checks: clear errors for what people actually type."""

from __future__ import annotations

import pytest

from support_core.errors import InputError
from support_core.validation import clean_agent_name, clean_id, clean_message


@pytest.mark.parametrize("name, expected", [
    ("sam", "sam"), ("Sam  Smith ", "Sam Smith"), ("Zoë O'Neil", "Zoë O'Neil"),
    ("agent-7@desk", "agent-7@desk"),
])
def test_agent_names_people_use_are_accepted(name: str, expected: str) -> None:
    assert clean_agent_name(name) == expected


@pytest.mark.parametrize("name", ["", "   ", "<b>Sam</b>", "x" * 65, "-dash", None])
def test_agent_names_that_are_not_names_are_refused(name: object) -> None:
    with pytest.raises(InputError, match="agent name"):
        clean_agent_name(name)


@pytest.mark.parametrize("value", ["with space", "", "a/b", "x" * 129])
def test_ids_are_short_and_printable(value: str) -> None:
    with pytest.raises(InputError, match="customer id"):
        clean_id(value, "customer id")


@pytest.mark.parametrize("text, problem", [
    ("", "empty"), ("  \n ", "empty"), ("x" * 101, "limit is 100"), (b"bytes", "text"),
    ("\x00\x01 binary", "binary"),
])
def test_bad_messages_say_what_is_wrong(text: object, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        clean_message(text, max_chars=100)


def test_a_message_is_stripped_not_changed() -> None:
    assert clean_message("  Hello,\n  world  ", max_chars=100) == "Hello,\n  world"
