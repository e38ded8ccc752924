"""Masking at rest through the store port: whatever a caller hands the ticket store, the memory
or the desk records directly (no pipeline, no entry masking), the raw bytes on disk, the rows
in PostgreSQL and the values in Redis hold placeholders, never the card, key, id or IBAN."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from support_core import lifecycle
from support_core.adapters.redacting_store import AtRestMasker, RedactingTicketStore
from support_core.adapters.ticket_store_sqlite import SQLiteTicketStore
from support_core.models import (
    CustomerSummary,
    Draft,
    HandoffPackage,
    Message,
    Queue,
    Role,
    Source,
    StageError,
    Ticket,
    TicketStatus,
)
from support_core.redaction import Redactor
from support_core.testing.postgres import fresh_database
from support_core.wiring import Service, build_service
from tests import raw_dumps
from tests.conftest import make_settings

CARD = "4111 1111 1111 1111"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
SSN = "078-05-1120"
IBAN = "GB82 WEST 1234 5698 7654 32"
EMAIL = "jane.doe@example.com"
RAW = [CARD, CARD.replace(" ", ""), STRIPE, SSN, IBAN, IBAN.replace(" ", "")]
TEXT = f"My card is {CARD}, key {STRIPE}, SSN {SSN}, IBAN {IBAN}, mail {EMAIL}."
PLACEHOLDERS = ["[CARD ****1111]", "[SECRET-1]", "[ID-1]", "[IBAN ****5432]"]
PASSWORD = "a long enough password"
REDIS_URL = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def write_everything_directly(svc: Service, customer: str) -> Ticket:
    """Every write path of the port and the desk, with raw text, bypassing the pipeline."""
    ticket = Ticket(customer_id=customer, session_id="s1", subject=f"Card {CARD}")
    msg = Message(role=Role.CUSTOMER, content=TEXT)
    ticket.messages.append(msg)
    ticket.draft = Draft(text=f"Your card {CARD} is noted.", confidence=0.4, answered=False,
                         sources=[Source(article_id="a1", title="Cards")])
    ticket.stage_errors.append(StageError(stage="x", error=f"failed on {STRIPE}"))
    ticket = lifecycle.transition(ticket, TicketStatus.PROCESSING, "pipeline", "")
    ticket = lifecycle.transition(ticket, TicketStatus.ESCALATED, "router", f"about {SSN}")
    svc.store.save_ticket(ticket)
    pkg = svc.store.enqueue_handoff(HandoffPackage(
        ticket_id=ticket.ticket_id, customer_id=customer, session_id="s1", queue=Queue.TIER1,
        priority=ticket.priority, reason=f"card {CARD}", rule="test", suggested_action="answer",
        customer=CustomerSummary(customer_id=customer), conversation=[msg], sentiment_trail=[],
        draft=ticket.draft, retrieved=[], draft_note=f"iban {IBAN}"))
    follow_up = Message(role=Role.CUSTOMER, content=f"Again: {STRIPE} and {IBAN}")
    svc.store.update_ticket(ticket.ticket_id, lambda t: t.model_copy(
        update={"messages": [*t.messages, follow_up]}))
    svc.store.append_handoff_message(ticket.ticket_id, follow_up)
    svc.store.save_spans(ticket.ticket_id, [{
        "trace_id": "t" * 32, "span_id": "s" * 16, "name": "stage",
        "start": "2026-01-01T00:00:00", "end": "2026-01-01T00:00:01", "duration_ms": 1.0,
        "attributes": {"input.text": TEXT, "tokens": [STRIPE]}, "status": "ok"}])
    svc.outcomes.rate(ticket.ticket_id, 2, f"you still have my card {CARD}")
    svc.memory.add_message(customer, "s1", Message(role=Role.CUSTOMER, content=TEXT))
    svc.users.add("Ana", "agent", PASSWORD)
    svc.users.add("Max", "manager", PASSWORD)
    svc.desk.add_note(pkg.handoff_id, "Ana", f"customer pasted {STRIPE} and {SSN}")
    svc.desk.save_macro("leak", f"Use card {CARD} for {{customer_name}}", "Max")
    svc.desk.claim(pkg.handoff_id, "Ana")
    svc.desk.resolve(pkg.handoff_id, "Ana", note=f"refunded to {IBAN}")
    return ticket


def assert_masked(dump: str, where: str) -> None:
    for value in RAW:
        assert value not in dump, f"{value!r} stored raw in {where}"
    for placeholder in PLACEHOLDERS:
        assert placeholder in dump, f"{placeholder} missing in {where}"


def sqlite_bytes(data_dir: Path) -> str:
    """Every SQLite file (and its WAL) in the data dir, as raw bytes."""
    files = [p for p in data_dir.rglob("*") if p.is_file() and ".db" in p.name]
    assert files
    return b"".join(p.read_bytes() for p in files).decode("utf-8", "replace")


def postgres_rows(url: str) -> str:
    """``SELECT *`` of every table of the database, as text."""
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
        assert {"tickets", "handoffs", "spans", "desk_events", "macros", "csat"} <= set(tables)
        return json.dumps({t: [list(map(str, row)) for row in conn.execute(
            f'SELECT * FROM "{t}"')] for t in tables})  # noqa: S608 - names from the catalogue


def redis_values(customer: str) -> str:
    return raw_dumps.redis_values(REDIS_URL, customer)


@pytest.fixture
def service_factory(tmp_path: Path) -> Callable[..., Service]:
    """Services on fresh data dirs (the KB is never touched by these writes)."""
    made: list[Service] = []

    def make(**overrides: object) -> Service:
        made.append(build_service(make_settings(tmp_path / f"svc{len(made)}", **overrides)))
        return made[-1]

    return make


def test_sqlite_files_hold_no_raw_values(service_factory: Callable[..., Service]) -> None:
    svc = service_factory()
    assert isinstance(svc.store, RedactingTicketStore)
    ticket = write_everything_directly(svc, "raw-sqlite")
    stored = svc.store.get_ticket(ticket.ticket_id)
    svc.store.close()
    svc.memory.close()
    assert_masked(sqlite_bytes(svc.settings.data_dir), "the SQLite files")
    assert EMAIL not in stored.model_dump_json()  # contacts hidden by default
    assert f"Your card {'[CARD ****1111]'} is noted." == stored.draft.text  # type: ignore[union-attr]


@pytest.mark.redis
def test_postgres_rows_and_redis_values_hold_no_raw_values(
    service_factory: Callable[..., Service],
) -> None:
    customer = f"raw-{uuid.uuid4().hex[:8]}"
    with fresh_database() as url:
        svc = service_factory(database_url=url, redis_url=REDIS_URL)
        write_everything_directly(svc, customer)
        rows = postgres_rows(url)
        svc.store.close()
    assert customer in rows  # the rows are there, masked
    assert_masked(rows, "PostgreSQL")
    memory = redis_values(customer)
    for value in RAW:
        assert value not in memory
    assert "[CARD ****1111]" in memory and "[SECRET-1]" in memory


def test_placeholders_agree_with_the_pipeline_and_masking_is_idempotent(
    service_factory: Callable[..., Service],
) -> None:
    svc = service_factory()
    entry = Redactor.from_settings(svc.settings).for_storage(f"first {STRIPE}", "cust/s1")
    assert entry == "first [SECRET-1]"
    other_key = "sk_live_ZZZZ39HqLyjWDarjtT1zdp7d"
    ticket = Ticket(customer_id="cust", session_id="s1", subject=entry)
    ticket.messages += [Message(role=Role.CUSTOMER, content=entry),
                        Message(role=Role.CUSTOMER, content=f"{other_key} then {STRIPE}")]
    svc.store.save_ticket(ticket)
    stored = svc.store.get_ticket(ticket.ticket_id)
    assert stored.messages[0].content == entry  # already masked: unchanged
    assert stored.messages[1].content == "[SECRET-2] then [SECRET-1]"  # one book, one scope
    # the caller's copy is what was stored, so its next compare-and-set save works
    assert ticket.messages[1].content == stored.messages[1].content
    assert ticket.version == stored.version
    svc.store.save_ticket(ticket)
    assert svc.store.get_ticket(ticket.ticket_id).messages == stored.messages


@pytest.mark.parametrize("show", [False, True])
def test_contacts_follow_the_agent_setting_and_kb_text_keeps_them(
    tmp_path: Path, show: bool
) -> None:
    redactor = Redactor(show_contacts=show)
    store = RedactingTicketStore(SQLiteTicketStore(tmp_path / "t.db"), redactor)
    ticket = Ticket(customer_id="c", session_id="s", subject="hello")
    ticket.messages += [
        Message(role=Role.CUSTOMER, content=f"write to {EMAIL} or {CARD}"),
        Message(role=Role.ASSISTANT, content="Call support at help@shop.example"),
    ]
    ticket.draft = Draft(text="Mail help@shop.example", confidence=0.5, answered=True)
    store.save_ticket(ticket)
    stored = store.get_ticket(ticket.ticket_id)
    customer, bot = stored.messages
    assert (EMAIL in customer.content) is show
    assert "[CARD ****1111]" in customer.content  # never shown, whatever the setting
    assert "help@shop.example" in bot.content  # the model's / KB's own contact stays
    assert stored.draft is not None and "help@shop.example" in stored.draft.text
    assert stored.customer_id == "c" and stored.ticket_id == ticket.ticket_id  # ids untouched


def test_masker_leaves_identifier_keys_and_masks_nested_text() -> None:
    masker = AtRestMasker(Redactor())
    row = {"ticket_id": CARD, "detail": {"text": [f"key {STRIPE}"]}, "score": 3}
    out = masker.record(row, "scope")
    assert out["ticket_id"] == CARD and out["score"] == 3  # an id is never rewritten
    assert out["detail"]["text"] == ["key [SECRET-1]"]
    assert masker.record(out, "scope") == out  # idempotent
    masked_url = {"error": "model at http://admin:***@host/v1 failed"}  # mask_url_credentials
    assert masker.record(masked_url, "scope") == masked_url



class _CountingStore(SQLiteTicketStore):
    """Counts whole-ticket reads: the hot path should not read a ticket back for its scope."""

    reads = 0

    def get_ticket(self, ticket_id: str) -> Ticket:
        self.reads += 1
        return super().get_ticket(ticket_id)


def test_span_writes_reuse_the_scope_of_the_ticket_just_saved(tmp_path: Path) -> None:
    inner = _CountingStore(tmp_path / "t.db")
    store = RedactingTicketStore(inner, Redactor())
    ticket = Ticket(customer_id="c", session_id="s1", subject="hello")
    ticket.messages.append(Message(role=Role.CUSTOMER, content=f"key {STRIPE}"))
    store.save_ticket(ticket)
    span = {"trace_id": "t" * 32, "span_id": "s" * 16, "name": "stage",
            "start": "2026-01-01T00:00:00", "end": "2026-01-01T00:00:01", "duration_ms": 1.0,
            "attributes": {"input.text": f"again {STRIPE}"}, "status": "ok"}
    store.save_spans(ticket.ticket_id, [span])
    assert inner.reads == 0  # scope known from the save
    assert "[SECRET-1]" in json.dumps(store.spans(ticket.ticket_id))  # same scope, same number

    # A reopened ticket moves to a new session: the next writes use the new conversation's book.
    moved = store.update_ticket(ticket.ticket_id, lambda t: t.model_copy(
        update={"session_id": "s2"}))
    assert moved.session_id == "s2"
    other = "sk_live_ZZZZ39HqLyjWDarjtT1zdp7d"
    store.save_spans(ticket.ticket_id, [span | {
        "span_id": "u" * 16, "attributes": {"input.text": f"{other} then {STRIPE}"}}])
    texts = [s["attributes"]["input.text"] for s in store.spans(ticket.ticket_id)]
    assert "[SECRET-1] then [SECRET-2]" in texts  # numbered afresh in session s2's scope

    # A ticket this process never wrote (another instance saved it) is read once for its scope.
    fresh = RedactingTicketStore(inner, Redactor())
    reads = inner.reads
    fresh.save_spans(ticket.ticket_id, [span | {"span_id": "v" * 16}])
    fresh.save_spans(ticket.ticket_id, [span | {"span_id": "w" * 16}])
    assert inner.reads == reads + 1
