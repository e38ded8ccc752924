"""One contract suite for the ``MemoryStore`` port, run against SQLite and a real Redis.

Redis comes from ``SUPPORT_TEST_REDIS_URL`` (default db 15 on localhost); each test
writes under its own key prefix and deletes exactly those keys afterwards. A missing
Redis fails the Redis half of the suite: start one with ``.ci/start-redis.sh``.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis

from support_core.adapters.memory_redis import RedisMemory, mask_url
from support_core.adapters.memory_sqlite import SQLiteMemory
from support_core.errors import BackendUnavailable
from support_core.models import Message, Role
from support_core.ports import MemoryStore

REDIS_URL = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# A fixed, whole-hour "now" for fake clocks, recent enough to sit inside the real 90-day window.
T0 = (datetime.now(timezone.utc) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)

MakeMemory = Callable[..., MemoryStore]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def msg(
    content: str, role: Role = Role.CUSTOMER, at: datetime | None = None, **meta: Any
) -> Message:
    return Message(
        role=role, content=content, timestamp=at or datetime.now(timezone.utc), metadata=meta
    )


def contents(messages: list[Message]) -> list[str]:
    return [m.content for m in messages]


# ----------------------------------------------------------------------------- fixtures
def _require_redis() -> None:
    """Fail (never skip) without Redis: a silently skipped half of the contract proves nothing."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return
    except redis.RedisError as exc:
        problem = str(exc)
    pytest.fail(
        f"Redis is not reachable at {mask_url(REDIS_URL)} ({problem}). The Redis memory tests"
        " need a real server: run `.ci/start-redis.sh`, or set SUPPORT_TEST_REDIS_URL to a"
        " running one.",
        pytrace=False,
    )


def _delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["sqlite", "redis"])
def make_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeMemory]:
    """Builds stores of the parametrised backend; they share one database / key prefix."""
    prefix = f"test-{uuid.uuid4().hex}"
    built: list[Any] = []
    if request.param == "redis":
        _require_redis()

    def make(
        session_ttl_seconds: float = 3600,
        history_ttl_days: float = 90,
        history_max_messages: int = 50,
        clock: Callable[[], datetime] | None = None,
    ) -> MemoryStore:
        limits = (session_ttl_seconds, history_ttl_days, history_max_messages)
        store: Any
        if request.param == "sqlite":
            store = SQLiteMemory(tmp_path / "memory.db", *limits, clock=clock)
        else:
            store = RedisMemory(REDIS_URL, *limits, key_prefix=prefix, clock=clock)
        built.append(store)
        return store

    yield make
    for store in built:
        store.close()
    if request.param == "redis":
        _delete_prefix(prefix)


@pytest.fixture
def memory(make_memory: MakeMemory) -> MemoryStore:
    return make_memory()


# ----------------------------------------------------------------------------- sessions
def test_implements_the_port(memory: MemoryStore) -> None:
    assert isinstance(memory, MemoryStore)


def test_session_keeps_insertion_order(memory: MemoryStore) -> None:
    for text in ["hi", "my order is late", "order A-1", "thanks"]:
        memory.add_message("cust", "s1", msg(text))
    assert contents(memory.get_session("cust", "s1")) == [
        "hi",
        "my order is late",
        "order A-1",
        "thanks",
    ]


def test_unknown_session_is_empty(memory: MemoryStore) -> None:
    assert memory.get_session("nobody", "nothing") == []
    assert memory.get_history("nobody") == []


def test_sessions_are_isolated_between_customers_and_sessions(memory: MemoryStore) -> None:
    memory.add_message("alice", "s1", msg("alice one"))
    memory.add_message("alice", "s2", msg("alice two"))
    memory.add_message("bob", "s1", msg("bob one"))
    memory.add_message("a", "b:c", msg("colon in session"))  # must not meet customer "a:b"
    memory.add_message("a:b", "c", msg("colon in customer"))
    assert contents(memory.get_session("alice", "s1")) == ["alice one"]
    assert contents(memory.get_session("alice", "s2")) == ["alice two"]
    assert contents(memory.get_session("bob", "s1")) == ["bob one"]
    assert contents(memory.get_session("a", "b:c")) == ["colon in session"]
    assert contents(memory.get_session("a:b", "c")) == ["colon in customer"]
    assert contents(memory.get_history("alice")) == ["alice one", "alice two"]
    assert contents(memory.get_history("a")) == ["colon in session"]


