"""Message metadata is a typed model that stores and loads exactly like the dict it replaced."""

from __future__ import annotations

import json

from support_core.models import Draft, Message, MessageMetadata, Role, Source

OLD_ROW = (
    '{"role": "assistant", "content": "Done.", "timestamp": "2025-03-01T09:00:00+00:00", '
    '"metadata": {"ticket_id": "tkt_1", "sources": [{"article_id": "kb1", "title": "Refunds"}], '
    '"confidence": 0.8, "holding": false, "custom": {"k": [1]}}}'
)


def test_old_rows_load_typed_and_dump_unchanged() -> None:
    msg = Message.model_validate_json(OLD_ROW)
    assert msg.metadata.ticket_id == "tkt_1" and msg.metadata.confidence == 0.8
    assert msg.metadata.sources == [Source(article_id="kb1", title="Refunds")]
    assert msg.metadata["custom"] == {"k": [1]}  # a key another module added
    assert json.loads(msg.model_dump_json())["metadata"] == json.loads(OLD_ROW)["metadata"]


def test_dict_style_access_keeps_working() -> None:
    meta = MessageMetadata(ticket_id="t", category=None)
    assert "category" in meta and "agent" not in meta
    assert meta.get("agent", "nobody") == "nobody" and meta.get("category") is None
    meta.update({"session_id": "s1", "extra_key": 3})
    assert meta.session_id == "s1" and meta["extra_key"] == 3
    assert meta.as_dict() == {"ticket_id": "t", "category": None, "session_id": "s1",
                              "extra_key": 3}


def test_wrong_types_for_known_keys_are_refused() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Message(role=Role.AGENT, content="x", metadata={"confidence": "very"})


def test_a_reply_stored_with_its_source_list_shows_the_body_only() -> None:
    """Rows written before body and sources were kept apart still end in "Sources:"."""
    old = Message.model_validate_json(OLD_ROW.replace(
        '"Done."', '"Done [1].\\n\\nSources:\\n[1] Refunds \u2014 https://help.example/r"'))
    assert old.body() == "Done [1]."
    assert old.content.endswith("https://help.example/r")  # the stored row itself is unchanged
    no_sources = Message(role=Role.AGENT, content="See below.\n\nSources:\n[1] mine")
    assert no_sources.body() == no_sources.content  # only a reply with structured sources


def test_a_draft_stored_with_its_source_list_loads_as_body_only() -> None:
    draft = Draft(text="Do this [1].\n\nSources:\n[1] Refunds — https://x.example/r",
                  confidence=0.8, answered=True, sources=[Source(article_id="r", title="Refunds")])
    assert draft.text == "Do this [1]."
    assert draft.text_with_sources() == "Do this [1].\n\nSources:\n[1] Refunds"
