"""Sign-in, roles and their enforcement in the core (no Streamlit, real SQLite)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from support_core.access import Action, Principal, StaffRole, require, role_gate
from support_core.auth import UserStore
from support_core.errors import AccessDenied, InputError, SignInRequired, SignInThrottled
from support_core.models import HandoffStatus, Role, utcnow
from support_core.views import InboxView
from tests.conftest import make_settings
from tests.desk_helpers import PASSWORD, desk_service, escalate


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    return UserStore(tmp_path / "desk.db", idle_minutes=30, max_failures=3, backoff_seconds=10)


@pytest.fixture
def svc(tmp_path: Path):  # type: ignore[no-untyped-def]
    service = desk_service(make_settings(tmp_path / "data"))
    for name, role in (("ana", "agent"), ("bo", "agent"), ("max", "manager"), ("root", "admin")):
        service.users.add(name, role, PASSWORD)
    return service


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (StaffRole.AGENT, {Action.WORK_INBOX, Action.READ_TICKETS}),
        (StaffRole.MANAGER, {Action.WORK_INBOX, Action.READ_TICKETS, Action.VIEW_METRICS,
                             Action.REASSIGN, Action.MANAGE_MACROS}),
        (StaffRole.ADMIN, set(Action)),
    ],
)  # fmt: skip
def test_each_role_includes_the_one_below_and_nothing_more(role, allowed) -> None:
    who = Principal("x", role)
    assert {a for a in Action if who.can(a)} == allowed
    for action in set(Action) - allowed:
        with pytest.raises(AccessDenied, match=role.value):
            require(who, action)
    with pytest.raises(SignInRequired):
        require(None, Action.READ_TICKETS)


def test_passwords_are_stored_only_as_argon2_hashes(users: UserStore) -> None:
    users.add("ana", "agent", PASSWORD)
    stored = users.db._rows("SELECT password_hash FROM users")[0]["password_hash"]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.authenticate("ana", PASSWORD) == Principal("ana", StaffRole.AGENT)
    assert "password" not in users.list()[0].model_dump_json()
    with pytest.raises(InputError, match="at least 8"):
        users.add("bo", "agent", "short")
    with pytest.raises(InputError, match="Unknown role"):
        users.add("bo", "owner", PASSWORD)


def test_repeated_failures_are_slowed_down_and_the_count_survives_a_restart(
    tmp_path: Path, users: UserStore
) -> None:
    users.add("ana", "agent", PASSWORD)
    now = utcnow()
    for _ in range(3):
        with pytest.raises(SignInRequired, match="Wrong name or password"):
            users.authenticate("ana", "guess-guess", now=now)
    reopened = UserStore(tmp_path / "desk.db", max_failures=3, backoff_seconds=10)
    with pytest.raises(SignInThrottled) as throttled:  # even the right password waits
        reopened.authenticate("ana", PASSWORD, now=now + timedelta(seconds=5))
    assert 0 < throttled.value.retry_after <= 5
    with pytest.raises(SignInRequired):  # after the wait: one more failure doubles it
        reopened.authenticate("ana", "guess-again", now=now + timedelta(seconds=11))
    with pytest.raises(SignInThrottled):
        reopened.authenticate("ana", PASSWORD, now=now + timedelta(seconds=25))
    later = now + timedelta(seconds=11 + 21)
    assert reopened.authenticate("ana", PASSWORD, now=later).name == "ana"
    with pytest.raises(SignInRequired):  # a success reset the counter: a plain failure again
        reopened.authenticate("ana", "nope-nope", now=later)
    with pytest.raises(SignInRequired, match="Wrong name or password"):  # same words
        reopened.authenticate("nobody", PASSWORD, now=later)


def test_sessions_expire_after_the_idle_time_and_with_a_disabled_user(users: UserStore) -> None:
    users.add("ana", "agent", PASSWORD)
    now = utcnow()
    token = users.start_session(users.authenticate("ana", PASSWORD), now=now)
    assert users.resume(token, now=now + timedelta(minutes=29)).name == "ana"
    assert users.resume(token, now=now + timedelta(minutes=58)).name == "ana"  # clock moved on
    with pytest.raises(SignInRequired, match="expired"):
        users.resume(token, now=now + timedelta(minutes=89))
    token = users.start_session(Principal("ana", StaffRole.AGENT))
    users.disable("ana")
    with pytest.raises(SignInRequired):
        users.resume(token)
    with pytest.raises(SignInRequired):
        users.authenticate("ana", PASSWORD)


def test_only_the_first_user_can_make_themselves_admin(users: UserStore) -> None:
    assert not users.has_users()
    assert users.create_first_admin("Root Admin", PASSWORD).role is StaffRole.ADMIN
    with pytest.raises(InputError, match="already has users"):
        users.create_first_admin("mallory", PASSWORD)
    assert [u.name for u in users.list()] == ["Root Admin"]


def test_the_desk_accepts_only_existing_active_users_and_records_them(svc) -> None:
    h = escalate(svc)
    with pytest.raises(SignInRequired, match="no active user"):
        svc.desk.claim(h.handoff_id, "ghost")
    with pytest.raises(SignInRequired):  # a made-up principal is re-read from the store
        svc.desk.claim(h.handoff_id, Principal("ghost", StaffRole.ADMIN))
    ana = svc.users.principal("ana")
    assert svc.desk.claim(h.handoff_id, ana).claimed_by == "ana"
    svc.desk.reply(h.handoff_id, ana, "Refund issued.")
    svc.desk.resolve(h.handoff_id, ana, "done")
    events = [(e.kind, e.actor) for e in svc.records.events(handoff_id=h.handoff_id)]
    assert events == [("claim", "ana"), ("reply", "ana"), ("resolve", "ana")]
    trail = svc.store.transitions(h.ticket_id)
    assert trail[-1].actor == "ana" and trail[-1].to_status.value == "resolved"


def test_a_role_change_or_disable_takes_effect_on_the_next_action(svc) -> None:
    h = escalate(svc)
    svc.users.disable("bo")
    with pytest.raises(SignInRequired):
        svc.desk.claim(h.handoff_id, Principal("bo", StaffRole.AGENT))


def test_agents_cannot_reassign_managers_can_and_it_is_audited(svc) -> None:
    h = escalate(svc)
    svc.desk.claim(h.handoff_id, "ana")
    with pytest.raises(AccessDenied, match="manager"):
        svc.desk.reassign(h.handoff_id, "bo", "bo")
    with pytest.raises(AccessDenied):  # nor release someone else's ticket
        svc.desk.release(h.handoff_id, "bo")
    assert svc.desk.reassign(h.handoff_id, "bo", "max").claimed_by == "bo"
    assert svc.desk.release(h.handoff_id, "max").status is HandoffStatus.QUEUED
    events = [(e.kind, e.actor, e.detail) for e in svc.records.events(handoff_id=h.handoff_id)]
    assert events[1:] == [("reassign", "max", {"from": "ana", "to": "bo"}),
                          ("release", "max", {"from": "bo"})]  # fmt: skip
    assert all(e.at is not None for e in svc.records.events(handoff_id=h.handoff_id))


def test_notes_are_in_the_package_and_audit_log_never_in_the_conversation(svc) -> None:
    h = escalate(svc)
    svc.desk.claim(h.handoff_id, "ana")
    svc.desk.add_note(h.handoff_id, "ana", "Customer is a reseller, check the contract first")
    pkg = svc.desk.package(h.handoff_id, svc.users.principal("bo"))
    assert [(n.author, n.text[:8]) for n in pkg.notes] == [("ana", "Customer")]
    chat = svc.views.chat("cust-1", "s1")
    assert all("reseller" not in m.content for m in chat.messages)
    assert all("reseller" not in m.content for m in svc.memory.get_session("cust-1", "s1"))
    assert svc.records.events(handoff_id=h.handoff_id, kind="note")[0].actor == "ana"


def test_macros_are_managed_by_managers_and_filled_for_the_ticket(svc) -> None:
    h = escalate(svc, customer="cust-9")
    with pytest.raises(AccessDenied):
        svc.desk.save_macro("refund", "Hi {customer_name}", "ana")
    svc.desk.save_macro("refund", "Hi {customer_name}, {agent_name} here about {ticket_id}: "
                        "see {article_link}", "max")  # fmt: skip
    text = svc.desk.fill_macro("refund", h.handoff_id, "ana")
    assert text == (f"Hi cust-9, ana here about {h.ticket_id}: "
                    "see https://help.example/refunds")  # fmt: skip
    with pytest.raises(InputError, match=r"Unknown placeholder \{order_id\}"):
        svc.desk.save_macro("bad", "Your order {order_id}", "max")


def test_the_read_side_checks_the_viewer(svc) -> None:
    escalate(svc)
    ana, boss = svc.users.principal("ana"), svc.users.principal("max")
    with pytest.raises(SignInRequired):
        svc.views.inbox(None)
    assert len(svc.views.inbox(ana, InboxView.OPEN)) == 1
    now = utcnow()
    with pytest.raises(AccessDenied):
        svc.views.metrics(ana, now - timedelta(days=1), now + timedelta(days=1), True)
    assert svc.views.metrics(boss, now - timedelta(days=1), now + timedelta(days=1), True)
    with pytest.raises(SignInRequired):
        svc.views.trace_tickets(None)
    assert svc.views.customer_ids(None) == [] and svc.views.customer_ids(ana) == ["cust-1"]


def test_the_customer_sees_the_agent_reply_and_what_to_do_next(svc) -> None:
    h = escalate(svc)
    assert svc.views.chat("cust-1", "s1").step.value == "wait"
    svc.desk.claim(h.handoff_id, "ana")
    before = svc.views.chat_signature("cust-1", "s1")
    svc.desk.reply(h.handoff_id, "ana", "Fixed your invoice.")
    view = svc.views.chat("cust-1", "s1")
    assert view.messages[-1].role is Role.AGENT and view.step.value == "with_specialist"
    assert svc.views.chat_signature("cust-1", "s1") != before
    svc.desk.resolve(h.handoff_id, "ana")
    assert svc.views.chat("cust-1", "s1").step.value == "rate"
    svc.desk.rate(h.ticket_id, 4)
    rated = svc.views.chat("cust-1", "s1")
    assert (rated.step.value, rated.score) == ("rated", 4)


def test_role_gate_names_the_role_a_page_needs() -> None:
    ana = Principal("ana", StaffRole.AGENT)
    assert role_gate(ana, Action.VIEW_METRICS, "the metrics") == (
        "You are signed in as ana (agent); the metrics needs a manager account or above.")
    assert role_gate(ana, Action.WORK_INBOX, "the inbox") is None