def test_session_expires_after_its_last_message(make_memory: MakeMemory) -> None:
    memory = make_memory(session_ttl_seconds=1)
    memory.add_message("cust", "s1", msg("first"))
    assert contents(memory.get_session("cust", "s1")) == ["first"]
    time.sleep(1.2)
    assert memory.get_session("cust", "s1") == []
    assert contents(memory.get_history("cust")) == ["first"]  # history outlives the session
    memory.add_message("cust", "s1", msg("back again"))
    assert contents(memory.get_session("cust", "s1")) == ["back again"]


# ----------------------------------------------------------------------------- history
def test_history_is_capped_at_the_newest_messages(make_memory: MakeMemory) -> None:
    memory = make_memory(history_max_messages=10)
    for i in range(15):
        memory.add_message("cust", f"s{i % 3}", msg(f"m{i}", at=T0 + timedelta(minutes=i)))
    expected = [f"m{i}" for i in range(5, 15)]
    assert contents(memory.get_history("cust", limit=100)) == expected
    assert contents(memory.get_history("cust", limit=3)) == ["m12", "m13", "m14"]
    assert memory.get_history("cust", limit=0) == []


def test_history_orders_by_timestamp_and_keeps_equal_ones_in_insertion_order(
    memory: MemoryStore,
) -> None:
    memory.add_message("cust", "s1", msg("later", at=T0 + timedelta(hours=1)))
    memory.add_message("cust", "s1", msg("earlier", at=T0))
    for text in ["same-1", "same-2", "same-3"]:
        memory.add_message("cust", "s2", msg(text, at=T0 + timedelta(minutes=30)))
    assert contents(memory.get_history("cust")) == [
        "earlier",
        "same-1",
        "same-2",
        "same-3",
        "later",
    ]
    assert contents(memory.get_session("cust", "s1")) == ["later", "earlier"]


def test_identical_messages_are_all_kept(memory: MemoryStore) -> None:
    same = msg("hello?", at=T0)
    for _ in range(3):
        memory.add_message("cust", "s1", same)
    assert contents(memory.get_history("cust")) == ["hello?"] * 3
    assert len(memory.get_session("cust", "s1")) == 3


def test_history_window_excludes_old_messages(make_memory: MakeMemory) -> None:
    clock = FakeClock()
    memory = make_memory(clock=clock)
    memory.add_message("cust", "s1", msg("91 days ago", at=T0 - timedelta(days=91)))
    memory.add_message("cust", "s1", msg("89 days ago", at=T0 - timedelta(days=89)))
    memory.add_message("cust", "s1", msg("today", at=T0))
    assert contents(memory.get_history("cust")) == ["89 days ago", "today"]
    clock.advance(days=2)  # "89 days ago" is now 91 days old
    assert contents(memory.get_history("cust")) == ["today"]


def test_old_messages_are_pruned_on_write_not_only_hidden(make_memory: MakeMemory) -> None:
    clock = FakeClock()
    memory = make_memory(clock=clock)
    memory.add_message("cust", "s1", msg("old", at=T0 - timedelta(days=1)))
    clock.advance(days=91)
    memory.add_message("cust", "s2", msg("new", at=clock.now))
    clock.now = T0  # back in time: "old" would be visible again had it only been filtered
    assert contents(memory.get_history("cust")) == ["new"]


def test_history_spans_sessions(memory: MemoryStore) -> None:
    memory.add_message("cust", "monday", msg("one", at=T0))
    memory.add_message("cust", "tuesday", msg("two", at=T0 + timedelta(days=1)))
    memory.add_message("other", "monday", msg("not mine", at=T0))
    assert contents(memory.get_history("cust")) == ["one", "two"]


