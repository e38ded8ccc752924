"""Message metadata is a typed model that stores and loads exactly like the dict it replaced."""

from __future__ import annotations

import json

from support_core.models import Message, MessageMetadata, Role

OLD_ROW = (
    '{"role": "assistant", "content": "Done.", "timestamp": "2025-03-01T09:00:00+00:00", '
    '"metadata": {"ticket_id": "tkt_1", "sources": [{"article_id": "kb1", "title": "Refunds"}], '
    '"confidence": 0.8, "holding": false, "custom": {"k": [1]}}}'
)


def test_old_rows_load_typed_and_dump_unchanged() -> None:
    msg = Message.model_validate_json(OLD_ROW)
    assert msg.metadata.ticket_id == "tkt_1" and msg.metadata.confidence == 0.8
    assert msg.metadata.sources == [{"article_id": "kb1", "title": "Refunds"}]
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
