"""PII redaction: detection on public formats, consistent placeholders, and nothing sensitive on
disk, in Redis, in spans, in logs or in what the model receives after a real conversation."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from support_core.redaction import (
    Redactor,
    SQLiteBook,
    find_pii,
    install_log_redaction,
    mask_url_credentials,
    redact_text,
)
from support_core.testing.fake_openai import Fail, FakeOpenAIServer
from tests import raw_dumps
from tests.conftest import ROOT

CASES = [
    json.loads(line)
    for line in (ROOT / "tests" / "fixtures" / "pii_cases.jsonl").read_text().splitlines()
    if line
]
CARD = "4111 1111 1111 1111"
CARD_DIGITS = "4111111111111111"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
GITHUB = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
SSN = "078-05-1120"
EMAIL = "jane.doe@example.com"
URL_PASSWORD = "Sup3rS3cretPw"
SENSITIVE = [CARD, CARD_DIGITS, STRIPE, GITHUB, SSN, "078051120", URL_PASSWORD, "hunter2"]


@pytest.mark.parametrize("case", CASES, ids=[c["note"] + ":" + c["text"][:20] for c in CASES])
def test_fixture_case(case: dict[str, Any]) -> None:
    text = case["text"]
    findings = find_pii(text)
    got = sorted((f.kind, text[f.start: f.end]) for f in findings)
    for kind, value in case["expect"]:
        assert any(k == kind and value.strip() in v or v in value for k, v in got), (kind, got)
    if not case["expect"]:
        assert not findings, got
        assert redact_text(text) == text  # look-alikes stay readable


def test_placeholders_are_typed_and_consistent_within_a_conversation(tmp_path: Path) -> None:
    book = SQLiteBook(tmp_path / "book.db")
    r = Redactor(book, b"k" * 32)
    first = r.redact(f"key {STRIPE} and card {CARD}", "c1/s1")
    second = r.redact(f"again {STRIPE}, and also {GITHUB}; card {CARD_DIGITS}", "c1/s1")
    assert first == "key [SECRET-1] and card [CARD ****1111]"
    assert second == "again [SECRET-1], and also [SECRET-2]; card [CARD ****1111]"
    # another conversation numbers independently; a new process (same key) agrees
    assert Redactor(book, b"k" * 32).redact(GITHUB, "c1/s1") == "[SECRET-2]"
    assert r.redact(GITHUB, "c2/s9") == "[SECRET-1]"
    raw = (tmp_path / "book.db").read_bytes()
    assert STRIPE.encode() not in raw and GITHUB.encode() not in raw


def test_contacts_follow_the_agent_setting() -> None:
    text = f"mail {EMAIL} or call +1 415-555-2671, card {CARD}"
    hidden = Redactor(show_contacts=False).for_storage(text, "x")
    shown = Redactor(show_contacts=True).for_storage(text, "x")
    assert EMAIL not in hidden and "[EMAIL-1]" in hidden and "[PHONE-1]" in hidden
    assert EMAIL in shown and "+1 415-555-2671" in shown and CARD not in shown


def test_url_credentials_are_masked() -> None:
    assert mask_url_credentials("redis://user:pw123@h:6379/0") == "redis://user:***@h:6379/0"
    assert mask_url_credentials("https://ghp_abcdefghijklmnopqrst@github.com/x") == (
        "https://***@github.com/x"
    )
    assert mask_url_credentials("http://localhost:11434/v1") == "http://localhost:11434/v1"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    log = logging.getLogger("deskpilot.test")
    with caplog.at_level(logging.DEBUG):
        log.warning("customer sent %s with %s", CARD, f"redis://a:{URL_PASSWORD}@h/0")
        try:
            raise ValueError(f"bad key {STRIPE}")
        except ValueError:
            log.exception("failed")
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "[CARD ****1111]" in text and "ValueError" in text
    for value in (CARD, URL_PASSWORD, STRIPE):
        assert value not in text


# ----------------------------------------------------------------------------- end to end
def _schema_aware(reply: str | Fail) -> Any:
    def script(req: dict[str, Any]) -> Any:
        fmt = req.get("response_format")
        if not fmt:
            return reply
        props = fmt["json_schema"]["schema"].get("properties", {})
        if "level" in props:
            return {"level": "neutral", "confidence": 0.9, "frustration_score": 0.1,
                    "signals": [], "reasons": ["x"]}
        return {"priority": "medium", "category": "billing", "product": "general",
                "entities": {}, "reasons": ["x"]}

    return script


MESSAGES = [
    f"My card {CARD} exp 12/27 cvv 123 was charged twice, email me at {EMAIL}",
    f"Also my API key {STRIPE} stopped working, and {GITHUB} too. SSN {SSN}. "
    "my password is hunter2",
    f"Same key again {STRIPE}, I want to talk to a human",
]


def _scan_files(root: Path) -> list[str]:
    leaks = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaks += [f"{v} in {path.name}" for v in SENSITIVE if v.encode() in data]
    return leaks


@pytest.mark.slow
def test_no_card_or_secret_reaches_disk_llm_spans_or_logs(
    service_factory, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeOpenAIServer(_schema_aware("Please check your billing settings [1].")) as server:
        base = server.base_url.replace("http://", f"http://admin:{URL_PASSWORD}@")
        svc = service_factory(llm_base_url=base, llm_model="fake", llm_max_retries=0,
                              llm_timeout_seconds=5)
        with caplog.at_level(logging.DEBUG):
            results = [svc.pipeline.process_message("pii-c", "s1", m) for m in MESSAGES]
        sent = json.dumps(server.chat_requests())
    ticket = results[-1].ticket
    stored = svc.store.get_ticket(ticket.ticket_id)
    customer_text = " ".join(m.content for m in stored.messages)
    assert "[CARD ****1111]" in customer_text and "[CVV]" in customer_text
    assert customer_text.count("[SECRET-1]") == 2  # the same key, the same placeholder
    assert "[SECRET-2]" in customer_text and "[ID-1]" in customer_text
    assert EMAIL not in customer_text and "[EMAIL-1]" in customer_text  # default: hidden
    for value in [*SENSITIVE, EMAIL]:
        assert value not in sent, value  # the model never saw it
        assert value not in caplog.text, value
    handoffs = svc.desk.queue()
    assert handoffs and CARD not in handoffs[0].model_dump_json()
    # replies by agents are masked too
    h = handoffs[0]
    svc.users.add("Ana", "agent", "a long enough password")  # agents are real users
    svc.desk.claim(h.handoff_id, "Ana")
    svc.desk.reply(h.handoff_id, "Ana", f"Thanks, I removed card {CARD_DIGITS} from the file.")
    assert _scan_files(svc.settings.data_dir) == []
    spans = svc.store.spans(ticket.ticket_id) if hasattr(svc.store, "spans") else []
    assert all(v not in json.dumps(spans) for v in SENSITIVE)


@pytest.mark.slow
def test_llm_failure_does_not_store_the_password_in_its_url(service_factory) -> None:
    with FakeOpenAIServer(lambda req: Fail(500, "model crashed")) as server:
        base = server.base_url.replace("http://", f"http://admin:{URL_PASSWORD}@")
        svc = service_factory(llm_base_url=base, llm_model="fake", llm_max_retries=0,
                              llm_timeout_seconds=5)
        result = svc.pipeline.process_message("pii-u", "s1", "How do I rotate my API key?")
    t = result.ticket
    errors = " ".join(e.error for e in t.stage_errors) + " ".join(
        r for r in (t.sentiment.reasons if t.sentiment else []))
    assert errors and URL_PASSWORD not in errors and "admin:***@" in errors
    assert _scan_files(svc.settings.data_dir) == []


@pytest.mark.redis
def test_redis_memory_holds_no_card_or_secret(service_factory) -> None:
    url = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    svc = service_factory(redis_url=url)
    customer = f"pii-{uuid.uuid4().hex[:8]}"
    for m in MESSAGES:
        svc.pipeline.process_message(customer, "s1", m)
    dump = raw_dumps.redis_values(url, customer)
    assert "[CARD ****1111]" in dump
    assert all(v not in dump for v in SENSITIVE)