# ----------------------------------------------------------------------------- summary
def test_summary_counts_customer_messages_topics_and_last_contact(make_memory: MakeMemory) -> None:
    memory = make_memory(clock=FakeClock())
    categories = ["billing", "shipping", "billing", "login", "refund", "account", "returns"]
    for i, category in enumerate(categories):
        at = T0 - timedelta(hours=10 - i)
        memory.add_message("cust", "s1", msg(f"q{i}", at=at, category=category))
        memory.add_message(
            "cust", "s1", msg(f"a{i}", Role.ASSISTANT, at, category="assistant-only")
        )
    memory.add_message("cust", "s1", msg("no category", at=T0 - timedelta(hours=2)))
    memory.add_message(
        "cust", "s1", msg("too old", at=T0 - timedelta(days=100), category="ancient")
    )
    memory.add_message("cust", "s1", msg("agent note", Role.AGENT, at=T0, category="agent-only"))

    summary = memory.get_summary("cust")
    assert summary.customer_id == "cust"
    assert summary.total_interactions == 8
    assert summary.recent_topics == ["returns", "account", "refund", "login", "billing"]
    assert summary.last_contact == T0 - timedelta(hours=2)
    assert summary.previous_escalations == 0


def test_summary_of_unknown_customer_is_empty(memory: MemoryStore) -> None:
    summary = memory.get_summary("nobody")
    assert (summary.total_interactions, summary.recent_topics) == (0, [])
    assert summary.last_contact is None and summary.previous_escalations == 0


def test_escalations_count_once_per_ticket(memory: MemoryStore) -> None:
    memory.record_escalation("cust", "tkt_1")
    memory.record_escalation("cust", "tkt_1")
    memory.record_escalation("cust", "tkt_2")
    memory.record_escalation("other", "tkt_9")
    assert memory.get_summary("cust").previous_escalations == 2
    assert memory.get_summary("other").previous_escalations == 1


def test_escalations_leave_with_the_history_window(make_memory: MakeMemory) -> None:
    clock = FakeClock()
    memory = make_memory(clock=clock)
    memory.record_escalation("cust", "tkt_old")
    clock.advance(days=60)
    memory.record_escalation("cust", "tkt_new")
    assert memory.get_summary("cust").previous_escalations == 2
    clock.advance(days=31)
    assert memory.get_summary("cust").previous_escalations == 1


# ----------------------------------------------------------------------------- data
def test_forget_customer_removes_everything_of_that_customer_only(memory: MemoryStore) -> None:
    for session in ("s1", "s2"):
        memory.add_message("cust", session, msg(f"in {session}", category="billing"))
    memory.add_message("keep", "s1", msg("stay"))
    memory.record_escalation("cust", "tkt_1")

    memory.forget_customer("cust")
    assert memory.get_session("cust", "s1") == [] and memory.get_session("cust", "s2") == []
    assert memory.get_history("cust") == []
    assert memory.get_summary("cust").model_dump(exclude={"customer_id"}) == {
        "total_interactions": 0,
        "recent_topics": [],
        "last_contact": None,
        "previous_escalations": 0,
    }
    assert contents(memory.get_history("keep")) == ["stay"]
    memory.add_message("cust", "s1", msg("fresh start"))
    assert contents(memory.get_history("cust")) == ["fresh start"]


def test_message_round_trips_with_nested_metadata(memory: MemoryStore) -> None:
    meta = {
        "category": "billing",
        "order": {"id": "A-1", "items": [1, 2.5, None], "flags": {"vip": True}},
        "tags": ["refund", "late"],
    }
    original = Message(role=Role.AGENT, content="Refunded.", timestamp=T0, metadata=meta)
    memory.add_message("cust", "s1", original)
    for stored in (memory.get_session("cust", "s1")[0], memory.get_history("cust")[0]):
        assert stored == original
        assert stored.timestamp.utcoffset() == timedelta(0)


def test_timestamps_are_stored_in_utc(memory: MemoryStore) -> None:
    berlin = timezone(timedelta(hours=2))
    memory.add_message("cust", "s1", msg("aware", at=T0.astimezone(berlin)))
    memory.add_message(
        "cust", "s1", msg("naive", at=(T0 + timedelta(hours=1)).replace(tzinfo=None))
    )
    stamps = [m.timestamp for m in memory.get_history("cust")]
    assert stamps == [T0, T0 + timedelta(hours=1)]
    assert all(stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0) for stamp in stamps)


def test_unicode_everywhere(memory: MemoryStore) -> None:
    customer, session = "kündé:✓*?[x]", "sitzung/🙂"
    text = "Grüße 👋 — 你好, ça va? \u200b تمام"
    memory.add_message(customer, session, msg(text, category="fakturering/é"))
    assert contents(memory.get_session(customer, session)) == [text]
    assert contents(memory.get_history(customer)) == [text]
    assert memory.get_summary(customer).recent_topics == ["fakturering/é"]
    assert memory.get_session("kündé", session) == []


# ----------------------------------------------------------------------------- concurrency
def test_concurrent_writers_lose_nothing(make_memory: MakeMemory) -> None:
    memory = make_memory(history_max_messages=1000)
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)

    def write(worker: int) -> None:
        customer = "shared" if worker < 4 else f"own-{worker}"
        session = "together" if worker < 2 else f"s{worker}"
        start.wait()
        for i in range(per_thread):
            memory.add_message(customer, session, msg(f"w{worker}-{i}", worker=worker, i=i))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(threads)))

    shared = memory.get_history("shared", limit=1000)
    assert len(shared) == 4 * per_thread
    for worker in range(threads):
        expected = [f"w{worker}-{i}" for i in range(per_thread)]
        customer = "shared" if worker < 4 else f"own-{worker}"
        history = memory.get_history(customer, limit=1000)
        assert [m.content for m in history if m.metadata["worker"] == worker] == expected
        session = memory.get_session(customer, "together" if worker < 2 else f"s{worker}")
        assert [m.content for m in session if m.metadata["worker"] == worker] == expected
    assert len(memory.get_session("shared", "together")) == 2 * per_thread
    assert memory.get_summary("shared").total_interactions == 4 * per_thread


# ----------------------------------------------------------------------------- failures
def test_unreachable_backend_raises_backend_unavailable(
    make_memory: MakeMemory, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = request.node.callspec.params["make_memory"]
    with pytest.raises(BackendUnavailable) as caught:
        if backend == "sqlite":
            SQLiteMemory(tmp_path, 3600, 90, 50).ping()  # a directory, not a database file
        else:
            RedisMemory("redis://127.0.0.1:1/0", 3600, 90, 50).ping()
    assert str(caught.value)


def test_redis_errors_name_the_url_without_the_password() -> None:
    memory = RedisMemory("redis://deskpilot:s3cret@127.0.0.1:1/0", 3600, 90, 50)
    for call in (
        memory.ping,
        lambda: memory.add_message("c", "s", msg("hi")),
        lambda: memory.get_summary("c"),
    ):
        with pytest.raises(BackendUnavailable) as caught:
            call()
        assert "127.0.0.1:1" in str(caught.value)
        assert "s3cret" not in str(caught.value) and "deskpilot:***@" in str(caught.value)


def test_invalid_redis_url_is_reported() -> None:
    with pytest.raises(BackendUnavailable, match="not valid"):
        RedisMemory("http://example.invalid", 3600, 90, 50)


def _write_from_another_process(backend: str, location: str, prefix: str, worker: int) -> None:
    """Runs in a spawned process: a separate store instance on the same database / Redis."""
    store: Any
    if backend == "sqlite":
        store = SQLiteMemory(location, 3600, 90, 1000)
    else:
        store = RedisMemory(location, 3600, 90, 1000, key_prefix=prefix)
    for i in range(30):
        store.add_message("shared", "together", msg(f"p{worker}-{i}", worker=worker))
    store.close()


def test_concurrent_processes_lose_nothing(make_memory: MakeMemory) -> None:
    memory: Any = make_memory(history_max_messages=1000)
    if isinstance(memory, SQLiteMemory):
        target = ("sqlite", str(memory.path), "")
    else:
        target = ("redis", REDIS_URL, memory.key_prefix)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_from_another_process, args=(*target, w)) for w in (0, 1)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    history = memory.get_history("shared", limit=1000)
    for worker in (0, 1):
        mine = [m.content for m in history if m.metadata["worker"] == worker]
        assert mine == [f"p{worker}-{i}" for i in range(30)]
    assert len(memory.get_session("shared", "together")) == 60
